"""Integration fixtures: real external parts started on 127.0.0.1 for the test session."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from release_gates_testing import aws
from release_gates_testing.airflow import AirflowEnv, make_airflow_env


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a ``moto_server`` (real HTTP AWS APIs: ECS, Lambda, S3, CloudWatch, IAM, STS, …).

    One server per session on a free port; tests keep apart by giving their resources unique names.
    ECS services report one running task (``MOTO_ECS_SERVICE_RUNNING=1``) so that a service with
    ``desiredCount=1`` reaches a steady state, as a healthy service would.
    """
    if not aws.MOTO_SERVER.exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    log_path = tmp_path_factory.mktemp("moto") / "moto_server.log"
    proc, url = aws.start_moto(log_path, env={"MOTO_ECS_SERVICE_RUNNING": "1"})
    try:
        yield url
    finally:
        aws.stop_moto(proc)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnv]:
    """A migrated Airflow home shared by every test of the session that asks for it.

    ``airflow db migrate`` takes a while: one home per session. Its DAG files run with
    :meth:`~release_gates_testing.airflow.AirflowEnv.run_dag`.
    """
    yield make_airflow_env(tmp_path_factory.mktemp("airflow_home"))


@pytest.fixture
def aws_connection(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The Airflow connection ``aws_default`` pointed at the moto server; returns its id."""
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": moto_endpoint},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    # Never reach for instance metadata: only 127.0.0.1 is reachable here.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return "aws_default"
