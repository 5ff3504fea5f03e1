"""Drills that did not finish in their own process: find them in the target's journal, restore, report.

A drill records its intent (``drill_started``: original and drill version) before it changes the
target, and its end (``drill_finished``) after the restore. A task killed in between — SIGKILL, a
lost worker, a node gone — leaves the start without an end. Whoever next takes the target's lease
(the killed task's retry, the next drill) first restores every such drill, as a compare-and-set:

* the target serves the original already → ``already_original`` (nothing written to the target);
* it serves the drill's version and nobody else held the target since → set the original, wait until
  stable, confirm → ``restored``;
* anything else (another version, or another holder had the target meanwhile) → ``changed_by_other``:
  someone changed it on purpose, and it is not overwritten.

Each outcome is a ``drill_recovered`` record; a restore that fails writes nothing, so the drill stays
unfinished and the next taker tries again. The killed drill's own check then ends **INCONCLUSIVE**
(``drill_interrupted``: restored, not measured — clear the task to drill again), or **ERROR** when the
target could not be restored or someone else changed it. An interrupted drill never ends PASS.

This module imports no Airflow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import TargetError
from release_gates.exceptions import ReleaseGatesError
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy.target_journal import DeferredLease, Lease, StartedDrill, TargetJournal
    from release_gates.deploy.targets import DeploymentTarget


class TargetChangedBeforeDrillError(ReleaseGatesError, RuntimeError):
    """The target moved off the version the drill read before the drill could start (retryable)."""


@dataclass
class TargetDrillJournal:
    """The :class:`~release_gates.checks.rollback_drill.DrillJournal` of one drill under a lease.

    ``in_flight`` holds the drill between its start and its end: what ``on_kill`` restores.

    With a ``deferred`` lease (:meth:`TargetJournal.defer`, a first try that found the target free)
    the lease is written together with ``drill_started`` — one commit instead of two. If anyone wrote
    to the target's chain since the lease was decided on, ``contended`` takes the lease the usual way
    (waiting, restoring unfinished drills) and returns it; the drill then goes ahead only if the target
    still serves the version it read as its original, and otherwise fails before changing anything.
    """

    journal: TargetJournal
    lease: Lease | None
    release_id: str | None
    check_id: str
    actor: str | None = None
    deferred: DeferredLease | None = None
    contended: Callable[[], Lease] | None = None
    current_version: Callable[[], str | None] | None = None
    in_flight: dict[str, Any] | None = field(default=None, init=False)

    def drill_started(
        self, original: str, drill_version: str, *, standin: Mapping[str, Any] | None = None
    ) -> None:
        lease_id, holder = self._lease_identity()
        payload: dict[str, Any] = {
            "drill_id": uuid.uuid4().hex,
            "lease_id": lease_id,
            "holder": holder,
            "release_id": self.release_id,
            "check_id": self.check_id,
            "mode": "live" if standin is None else "shadow",
            "original_version": original,
            "drill_version": drill_version,
        }
        if standin is not None:
            payload["standin"] = dict(standin)  # recorded before it exists: a killed drill's is found
        if self.lease is None and self.deferred is not None:
            from release_gates.evidence.store import EvidenceHeadMovedError

            try:
                self.lease, record = self.journal.write_with_lease(
                    self.deferred, "drill_started", payload, actor=self.actor
                )
            except EvidenceHeadMovedError:
                lease = self._take_contended(original)
                payload["lease_id"] = lease.lease_id
                record = self.journal.drill_started(payload, actor=self.actor)
            self.deferred = None
        else:
            record = self.journal.drill_started(payload, actor=self.actor)
        self.in_flight = {**payload, "seq": record.seq}

    def _lease_identity(self) -> tuple[str, str]:
        if self.lease is not None:
            return self.lease.lease_id, self.lease.holder
        if self.deferred is None:
            raise ReleaseGatesError("a drill journal needs a lease or a deferred lease")
        return self.deferred.lease_id, self.deferred.holder

    def _take_contended(self, original: str) -> Lease:
        """Someone wrote to the target's chain after the lease was decided on: take it the usual way,
        then make sure the target still serves the original this drill read."""
        if self.contended is None or self.current_version is None:
            raise ReleaseGatesError("the target's lease was contended and this journal cannot wait for it")
        lease = self.lease = self.contended()
        self.deferred = None
        serving = self.current_version()
        if serving != original:
            raise TargetChangedBeforeDrillError(
                f"the target serves {serving}, not {original} as read before the drill started "
                "(another holder changed it meanwhile); nothing was changed — retry to drill from there"
            )
        return lease

    def drill_finished(self, restore: Mapping[str, Any], *, standin: Mapping[str, Any] | None = None) -> None:
        drill = self.in_flight
        if drill is None:
            return
        end: dict[str, Any]
        if standin is not None:
            removed = bool(standin.get("removed"))
            end = {
                "outcome": "standin_removed" if removed else "standin_left",
                "restored": bool(restore.get("restored")),
                "standin": dict(standin),
                "standin_removed": removed,
            }
        else:
            outcome = (
                "restored"
                if restore.get("restored")
                else "changed_by_other"
                if restore.get("changed_by_other")
                else "restore_failed"
            )
            end = {
                "outcome": outcome,
                "restored": bool(restore.get("restored")),
                "final_version": restore.get("final_version") or (restore.get("state") or {}).get("version"),
            }
        # The drill's end is its last act on the target: the lease goes back in the same transaction.
        assert self.lease is not None  # written with drill_started
        self.journal.drill_ended_and_released(drill["drill_id"], end, self.lease, actor=self.actor)
        self.in_flight = None


def restore_unfinished(
    target: DeploymentTarget,
    journal: TargetJournal,
    drill: StartedDrill,
    *,
    lease: Lease,
    by: str,
    stable_timeout: float,
    actor: str | None = None,
) -> dict[str, Any]:
    """Restore one unfinished drill (compare-and-set, see the module docstring); returns what happened."""
    original = str(drill.payload["original_version"])
    drill_version = str(drill.payload["drill_version"])
    info: dict[str, Any] = {
        "drill_id": drill.drill_id,
        "release_id": drill.payload.get("release_id"),
        "check_id": drill.payload.get("check_id"),
        "holder": drill.payload.get("holder"),
        "original_version": original,
        "drill_version": drill_version,
        "started_seq": drill.seq,
        "by": by,
    }
    target.calls.drain()
    if drill.payload.get("mode") == "shadow":
        return _remove_standin(target, journal, drill, info, actor=actor)
    try:
        serving = target.current_version()
        info["serving_before"] = serving
        others = journal.others_since(drill.seq, {str(drill.payload.get("lease_id")), lease.lease_id})
        if serving == original:
            info.update(outcome="already_original", final_version=serving)
        elif serving == drill_version and not others:
            target.set_version(original)
            target.wait_stable(stable_timeout, version=original)
            final = target.current_version()
            if final != original:
                return {**info, "outcome": "restore_failed", "error": f"target serves {final}"}
            info.update(outcome="restored", final_version=final)
        else:
            info.update(outcome="changed_by_other", final_version=serving)
            info["held_by_others"] = [other.holder for other in others]
    except TargetError as exc:
        # Nothing is journaled: the drill stays unfinished and the next taker tries again.
        return {**info, "outcome": "restore_failed", "error": str(exc), "api_calls": target.calls.drain()}
    info["api_calls"] = target.calls.drain()
    journal.drill_ended("drill_recovered", drill.drill_id, info, actor=actor)
    return info


def _remove_standin(
    target: DeploymentTarget,
    journal: TargetJournal,
    drill: StartedDrill,
    info: dict[str, Any],
    *,
    actor: str | None,
) -> dict[str, Any]:
    """A shadow drill that did not finish: remove its stand-in (the live target was never changed)."""
    standin = dict(drill.payload.get("standin") or {})
    info["standin"] = standin
    try:
        existed = target.remove_standin(str(standin["name"]))
    except TargetError as exc:
        # Nothing is journaled: the drill stays unfinished and the next taker tries again.
        return {
            **info,
            "outcome": "standin_remove_failed",
            "error": str(exc),
            "api_calls": target.calls.drain(),
        }
    info.update(
        outcome="standin_removed" if existed else "standin_already_gone",
        standin_removed=True,
        api_calls=target.calls.drain(),
    )
    journal.drill_ended("drill_recovered", drill.drill_id, info, actor=actor)
    return info


def recover_unfinished_drills(
    target: DeploymentTarget,
    journal: TargetJournal,
    *,
    lease: Lease,
    by: str,
    stable_timeout: float,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Restore every unfinished drill on the target, oldest first (the caller holds ``lease``).

    The drills are those the lease was taken on: when this journal took it, its own view (the
    conditional append of the lease proved that view was the whole state then, and nobody starts a
    drill without the lease), otherwise the state read now.
    """
    known = journal.known()
    records = known if known and known[-1].seq == lease.seq else journal.state()
    return [
        restore_unfinished(
            target, journal, drill, lease=lease, by=by, stable_timeout=stable_timeout, actor=actor
        )
        for drill in journal.unfinished_drills(records)
    ]


def interrupted_drills(
    journal: TargetJournal, *, release_id: str | None, check_id: str, reported: Iterable[str]
) -> list[StartedDrill]:
    """Drills of this release's check that did not finish in their own process and that no recorded
    result has reported yet."""
    done = set(reported)
    return [
        drill
        for drill in journal.drills_of_release(release_id)
        if drill.payload.get("check_id") == check_id
        and drill.end_kind != "drill_finished"
        and drill.drill_id not in done
    ]


def interrupted_drill_result(
    target: DeploymentTarget,
    *,
    check_id: str,
    interrupted: list[StartedDrill],
    recoveries: list[dict[str, Any]],
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult | None:
    """The result a drill check records instead of drilling: None when there is nothing to report
    (no drill of this check was interrupted and every unfinished drill on the target was restored)."""
    what = target.description
    failed = [r for r in recoveries if r["outcome"] in ("restore_failed", "standin_remove_failed")]
    if not interrupted and not failed:
        return None
    findings: list[Finding] = []
    for recovery in failed:
        if recovery["outcome"] == "standin_remove_failed":
            findings.append(_standin_not_removed(what, recovery))
            continue
        findings.append(
            Finding(
                id="restore_failed",
                severity=Severity.CRITICAL,
                title=(
                    f"{what} could not be restored to {recovery['original_version']} after an "
                    "interrupted drill"
                ),
                detail=(
                    f"A drill ({recovery['holder']}) rolled it back to {recovery['drill_version']} and "
                    f"did not finish; restoring failed: {recovery.get('error')}. It serves "
                    f"{recovery.get('serving_before', 'an unknown version')}. Set it back to "
                    f"{recovery['original_version']} by hand, or retry."
                ),
                location=what,
                data={k: recovery.get(k) for k in ("drill_id", "original_version", "serving_before")},
            )
        )
    changed = []
    for drill in interrupted:
        end = drill.end or {}
        outcome = end.get("outcome", "unfinished")
        if outcome == "changed_by_other":
            changed.append(drill)
        if drill.payload.get("mode") == "shadow":
            findings.append(_shadow_interrupted(what, drill, end, outcome))
            continue
        findings.append(
            Finding(
                id="drill_interrupted" if outcome != "changed_by_other" else "target_changed_during_drill",
                severity=Severity.HIGH,
                title=(
                    f"The drill ({drill.payload.get('holder')}) was interrupted after rolling {what} back "
                    f"to {drill.payload['drill_version']}"
                ),
                detail=(
                    f"Its process ended before it finished (killed, or its worker was lost). Outcome: "
                    f"{outcome}"
                    + (f" by {end.get('by')}" if end.get("by") else "")
                    + f"; before the drill the target served {drill.payload['original_version']}, "
                    f"after recovery {end.get('final_version', 'unknown')}. The recovery time was not "
                    "measured: clear this task to drill again."
                ),
                location=what,
                data={"drill_id": drill.drill_id, "outcome": outcome, **{
                    k: drill.payload.get(k) for k in ("original_version", "drill_version", "holder")
                }},
            )
        )  # fmt: skip
    if failed or changed or any(d.end is None for d in interrupted):
        status = Status.ERROR
        summary = (
            f"rollback drill on {what}: an interrupted drill could not be restored; nothing drilled"
            if failed or any(d.end is None for d in interrupted)
            else f"rollback drill on {what}: interrupted, and the target was changed by someone else "
            "meanwhile; not overwritten"
        )
    elif interrupted[-1].payload.get("mode") == "shadow":
        status = Status.INCONCLUSIVE
        summary = (
            f"shadow rollback drill on {what} was interrupted; its stand-in "
            f"{(interrupted[-1].payload.get('standin') or {}).get('name')} was removed and the live "
            "target never changed — not measured, clear the task to drill again"
        )
    else:
        status = Status.INCONCLUSIVE
        summary = (
            f"rollback drill on {what} was interrupted after its rollback step; restored to "
            f"{(interrupted[-1].end or {}).get('final_version')} — not measured, clear the task to "
            "drill again"
        )
    return CheckResult(
        check_id=check_id,
        kind="rollback_drill",
        status=status,
        summary=summary,
        metrics={
            "target": target.identity(),
            "interrupted_drills": [d.drill_id for d in interrupted],
            "recoveries": recoveries,
            "changed": bool(recoveries) and any(r["outcome"] == "restored" for r in recoveries),
            "standins_removed": [
                r["standin"] for r in recoveries if r.get("standin") and r.get("standin_removed")
            ],
            "restored": not failed,
        },
        findings=findings,
        inputs=dict(inputs or {}),
        started_at=utcnow(),
        finished_at=utcnow(),
    )


def _standin_not_removed(what: str, recovery: Mapping[str, Any]) -> Finding:
    name = (recovery.get("standin") or {}).get("name")
    return Finding(
        id="standin_not_removed",
        severity=Severity.HIGH,
        title=f"The stand-in {name} of an interrupted shadow drill on {what} could not be removed",
        detail=(
            f"A shadow drill ({recovery['holder']}) created it and did not finish; removing it failed: "
            f"{recovery.get('error')}. It serves no live traffic; the next try removes it."
        ),
        location=what,
        data={"drill_id": recovery.get("drill_id"), "standin": name},
    )


def _shadow_interrupted(what: str, drill: StartedDrill, end: Mapping[str, Any], outcome: str) -> Finding:
    name = (drill.payload.get("standin") or {}).get("name")
    return Finding(
        id="drill_interrupted",
        severity=Severity.HIGH,
        title=f"The shadow drill ({drill.payload.get('holder')}) on the stand-in {name} was interrupted",
        detail=(
            f"Its process ended before it finished (killed, or its worker was lost). Outcome: {outcome}"
            + (f" by {end.get('by')}" if end.get("by") else "")
            + f". {what} was only read, never changed. The recovery time was not measured: clear this "
            "task to drill again."
        ),
        location=what,
        data={"drill_id": drill.drill_id, "outcome": outcome, "standin": name, "mode": "shadow"},
    )
