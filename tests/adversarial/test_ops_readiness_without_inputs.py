"""Attack: ops_readiness given neither image nor model used to PASS with "release inputs pinned".

Nothing about what ships was checked, so the result is INCONCLUSIVE (human review), never PASS, and
its summary claims nothing that was not checked — through the engine's operator and the CLI.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from release_gates import cli
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import OpsReadinessCheckOperator
from tests.adversarial.identity_support import evidence, hook, moto_endpoint, start_release
from tests.integration.aws_test_support import make_lambda

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration


def alarm_with_action(hook: AwsDeploymentHook, function: str) -> None:
    hook.get_client("cloudwatch").put_metric_alarm(
        AlarmName=f"{function}-errors",
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


def test_ops_readiness_without_inputs(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    function = make_lambda(hook.get_client, versions=1)
    alarm_with_action(hook, function)
    store = evidence(tmp_path)
    spec = {"kind": "ops_readiness", "target": {"type": "lambda", "name": function, "alias": "live"}}

    result = OpsReadinessCheckOperator(
        task_id="ready", check_id="operations.ops_readiness", spec=spec, release_id="rel-empty"
    ).execute(context={})
    assert result["status"] == "INCONCLUSIVE", result
    assert "pinned" not in result["summary"] and "model and image not checked" in result["summary"]

    out = io.StringIO()
    code = cli.main(
        ["check", "ops-readiness", "--type", "lambda", "--name", function, "--alias", "live", "--json"],
        out=out,
    )
    assert code == 3 and json.loads(out.getvalue())["status"] == "INCONCLUSIVE"

    # In a release, the same check reads the release's own model and image from evidence.
    model_sha, image = "ab" * 32, "sha256:" + "cd" * 32
    start_release(store, "rel-full", model_sha, image)
    checked = OpsReadinessCheckOperator(
        task_id="ready", check_id="operations.ops_readiness", spec=spec, release_id="rel-full"
    ).execute(context={})
    assert checked["status"] == "PASS", checked
    assert "model identified by its verified sha256" in checked["summary"]
    assert "image identified by its scan" in checked["summary"]
    # A pin that is not the release's model fails.
    pinned_other = {**spec, "model_sha256": "ef" * 32}
    mismatch = OpsReadinessCheckOperator(
        task_id="ready", check_id="operations.ops_readiness", spec=pinned_other, release_id="rel-full"
    ).execute(context={})
    assert mismatch["status"] == "FAIL"
