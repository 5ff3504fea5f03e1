"""Rollback drill: prove that the release can be undone within its recovery-time budget.

On a live :class:`~release_gates.deploy.DeploymentTarget`::

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
INCONCLUSIVE when there is no previous version; ERROR when a step could not run (after retries)
or the restore failed; WARN when everything held but some step needed retries; PASS otherwise.
``dry_run`` reads versions and simulates the write permission (IAM) without changing anything.

Every step and every attempt — timestamps, versions, AWS operations and request ids, errors — is in
``metrics.steps``, which the operator writes to the evidence trail. This module imports no Airflow.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from release_gates import __version__
from release_gates.deploy.calls import TargetError, TargetNotStableError, now_iso
from release_gates.exceptions import ReleaseGatesError
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy import DeploymentTarget, HealthReport
    from release_gates.policy import RollbackDrillCheck

T = TypeVar("T")

#: Steps whose time is spent waiting on the platform (the rest is the drill's own overhead).
PLATFORM_WAIT_STEPS = frozenset(
    {
        "wait_stable_after_rollback",
        "health_after_rollback",
        "wait_stable_after_restore",
        "health_after_restore",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """Step retries on transient errors (throttling, 5xx, dropped connections), with backoff.

    These come on top of botocore's own retries of each call. The restore gets more attempts:
    leaving the target off its original version is the one outcome a drill must not produce.
    """

    attempts: int = 3
    restore_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class DrillJournal(Protocol):
    """Where a drill records its intent before it changes the target, and its end after the restore."""

    def drill_started(self, original: str, drill_version: str) -> None: ...

    def drill_finished(self, restore: Mapping[str, Any]) -> None: ...


class StepFailedError(ReleaseGatesError):
    """A drill step gave up: a non-transient error, a timeout, or transient errors past the retries."""

    def __init__(self, step: str, error: BaseException, attempts: int) -> None:
        super().__init__(f"step {step} failed after {attempts} attempt(s): {error}")
        self.step = step
        self.error = error
        self.attempts = attempts

    @property
    def code(self) -> str:
        return str(getattr(self.error, "code", None) or type(self.error).__name__)


class _Steps:
    """Runs steps with retries; records each attempt with the AWS calls it made."""

    def __init__(
        self,
        target: DeploymentTarget,
        retry: RetryPolicy,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.target = target
        self.retry = retry
        self.clock = clock
        self.sleep = sleep
        self.records: list[dict[str, Any]] = []

    def run(
        self,
        name: str,
        action: Callable[[], T],
        *,
        phase: str,
        attempts: int | None = None,
        describe: Callable[[T], dict[str, Any]] | None = None,
    ) -> T:
        limit = attempts or self.retry.attempts
        record: dict[str, Any] = {"step": name, "phase": phase, "started_at": now_iso(), "attempts": []}
        self.records.append(record)
        started = self.clock()
        for attempt in range(1, limit + 1):
            attempt_started, at = self.clock(), now_iso()
            entry: dict[str, Any] = {"attempt": attempt, "started_at": at}
            try:
                value = action()
            except Exception as exc:
                retry = isinstance(exc, TargetError) and exc.transient and attempt < limit
                entry.update(
                    ok=False,
                    duration_s=round(self.clock() - attempt_started, 4),
                    error=exc.to_dict()
                    if isinstance(exc, TargetError)
                    else {"type": type(exc).__name__, "message": str(exc)},
                    api_calls=self.target.calls.drain(),
                )
                record["attempts"].append(entry)
                if retry:
                    self.sleep(self.retry.delay(attempt))
                    continue
                self._finish(record, started, ok=False)
                raise StepFailedError(name, exc, attempt) from exc
            entry.update(
                ok=True,
                duration_s=round(self.clock() - attempt_started, 4),
                api_calls=self.target.calls.drain(),
            )
            record["attempts"].append(entry)
            self._finish(record, started, ok=True)
            if describe is not None:
                record["result"] = describe(value)
            return value
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _finish(self, record: dict[str, Any], started: float, *, ok: bool) -> None:
        record.update(ok=ok, finished_at=now_iso(), duration_s=round(self.clock() - started, 4))


def _version(value: str | None) -> dict[str, Any]:
    return {"version": value}


def _health(value: HealthReport) -> dict[str, Any]:
    return value.to_dict()


class _Drill:
    def __init__(
        self,
        target: DeploymentTarget,
        spec: RollbackDrillCheck,
        steps: _Steps,
        clock: Callable[[], float],
        journal: DrillJournal | None = None,
    ) -> None:
        self.journal = journal
        self.journal_error: str | None = None
        self.target = target
        self.spec = spec
        self.steps = steps
        self.clock = clock
        self.budget = spec.rto_budget.total_seconds()
        self.stable_timeout = (spec.stable_timeout or spec.rto_budget).total_seconds()
        self.original: str | None = None
        self.previous: str | None = None
        self.previous_source: str | None = None
        self.change_attempted = False
        self.rollback_elapsed: float | None = None
        self.rto: float | None = None
        self.failures: list[Finding] = []
        self.notes: list[Finding] = []
        self.inconclusive: str | None = None
        self.error: StepFailedError | None = None
        self.permissions: dict[str, Any] | None = None
        self.restore: dict[str, Any] | None = None

    # -- the drill ----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._roll_back()
        except StepFailedError as exc:
            self.error = exc
        finally:
            if self.change_attempted:
                self.restore = self._restore()
                if self.journal is not None:
                    try:
                        self.journal.drill_finished(self.restore)
                    except Exception as exc:  # the next try finds the drill unfinished and checks
                        self.journal_error = f"{type(exc).__name__}: {exc}"

    def _fail(self, finding_id: str, title: str, detail: str = "", **data: Any) -> None:
        self.failures.append(
            Finding(
                id=finding_id,
                severity=self.spec.severity,
                title=title,
                detail=detail,
                location=self.target.description,
                data=data,
            )
        )

    def _roll_back(self) -> None:
        target, steps = self.target, self.steps
        self.original = steps.run(
            "record_current", target.current_version, phase="prepare", describe=_version
        )
        if self.spec.previous_version:
            self.previous = target.normalize_version(self.spec.previous_version)
            self.previous_source = "policy"
        else:
            self.previous = steps.run(
                "find_previous", target.previous_version, phase="prepare", describe=_version
            )
            self.previous_source = "platform"
        previous = self.previous
        if previous is None:
            self.inconclusive = (
                f"no previous version of {target.description} to roll back to "
                "(platform history has none; set previous_version in the policy); nothing changed"
            )
            return
        if previous == self.original:
            self.inconclusive = (
                f"the previous version {previous} is the current one: nothing to roll back to, "
                "nothing changed"
            )
            return
        exists = steps.run(
            "verify_previous",
            lambda: target.version_exists(previous),
            phase="prepare",
            describe=lambda ok: {"version": previous, "exists": ok},
        )
        if not exists:
            self._fail(
                "previous_version_missing",
                f"The rollback version {previous} ({self.previous_source}) does not exist",
                "The release could not be rolled back to it. Keep the known-good version deployable or "
                "update previous_version in the policy.",
                version=previous,
            )
            return
        if self.spec.dry_run:
            self._check_permissions()
            return

        journal = self.journal
        if journal is not None:
            # Intent first: a process killed after the change leaves a record its next try restores from.
            original = self.original
            steps.run(
                "record_intent",
                lambda: journal.drill_started(original, previous),
                phase="rollback",
                attempts=1,
            )
        self.change_attempted = True
        started = self.clock()
        steps.run("rollback", lambda: target.set_version(previous), phase="rollback")
        try:
            steps.run(
                "wait_stable_after_rollback",
                lambda: target.wait_stable(self.stable_timeout, version=previous),
                phase="rollback",
            )
        except StepFailedError as exc:
            if not isinstance(exc.error, TargetNotStableError):
                raise
            self.rollback_elapsed = self.clock() - started
            self._fail(
                "rollback_not_stable",
                f"The target did not settle on {previous} within {self.stable_timeout:g} s",
                str(exc.error),
                version=previous,
            )
            return
        health = steps.run("health_after_rollback", target.health, phase="rollback", describe=_health)
        self.rollback_elapsed = self.clock() - started
        if not health.healthy:
            self._fail(
                "rollback_unhealthy",
                f"Version {previous} is not healthy after the rollback",
                health.reason,
                version=previous,
            )
            return
        if health.version != previous:
            self._fail(
                "rollback_not_serving",
                f"After the rollback the target serves {health.version}, not {previous}",
                "Something else changed the target during the drill.",
            )
            return
        self.rto = self.rollback_elapsed
        if self.rto > self.budget:
            self._fail(
                "rto_exceeded",
                f"Recovery took {self.rto:.3g} s, over the {self.budget:g} s budget",
                f"Rolling back to {previous} until stable and healthy took {self.rto:.3g} s.",
                rto_seconds=round(self.rto, 3),
                rto_budget_seconds=self.budget,
            )

    def _check_permissions(self) -> None:
        try:
            self.permissions = self.steps.run(
                "check_permissions", self.target.check_write_permissions, phase="dry_run", describe=dict
            )
        except StepFailedError as exc:
            self.inconclusive = f"dry run: the write permission could not be verified ({exc.code})"
            self.notes.append(
                Finding(
                    id="permissions_unverified",
                    severity=Severity.MEDIUM,
                    title="Could not simulate the permission to change the version",
                    detail=str(exc.error),
                    location=self.target.description,
                )
            )
            return
        denied = self.permissions["denied"]
        if denied:
            self._fail(
                "permission_denied",
                f"The drill's credentials may not {', '.join(denied)}",
                f"IAM policy simulation for {self.permissions['principal']} denies it; a real rollback "
                "with these credentials would fail.",
                denied=denied,
            )

    # -- restore (always) ---------------------------------------------------------------------------

    def _restore(self) -> dict[str, Any]:
        target, steps = self.target, self.steps
        original = self.original
        assert original is not None
        attempts = steps.retry.restore_attempts
        info: dict[str, Any] = {"original_version": original, "restored": False}
        try:
            serving = steps.run(
                "restore_read_version",
                target.current_version,
                phase="restore",
                attempts=attempts,
                describe=_version,
            )
            if serving == original:
                info["rolled_forward_from"] = None  # the rollback never took effect: nothing to undo
            elif serving == self.previous:
                steps.run(
                    "roll_forward", lambda: target.set_version(original), phase="restore", attempts=attempts
                )
                info["rolled_forward_from"] = serving
            else:
                # Compare-and-set: someone else moved the target during the drill; theirs stands.
                info.update(changed_by_other=serving, rolled_forward_from=None)
                info["state"] = {"version": serving, "known": True}
                return info
            steps.run(
                "wait_stable_after_restore",
                lambda: target.wait_stable(self.stable_timeout, version=original),
                phase="restore",
                attempts=attempts,
            )
            final = steps.run(
                "confirm_restore",
                target.current_version,
                phase="restore",
                attempts=attempts,
                describe=_version,
            )
        except StepFailedError as exc:
            info["error"] = {"step": exc.step, "attempts": exc.attempts, "message": str(exc.error)}
            info["state"] = self._inspect_state()
            return info
        if final != original:
            info["error"] = {"step": "confirm_restore", "attempts": 1, "message": f"target serves {final}"}
            info["state"] = self._inspect_state()
            return info
        info.update(restored=True, final_version=final)
        try:
            health = steps.run(
                "health_after_restore", target.health, phase="restore", attempts=attempts, describe=_health
            )
        except StepFailedError as exc:
            info["health"] = None
            info["health_error"] = str(exc.error)
            return info
        info["health"] = health.to_dict()
        return info

    def _inspect_state(self) -> dict[str, Any]:
        """What the target serves after a failed restore — the fact on-call needs first."""
        try:
            version = self.steps.run(
                "inspect_state",
                self.target.current_version,
                phase="restore",
                attempts=self.steps.retry.restore_attempts,
                describe=_version,
            )
        except StepFailedError as exc:
            return {"version": None, "known": False, "error": str(exc.error)}
        return {"version": version, "known": True}

    # -- verdict ------------------------------------------------------------------------------------

    def restore_failed(self) -> bool:
        return self.restore is not None and not self.restore["restored"] and "error" in self.restore

    def changed_by_other(self) -> str | None:
        return None if self.restore is None else self.restore.get("changed_by_other")

    def restore_finding(self) -> Finding:
        assert self.restore is not None
        state, original = self.restore["state"], self.original
        what = self.target.description
        if state["known"] and state["version"] == original:
            title = f"{what} serves its original version {original} but the restore did not complete"
            fact = (
                f"It serves {original}, the original version, but did not settle or could not be confirmed."
            )
        elif state["known"]:
            title = f"{what} was left on version {state['version']}, not its original {original}"
            fact = f"It serves version {state['version']}; before the drill it served {original}."
        else:
            title = f"{what} is in an unknown state after the drill; its original version was {original}"
            fact = (
                f"Its version could not be read ({state['error']}). The drill last asked it to serve "
                f"{self.previous}; before the drill it served {original}."
            )
        return Finding(
            id="restore_failed",
            severity=Severity.CRITICAL,
            title=title,
            detail=(
                f"{fact} Restoring failed at step {self.restore['error']['step']} after "
                f"{self.restore['error']['attempts']} attempt(s): {self.restore['error']['message']}. "
                f"Set it back to {original} by hand."
            ),
            location=what,
            data={"original_version": original, "serving_version": state["version"], "known": state["known"]},
        )


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
) -> CheckResult:
    """Run the drill ``spec`` describes on ``target``; see the module docstring for the verdicts."""
    started_at = utcnow()
    started = clock()
    target.calls.drain()  # calls made before the drill are not part of its record
    steps = _Steps(target, retry or RetryPolicy(), clock, sleep)
    drill = _Drill(target, spec, steps, clock, journal)
    drill.run()
    return _result(drill, check_id=check_id, inputs=inputs, started_at=started_at, seconds=clock() - started)


def _result(
    drill: _Drill, *, check_id: str, inputs: Mapping[str, Any] | None, started_at: Any, seconds: float
) -> CheckResult:
    status, summary, findings = _verdict(drill)
    records = drill.steps.records
    calls = [call for record in records for attempt in record["attempts"] for call in attempt["api_calls"]]
    retried = sorted({r["step"] for r in records if len(r["attempts"]) > 1})
    botocore_retries = sum(int(call.get("retry_attempts") or 0) for call in calls)
    metrics: dict[str, Any] = {
        "target": drill.target.identity(),
        "dry_run": drill.spec.dry_run,
        "original_version": drill.original,
        "previous_version": drill.previous,
        "previous_version_source": drill.previous_source,
        "rto_seconds": _round(drill.rto),
        "rto_budget_seconds": drill.budget,
        "rollback_elapsed_seconds": _round(drill.rollback_elapsed),
        "stable_timeout_seconds": drill.stable_timeout,
        "changed": drill.change_attempted,
        "restored": drill.restore["restored"] if drill.restore is not None else None,
        "restore": drill.restore,
        "permissions": drill.permissions,
        "drill_seconds": _round(seconds),
        "platform_wait_seconds": _round(
            sum(r.get("duration_s", 0.0) for r in records if r["step"] in PLATFORM_WAIT_STEPS)
        ),
        "attempts": sum(len(r["attempts"]) for r in records),
        "retried_steps": retried,
        "api_calls": len(calls),
        "api_calls_dropped": drill.target.calls.dropped,
        "botocore_retries": botocore_retries,
        "steps": records,
    }
    return CheckResult(
        check_id=check_id,
        kind="rollback_drill",
        status=status,
        summary=summary,
        metrics=metrics,
        findings=findings,
        inputs=dict(inputs or {}),
        engine=_engine(),
        started_at=started_at,
        finished_at=utcnow(),
    )


def _verdict(drill: _Drill) -> tuple[Status, str, list[Finding]]:
    what = drill.target.description
    findings = list(drill.failures) + list(drill.notes)
    restore = drill.restore
    if drill.restore_failed():
        finding = drill.restore_finding()
        return Status.ERROR, f"RESTORE FAILED: {finding.title}", [finding, *findings, *_error_findings(drill)]
    if (other := drill.changed_by_other()) is not None:
        changed = Finding(
            id="target_changed_during_drill",
            severity=Severity.HIGH,
            title=f"{what} was moved to {other} by someone else during the drill; not overwritten",
            detail=(
                f"The drill set {drill.previous} (from {drill.original}); when it came to restore, the "
                f"target served {other}. Restoring would undo that change, so the drill left it. "
                "Find who changed it (the target's evidence chain names every lease holder)."
            ),
            location=what,
            data={"original_version": drill.original, "drill_version": drill.previous, "serving": other},
        )
        return Status.ERROR, f"rollback drill on {what}: {changed.title}", [changed, *findings]
    if drill.journal_error is not None:
        return (
            Status.ERROR,
            f"rollback drill on {what}: its end could not be journaled ({drill.journal_error})",
            [*findings, *_restore_health_findings(drill)],
        )
    restored_note = f"; restored to {drill.original}" if restore is not None else "; nothing changed"
    if drill.error is not None:
        error = drill.error
        return (
            Status.ERROR,
            f"rollback drill on {what} could not run: step {error.step} failed after {error.attempts} "
            f"attempt(s) ({error.code}){restored_note}",
            [*_error_findings(drill), *findings, *_restore_health_findings(drill)],
        )
    if restore is not None and restore.get("health") is None:
        return (
            Status.ERROR,
            f"rollback drill on {what}: restored to {drill.original} but its health could not be checked",
            [
                Finding(
                    id="restore_health_unknown",
                    severity=Severity.HIGH,
                    title=f"Health of {what} after the restore is unknown",
                    detail=str(restore.get("health_error")),
                    location=what,
                ),
                *findings,
            ],
        )
    findings += _restore_health_findings(drill)
    if drill.failures or any(f.id == "restored_unhealthy" for f in findings):
        first = (drill.failures or findings)[0]
        return Status.FAIL, f"rollback drill on {what}: {first.title}{restored_note}", findings
    if drill.inconclusive is not None:
        return Status.INCONCLUSIVE, drill.inconclusive, findings
    retry_note = _retry_finding(drill)
    if drill.spec.dry_run:
        summary = (
            f"dry run: {what} can roll back from {drill.original} to {drill.previous} "
            "(version exists, write permission allowed); nothing changed"
        )
    else:
        summary = (
            f"rolled {what} back from {drill.original} to {drill.previous} and forward again: "
            f"RTO {drill.rto:.3g} s (budget {drill.budget:g} s), restored and healthy"
        )
    if retry_note is not None:
        return Status.WARN, summary + f"; {retry_note.title.lower()}", [retry_note, *findings]
    return Status.PASS, summary, findings


def _error_findings(drill: _Drill) -> list[Finding]:
    if drill.error is None:
        return []
    error = drill.error
    return [
        Finding(
            id="drill_step_failed",
            severity=Severity.HIGH,
            title=f"Drill step {error.step} failed after {error.attempts} attempt(s): {error.code}",
            detail=str(error.error),
            location=drill.target.description,
            data={"step": error.step, "attempts": error.attempts, "code": error.code},
        )
    ]


def _restore_health_findings(drill: _Drill) -> list[Finding]:
    restore = drill.restore
    if restore is None or not restore.get("restored") or not restore.get("health"):
        return []
    health = restore["health"]
    if health["healthy"]:
        return []
    return [
        Finding(
            id="restored_unhealthy",
            severity=Severity.CRITICAL,
            title=f"Original version {drill.original} is back but not healthy",
            detail=f"{drill.target.description} serves {drill.original} (stable) but: {health['reason']}",
            location=drill.target.description,
        )
    ]


def _retry_finding(drill: _Drill) -> Finding | None:
    records = drill.steps.records
    retried = {r["step"]: len(r["attempts"]) for r in records if len(r["attempts"]) > 1}
    botocore = sum(
        int(call.get("retry_attempts") or 0)
        for r in records
        for attempt in r["attempts"]
        for call in attempt["api_calls"]
    )
    if not retried and not botocore:
        return None
    parts = [f"{step} took {n} attempts" for step, n in retried.items()]
    if botocore:
        parts.append(f"{botocore} call retries inside botocore")
    return Finding(
        id="drill_retries",
        severity=Severity.LOW,
        title="The drill needed retries",
        detail="; ".join(parts) + ". A rollback during an incident may meet the same throttling or errors.",
        location=drill.target.description,
        data={"retried_steps": retried, "botocore_retries": botocore},
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _engine() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    engine = {"release-gates": __version__}
    with contextlib.suppress(PackageNotFoundError):
        engine["botocore"] = version("botocore")
    return engine
