"""The drill engine's decisions on an in-memory target with a simulated clock (no AWS, no Airflow).

The AWS-backed behaviour — real API calls, faults at every step — is in
tests/integration/test_rollback_drill.py; here a deployment that takes simulated minutes shows the RTO
arithmetic and the timeouts without waiting for them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill
from release_gates.deploy.calls import TargetError
from release_gates.deploy.targets import DeploymentTarget, Settle
from release_gates.policy import RollbackDrillCheck, parse_policy
from release_gates.results import Status


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class MemoryTarget(DeploymentTarget):
    """Versions "1".."n"; a change settles ``deploy_seconds`` of simulated time after it is made."""

    type = "memory"

    def __init__(self, clock: Clock, *, serving: str = "3", deploy_seconds: float = 30.0, **kw: Any) -> None:
        super().__init__(lambda _service: None, poll_interval=5.0, clock=clock, sleep=clock.sleep)
        self.clock = clock
        self.serving = serving
        self.deploy_seconds = deploy_seconds
        self.settles_at = clock.now
        self.healthy_versions = kw.get("healthy_versions", {"1", "2", "3"})
        self.fail_set: list[BaseException] = list(kw.get("fail_set", []))
        self.history: list[str] = []

    @property
    def description(self) -> str:
        return "memory target"

    def identity(self) -> dict[str, Any]:
        return {"type": "memory", "name": "m"}

    def current_version(self) -> str:
        return self.serving

    def set_version(self, version: str) -> None:
        if self.fail_set:
            raise self.fail_set.pop(0)
        self.history.append(version)
        self.serving = version
        self.settles_at = self.clock.now + self.deploy_seconds
        self._desired = version

    def previous_version(self) -> str | None:
        return str(int(self.serving) - 1) if int(self.serving) > 1 else None

    def version_exists(self, version: str) -> bool:
        return version in {"1", "2", "3"}

    def _settle(self, version: str) -> Settle:
        if self.serving != version or self.clock.now < self.settles_at:
            return Settle("pending", "deploying")
        return Settle("stable", "steady")

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        ok = self.serving in self.healthy_versions
        return ok, self.serving, "ok" if ok else "crash looping", {}

    def write_permissions(self) -> list[tuple[str, str]]:
        return [("memory:Set", "m")]

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        return False


#: A live drill's window that is always open: one starts every minute and lasts a minute.
ALWAYS_OPEN = {"cron": "* * * * *", "duration": "1m"}


def spec(**options: Any) -> RollbackDrillCheck:
    """A live drill (these tests drill the target itself; shadow drills: test_shadow_drill_engine)."""
    options = {"mode": "live", "window": ALWAYS_OPEN, **options}
    return RollbackDrillCheck(kind="rollback_drill", target={"type": "ecs", "name": "x"}, **options)


def run(target: MemoryTarget, clock: Clock, **options: Any) -> Any:
    result = run_rollback_drill(
        target, spec(**options), retry=RetryPolicy(base_delay=1.0), clock=clock, sleep=clock.sleep
    )
    json.dumps(result.to_dict())
    assert "\n" not in result.summary
    return result


def test_rto_is_time_to_stable_and_healthy() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=42)
    result = run(target, clock, rto_budget="5m")
    assert result.status is Status.PASS
    # Polls every 5 s: the first poll at or after 42 s sees it stable.
    assert result.metrics["rto_seconds"] == 45.0
    assert target.history == ["2", "3"] and target.serving == "3"
    assert result.metrics["platform_wait_seconds"] == 90.0  # both waits; health is instant here


def test_slow_rollback_fails_the_budget_and_is_still_restored() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=400)
    result = run(target, clock, rto_budget="5m", stable_timeout="10m")
    assert result.status is Status.FAIL
    assert result.findings[0].id == "rto_exceeded" and "over the 300 s budget" in result.findings[0].title
    assert target.serving == "3"


def test_not_settling_within_the_timeout_fails() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=400)
    result = run(target, clock, rto_budget="5m")  # stable_timeout defaults to the budget
    assert result.status is Status.ERROR  # the restore could not settle within the timeout either
    assert {f.id for f in result.findings} >= {"restore_failed", "rollback_not_stable"}
    assert result.findings[0].title.endswith("serves its original version 3 but the restore did not complete")


def test_unhealthy_previous_version_fails() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0, healthy_versions={"3"})
    result = run(target, clock)
    assert result.status is Status.FAIL
    assert result.findings[0].id == "rollback_unhealthy" and result.findings[0].detail == "crash looping"
    assert result.metrics["rto_seconds"] is None and target.serving == "3"


def test_previous_equal_to_current_is_inconclusive() -> None:
    clock = Clock()
    target = MemoryTarget(clock)
    result = run(target, clock, previous_version="3")
    assert result.status is Status.INCONCLUSIVE and target.history == []


def test_a_crash_inside_the_target_still_restores() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    original = target.set_version

    def set_then_crash(version: str) -> None:
        original(version)
        if version == "2":
            raise RuntimeError("bug after the change was made")

    target.set_version = set_then_crash  # type: ignore[method-assign]
    result = run(target, clock)
    assert result.status is Status.ERROR
    assert result.metrics["restore"]["rolled_forward_from"] == "2"
    assert target.serving == "3"


def test_interrupt_restores_before_propagating() -> None:
    clock = Clock()
    target = MemoryTarget(clock, deploy_seconds=0)
    original = target.health

    def interrupted() -> Any:
        if target.serving == "2":
            raise KeyboardInterrupt
        return original()

    target.health = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        run(target, clock)
    assert target.serving == "3"


def test_retries_back_off_and_are_recorded() -> None:
    clock = Clock()
    throttled = [TargetError("throttled", code="Throttling", transient=True) for _ in range(2)]
    target = MemoryTarget(clock, deploy_seconds=0, fail_set=throttled)
    result = run(target, clock)
    assert result.status is Status.WARN
    attempts = next(s for s in result.metrics["steps"] if s["step"] == "rollback")["attempts"]
    assert [a["ok"] for a in attempts] == [False, False, True]
    assert [a["error"]["code"] for a in attempts[:2]] == ["Throttling", "Throttling"]
    assert result.metrics["rto_seconds"] == 3.0  # 1 s + 2 s of backoff count against the RTO


def test_policy_target_rules() -> None:
    base = """
policy_version: 1
release: {model: m}
owners: {ops: {users: [a]}}
gates:
  - id: ops
    owner: ops
    rationale: r
    checks:
      - kind: rollback_drill
        target: TARGET
"""
    with pytest.raises(ValueError, match="needs an alias"):
        parse_policy(base.replace("TARGET", "{type: lambda, name: f}"))
    with pytest.raises(ValueError, match="bucket/key"):
        parse_policy(base.replace("TARGET", "{type: s3_pointer, name: just-a-bucket}"))
    policy = parse_policy(
        base.replace("TARGET", "{type: lambda, name: f, alias: live, health_url: 'http://h/health'}")
    )
    check = policy.gates[0].checks[0]
    assert isinstance(check, RollbackDrillCheck)
    assert check.target.health_timeout.total_seconds() == 5 and check.stable_timeout is None


def test_aws_modules_import_no_sdk_at_module_level() -> None:
    """DAG files import operators, which import these lazily; even so, none may load boto3 on import."""
    import subprocess
    import sys

    code = """
import sys
import release_gates.deploy, release_gates.deploy.actions
import release_gates.hooks.aws, release_gates.operators.aws
import release_gates.checks.rollback_drill, release_gates.checks.ops_readiness, release_gates.checks.posture
import release_gates.cli.checks.rollback_drill, release_gates.cli.checks.ops_readiness
import release_gates.cli.checks.posture, release_gates.cli.checks.aws_args
heavy = ("boto3", "botocore", "pandas", "airflow.providers.amazon.aws.hooks.base_aws")
print(",".join(m for m in heavy if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
