"""Registry candidates without a registry: the models:/ form, the pin rule, where the tracking URI
comes from (credentials never shown), and the alias watch's priority."""

from __future__ import annotations

import json

import pytest

from release_gates.hooks.mlflow import MlflowRegistryHook
from release_gates.monitoring.priority import Verdict
from release_gates.monitoring.registry_alias import alias_priority
from release_gates.policy import Candidate
from release_gates.scoring.registry import RegistryError, is_registry_uri, parse_registry_uri


def test_a_registry_uri_names_one_version_number() -> None:
    assert parse_registry_uri("models:/income-classifier/12") == ("income-classifier", "12")
    assert is_registry_uri(" models:/m/1") and not is_registry_uri("model.skops")
    for moving in ("models:/m@champion", "models:/m/latest", "models:/m/Production", "models:/m", "m/1"):
        with pytest.raises(RegistryError, match="version number"):
            parse_registry_uri(moving)


def test_only_a_registry_candidate_may_leave_its_sha256_to_the_release() -> None:
    assert Candidate(uri="models:/m/3").sha256 == ""
    assert Candidate(uri="{{ params.model_uri }}").sha256 == ""  # decided per run, at start
    with pytest.raises(ValueError, match="sha256 is required for a model file"):
        Candidate(uri="model.skops")
    with pytest.raises(ValueError, match="64 lower-case hex"):
        Candidate(uri="models:/m/3", sha256="abc")


def test_the_tracking_uri_comes_from_the_connection_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conn = {"conn_type": "http", "host": "mlflow.example.org", "schema": "https", "port": 5000,
            "login": "svc", "password": "s3cr3t-pw"}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_PROD", json.dumps(conn))
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    hook = MlflowRegistryHook("mlflow_prod")
    assert hook.uris() == ("https://mlflow.example.org:5000", None)
    assert "s3cr3t" not in hook.display_uri()
    import os

    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s3cr3t-pw"  # how MLflow itself takes it

    uri = "postgresql://mlflow:db-pw@db.example.org/mlflow"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW_DB", json.dumps({"conn_type": "generic", "extra": {"tracking_uri": uri}})
    )
    assert MlflowRegistryHook("mlflow_db").uris()[0] == uri
    assert "db-pw" not in MlflowRegistryHook("mlflow_db").display_uri()


def test_without_a_connection_the_environment_else_no_registry_at_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(RegistryError, match="MLFLOW_TRACKING_URI"):
        MlflowRegistryHook().uris()
    with pytest.raises(RegistryError, match="'mlflow_missing' does not exist"):
        MlflowRegistryHook("mlflow_missing").uris()  # asked for by name: never a silent fallback
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///registry.db")
    assert MlflowRegistryHook().uris() == ("sqlite:///registry.db", None)


def _verdict(kind: str, priority: str | None) -> Verdict:
    return Verdict(check_id=f"monitor.{kind}", name=kind, kind=kind, status="FAIL" if priority else "PASS",
                   summary="s", severity="CRITICAL", traffic_share=1.0, priority=priority,  # type: ignore[arg-type]
                   owner_role=None, gate_id=None, findings=(), result_seq=1)  # fmt: skip


def test_an_alias_moved_outside_the_gates_is_always_p1() -> None:
    assert alias_priority(_verdict("registry_alias", "P4")).priority == "P1"
    assert alias_priority(_verdict("registry_alias", None)).priority is None  # no breach, no incident
    assert alias_priority(_verdict("drift", "P3")).priority == "P3"  # other checks follow the rules
