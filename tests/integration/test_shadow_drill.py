"""Shadow rollback drills (the default) and live drills' windows, against moto over HTTP.

While a shadow drill runs, a second client on another thread reads the live alias / pointer / service
over and over: it must never change, while the same reader sees the stand-in appear. Afterwards the
stand-in is gone. A live drill outside its window changes (and reads) nothing; inside, it drills live.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill
from release_gates.deploy.targets import DeploymentTarget
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.policy import RollbackDrillCheck
from release_gates.results import CheckResult, Status
from tests.integration.aws_test_support import (
    FaultInjector,
    alias_version,
    make_ecs_service,
    make_lambda,
    make_s3_pointer,
    pointer_version,
)

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, restore_attempts=4, base_delay=0.0)


@pytest.fixture
def hook(aws_connection: str) -> AwsDeploymentHook:
    return AwsDeploymentHook(aws_connection)


@pytest.fixture
def watcher_hook(aws_connection: str) -> AwsDeploymentHook:
    """A second hook: its own boto3 clients, as another process reading production would have."""
    return AwsDeploymentHook(aws_connection)


class Watch:
    """Reads the live state and the stand-ins around it until stopped (another thread)."""

    def __init__(self, read: Callable[[], tuple[Any, list[str]]]) -> None:
        self.read = read
        self.live: list[Any] = []
        self.standins: set[str] = set()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                live, standins = self.read()
                self.live.append(live)
                self.standins.update(standins)
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            self.error = exc


@contextmanager
def watching(read: Callable[[], tuple[Any, list[str]]]) -> Iterator[Watch]:
    watch = Watch(read)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        watch.stop.set()
        thread.join(30)
    assert watch.error is None, watch.error


@pytest.fixture
def slow_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each wait on the platform takes 0.2 s longer: moto settles at once, and the reader needs time
    to see the stand-in while it exists."""
    original = DeploymentTarget.wait_stable

    def wait_stable(self: DeploymentTarget, timeout: float, *, version: str | None = None) -> Any:
        threading.Event().wait(0.2)
        return original(self, timeout, version=version)

    monkeypatch.setattr(DeploymentTarget, "wait_stable", wait_stable)


def shadow_drill(hook: AwsDeploymentHook, target: dict[str, Any], **options: Any) -> CheckResult:
    spec = RollbackDrillCheck(kind="rollback_drill", target={"poll_interval": 0.05, **target}, **options)
    result = run_rollback_drill(hook.deployment_target(spec.target), spec, check_id="ops.drill", retry=FAST)
    assert CheckResult.from_json(result.to_json()) == result
    return result


def assert_measured_on_a_removed_standin(result: CheckResult, original: str, previous: str) -> None:
    assert result.status is Status.PASS, result.summary
    metrics = result.metrics
    assert metrics["mode"] == "shadow" and metrics["measured_on"] == "standin"
    assert metrics["changed"] is False and metrics["standin_changed"] is True
    assert metrics["original_version"] == original and metrics["previous_version"] == previous
    assert metrics["rto_seconds"] is not None and metrics["restore_seconds"] is not None
    standin = metrics["standin"]
    assert standin["created"] is True and standin["removed"] is True and standin["existed"] is True
    assert standin["name"] in result.summary and "created and removed" in result.summary
    names = [s["step"] for s in metrics["steps"]]
    assert names[:3] == ["record_current", "find_previous", "verify_previous"]
    assert names[3:5] == ["create_standin", "wait_stable_standin"] and names[-1] == "remove_standin"
    changes = {
        c["operation"]
        for s in metrics["steps"]
        if s["phase"] in ("rollback", "restore")
        for a in s["attempts"]
        for c in a["api_calls"]
    }
    assert changes  # the stand-in was really rolled back and forward


def test_shadow_drill_on_lambda_leaves_the_live_alias_untouched(
    hook: AwsDeploymentHook, watcher_hook: AwsDeploymentHook, slow_waits: None
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    lam = watcher_hook.get_client("lambda")

    def read() -> tuple[Any, list[str]]:
        live = lam.get_alias(FunctionName=function, Name="live")
        aliases = lam.list_aliases(FunctionName=function)["Aliases"]
        return (live["FunctionVersion"], live.get("RoutingConfig")), [
            a["Name"] for a in aliases if a["Name"].startswith("rg-drill-")
        ]

    with watching(read) as watch:
        result = shadow_drill(hook, {"type": "lambda", "name": function, "alias": "live"})
    assert_measured_on_a_removed_standin(result, "3", "2")
    assert len(watch.live) >= 5 and set(watch.live) == {("3", None)}
    assert watch.standins == {result.metrics["standin"]["name"]}  # seen while it existed …
    assert [a["Name"] for a in lam.list_aliases(FunctionName=function)["Aliases"]] == ["live"]  # … gone
    assert alias_version(hook.get_client, function) == "3"
    assert result.metrics["target"] == {"type": "lambda", "name": function, "alias": "live"}


def test_shadow_drill_on_an_s3_pointer_leaves_the_live_pointer_untouched(
    hook: AwsDeploymentHook, watcher_hook: AwsDeploymentHook, slow_waits: None
) -> None:
    bucket, key, versions = make_s3_pointer(hook.get_client, deployments=3)
    s3 = watcher_hook.get_client("s3")
    pointer_writes = len(
        [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]
    )

    def read() -> tuple[Any, list[str]]:
        live = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        drills = s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}.rg-drill-").get("Contents", [])
        return live, [o["Key"] for o in drills]

    before = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with watching(read) as watch:
        result = shadow_drill(hook, {"type": "s3_pointer", "name": f"{bucket}/{key}"})
    assert_measured_on_a_removed_standin(result, versions[2], versions[1])
    assert len(watch.live) >= 5 and set(watch.live) == {before}
    drill_key = result.metrics["standin"]["name"]
    assert drill_key.startswith(f"{key}.rg-drill-") and watch.standins == {drill_key}
    listed = s3.list_object_versions(Bucket=bucket, Prefix=drill_key)
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")  # no version, no marker left
    after = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]
    assert len(after) == pointer_writes  # the live pointer was never rewritten
    assert pointer_version(hook.get_client, bucket, key) == versions[2]


def test_shadow_drill_on_ecs_runs_a_drill_service_and_leaves_the_live_service_untouched(
    hook: AwsDeploymentHook, watcher_hook: AwsDeploymentHook, slow_waits: None
) -> None:
    cluster, service, family = make_ecs_service(hook.get_client, revisions=3)
    ecs = watcher_hook.get_client("ecs")

    def read() -> tuple[Any, list[str]]:
        live = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
        arns = ecs.list_services(cluster=cluster)["serviceArns"]
        active = ecs.describe_services(cluster=cluster, services=arns)["services"] if arns else []
        drills = [
            s["serviceName"] for s in active if "-rg-drill-" in s["serviceName"] and s["status"] == "ACTIVE"
        ]
        return (live["taskDefinition"], len(live["deployments"]), live["desiredCount"]), drills

    with watching(read) as watch:
        result = shadow_drill(hook, {"type": "ecs", "name": service, "cluster": cluster})
    assert_measured_on_a_removed_standin(result, f"{family}:3", f"{family}:2")
    assert len(watch.live) >= 5 and len(set(watch.live)) == 1
    assert watch.live[0][0].endswith(f"{family}:3") and watch.live[0][1:] == (1, 1)
    drill_service = result.metrics["standin"]["name"]
    assert drill_service.startswith(f"{service}-rg-drill-") and watch.standins == {drill_service}
    left = ecs.describe_services(cluster=cluster, services=[drill_service])["services"]
    assert all(s["status"] != "ACTIVE" for s in left)


def test_shadow_drill_on_ecs_without_a_drill_service_verifies_the_circuit_breaker(
    hook: AwsDeploymentHook,
) -> None:
    cluster, service, _ = make_ecs_service(hook.get_client, revisions=3)
    target = {"type": "ecs", "name": service, "cluster": cluster}
    result = shadow_drill(hook, target, ecs_drill_service=False)
    # moto's service has no circuit breaker: ECS would not roll a failed deployment back by itself.
    assert result.status is Status.FAIL and result.findings[0].id == "circuit_breaker_off"
    assert result.metrics["measured_on"] == "circuit_breaker" and result.metrics["standin"]["name"] is None
    assert hook.get_client("ecs").list_services(cluster=cluster)["serviceArns"] == [
        hook.get_client("ecs").describe_services(cluster=cluster, services=[service])["services"][0][
            "serviceArn"
        ]
    ]

    ecs = hook.get_client("ecs")
    ecs.update_service(
        cluster=cluster,
        service=service,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )
    breaker = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    if not (breaker.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker"):
        pytest.skip("this moto does not keep the circuit breaker setting")
    result = shadow_drill(hook, target, ecs_drill_service=False)
    assert result.status is Status.PASS and "RTO not measured" in result.summary
    assert [f.id for f in result.findings] == ["rto_not_measured"]


# --------------------------------------------------------------------------------------------------
# Live drills and their window
# --------------------------------------------------------------------------------------------------

WINDOW = {"cron": "0 3 * * 2", "duration": "2h"}  # Tuesdays 03:00-05:00 UTC


def live_drill(hook: AwsDeploymentHook, function: str, now: datetime) -> tuple[CheckResult, Any]:
    spec = RollbackDrillCheck(
        kind="rollback_drill",
        target={"type": "lambda", "name": function, "alias": "live", "poll_interval": 0.05},
        mode="live",
        window=WINDOW,
    )
    target = hook.deployment_target(spec.target)
    result = run_rollback_drill(target, spec, check_id="ops.drill", retry=FAST, now=lambda: now)
    assert CheckResult.from_json(result.to_json()) == result
    return result, target


def test_live_drill_outside_its_window_is_inconclusive_and_changes_nothing(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=3)
    wednesday_noon = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    result, target = live_drill(hook, function, wednesday_noon)
    assert result.status is Status.INCONCLUSIVE  # never PASS
    assert "deferred to the next window, 2026-03-10 03:00 UTC" in result.summary
    assert result.findings[0].id == "drill_deferred"
    assert result.metrics["window"]["next_window_start"] == "2026-03-10T03:00:00+00:00"
    assert result.metrics["changed"] is False and result.metrics["api_calls"] == 0
    assert target.calls.drain() == []  # not even read
    assert alias_version(hook.get_client, function) == "3"


def test_live_drill_inside_its_window_drills_the_live_alias(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=3)
    tuesday_0330 = datetime(2026, 3, 3, 3, 30, tzinfo=UTC)
    result, _ = live_drill(hook, function, tuesday_0330)
    assert result.status is Status.PASS, result.summary
    assert result.metrics["mode"] == "live" and result.metrics["measured_on"] == "live"
    assert result.metrics["window"]["open_since"] == "2026-03-03T03:00:00+00:00"
    updates = [
        c["params"].get("FunctionVersion") if "params" in c else c["operation"]
        for s in result.metrics["steps"]
        for a in s["attempts"]
        for c in a["api_calls"]
        if c["operation"] == "UpdateAlias"
    ]
    assert len(updates) == 2  # rolled the live alias back and forward again
    assert alias_version(hook.get_client, function) == "3"


def test_a_stand_in_that_cannot_be_removed_is_an_error_naming_it(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=3)
    spec = RollbackDrillCheck(
        kind="rollback_drill",
        target={"type": "lambda", "name": function, "alias": "live", "poll_interval": 0.05},
    )
    target = hook.deployment_target(spec.target)
    faults = (
        FaultInjector()
        .fail("DeleteAlias", code="ServiceException", status=500, times=99)
        .attach(target.client)
    )
    try:
        result = run_rollback_drill(target, spec, check_id="ops.drill", retry=FAST)
    finally:
        faults.detach(target.client)
    assert result.status is Status.ERROR  # retryable: the next try finds it in the journal
    standin = result.metrics["standin"]
    assert standin["created"] is True and standin["removed"] is False
    assert result.findings[0].id == "standin_not_removed" and standin["name"] in result.findings[0].title
    assert "NOT removed" in result.summary and alias_version(hook.get_client, function) == "3"
    assert target.remove_standin(standin["name"]) is True  # what the next try does
