"""The SageMaker Model Registry through whole release runs (``dag.test()``, humans through REST) on
the moto server (real HTTP; moto implements CreateModelPackageGroup, CreateModelPackage,
DescribeModelPackage and UpdateModelPackage, so no handler is added): a released run approves the
package with the evidence chain head in its description, a held run rejects it, and a package
approved by hand refuses the promotion and is left as it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.policy import parse_policy
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.adversarial.identity_support import evidence, hook, model_file, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda, unique

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {{model: registry-model}}
owners:
  ethics_reviewer: {{users: [aisha]}}
  release_manager: {{users: [admin]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
         label_values: [0, 1]}}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
approvals:
  release: {{roles: [ethics_reviewer, release_manager], timeout: 1h}}
deployment:
  target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05}}
  version: "{{{{ params.model_version }}}}"
  stable_timeout: 1m
  registry: {{type: sagemaker_model_package, model_package_arn: "{arn}"}}
"""

APPROVE = {
    "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}
REJECT = {
    "signoff.release_ethics_reviewer": Answer("aisha", "Reject"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def _package(hook: AwsDeploymentHook, status: str = "PendingManualApproval") -> str:
    sagemaker = hook.get_client("sagemaker")
    group = unique("scorer-packages")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn: str = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/scorer:1"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    return arn


def _described(hook: AwsDeploymentHook, arn: str) -> dict[str, Any]:
    described: dict[str, Any] = hook.get_client("sagemaker").describe_model_package(ModelPackageName=arn)
    return described


def _release(hook: AwsDeploymentHook, tmp_path: Path, name: str, arn: str, script: dict[str, Answer]) -> Any:
    n = 1000
    pd.DataFrame({"g": ["a"] * n + ["b"] * n, "y": [0, 1] * n, "p": [1, 0] * n}).to_parquet(
        tmp_path / "eval.parquet"
    )
    model, model_sha = model_file(tmp_path)
    function = make_lambda(hook.get_client, versions=3, live="2")
    (tmp_path / "policy.yaml").write_text(POLICY.format(function=function, arn=arn))
    store = evidence(tmp_path)
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id=f"release_registry_{name}", default_args={"retries": 0}
    )
    conf = {"model_version": "3", "model_uri": str(model), "model_sha256": model_sha, "image": "unused"}
    run, answered = run_release(dag, conf, script, passwords=TEST_USERS)
    assert not [a for a in answered if a.get("unscripted")], answered
    release_id = f"{dag.dag_id}__{run.run_id}"
    return store, release_id, function


def test_a_released_run_approves_the_package_with_the_evidence_head(
    hook: AwsDeploymentHook, tmp_path: Path
) -> None:
    arn = _package(hook)
    store, release_id, function = _release(hook, tmp_path, "released", arn, APPROVE)
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "released", sealed
    assert alias_version(hook.get_client, function) == "3"
    approval = store.records(release_id, kind="registry_approval")[0]
    described = _described(hook, arn)
    assert described["ModelApprovalStatus"] == "Approved"
    # The description names the release and the chain head the approval was made on: the record
    # just before the approval (the sign-off decision), as stored.
    before = store.records(release_id)[approval.seq - 2]
    assert approval.payload["evidence_head"] == before.hash
    assert f"release {release_id};" in described["ApprovalDescription"]
    assert before.hash in described["ApprovalDescription"]
    assert approval.payload["from_status"] == "PendingManualApproval"
    assert not store.records(release_id, kind="registry_rejection")
    assert store.verify(release_id).ok


def test_a_held_run_rejects_the_package(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    arn = _package(hook)
    store, release_id, function = _release(hook, tmp_path, "held", arn, REJECT)
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held", sealed
    assert alias_version(hook.get_client, function) == "2"  # never promoted
    assert not store.records(release_id, kind="registry_approval")
    described = _described(hook, arn)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"].startswith(f"release-gates: held by release {release_id};")
    rejection = store.records(release_id, kind="registry_rejection")[0].payload
    assert (rejection["status"], rejection["from_status"]) == ("rejected", "PendingManualApproval")
    assert sealed["registry"]["status"] == "rejected"
    assert store.verify(release_id).ok


def test_a_package_approved_by_hand_refuses_the_promotion(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    arn = _package(hook)
    # Someone approves the package outside the release, before its gates have even run.
    hook.get_client("sagemaker").update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="looks fine to me"
    )
    store, release_id, function = _release(hook, tmp_path, "by_hand", arn, APPROVE)
    approval = store.records(release_id, kind="registry_approval")[0].payload
    assert approval["status"] == "refused" and approval["from_status"] == "Approved"
    promotion = store.records(release_id, kind="promotion")[-1].payload
    assert promotion["status"] == "refused" and "model registry" in promotion["summary"]
    assert alias_version(hook.get_client, function) == "2"  # the target was not touched
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held", sealed
    assert any("promotion refused" in r for r in sealed["reasons"]), sealed["reasons"]
    # The hand-made approval is left as it was: not this release's to approve, nor to reject.
    described = _described(hook, arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == (
        "Approved",
        "looks fine to me",
    )
    assert store.records(release_id, kind="registry_rejection")[0].payload["status"] == "refused"
    assert store.verify(release_id).ok


def test_the_policy_refuses_a_registry_that_is_not_a_model_package_arn() -> None:
    text = POLICY.format(function="f", arn="arn:aws:s3:::bucket/model.tar.gz")
    with pytest.raises(Exception, match="model package ARN"):
        parse_policy(text)
