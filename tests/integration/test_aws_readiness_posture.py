"""Operational readiness and security posture against real AWS APIs (the moto server over HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from release_gates.checks.ops_readiness import evaluate_ops_readiness
from release_gates.checks.posture import evaluate_security_posture
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.policy import OpsReadinessCheck, PostureCheck
from release_gates.results import CheckResult, Severity, Status
from tests.integration.aws_test_support import FaultInjector, make_ecs_service, make_lambda, unique

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "ab" * 32
MODEL_SHA = "cd" * 32
TOPIC = "arn:aws:sns:us-east-1:123456789012:oncall"


@pytest.fixture
def hook(aws_connection: str) -> AwsDeploymentHook:
    return AwsDeploymentHook(aws_connection)


def alarm(hook: AwsDeploymentHook, dimensions: dict[str, str], *, actions: list[str] | None = None) -> str:
    name = unique("alarm")
    hook.get_client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
        AlarmActions=actions if actions is not None else [TOPIC],
    )
    return name


def readiness(hook: AwsDeploymentHook, target: dict[str, Any], **options: Any) -> CheckResult:
    spec = OpsReadinessCheck(kind="ops_readiness", target=target, **options)
    result = evaluate_ops_readiness(
        hook.deployment_target(spec.target), hook.get_client("cloudwatch"), spec, check_id="ops.ready"
    )
    assert CheckResult.from_json(result.to_json()) == result
    return result


def test_ready_lambda_with_alarm_and_pinned_inputs(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=1)
    name = alarm(hook, {"FunctionName": function, "Resource": f"{function}:live"})
    alarm(hook, {"FunctionName": "someone-else"})
    result = readiness(
        hook,
        {"type": "lambda", "name": function, "alias": "live"},
        image=f"registry.example/scorer:1.4@{DIGEST}",
        model_uri="s3://models/scorer.skops",
        model_sha256=MODEL_SHA,
    )
    assert result.status is Status.PASS, result.summary
    assert [a["name"] for a in result.metrics["alarms"]] == [name]
    assert result.metrics["alarms"][0]["alarm_actions"] == 1
    assert result.metrics["image"]["pinned"] and result.metrics["model"]["pinned"]
    assert result.metrics["version"] == "1"
    assert all(c["request_id"] for c in result.metrics["api_calls"])


def test_unready_target_lists_every_gap(hook: AwsDeploymentHook) -> None:
    cluster, service, _ = make_ecs_service(hook.get_client, revisions=1)
    silent = alarm(hook, {"ServiceName": service, "ClusterName": cluster}, actions=[])
    result = readiness(
        hook,
        {"type": "ecs", "name": service, "cluster": cluster},
        image="registry.example/scorer:latest",
        model_uri="s3://models/scorer.skops",
    )
    assert result.status is Status.FAIL
    by_id = {f.id: f for f in result.findings}
    assert set(by_id) == {"alarm_without_actions", "image_not_pinned", "model_not_pinned"}
    assert by_id["alarm_without_actions"].location == silent
    assert by_id["image_not_pinned"].severity is Severity.HIGH


def test_no_alarm_at_all(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=1)
    result = readiness(hook, {"type": "lambda", "name": function, "alias": "live"})
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.severity is not Severity.INFO] == ["no_alarms"]
    # Inputs not given are noted, not silently passed.
    assert {"image_not_given", "model_not_given"} <= {f.id for f in result.findings}


def test_alarm_actions_not_required(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=1)
    alarm(hook, {"FunctionName": function}, actions=[])
    result = readiness(
        hook,
        {"type": "lambda", "name": function, "alias": "live"},
        require_alarm_actions=False,
        image=f"registry.example/scorer@{DIGEST}",
        model_sha256=MODEL_SHA,
    )
    assert result.status is Status.PASS
    # With nothing to check about what ships, the same target is not a pass: "not checked" is not "pinned".
    unchecked = readiness(
        hook, {"type": "lambda", "name": function, "alias": "live"}, require_alarm_actions=False
    )
    assert unchecked.status is Status.INCONCLUSIVE
    assert "pinned" not in unchecked.summary and "model and image not checked" in unchecked.summary


def test_readiness_of_a_missing_target_is_an_error(hook: AwsDeploymentHook) -> None:
    result = readiness(hook, {"type": "lambda", "name": "no-such-function", "alias": "live"})
    assert result.status is Status.ERROR
    assert "ResourceNotFoundException" in result.summary
    assert result.metrics["error"]["type"] == "TargetNotFoundError"


# --------------------------------------------------------------------------------------------------
# Posture
# --------------------------------------------------------------------------------------------------


def tls_only_policy(bucket: str, *extra: dict[str, Any]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                *extra,
            ],
        }
    )


def good_bucket(hook: AwsDeploymentHook, *, algorithm: str = "aws:kms") -> str:
    s3 = hook.get_client("s3")
    bucket = unique("artifacts")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    default: dict[str, str] = {"SSEAlgorithm": algorithm}
    if algorithm == "aws:kms":
        default["KMSMasterKeyID"] = "alias/models"
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": default}]},
    )
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket))
    return bucket


def posture(hook: AwsDeploymentHook, outputs: pd.DataFrame | None = None, **options: Any) -> CheckResult:
    spec = PostureCheck(kind="posture", **options)
    result = evaluate_security_posture(
        hook.get_client("s3"), spec, outputs=outputs, check_id="security.posture"
    )
    assert CheckResult.from_json(result.to_json()) == result
    return result


def test_well_configured_bucket_passes(hook: AwsDeploymentHook) -> None:
    bucket = good_bucket(hook)
    result = posture(hook, buckets=[bucket], require_kms=True)
    assert result.status is Status.PASS, result.summary
    facts = result.metrics["buckets"][0]
    assert facts["encryption"] == ["aws:kms"] and facts["versioning"] == "Enabled"
    assert all(facts["public_access_block"].values())
    assert facts["policy"]["tls_only"] is True


def test_bare_bucket_fails_every_rule(hook: AwsDeploymentHook) -> None:
    bucket = unique("bare")
    hook.get_client("s3").create_bucket(Bucket=bucket)
    result = posture(hook, buckets=[bucket])
    assert result.status is Status.FAIL
    assert {f.id for f in result.findings} == {
        "versioning_off",
        "encryption_off",
        "public_access_block_missing",
        "tls_not_enforced",
    }
    assert result.findings[0].severity is Severity.HIGH  # worst first


def test_kms_required_partial_block_and_public_policy(hook: AwsDeploymentHook) -> None:
    bucket = good_bucket(hook, algorithm="AES256")
    s3 = hook.get_client("s3")
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False,
        },
    )
    public_read = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    conditioned = {
        **public_read,
        "Sid": "FromVpc",
        "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}},
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=tls_only_policy(bucket, public_read, conditioned))
    result = posture(hook, buckets=[bucket], require_kms=True)
    assert result.status is Status.FAIL
    by_id = {f.id: f for f in result.findings}
    assert set(by_id) == {"kms_required", "public_access_block_incomplete", "policy_public_principal"}
    assert by_id["policy_public_principal"].severity is Severity.CRITICAL
    assert "PublicRead" in (by_id["policy_public_principal"].location or "")
    assert by_id["public_access_block_incomplete"].data["off"] == [
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ]
    assert result.findings[0].id == "policy_public_principal"


def test_missing_bucket_fails(hook: AwsDeploymentHook) -> None:
    result = posture(hook, buckets=[unique("missing")])
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings] == ["bucket_missing"]


def test_unreadable_bucket_settings_are_an_error(hook: AwsDeploymentHook) -> None:
    bucket = good_bucket(hook)
    faults = FaultInjector().fail("GetBucketPolicy", code="AccessDenied", status=403, times=9)
    faults.attach(hook.get_client("s3"))
    try:
        result = posture(hook, buckets=[bucket])
    finally:
        faults.detach(hook.get_client("s3"))
    assert result.status is Status.ERROR
    assert "AccessDenied" in result.summary and bucket in result.summary


def test_pii_in_outputs_is_counted_and_located_never_copied(hook: AwsDeploymentHook) -> None:
    secrets = ["ana.lopez@example.org", "+1 (415) 555-0132", "4111 1111 1111 1111", "078-05-1120"]
    outputs = pd.DataFrame(
        {
            "request_id": range(6),
            "explanation": [
                "approved",
                f"contact {secrets[0]} for details",
                "denied",
                f"call {secrets[1]}",
                f"card {secrets[2]} on file; ssn {secrets[3]}",
                "order 4111111111111112 shipped",  # 16 digits failing the Luhn check: not a card
            ],
            "score": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        }
    )
    bucket = good_bucket(hook)
    result = posture(
        hook,
        outputs,
        buckets=[bucket],
        outputs_sample="outputs",
        pii_patterns=[{"name": "us_ssn", "regex": r"\b\d{3}-\d{2}-\d{4}\b"}],
    )
    assert result.status is Status.FAIL
    hits = {(h["pattern"], h["column"]): h for h in result.metrics["pii"]["hits"]}
    assert set(hits) == {
        ("email", "explanation"),
        ("phone", "explanation"),
        ("card_number", "explanation"),
        ("us_ssn", "explanation"),
    }
    assert hits[("email", "explanation")]["rows"] == [1]
    assert hits[("phone", "explanation")]["rows"] == [3]
    assert hits[("card_number", "explanation")] == {
        "pattern": "card_number",
        "column": "explanation",
        "count": 1,
        "rows_with_match": 1,
        "rows": [4],
        "rows_truncated": False,
    }
    assert {f.id for f in result.findings} == {"pii_email", "pii_phone", "pii_card_number", "pii_us_ssn"}
    text = result.to_json()
    for secret in [*secrets, "4111111111111111", "ana.lopez", "555-0132", "05-1120"]:
        assert secret not in text  # counts and locations only: the values never leave the scan
