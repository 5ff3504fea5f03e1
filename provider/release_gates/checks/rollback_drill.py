"""Rollback drill: prove that the release can be undone within its recovery-time budget.

Two modes (``mode:`` in the policy):

* ``shadow`` (the default) drills a stand-in that serves no live traffic, created and removed by the
  drill; the live target is only read (:mod:`release_gates.checks.shadow_drill`). The RTO is
  measured on the stand-in and reported as such (``metrics.measured_on: standin``).
* ``live`` drills the serving target itself, and only inside the policy's ``window:`` (cron +
  duration, UTC). Outside it the result is INCONCLUSIVE — deferred to the next window, whose start
  it names — and nothing is read or changed. Inside it, on the live target::

    record current → roll back to the previous known-good version → wait stable → health → RTO
    → (always) roll forward to the original → wait stable → confirm → health

The roll-forward runs in a ``finally`` block and is retried harder than the other steps. It is a
compare-and-set: it first reads what the target serves and writes the original back only if the
target still serves the version the drill set — a rollback that never took effect needs no write, and
a version someone else set meanwhile (another run's promotion) is never overwritten (ERROR,
``target_changed_during_drill``). If the original version cannot be restored the result is ERROR with
a CRITICAL finding that says exactly which version the target serves now.

With a ``journal`` (:class:`DrillJournal`), the drill's intent — original and drill version — is
recorded before the first change (a drill whose intent cannot be recorded changes nothing), and its
end after the restore; a process killed in between leaves an unfinished drill that the next try
finds and restores (:mod:`release_gates.checks.drill_recovery`).

Verdicts: FAIL when the RTO exceeds the budget, the target does not settle, or health fails;
INCONCLUSIVE when there is no previous version or a live drill is outside its window; ERROR when a
step could not run (after retries) or the restore failed; WARN when everything held but some step
needed retries; PASS otherwise.
``dry_run`` reads versions and simulates the write permission (IAM) without changing anything.

Every step and every attempt — timestamps, versions, AWS operations and request ids, errors — is in
``metrics.steps``, which the operator writes to the evidence trail. This module imports no Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from release_gates.checks.drill_engine import (
    PLATFORM_WAIT_STEPS,
    Drill,
    DrillJournal,
    DrillSteps,
    RetryPolicy,
    StepFailedError,
)
from release_gates.checks.drill_verdict import drill_result, engine_versions
from release_gates.checks.shadow_drill import run_shadow_drill
from release_gates.kinds.fields import format_duration
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy import DeploymentTarget
    from release_gates.policy import RollbackDrillCheck

__all__ = [
    "PLATFORM_WAIT_STEPS",
    "DrillJournal",
    "RetryPolicy",
    "StepFailedError",
    "run_rollback_drill",
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_rollback_drill(
    target: DeploymentTarget,
    spec: RollbackDrillCheck,
    *,
    check_id: str = "rollback_drill",
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    inputs: Mapping[str, Any] | None = None,
    journal: DrillJournal | None = None,
    now: Callable[[], datetime] = _utc_now,
) -> CheckResult:
    """Run the drill ``spec`` describes on ``target`` (the live target; a shadow drill creates its
    stand-in itself); see the module docstring for the modes and the verdicts."""
    started_at = utcnow()
    started = clock()
    target.calls.drain()  # calls made before the drill are not part of its record
    steps = DrillSteps(target, retry or RetryPolicy(), clock, sleep)
    if spec.mode == "shadow" and not spec.dry_run:
        return run_shadow_drill(
            target,
            spec,
            steps=steps,
            check_id=check_id,
            inputs=inputs,
            journal=journal,
            started_at=started_at,
            started=started,
        )
    window: dict[str, Any] | None = None
    if spec.mode == "live" and not spec.dry_run:
        window, deferred = _window(target, spec, now(), check_id=check_id, inputs=inputs)
        if deferred is not None:
            return deferred
    drill = Drill(target, spec, steps, clock, journal)
    drill.run()
    result = drill_result(
        drill, check_id=check_id, inputs=inputs, started_at=started_at, seconds=clock() - started
    )
    if window is not None:
        result = result.model_copy(update={"metrics": {**result.metrics, "window": window}})
    return result


def _window(
    target: DeploymentTarget,
    spec: RollbackDrillCheck,
    now: datetime,
    *,
    check_id: str,
    inputs: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], CheckResult | None]:
    """The live drill's window facts, and the INCONCLUSIVE result when ``now`` is outside it."""
    window = spec.window
    assert window is not None  # the spec refuses mode: live without one
    opened = window.open_since(now)
    facts: dict[str, Any] = {
        "cron": window.cron,
        "duration": format_duration(window.duration),
        "checked_at": now.isoformat(),
        "open_since": opened.isoformat() if opened is not None else None,
    }
    if opened is not None:
        return facts, None
    upcoming = window.next_start(now)
    facts["next_window_start"] = upcoming.isoformat() if upcoming is not None else None
    when = upcoming.strftime("%Y-%m-%d %H:%M UTC") if upcoming is not None else "none within five years"
    what = target.description
    summary = (
        f"live rollback drill on {what} deferred to the next window, {when} (window: cron "
        f"'{window.cron}' for {facts['duration']}); outside it the live target is not drilled: nothing "
        "read or changed, RTO not measured"
    )
    finding = Finding(
        id="drill_deferred",
        severity=Severity.MEDIUM,
        title=f"Live rollback drill deferred to the next window ({when})",
        detail=(
            f"The policy allows drilling {what} only from each '{window.cron}' (UTC) for "
            f"{facts['duration']}; it is {now:%Y-%m-%d %H:%M} UTC. Run the drill again inside the window, "
            "or use mode: shadow to drill a stand-in now."
        ),
        location=what,
        data={"next_window_start": facts["next_window_start"], "cron": window.cron},
    )
    metrics: dict[str, Any] = {
        "target": target.identity(),
        "mode": "live",
        "dry_run": False,
        "deferred": True,
        "window": facts,
        "measured_on": None,
        "rto_seconds": None,
        "rto_budget_seconds": spec.rto_budget.total_seconds(),
        "changed": False,
        "restored": None,
        "api_calls": 0,
        "steps": [],
    }
    result = CheckResult(
        check_id=check_id,
        kind="rollback_drill",
        status=Status.INCONCLUSIVE,
        summary=summary,
        metrics=metrics,
        findings=[finding],
        inputs=dict(inputs or {}),
        engine=engine_versions(),
        started_at=utcnow(),
        finished_at=utcnow(),
    )
    return facts, result
