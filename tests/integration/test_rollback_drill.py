"""The rollback drill against real AWS APIs (moto server over HTTP), including faults at every step."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.policy import RollbackDrillCheck
from release_gates.results import CheckResult, Severity, Status
from tests.integration.aws_test_support import (
    LIVE_DRILL,
    FaultInjector,
    RawBody,
    alias_version,
    answer,
    health_server,
    make_ecs_service,
    make_lambda,
    make_s3_pointer,
    pointer_version,
)

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, restore_attempts=4, base_delay=0.0)
STEPS = [
    "record_current",
    "find_previous",
    "verify_previous",
    "rollback",
    "wait_stable_after_rollback",
    "health_after_rollback",
    "restore_read_version",
    "roll_forward",
    "wait_stable_after_restore",
    "confirm_restore",
    "health_after_restore",
]
PREPARE = {"record_current", "find_previous", "verify_previous"}
ROLLBACK = {"rollback", "wait_stable_after_rollback", "health_after_rollback"}
RESTORE = {"restore_read_version", "roll_forward", "wait_stable_after_restore", "confirm_restore"}


@pytest.fixture
def hook(aws_connection: str) -> AwsDeploymentHook:
    return AwsDeploymentHook(aws_connection)


def spec_for(target: dict[str, Any], **options: Any) -> RollbackDrillCheck:
    """A live drill (these tests drill the target itself; shadow drills: test_shadow_drill.py)."""
    options = {**LIVE_DRILL, **options}
    return RollbackDrillCheck(kind="rollback_drill", target={"poll_interval": 0.05, **target}, **options)


def drill(
    hook: AwsDeploymentHook, spec: RollbackDrillCheck, faults: FaultInjector | None = None
) -> CheckResult:
    target = hook.deployment_target(spec.target)
    if faults is not None:
        faults.attach(target.client)
    try:
        result = run_rollback_drill(target, spec, check_id="operations.rollback_drill", retry=FAST)
    finally:
        if faults is not None:
            faults.detach(target.client)
    # What goes to evidence must survive JSON unchanged.
    assert CheckResult.from_json(result.to_json()) == result
    return result


def steps(result: CheckResult) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in result.metrics["steps"]}


def first_calls(result: CheckResult) -> dict[str, tuple[str, int]]:
    """Each step's first AWS operation and how many calls of it came before (from a clean run)."""
    seen: Counter[str] = Counter()
    first: dict[str, tuple[str, int]] = {}
    for step in result.metrics["steps"]:
        for attempt in step["attempts"]:
            for call in attempt["api_calls"]:
                first.setdefault(step["step"], (call["operation"], seen[call["operation"]]))
                seen[call["operation"]] += 1
    return first


def lambda_spec(hook: AwsDeploymentHook, **options: Any) -> tuple[str, RollbackDrillCheck]:
    function = make_lambda(hook.get_client, versions=options.pop("versions", 3))
    target = {"type": "lambda", "name": function, "alias": "live", **options.pop("target", {})}
    return function, spec_for(target, **options)


# --------------------------------------------------------------------------------------------------
# Clean drills on each platform moto serves
# --------------------------------------------------------------------------------------------------


def test_lambda_drill_passes_and_records_every_step(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook)
    result = drill(hook, spec)
    assert result.status is Status.PASS, result.summary
    assert alias_version(hook.get_client, function) == "3"
    metrics = result.metrics
    assert [s["step"] for s in metrics["steps"]] == STEPS
    assert metrics["original_version"] == "3" and metrics["previous_version"] == "2"
    assert metrics["previous_version_source"] == "platform"
    assert 0 < metrics["rto_seconds"] <= metrics["rto_budget_seconds"] == 900
    assert metrics["restored"] is True and metrics["restore"]["final_version"] == "3"
    assert 0 < metrics["platform_wait_seconds"] < metrics["drill_seconds"]
    assert steps(result)["health_after_rollback"]["result"]["version"] == "2"
    calls = [c for s in metrics["steps"] for a in s["attempts"] for c in a["api_calls"]]
    assert len(calls) == metrics["api_calls"] > 10
    assert all(c["request_id"] and c["at"] and c["http_status"] < 300 for c in calls)
    assert [c["operation"] for c in calls].count("UpdateAlias") == 2
    assert all(s["started_at"] <= s["finished_at"] for s in metrics["steps"])
    assert "RTO" in result.summary and result.findings == ()


def test_ecs_drill_passes(hook: AwsDeploymentHook) -> None:
    cluster, service, family = make_ecs_service(hook.get_client, revisions=3)
    result = drill(hook, spec_for({"type": "ecs", "name": service, "cluster": cluster}))
    assert result.status is Status.PASS, result.summary
    assert result.metrics["previous_version"] == f"{family}:2"
    described = hook.get_client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]
    assert described["taskDefinition"].endswith(f"{family}:3")


def test_s3_pointer_drill_passes(hook: AwsDeploymentHook) -> None:
    bucket, key, versions = make_s3_pointer(hook.get_client, deployments=3)
    result = drill(hook, spec_for({"type": "s3_pointer", "name": f"{bucket}/{key}"}))
    assert result.status is Status.PASS, result.summary
    assert result.metrics["previous_version"] == versions[1]
    assert pointer_version(hook.get_client, bucket, key) == versions[2]


def test_policy_previous_version_wins_over_history(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook, previous_version="1")
    result = drill(hook, spec)
    assert result.status is Status.PASS
    assert result.metrics["previous_version"] == "1"
    assert result.metrics["previous_version_source"] == "policy"
    assert "find_previous" not in steps(result)
    assert alias_version(hook.get_client, function) == "3"


def test_missing_policy_previous_version_fails_without_changing_anything(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook, previous_version="42")
    result = drill(hook, spec)
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings] == ["previous_version_missing"]
    assert result.metrics["changed"] is False and result.metrics["restore"] is None
    assert alias_version(hook.get_client, function) == "3"


def test_no_previous_version_is_inconclusive(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook, versions=1)
    result = drill(hook, spec)
    assert result.status is Status.INCONCLUSIVE
    assert "no previous version" in result.summary and "nothing changed" in result.summary
    assert result.metrics["changed"] is False
    assert alias_version(hook.get_client, function) == "1"


def test_rto_over_budget_fails(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook, rto_budget=0.001, stable_timeout=10)
    result = drill(hook, spec)
    assert result.status is Status.FAIL
    finding = result.findings[0]
    assert finding.id == "rto_exceeded" and finding.severity is Severity.HIGH
    assert finding.data["rto_seconds"] > finding.data["rto_budget_seconds"] == 0.001
    assert result.metrics["restored"] is True
    assert alias_version(hook.get_client, function) == "3"


def test_target_that_never_settles_fails_and_is_restored(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook, stable_timeout=0.3)
    target = hook.deployment_target(spec.target)

    def version_2_stays_pending(event_name: str, params: dict[str, Any], **_: Any) -> Any:
        if event_name.endswith("GetFunctionConfiguration") and params["query_string"].get("Qualifier") == "2":
            parsed = {
                "FunctionName": function,
                "Version": "2",
                "State": "Pending",
                "ResponseMetadata": {"RequestId": "pending", "HTTPStatusCode": 200, "HTTPHeaders": {}},
            }
            return AWSResponse("https://answered.invalid", 200, {}, RawBody()), parsed
        return None

    target.client.meta.events.register("before-call", version_2_stays_pending, unique_id="pending-2")
    try:
        result = run_rollback_drill(target, spec, retry=FAST)
    finally:
        target.client.meta.events.unregister("before-call", unique_id="pending-2")
    assert result.status is Status.FAIL
    assert result.findings[0].id == "rollback_not_stable"
    assert "not stable on 2 within 0.3 s" in result.findings[0].detail
    assert steps(result)["wait_stable_after_rollback"]["attempts"][0]["error"]["code"] == "NotStable"
    assert result.metrics["restored"] is True
    assert alias_version(hook.get_client, function) == "3"


# --------------------------------------------------------------------------------------------------
# Faults at every step: throttling and 5xx, once (retried) and persistent (past the retries)
# --------------------------------------------------------------------------------------------------

FAULTS = {"throttling": ("TooManyRequestsException", 429), "5xx": ("ServiceException", 500)}


@pytest.mark.parametrize("kind", sorted(FAULTS))
@pytest.mark.parametrize("step", STEPS)
def test_transient_fault_at_each_step_is_retried_and_reported(
    hook: AwsDeploymentHook, step: str, kind: str
) -> None:
    _, clean_spec = lambda_spec(hook)
    operation, before = first_calls(drill(hook, clean_spec))[step]
    code, status = FAULTS[kind]
    function, spec = lambda_spec(hook)
    faults = FaultInjector().fail(operation, code=code, status=status, skip=before, times=1)
    result = drill(hook, spec, faults)

    assert len(faults.injected) == 1
    assert result.status is Status.WARN, result.summary  # passing, never a clean PASS
    assert alias_version(hook.get_client, function) == "3"
    record = steps(result)[step]
    assert [a["ok"] for a in record["attempts"]] == [False, True]
    failed = record["attempts"][0]
    assert failed["error"]["code"] == code and failed["error"]["transient"] is True
    assert failed["api_calls"][0]["request_id"] == faults.injected[0]["request_id"]
    assert result.metrics["retried_steps"] == [step]
    assert result.findings[0].id == "drill_retries" and step in result.findings[0].detail


def _persistent(step: str) -> int:
    return FAST.restore_attempts if step in RESTORE | {"health_after_restore"} else FAST.attempts


@pytest.mark.parametrize("kind", sorted(FAULTS))
@pytest.mark.parametrize("step", STEPS)
def test_persistent_fault_at_each_step_never_passes(hook: AwsDeploymentHook, step: str, kind: str) -> None:
    _, clean_spec = lambda_spec(hook)
    operation, before = first_calls(drill(hook, clean_spec))[step]
    code, status = FAULTS[kind]
    function, spec = lambda_spec(hook)
    times = _persistent(step)
    faults = FaultInjector().fail(operation, code=code, status=status, skip=before, times=times)
    result = drill(hook, spec, faults)

    assert result.status is Status.ERROR, result.summary
    serving = alias_version(hook.get_client, function)
    record = steps(result)[step]
    assert len(record["attempts"]) == times and not record["ok"]
    injected_ids = {f["request_id"] for f in faults.injected}
    recorded_ids = {
        c["request_id"] for s in result.metrics["steps"] for a in s["attempts"] for c in a["api_calls"]
    }
    assert injected_ids <= recorded_ids  # every failed attempt is in the evidence

    if step in PREPARE:
        assert result.metrics["changed"] is False and serving == "3"
        assert result.findings[0].id == "drill_step_failed" and result.findings[0].data["step"] == step
        assert "nothing changed" in result.summary
    elif step in ROLLBACK:
        assert result.metrics["restored"] is True and serving == "3"
        assert result.findings[0].id == "drill_step_failed"
        assert "restored to 3" in result.summary
        if step == "rollback":  # the rollback never took effect: nothing to roll forward
            assert result.metrics["restore"]["rolled_forward_from"] is None
    elif step in RESTORE:
        finding = result.findings[0]
        assert finding.id == "restore_failed" and finding.severity is Severity.CRITICAL
        assert result.summary.startswith("RESTORE FAILED")
        # The finding states exactly what the target serves — checked against the server.
        assert finding.data["serving_version"] == serving and finding.data["known"] is True
        if serving == "3":
            assert "serves its original version 3 but the restore did not complete" in finding.title
        else:
            assert serving == "2"
            assert "was left on version 2, not its original 3" in finding.title
            assert "Set it back to 3 by hand" in finding.detail
    else:  # health_after_restore
        assert serving == "3" and result.metrics["restored"] is True
        assert result.findings[0].id == "restore_health_unknown"


# --------------------------------------------------------------------------------------------------
# Other faults
# --------------------------------------------------------------------------------------------------


def test_target_that_does_not_exist_is_an_error(hook: AwsDeploymentHook) -> None:
    result = drill(hook, spec_for({"type": "lambda", "name": "no-such-function", "alias": "live"}))
    assert result.status is Status.ERROR
    assert "record_current" in result.summary and "ResourceNotFoundException" in result.summary
    assert result.metrics["changed"] is False
    assert len(steps(result)["record_current"]["attempts"]) == 1  # not found is not retried


def test_missing_write_permission_is_an_error_and_changes_nothing(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook)
    faults = FaultInjector().fail("UpdateAlias", code="AccessDeniedException", status=403, times=99)
    result = drill(hook, spec, faults)
    assert result.status is Status.ERROR
    rollback = steps(result)["rollback"]
    assert len(rollback["attempts"]) == 1  # access denied is not retried
    assert rollback["attempts"][0]["error"]["type"] == "TargetAccessDeniedError"
    assert result.metrics["restore"]["rolled_forward_from"] is None and result.metrics["restored"] is True
    assert len(faults.injected) == 1  # the restore saw version 3 and did not write
    assert alias_version(hook.get_client, function) == "3"


def test_missing_read_permission_is_an_error(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook)
    faults = FaultInjector().fail("GetAlias", code="AccessDeniedException", status=403, times=99)
    result = drill(hook, spec, faults)
    assert result.status is Status.ERROR and "AccessDeniedException" in result.summary
    assert result.metrics["changed"] is False
    assert alias_version(hook.get_client, function) == "3"


def test_health_probe_timeout_fails_and_the_target_is_restored(hook: AwsDeploymentHook) -> None:
    with health_server(delay=1.0) as server:
        function, spec = lambda_spec(hook, target={"health_url": server.url, "health_timeout": 0.2})
        result = drill(hook, spec)
    assert result.status is Status.FAIL
    ids = [f.id for f in result.findings]
    assert ids[0] == "rollback_unhealthy" and "restored_unhealthy" in ids
    assert result.findings[0].detail == "health probe failed: no answer within 0.2 s"
    probe = steps(result)["health_after_rollback"]["result"]["probe"]
    assert probe["ok"] is False and probe["status"] is None
    assert result.metrics["rto_seconds"] is None and result.metrics["restored"] is True
    assert alias_version(hook.get_client, function) == "3"


def test_restore_that_fails_once_then_succeeds(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook)
    faults = FaultInjector().fail("UpdateAlias", code="TooManyRequestsException", status=429, skip=1)
    result = drill(hook, spec, faults)
    assert alias_version(hook.get_client, function) == "3"
    assert result.status is Status.WARN  # restored, but the restore path needed a retry
    roll_forward = steps(result)["roll_forward"]
    assert [a["ok"] for a in roll_forward["attempts"]] == [False, True]
    assert roll_forward["attempts"][0]["api_calls"][0]["request_id"] == faults.injected[0]["request_id"]


def test_restore_that_fails_once_after_an_unhealthy_rollback(hook: AwsDeploymentHook) -> None:
    with health_server(status=503) as server:
        function, spec = lambda_spec(hook, target={"health_url": server.url})
        faults = FaultInjector().fail("UpdateAlias", code="ServiceException", status=500, skip=1)
        result = drill(hook, spec, faults)
    assert result.status is Status.FAIL
    assert result.findings[0].id == "rollback_unhealthy"
    assert len(steps(result)["roll_forward"]["attempts"]) == 2
    assert alias_version(hook.get_client, function) == "3"


def test_restore_that_keeps_failing_says_where_the_target_is(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook)
    faults = FaultInjector().fail("UpdateAlias", code="ServiceException", status=500, skip=1, times=99)
    result = drill(hook, spec, faults)
    assert result.status is Status.ERROR
    finding = result.findings[0]
    assert finding.severity is Severity.CRITICAL and finding.id == "restore_failed"
    assert alias_version(hook.get_client, function) == "2" == finding.data["serving_version"]
    assert finding.title.endswith("was left on version 2, not its original 3")
    assert len(steps(result)["roll_forward"]["attempts"]) == FAST.restore_attempts


def test_botocore_retries_a_5xx_and_the_drill_reports_it(hook: AwsDeploymentHook) -> None:
    function, spec = lambda_spec(hook)
    # Answered at the HTTP layer, so botocore's own retry handler ("needs-retry") retries it.
    faults = FaultInjector().fail("UpdateAlias", status=503, layer="send")
    result = drill(hook, spec, faults)
    assert result.status is Status.WARN
    assert result.metrics["botocore_retries"] == 1
    call = steps(result)["rollback"]["attempts"][0]["api_calls"][0]
    assert call["retry_attempts"] == 1 and call["http_status"] < 300
    assert alias_version(hook.get_client, function) == "3"


# --------------------------------------------------------------------------------------------------
# Dry run
# --------------------------------------------------------------------------------------------------


def _writes(result: CheckResult) -> list[str]:
    return [
        c["operation"]
        for s in result.metrics["steps"]
        for a in s["attempts"]
        for c in a["api_calls"]
        if not c["operation"].startswith(("Get", "List", "Describe", "Head", "Simulate"))
    ]


def test_dry_run_on_moto_cannot_verify_permissions(hook: AwsDeploymentHook) -> None:
    # moto has no IAM policy simulator; the dry run says so instead of claiming a pass.
    function, spec = lambda_spec(hook, dry_run=True)
    result = drill(hook, spec)
    assert result.status is Status.INCONCLUSIVE
    assert result.findings[0].id == "permissions_unverified"
    assert _writes(result) == [] and result.metrics["changed"] is False
    assert alias_version(hook.get_client, function) == "3"


@pytest.mark.parametrize("decision", ["allowed", "implicitDeny"])
def test_dry_run_with_policy_simulation(hook: AwsDeploymentHook, decision: str) -> None:
    function, spec = lambda_spec(hook, dry_run=True)
    target = hook.deployment_target(spec.target)
    iam = hook.get_client("iam")
    simulated = answer(
        "SimulatePrincipalPolicy",
        {"EvaluationResults": [{"EvalActionName": "lambda:UpdateAlias", "EvalDecision": decision}]},
    )
    iam.meta.events.register("before-call", simulated, unique_id="simulate")
    try:
        result = run_rollback_drill(target, spec, retry=FAST)
    finally:
        iam.meta.events.unregister("before-call", unique_id="simulate")
    permissions = result.metrics["permissions"]
    assert permissions["principal"] == "arn:aws:iam::123456789012:user/moto"
    assert permissions["actions"][0]["resource"].endswith(f":function:{function}:live")
    if decision == "allowed":
        assert result.status is Status.PASS and result.summary.startswith("dry run:")
    else:
        assert result.status is Status.FAIL
        assert result.findings[0].id == "permission_denied"
    assert _writes(result) == []
    assert alias_version(hook.get_client, function) == "3"
    assert json.dumps(result.to_dict())
