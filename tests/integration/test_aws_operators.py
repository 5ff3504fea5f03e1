"""AWS operators: check operators, promotion and real rollback, with evidence — against the moto server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from airflow.sdk.exceptions import AirflowFailException

from release_gates.evidence import EvidenceStore
from release_gates.exceptions import DeploymentActionError
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import (
    OpsReadinessCheckOperator,
    RollbackDrillOperator,
    SecurityPostureCheckOperator,
)
from release_gates.operators.base import CheckErrorException
from release_gates.operators.deployment import PromoteModelOperator, RollbackOperator
from release_gates_testing.airflow import AirflowEnv
from tests.integration.aws_test_support import (
    LIVE_DRILL,
    FaultInjector,
    alias_version,
    health_server,
    make_lambda,
    unique,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(aws_connection: str) -> AwsDeploymentHook:
    return AwsDeploymentHook(aws_connection)


@pytest.fixture
def evidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EvidenceStore]:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)
    yield EvidenceStore(url)


def lambda_target(function: str, **extra: Any) -> dict[str, Any]:
    return {"type": "lambda", "name": function, "alias": "live", "poll_interval": 0.05, **extra}


def test_rollback_drill_operator_records_every_step_in_evidence(
    hook: AwsDeploymentHook, evidence: EvidenceStore
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    op = RollbackDrillOperator(
        task_id="drill",
        check_id="operations.rollback_drill",
        spec={"target": lambda_target(function), "rto_budget": "5m", **LIVE_DRILL},
        release_id="rel-drill",
    )
    summary = op.execute(context={})
    assert json.loads(json.dumps(summary)) == summary
    assert summary["status"] == "PASS" and summary["evidence_seq"] == 1
    payload = evidence.records("rel-drill")[0].payload
    assert payload["kind"] == "rollback_drill" and payload["metrics"]["restored"] is True
    assert payload["metrics"]["steps"][0]["step"] == "record_current"
    assert all(
        c["request_id"] for s in payload["metrics"]["steps"] for a in s["attempts"] for c in a["api_calls"]
    )
    assert alias_version(hook.get_client, function) == "3"


def _inject(monkeypatch: pytest.MonkeyPatch, faults: FaultInjector) -> None:
    """Attach ``faults`` to every client the operators' hooks create."""
    original = AwsDeploymentHook.get_client

    def get_client(self: AwsDeploymentHook, service: str) -> Any:
        fresh = service not in self._clients
        client = original(self, service)
        if fresh:
            faults.attach(client)
        return client

    monkeypatch.setattr(AwsDeploymentHook, "get_client", get_client)


def test_failed_restore_fails_the_task_without_retry(
    hook: AwsDeploymentHook, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    _inject(
        monkeypatch,
        FaultInjector().fail("UpdateAlias", code="ServiceException", status=500, skip=1, times=99),
    )
    op = RollbackDrillOperator(
        task_id="drill",
        check_id="ops.drill",
        spec={"target": lambda_target(function), **LIVE_DRILL},
        release_id="rel-x",
        step_retries={"base_delay": 0.0},
    )
    with pytest.raises(AirflowFailException, match="RESTORE FAILED"):
        op.execute(context={})
    payload = evidence.records("rel-x")[0].payload
    assert payload["status"] == "ERROR"
    assert payload["findings"][0]["id"] == "restore_failed"
    assert (
        payload["findings"][0]["data"]["serving_version"] == "2" == alias_version(hook.get_client, function)
    )


def test_drill_that_could_not_run_is_retryable(
    hook: AwsDeploymentHook, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    _inject(monkeypatch, FaultInjector().fail("GetAlias", code="AccessDeniedException", status=403, times=99))
    op = RollbackDrillOperator(
        task_id="drill",
        check_id="ops.drill",
        spec={"target": lambda_target(function), **LIVE_DRILL},
        release_id="rel-y",
        step_retries={"base_delay": 0.0},
    )
    with pytest.raises(CheckErrorException, match="could not run"):  # plain exception: Airflow retries
        op.execute(context={})
    assert evidence.records("rel-y")[0].payload["status"] == "ERROR"


POLICY = """\
policy_version: 1
release: {{model: scorer}}
owners:
  ops_oncall: {{users: [marta]}}
  security_engineer: {{users: [li]}}
datasets:
  outputs: {{uri: outputs.csv, owner: ops, description: sampled responses, legal_basis: contract}}
gates:
  - id: operations
    owner: ops_oncall
    rationale: A bad release must be reversible and must page someone.
    checks:
      - kind: ops_readiness
        target: {{type: lambda, name: {function}, alias: live}}
        image: "{{{{ params.image }}}}"
        model_sha256: "{{{{ params.model_sha256 }}}}"
      - kind: rollback_drill
        target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05}}
        rto_budget: 5m
  - id: security
    owner: security_engineer
    rationale: Artefacts stay private and outputs carry no personal data.
    checks:
      - kind: posture
        outputs_sample: outputs
        pii_patterns: [{{name: customer_no, regex: 'CUST-\\d{{6}}'}}]
"""


def test_check_operators_from_a_policy_file(
    hook: AwsDeploymentHook, evidence: EvidenceStore, tmp_path: Path
) -> None:
    function = make_lambda(hook.get_client, versions=2)
    hook.get_client("cloudwatch").put_metric_alarm(
        AlarmName=unique("errors"),
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:oncall"],
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(function=function))
    pd.DataFrame({"response": ["ok", "ticket CUST-123456 escalated", "ok"]}).to_csv(
        tmp_path / "outputs.csv", index=False
    )
    context: dict[str, Any] = {
        "params": {"image": "registry.example/scorer@sha256:" + "0" * 64, "model_sha256": "1" * 64}
    }

    ready = OpsReadinessCheckOperator(
        task_id="ready", check_id="operations.ops_readiness", policy_path=str(policy), release_id="rel-p"
    ).execute(context=context)
    assert ready["status"] == "PASS", ready
    drill = RollbackDrillOperator(
        task_id="drill", check_id="operations.rollback_drill", policy_path=str(policy), release_id="rel-p"
    ).execute(context=context)
    assert drill["status"] == "PASS", drill
    posture = SecurityPostureCheckOperator(
        task_id="posture", check_id="security.posture", policy_path=str(policy), release_id="rel-p"
    ).execute(context=context)
    assert posture["status"] == "FAIL"
    records = evidence.records("rel-p")
    assert [r.payload["check_id"] for r in records] == [
        "operations.ops_readiness",
        "operations.rollback_drill",
        "security.posture",
    ]
    assert all(r.payload["inputs"]["policy_sha256"] for r in records)
    pii = records[2].payload["metrics"]["pii"]
    assert pii["hits"] == [
        {
            "pattern": "customer_no",
            "column": "response",
            "count": 1,
            "rows_with_match": 1,
            "rows": [1],
            "rows_truncated": False,
        }
    ]
    assert "CUST-123456" not in json.dumps([r.payload for r in records])


def test_promote_then_roll_back_from_the_recorded_version(
    hook: AwsDeploymentHook, evidence: EvidenceStore
) -> None:
    function = make_lambda(hook.get_client, versions=3, live="2")
    promote = PromoteModelOperator(
        task_id="promote",
        target=lambda_target(function),
        version="3",
        release_id="rel-r",
        stable_timeout="1m",
    )
    promoted = promote.execute(context={})
    assert json.loads(json.dumps(promoted)) == promoted
    assert promoted["from_version"] == "2" and promoted["to_version"] == "3"
    assert alias_version(hook.get_client, function) == "3"
    # A retried promotion still knows what came before it.
    assert promote.execute(context={})["previous_version"] == "2"

    rolled = RollbackOperator(
        task_id="rollback", target=lambda_target(function), release_id="rel-r", reason="smoke test failed"
    ).execute(context={})
    assert rolled["to_version"] == "2" and rolled["from_version"] == "3"
    assert alias_version(hook.get_client, function) == "2"

    kinds = [(r.kind, r.payload["status"]) for r in evidence.records("rel-r")]
    assert kinds == [("promotion", "done"), ("promotion", "done"), ("rollback", "done")]
    rollback = evidence.records("rel-r", kind="rollback")[0].payload
    assert rollback["version_source"] == "evidence" and rollback["reason"] == "smoke test failed"
    assert rollback["api_calls"] and all(c["request_id"] for c in rollback["api_calls"])
    assert evidence.verify("rel-r").ok


def test_unhealthy_candidate_fails_promotion_and_is_recorded(
    hook: AwsDeploymentHook, evidence: EvidenceStore
) -> None:
    function = make_lambda(hook.get_client, versions=2, live="1")
    with health_server(status=503) as server:
        target = lambda_target(function, health_url=server.url)
        with pytest.raises(AirflowFailException, match="unhealthy"):
            PromoteModelOperator(task_id="promote", target=target, version="2", release_id="rel-u").execute(
                context={}
            )
    record = evidence.records("rel-u", kind="promotion")[0].payload
    assert record["status"] == "unhealthy" and record["health"]["probe"]["status"] == 503
    RollbackOperator(task_id="rollback", target=lambda_target(function), release_id="rel-u").execute(
        context={}
    )
    assert alias_version(hook.get_client, function) == "1"


def test_rollback_without_a_recorded_version_fails_fast(
    hook: AwsDeploymentHook, evidence: EvidenceStore
) -> None:
    function = make_lambda(hook.get_client, versions=2)
    with pytest.raises(AirflowFailException, match="no promotion of it is recorded"):
        RollbackOperator(task_id="rollback", target=lambda_target(function), release_id="rel-n").execute(
            context={}
        )


def test_promotion_api_error_is_recorded_then_retryable(
    hook: AwsDeploymentHook, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(hook.get_client, versions=2, live="1")
    _inject(monkeypatch, FaultInjector().fail("UpdateAlias", code="TooManyRequestsException", status=429))
    with pytest.raises(DeploymentActionError, match="set_version"):
        PromoteModelOperator(
            task_id="promote", target=lambda_target(function), version="2", release_id="rel-e"
        ).execute(context={})
    record = evidence.records("rel-e")[0].payload
    assert record["status"] == "error" and record["error"]["code"] == "TooManyRequestsException"
    assert record["error"]["request_id"].startswith("injected-")


DAG = """
from datetime import datetime

from airflow.sdk import DAG

from release_gates.operators.aws import RollbackDrillOperator
from release_gates.operators.deployment import PromoteModelOperator, RollbackOperator

TARGET = {{"type": "lambda", "name": "{function}", "alias": "live", "poll_interval": 0.05}}

with DAG("aws_release_actions", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    drill = RollbackDrillOperator(
        task_id="drill",
        check_id="operations.rollback_drill",
        spec={{"target": TARGET, "mode": "live", "window": {{"cron": "* * * * *", "duration": "1m"}}}},
    )
    promote = PromoteModelOperator(task_id="promote", target=TARGET, version="3")
    rollback = RollbackOperator(
        task_id="rollback",
        target=TARGET,
        to_version="{{{{ ti.xcom_pull(task_ids='promote')['previous_version'] }}}}",
    )
    drill >> promote >> rollback
"""


def test_operators_in_a_real_dag_run(
    hook: AwsDeploymentHook,
    airflow_home: AirflowEnv,
    moto_endpoint: str,
    tmp_path: Path,
) -> None:
    function = make_lambda(hook.get_client, versions=3, live="2")
    dag_file = airflow_home.write_dag(f"aws_release_actions_{function}.py", DAG.format(function=function))
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": moto_endpoint},
    }
    run = airflow_home.run_dag(
        dag_file,
        "aws_release_actions",
        env={"RELEASE_GATES_EVIDENCE_URL": url, "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection)},
    )
    assert run.state == "success", run.log[-4000:]
    assert run.tasks["drill"].xcom["status"] == "PASS"
    assert run.tasks["promote"].xcom["previous_version"] == "2"
    assert run.tasks["rollback"].xcom["to_version"] == "2"
    assert alias_version(hook.get_client, function) == "2"
    release_id = run.tasks["drill"].xcom["release_id"]
    store = EvidenceStore(url)
    assert [r.kind for r in store.records(release_id)] == ["check_result", "promotion", "rollback"]
    assert store.verify(release_id).ok
