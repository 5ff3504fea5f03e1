"""The SageMaker target over real HTTP: moto's server for every call it implements, plus the
UpdateEndpoint handler the test server adds (release_gates_testing/sagemaker.py).

The drill, the promotion and the rollback run through the Airflow operators (evidence, the target's
lease); every change they make is seen on the server — in its UpdateEndpoint log and in what
DescribeEndpoint reports, including the ``Updating`` state a real endpoint passes through.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from release_gates.deploy.target_journal import TargetJournal
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import RollbackDrillOperator
from release_gates.operators.deployment import PromoteModelOperator, RollbackOperator
from release_gates_testing.sagemaker import SageMakerServer, start_sagemaker_moto
from tests.integration.aws_test_support import LIVE_DRILL, unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[SageMakerServer]:
    pytest.importorskip("moto.server")
    handle = start_sagemaker_moto(updating_polls=1)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def hook(server: SageMakerServer, monkeypatch: pytest.MonkeyPatch) -> AwsDeploymentHook:
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": server.url},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return AwsDeploymentHook("aws_default")


@pytest.fixture
def evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EvidenceStore:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)
    return EvidenceStore(url)


def make_endpoint(hook: AwsDeploymentHook, *, configs: int = 4, live: int = 3) -> str:
    """An endpoint with configs ``<name>-v1`` … ``-v<configs>`` (created in that order) on ``-v<live>``."""
    sm = hook.get_client("sagemaker")
    name = unique("scorer")
    for i in range(1, configs + 1):
        sm.create_model(
            ModelName=f"{name}-m{i}",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/s:{i}"},
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{name}-v{i}",
            ProductionVariants=[
                {"VariantName": "main", "ModelName": f"{name}-m{i}", "InitialInstanceCount": 1,
                 "InstanceType": "ml.m5.large"}
            ],
        )  # fmt: skip
        time.sleep(0.01)  # distinct creation times: the platform history orders by them
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v{live}")
    return name


def target(name: str) -> dict[str, Any]:
    return {"type": "sagemaker", "name": name, "poll_interval": 0.05}


def served(hook: AwsDeploymentHook, name: str) -> str:
    return str(hook.get_client("sagemaker").describe_endpoint(EndpointName=name)["EndpointConfigName"])


def test_drill_on_a_sagemaker_endpoint_is_seen_by_the_server(
    hook: AwsDeploymentHook, evidence: EvidenceStore, server: SageMakerServer
) -> None:
    name = make_endpoint(hook)
    before = len(server.updates)
    op = RollbackDrillOperator(
        task_id="drill",
        check_id="operations.drill",
        spec={"target": target(name), **LIVE_DRILL},
        release_id="rel-sm",
    )
    summary = op.execute(context={})
    assert summary["status"] == "PASS", summary
    # Platform history found v2 (the newest config named after the endpoint, older than v3) …
    assert [u["endpoint_config"] for u in server.updates[before:]] == [f"{name}-v2", f"{name}-v3"]
    assert served(hook, name) == f"{name}-v3"  # … and the restore is what the server serves now
    payload = evidence.records("rel-sm")[-1].payload
    waits = [s for s in payload["metrics"]["steps"] if s["step"] == "wait_stable_after_rollback"]
    calls = [c for a in waits[0]["attempts"] for c in a["api_calls"]]
    assert len(calls) >= 2  # polled through "Updating" to "InService"
    assert all(
        c["request_id"] for s in payload["metrics"]["steps"] for a in s["attempts"] for c in a["api_calls"]
    )
    kinds = [r.kind for r in TargetJournal(evidence, {"type": "sagemaker", "name": name}).records()]
    assert kinds == ["lease_acquired", "drill_started", "drill_finished", "lease_released"]


def test_promotion_and_rollback_of_a_sagemaker_endpoint(
    hook: AwsDeploymentHook, evidence: EvidenceStore, server: SageMakerServer
) -> None:
    name = make_endpoint(hook)
    promote = PromoteModelOperator(
        task_id="promote", target=target(name), version=f"{name}-v4", release_id="rel-sm2", stable_timeout=30
    )
    promoted = promote.execute(context={})
    assert promoted["status"] == "done" and promoted["from_version"] == f"{name}-v3"
    assert served(hook, name) == f"{name}-v4"
    rollback = RollbackOperator(
        task_id="rollback", target=target(name), release_id="rel-sm2", stable_timeout=30
    )
    rolled = rollback.execute(context={})
    assert rolled["to_version"] == f"{name}-v3" and served(hook, name) == f"{name}-v3"
    assert [u["endpoint_config"] for u in server.updates if u["endpoint"] == name] == [
        f"{name}-v4",
        f"{name}-v3",
    ]
    assert [r.kind for r in evidence.records("rel-sm2")] == ["promotion", "rollback"]


def test_update_to_a_missing_config_is_an_error_the_server_reports(
    hook: AwsDeploymentHook, evidence: EvidenceStore
) -> None:
    name = make_endpoint(hook)
    promote = PromoteModelOperator(
        task_id="promote", target=target(name), version=f"{name}-v9", release_id="rel-sm3", stable_timeout=5
    )
    from release_gates.exceptions import DeploymentActionError

    with pytest.raises(DeploymentActionError, match="set_version"):
        promote.execute(context={})
    assert served(hook, name) == f"{name}-v3"
    record = evidence.records("rel-sm3")[-1].payload
    assert record["status"] == "error" and record["error"]["code"] == "ValidationException"


def test_shadow_drill_on_sagemaker_validates_the_previous_config_without_updating(
    hook: AwsDeploymentHook, evidence: EvidenceStore, server: SageMakerServer
) -> None:
    name = make_endpoint(hook)
    before = len(server.updates)
    op = RollbackDrillOperator(
        task_id="drill", check_id="operations.drill", spec={"target": target(name)}, release_id="rel-sm-sh"
    )
    summary = op.execute(context={})
    assert summary["status"] == "PASS", summary
    assert len(server.updates) == before and served(hook, name) == f"{name}-v3"  # nothing updated
    payload = evidence.records("rel-sm-sh")[-1].payload
    metrics = payload["metrics"]
    assert metrics["mode"] == "shadow" and metrics["measured_on"] == "validation"
    assert metrics["rto_seconds"] is None and "RTO not measured" in payload["summary"]
    assert metrics["validation"]["models"] == [
        {
            "variant": "main",
            "model": f"{name}-m2",
            "execution_role": "arn:aws:iam::123456789012:role/sagemaker",
        }
    ]
    assert [f["id"] for f in payload["findings"]] == ["rto_not_measured"]

    hook.get_client("sagemaker").delete_model(ModelName=f"{name}-m2")  # the previous config's model
    failed = RollbackDrillOperator(
        task_id="drill2", check_id="operations.drill", spec={"target": target(name)}, release_id="rel-sm-sh"
    )
    assert failed.execute(context={})["status"] == "FAIL"  # the gate decides; the check records
    payload = evidence.records("rel-sm-sh")[-1].payload
    assert payload["status"] == "FAIL"
    assert payload["findings"][0]["id"] == "previous_version_not_deployable"
    assert len(server.updates) == before
