"""Deployment targets against real AWS APIs (the moto server over HTTP), and the HTTP health probe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from release_gates.deploy import (
    HttpProbe,
    LambdaAliasTarget,
    SageMakerEndpointTarget,
    TargetAccessDeniedError,
    TargetError,
    TargetNotFoundError,
    TargetNotStableError,
    build_target,
)
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.policy import DeploymentTargetSpec
from tests.integration.aws_test_support import (
    FaultInjector,
    alias_version,
    health_server,
    make_ecs_service,
    make_lambda,
    make_s3_pointer,
    pointer_version,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(aws_connection: str) -> Iterator[AwsDeploymentHook]:
    yield AwsDeploymentHook(aws_connection)


def _target(hook: AwsDeploymentHook, **spec: Any) -> Any:
    return hook.deployment_target(DeploymentTargetSpec(poll_interval=0.05, **spec))


def test_hook_reaches_moto_through_the_airflow_connection(
    hook: AwsDeploymentHook, moto_endpoint: str
) -> None:
    client = hook.get_client("lambda")
    assert client.meta.endpoint_url == moto_endpoint
    assert client.meta.region_name == "us-east-1"
    assert client.meta.config.retries["mode"] == "standard"
    assert hook.get_client("lambda") is client  # one client per service


def test_lambda_alias_versions_history_and_health(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=3)
    target = _target(hook, type="lambda", name=function, alias="live")
    assert isinstance(target, LambdaAliasTarget)
    assert target.current_version() == "3"
    assert target.previous_version() == "2"
    assert target.version_exists("1") and not target.version_exists("9")

    target.set_version("1")
    settled = target.wait_stable(5)
    assert settled["version"] == "1" and settled["polls"] == 1
    assert alias_version(hook.get_client, function) == "1"
    health = target.health()
    assert health.healthy and health.version == "1" and health.platform["state"] == "Active"
    assert target.previous_version() is None  # nothing older than version 1

    calls = target.calls.drain()
    assert {c["operation"] for c in calls} >= {"GetAlias", "UpdateAlias", "ListVersionsByFunction"}
    assert all(c["request_id"] for c in calls)
    failed = [c for c in calls if c["http_status"] >= 300]
    assert [(c["operation"], c["error"]) for c in failed] == [
        ("GetFunctionConfiguration", "ResourceNotFoundException")  # version_exists("9")
    ]


def test_lambda_target_that_does_not_exist(hook: AwsDeploymentHook) -> None:
    target = _target(hook, type="lambda", name="no-such-function", alias="live")
    with pytest.raises(TargetNotFoundError) as raised:
        target.current_version()
    assert raised.value.code == "ResourceNotFoundException" and not raised.value.transient
    assert raised.value.request_id


def test_errors_are_sorted_into_transient_denied_and_hard(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=2)
    target = _target(hook, type="lambda", name=function, alias="live")
    faults = FaultInjector().attach(target.client)
    faults.fail("GetAlias", code="TooManyRequestsException", status=429)
    faults.fail("GetAlias", code="ServiceException", status=500, skip=1)
    faults.fail("GetAlias", code="AccessDeniedException", status=403, skip=2)
    faults.fail("GetAlias", code="InvalidParameterValueException", status=400, skip=3)
    for expected, transient in (
        (TargetError, True),
        (TargetError, True),
        (TargetAccessDeniedError, False),
        (TargetError, False),
    ):
        with pytest.raises(expected) as raised:
            target.current_version()
        assert raised.value.transient is transient
        assert raised.value.request_id.startswith("injected-")
    assert target.current_version() == "2"


def test_wait_stable_times_out_when_the_platform_never_settles(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=2)
    target = _target(hook, type="lambda", name=function, alias="live")
    with pytest.raises(TargetNotStableError) as raised:
        target.wait_stable(0.2, version="1")  # nobody moves the alias to 1
    assert "not stable on 1" in str(raised.value) and "alias points at 2" in str(raised.value)


def test_ecs_service_task_definition_revisions(hook: AwsDeploymentHook) -> None:
    cluster, service, family = make_ecs_service(hook.get_client, revisions=3)
    target = _target(hook, type="ecs", name=service, cluster=cluster)
    assert target.current_version() == f"{family}:3"
    assert target.previous_version() == f"{family}:2"
    assert target.normalize_version("1") == f"{family}:1"
    assert target.version_exists("2") and not target.version_exists("7")
    target.set_version("2")
    assert target.wait_stable(5)["version"] == f"{family}:2"
    health = target.health()
    assert health.healthy and health.version == f"{family}:2"
    assert target.watched_by({"ServiceName": service, "ClusterName": cluster})
    assert not target.watched_by({"ServiceName": service, "ClusterName": "other"})


def test_ecs_service_that_does_not_exist(hook: AwsDeploymentHook) -> None:
    cluster, _, _ = make_ecs_service(hook.get_client, revisions=1)
    with pytest.raises(TargetNotFoundError, match="not found"):
        _target(hook, type="ecs", name="no-such-service", cluster=cluster).current_version()


def test_s3_pointer_follows_the_pointer_history(hook: AwsDeploymentHook) -> None:
    bucket, key, versions = make_s3_pointer(hook.get_client, deployments=3)
    target = _target(hook, type="s3_pointer", name=f"{bucket}/{key}")
    assert target.current_version() == versions[2]
    assert target.previous_version() == versions[1]
    assert target.version_exists(versions[0]) and not target.version_exists("no-such-version")
    target.set_version(versions[0])
    target.wait_stable(5)
    assert pointer_version(hook.get_client, bucket, key) == versions[0]
    assert target.health().healthy
    # The pointer's own history now says the deployment before versions[0] was versions[2].
    assert target.previous_version() == versions[2]
    with pytest.raises(TargetNotFoundError):
        target.set_version("no-such-version")  # never point at a missing object
    assert pointer_version(hook.get_client, bucket, key) == versions[0]


def test_s3_pointer_that_is_not_a_pointer(hook: AwsDeploymentHook) -> None:
    bucket, key, _ = make_s3_pointer(hook.get_client, deployments=1)
    hook.get_client("s3").put_object(Bucket=bucket, Key=key, Body=b"not json")
    with pytest.raises(TargetError, match="not JSON"):
        _target(hook, type="s3_pointer", name=f"{bucket}/{key}").current_version()


# --------------------------------------------------------------------------------------------------
# SageMaker: moto does not implement UpdateEndpoint, so this target runs on botocore's Stubber, which
# validates every request and response against the real SageMaker service model.
# --------------------------------------------------------------------------------------------------


def _endpoint(config: str, status: str = "InService") -> dict[str, Any]:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        "EndpointName": "scorer",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/scorer",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }


def test_sagemaker_endpoint_config_with_the_real_service_model() -> None:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    created = datetime(2026, 1, 2, tzinfo=UTC)
    with Stubber(client) as stub:
        name = {"EndpointName": "scorer"}
        stub.add_response("describe_endpoint", _endpoint("cfg-3"), name)
        stub.add_response("describe_endpoint", _endpoint("cfg-3"), name)
        stub.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": "cfg-3",
                "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/cfg-3",
                "ProductionVariants": [{"VariantName": "main", "ModelName": "m3"}],
                "CreationTime": created,
            },
            {"EndpointConfigName": "cfg-3"},
        )
        stub.add_response(
            "list_endpoint_configs",
            {
                "EndpointConfigs": [
                    {
                        "EndpointConfigName": "cfg-2",
                        "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/cfg-2",
                        "CreationTime": created - timedelta(days=1),
                    }
                ]
            },
            {
                "SortBy": "CreationTime",
                "SortOrder": "Descending",
                "NameContains": "scorer",
                "CreationTimeBefore": created,
                "MaxResults": 10,
            },
        )
        stub.add_response("update_endpoint", {"EndpointArn": _endpoint("x")["EndpointArn"]})
        stub.add_response("describe_endpoint", _endpoint("cfg-3", "Updating"), name)
        stub.add_response("describe_endpoint", _endpoint("cfg-2"), name)
        stub.add_response("describe_endpoint", _endpoint("cfg-2"), name)
        stub.add_client_error(
            "describe_endpoint_config",
            service_error_code="ValidationException",
            service_message="Could not find endpoint configuration cfg-9",
            http_status_code=400,
        )

        target = SageMakerEndpointTarget(lambda _service: client, endpoint="scorer", poll_interval=0.01)
        assert target.current_version() == "cfg-3"
        assert target.previous_version() == "cfg-2"
        target.set_version("cfg-2")
        settled = target.wait_stable(5)
        assert settled["version"] == "cfg-2" and settled["polls"] == 2
        health = target.health()
        assert health.healthy and health.version == "cfg-2"
        assert not target.version_exists("cfg-9")
        stub.assert_no_pending_responses()


def test_sagemaker_failed_update_is_not_stable() -> None:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stub:
        stub.add_response("update_endpoint", {"EndpointArn": _endpoint("x")["EndpointArn"]})
        stub.add_response(
            "describe_endpoint", {**_endpoint("cfg-2", "Failed"), "FailureReason": "image pull"}
        )
        target = SageMakerEndpointTarget(lambda _service: client, endpoint="scorer", poll_interval=0.01)
        target.set_version("cfg-2")
        with pytest.raises(TargetNotStableError, match="image pull"):
            target.wait_stable(5)


# --------------------------------------------------------------------------------------------------
# HTTP health probe (a real local server)
# --------------------------------------------------------------------------------------------------


def test_probe_status_json_field_and_timeout() -> None:
    with health_server(body={"status": "ok", "checks": [{"model": "loaded"}]}) as server:
        assert HttpProbe(server.url).check().ok
        assert HttpProbe(server.url, json_field="status", json_value="ok").check().ok
        assert HttpProbe(server.url, json_field="checks.0.model", json_value="loaded").check().ok
        missing = HttpProbe(server.url, json_field="ready").check()
        assert not missing.ok and "missing" in missing.reason
        wrong = HttpProbe(server.url, json_field="status", json_value="serving").check()
        assert not wrong.ok and "expected 'serving'" in wrong.reason
        server.status = 503
        failed = HttpProbe(server.url).check()
        assert not failed.ok and failed.status == 503
        server.status, server.delay = 200, 1.0
        slow = HttpProbe(server.url, timeout=0.2).check()
        assert not slow.ok and slow.reason == "no answer within 0.2 s"
        assert slow.elapsed_ms < 900
    closed = HttpProbe(server.url, timeout=0.5).check()
    assert not closed.ok and closed.reason.startswith("unreachable")
    assert json.dumps(closed.to_dict())


def test_target_health_combines_platform_and_probe(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=1)
    with health_server(status=500) as server:
        target = build_target(
            DeploymentTargetSpec(type="lambda", name=function, alias="live", health_url=server.url),
            hook.get_client,
        )
        health = target.health()
        assert not health.healthy
        assert health.platform["state"] == "Active"
        assert health.reason == "health probe failed: HTTP 500, expected 200"
