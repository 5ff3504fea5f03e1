"""Attack: the release's own rollback drill moves production before anyone approved the candidate.

Before shadow drills, every release run rolled the live alias back and forward while its candidate
was still under evaluation. The release DAG runs for real (``dag.test()``; humans answer through the
REST API) with the packaged example policy's drill and deployment (pointed at a moto function); every
Lambda call any task makes is recorded. The live alias may change once: the promotion, after sign-off.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from release_gates.dag_factory import build_release_dag
from release_gates.examples import example_policy_text
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.adversarial.identity_support import evidence, hook, model_file, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

CHANGES = {"CreateAlias", "UpdateAlias", "DeleteAlias"}
APPROVE = {
    "signoff.release_ops_oncall": Answer("marta", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def example_drill_policy(function: str) -> str:
    """The example policy's rollback drill and deployment, as shipped, on ``function``."""
    example = yaml.safe_load(example_policy_text())
    drills = [c for g in example["gates"] for c in g["checks"] if c["kind"] == "rollback_drill"]
    assert len(drills) == 1 and drills[0].get("mode", "shadow") == "shadow"
    drill = {**drills[0], "target": {**drills[0]["target"], "name": function, "poll_interval": 0.05}}
    deployment = {
        **example["deployment"],
        "target": {**example["deployment"]["target"], "name": function, "poll_interval": 0.05},
        "stable_timeout": "1m",
    }
    policy = {
        "policy_version": 1,
        "release": {"model": "scorer", "risk_tier": "low"},
        "owners": {"ops_oncall": {"users": ["marta"]}, "release_manager": {"users": ["admin"]}},
        "gates": [{"id": "operations", "owner": "ops_oncall", "rationale": "Reversible.", "checks": [drill]}],
        "deployment": deployment,
        "approvals": {"release": {"roles": ["ops_oncall", "release_manager"], "timeout": "1h"}},
    }
    return yaml.safe_dump(policy, sort_keys=False)


def test_release_drill_moves_live_before_promotion(
    hook: AwsDeploymentHook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, model_sha = model_file(tmp_path)
    function = make_lambda(hook.get_client, versions=3, live="2")
    (tmp_path / "policy.yaml").write_text(example_drill_policy(function))
    store = evidence(tmp_path)
    calls: list[tuple[str, str, str | None]] = []

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation in CHANGES:
            calls.append((operation, str(params.get("Name")), params.get("FunctionVersion")))

    original = AwsDeploymentHook.get_client

    def get_client(self: AwsDeploymentHook, service: str) -> Any:
        fresh = service not in self._clients
        client = original(self, service)
        if fresh and service == "lambda":
            client.meta.events.register("provide-client-params.lambda.*", record)
        return client

    monkeypatch.setattr(AwsDeploymentHook, "get_client", get_client)
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id="release_adv_drill_live", default_args={"retries": 0}
    )
    conf = {"model_version": "3", "model_uri": str(model), "model_sha256": model_sha, "image": "unused"}
    run, answered = run_release(dag, conf, APPROVE, passwords=TEST_USERS)
    assert not [a for a in answered if a.get("unscripted")]
    release_id = f"{dag.dag_id}__{run.run_id}"

    drill = store.records(release_id, kind="check_result")[0].payload
    assert drill["status"] == "PASS", drill["summary"]
    assert drill["metrics"]["measured_on"] == "standin"
    standin = drill["metrics"]["standin"]["name"]
    # The drill changed only its stand-in; the live alias changed once, by the promotion, to 3.
    assert [c for c in calls if c[1] == "live"] == [("UpdateAlias", "live", "3")]
    drill_calls = [c for c in calls if c[1] != "live"]
    assert [c[0] for c in drill_calls] == ["CreateAlias", "UpdateAlias", "UpdateAlias", "DeleteAlias"]
    assert {c[1] for c in drill_calls} == {standin}
    assert calls.index(("UpdateAlias", "live", "3")) > calls.index(drill_calls[-1])
    promotion = store.records(release_id, kind="promotion")[-1].payload
    assert promotion["from_version"] == "2" and promotion["to_version"] == "3"
    assert alias_version(hook.get_client, function) == "3"
    aliases = hook.get_client("lambda").list_aliases(FunctionName=function)["Aliases"]
    assert [a["Name"] for a in aliases] == ["live"]
    assert store.records(release_id, kind="release_sealed")[0].payload["decision"] == "released"
