"""The drill's machinery: steps with retries, and the roll back → restore sequence on one target.

:class:`Drill` runs on whatever :class:`~release_gates.deploy.DeploymentTarget` it is given — the
live target (``mode: live``) or a stand-in (``mode: shadow``, :mod:`release_gates.checks.shadow_drill`);
:mod:`release_gates.checks.rollback_drill` picks. See that module for the sequence and the verdicts.
This module imports no Airflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from release_gates.deploy.calls import TargetError, TargetNotStableError, now_iso
from release_gates.exceptions import ReleaseGatesError
from release_gates.results import Finding, Severity

if TYPE_CHECKING:
    from release_gates.deploy import DeploymentTarget, HealthReport
    from release_gates.policy import RollbackDrillCheck

T = TypeVar("T")

#: Steps whose time is spent waiting on the platform (the rest is the drill's own overhead).
PLATFORM_WAIT_STEPS = frozenset(
    {
        "wait_stable_standin",
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

    def drill_started(
        self, original: str, drill_version: str, *, standin: Mapping[str, Any] | None = None
    ) -> None: ...

    def drill_finished(
        self, restore: Mapping[str, Any], *, standin: Mapping[str, Any] | None = None
    ) -> None: ...


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


class DrillSteps:
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


def version_facts(value: str | None) -> dict[str, Any]:
    return {"version": value}


def health_facts(value: HealthReport) -> dict[str, Any]:
    return value.to_dict()


class Drill:
    def __init__(
        self,
        target: DeploymentTarget,
        spec: RollbackDrillCheck,
        steps: DrillSteps,
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
            if self.prepare():
                if self.spec.dry_run:
                    self._check_permissions()
                else:
                    self._roll_back()
        except StepFailedError as exc:
            self.error = exc
        finally:
            self._finish()

    def run_on(self, standin: DeploymentTarget) -> None:
        """Drill ``standin`` (already serving :attr:`original`) after :meth:`prepare` read the live
        target: the rollback, its measurement and the restore all happen on the stand-in."""
        self.target = standin
        try:
            self._roll_back()
        except StepFailedError as exc:
            self.error = exc
        finally:
            self._finish()

    def _finish(self) -> None:
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

    def prepare(self) -> bool:
        """Read the current and the previous version, and check the previous one exists (read-only).

        False when there is nothing to drill (INCONCLUSIVE) or the previous version is missing (FAIL).
        """
        target, steps = self.target, self.steps
        self.original = steps.run(
            "record_current", target.current_version, phase="prepare", describe=version_facts
        )
        if self.spec.previous_version:
            self.previous = target.normalize_version(self.spec.previous_version)
            self.previous_source = "policy"
        else:
            self.previous = steps.run(
                "find_previous", target.previous_version, phase="prepare", describe=version_facts
            )
            self.previous_source = "platform"
        previous = self.previous
        if previous is None:
            self.inconclusive = (
                f"no previous version of {target.description} to roll back to "
                "(platform history has none; set previous_version in the policy); nothing changed"
            )
            return False
        if previous == self.original:
            self.inconclusive = (
                f"the previous version {previous} is the current one: nothing to roll back to, "
                "nothing changed"
            )
            return False
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
            return False
        return True

    def _roll_back(self) -> None:
        target, steps = self.target, self.steps
        previous = self.previous
        assert previous is not None and self.original is not None
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
        health = steps.run("health_after_rollback", target.health, phase="rollback", describe=health_facts)
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
                describe=version_facts,
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
                describe=version_facts,
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
                "health_after_restore",
                target.health,
                phase="restore",
                attempts=attempts,
                describe=health_facts,
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
                describe=version_facts,
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
