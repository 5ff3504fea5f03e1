"""Attack: the target changes after the gate passed it and before the promotion.

The release DAG runs for real (``dag.test()``; humans answer through the REST API). The function's
versions carry the model hash in a function tag (mutable, function-wide). The operations gate's
deployment identity check passes (WARN: a tag is not bound to the version); right after it, someone
with AWS access re-points the tag at another model. The promote step re-checks just before moving
the alias, refuses, changes nothing, and the release ends held — not released.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.adversarial.identity_support import evidence, hook, model_file, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {{model: scorer, risk_tier: low}}
owners:
  ops_oncall: {{users: [marta]}}
  release_manager: {{users: [admin]}}
gates:
  - id: operations
    owner: ops_oncall
    rationale: What ships is what was judged.
    checks:
      - kind: deployment_identity
        target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05}}
        model_sha256_tag: model-sha256
        compare: [model]
deployment:
  target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05}}
  version: "{{{{ params.model_version }}}}"
  stable_timeout: 1m
approvals:
  release: {{roles: [ops_oncall, release_manager], timeout: 1h}}
"""

APPROVE = {
    "signoff.release_ops_oncall": Answer("marta", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def test_target_changed_between_gate_and_promote(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    from airflow.providers.standard.operators.python import PythonOperator

    model, model_sha = model_file(tmp_path)
    function = make_lambda(hook.get_client, versions=3, live="2")
    lam = hook.get_client("lambda")
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"model-sha256": model_sha})
    (tmp_path / "policy.yaml").write_text(POLICY.format(function=function))
    store = evidence(tmp_path)
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id="release_adv_target_changed", default_args={"retries": 0}
    )

    def swap_the_model(**_: Any) -> None:
        lam.tag_resource(Resource=arn, Tags={"model-sha256": hashlib.sha256(b"another model").hexdigest()})

    # The insider acts after the gate's check has recorded its result, before the promote step.
    tamper = PythonOperator(task_id="tamper", python_callable=swap_the_model, dag=dag)
    dag.get_task("operations.deployment_identity") >> tamper >> dag.get_task("promote")
    conf = {"model_version": "3", "model_uri": str(model), "model_sha256": model_sha, "image": "unused"}
    run, answered = run_release(dag, conf, APPROVE, passwords=TEST_USERS)
    assert not [a for a in answered if a.get("unscripted")]
    release_id = f"{dag.dag_id}__{run.run_id}"

    gate = store.records(release_id, kind="check_result")[0].payload
    assert gate["status"] == "WARN", gate["summary"]  # the gate saw the judged model (from a tag)
    refusal = store.records(release_id, kind="promotion")[-1].payload
    assert refusal["status"] == "refused"
    assert any("changed since the gate" in reason for reason in refusal["reasons"])
    assert alias_version(hook.get_client, function) == "2"  # the target was not touched
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["promote"].endswith("failed") and states["rollback"].endswith("skipped")
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held"
    assert sealed["reasons"][0].startswith("promotion refused:")
    assert store.verify(release_id).ok
