"""``release-gates check rollback-drill | ops-readiness | posture`` against the moto server."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from release_gates import cli
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from tests.integration.aws_test_support import alias_version, make_lambda, unique

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def hook(aws_connection: str) -> AwsDeploymentHook:
    return AwsDeploymentHook(aws_connection)


def test_the_three_commands_are_registered() -> None:
    cli.build_parser()
    assert {"rollback-drill", "ops-readiness", "posture"} <= set(cli.CHECK_COMMANDS)


def test_rollback_drill_json_and_evidence(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    function = make_lambda(hook.get_client, versions=2)
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    code, out = run(
        "check", "rollback-drill", "--type", "lambda", "--name", function, "--alias", "live",
        "--poll-interval", "0.05", "--rto-budget", "2m", "--json", "--record", "rel-cli", "--url", url,
    )  # fmt: skip
    result = json.loads(out)
    assert code == 0 and result["status"] == "PASS"
    assert result["metrics"]["rto_budget_seconds"] == 120
    assert alias_version(hook.get_client, function) == "2"
    assert EvidenceStore(url).records("rel-cli")[0].payload["check_id"] == "rollback_drill"


def test_rollback_drill_exit_codes(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=2)
    target = ["--type", "lambda", "--name", function, "--alias", "live", "--poll-interval", "0.05"]
    code, out = run("check", "rollback-drill", *target, "--dry-run")
    assert code == 3 and out.startswith("INCONCLUSIVE")  # moto cannot simulate IAM policies
    code, out = run("check", "rollback-drill", *target, "--previous-version", "9")
    assert code == 1 and "previous_version_missing" in out
    code, out = run("check", "rollback-drill", "--type", "lambda", "--name", "no-such-fn", "--alias", "live")
    assert code == 4 and "ResourceNotFoundException" in out
    assert run("check", "rollback-drill", "--type", "lambda", "--name", function)[0] == 2  # no alias
    assert run("check", "rollback-drill")[0] == 2


POLICY = """\
policy_version: 1
release: {{model: scorer}}
owners: {{ops_oncall: {{users: [marta]}}}}
gates:
  - id: operations
    owner: ops_oncall
    rationale: A bad release must be reversible.
    checks:
      - kind: rollback_drill
        target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05}}
        rto_budget: 5m
      - kind: ops_readiness
        target: {{type: lambda, name: {function}, alias: live}}
        image: "{{{{ params.image }}}}"
"""


def test_checks_from_a_policy(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    function = make_lambda(hook.get_client, versions=2)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(function=function))
    code, out = run("check", "rollback-drill", "--policy", str(policy), "--gate", "operations", "--json")
    assert code == 0 and json.loads(out)["check_id"] == "operations.rollback_drill"
    code, _ = run("check", "ops-readiness", "--policy", str(policy), "--gate", "operations")
    assert code == 2  # the image is templated in the policy: it must come as a flag
    digest = "registry.example/scorer@sha256:" + "1" * 64
    code, out = run(
        "check", "ops-readiness", "--policy", str(policy), "--gate", "operations", "--image", digest, "--json"
    )
    result = json.loads(out)
    assert code == 1 and [f["id"] for f in result["findings"] if f["severity"] != "INFO"] == ["no_alarms"]


def test_ops_readiness_with_a_plain_boto3_session(
    hook: AwsDeploymentHook, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(hook.get_client, versions=1)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT")  # no Airflow connection: a plain boto3 session
    code, out = run(
        "check", "ops-readiness", "--type", "lambda", "--name", function, "--alias", "live",
        "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--image", "scorer:latest",
    )  # fmt: skip
    assert code == 1
    assert "no_alarms" in out and "image_not_pinned" in out


def test_posture_command(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    bucket = unique("bare")
    hook.get_client("s3").create_bucket(Bucket=bucket)
    sample = tmp_path / "outputs.csv"
    pd.DataFrame({"log": ["ok", "mail me at someone@example.com", "ok"]}).to_csv(sample, index=False)
    code, out = run(
        "check", "posture", "--bucket", bucket, "--outputs-sample", str(sample),
        "--pii-pattern", r"case_no=CASE-\d+", "--json",
    )  # fmt: skip
    result = json.loads(out)
    assert code == 1
    ids = {f["id"] for f in result["findings"]}
    assert {"encryption_off", "versioning_off", "pii_email"} <= ids
    assert "someone@example.com" not in out
    assert result["metrics"]["pii"]["patterns"][-1] == "case_no"
    assert run("check", "posture", "--pii-pattern", "no-equals-sign")[0] == 2
    code, out = run("check", "posture")
    assert code == 3 and "nothing to check" in out


def test_json_output_is_clean_on_stdout(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    """Connection lookups log; with --json, stdout must still be exactly one JSON document."""
    function = make_lambda(hook.get_client, versions=2)
    proc = subprocess.run(
        [
            str(BIN / "release-gates"), "check", "rollback-drill", "--type", "lambda", "--name", function,
            "--alias", "live", "--poll-interval", "0.05", "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AIRFLOW_HOME": str(tmp_path)},
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["status"] == "PASS"
