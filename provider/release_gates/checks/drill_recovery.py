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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import TargetError
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy.target_journal import Lease, StartedDrill, TargetJournal
    from release_gates.deploy.targets import DeploymentTarget
    from release_gates.evidence import EvidenceRecord


@dataclass
class TargetDrillJournal:
    """The :class:`~release_gates.checks.rollback_drill.DrillJournal` of one drill under a lease.

    ``in_flight`` holds the drill between its start and its end: what ``on_kill`` restores.
    """

    journal: TargetJournal
    lease: Lease
    release_id: str | None
    check_id: str
    actor: str | None = None
    in_flight: dict[str, Any] | None = field(default=None, init=False)

    def drill_started(self, original: str, drill_version: str) -> None:
        payload = {
            "drill_id": uuid.uuid4().hex,
            "lease_id": self.lease.lease_id,
            "holder": self.lease.holder,
            "release_id": self.release_id,
            "check_id": self.check_id,
            "original_version": original,
            "drill_version": drill_version,
        }
        record = self.journal.drill_started(payload, actor=self.actor)
        self.in_flight = {**payload, "seq": record.seq}

    def drill_finished(self, restore: Mapping[str, Any]) -> None:
        drill = self.in_flight
        if drill is None:
            return
        outcome = (
            "restored"
            if restore.get("restored")
            else "changed_by_other"
            if restore.get("changed_by_other")
            else "restore_failed"
        )
        self.journal.drill_ended(
            "drill_finished",
            drill["drill_id"],
            {
                "outcome": outcome,
                "restored": bool(restore.get("restored")),
                "final_version": restore.get("final_version") or (restore.get("state") or {}).get("version"),
            },
            actor=self.actor,
        )
        self.in_flight = None


def restore_unfinished(
    target: DeploymentTarget,
    journal: TargetJournal,
    drill: StartedDrill,
    *,
    lease: Lease,
    by: str,
    stable_timeout: float,
    records: list[EvidenceRecord],
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
    try:
        serving = target.current_version()
        info["serving_before"] = serving
        others = journal.others_since(
            drill.seq, {str(drill.payload.get("lease_id")), lease.lease_id}, records
        )
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


def recover_unfinished_drills(
    target: DeploymentTarget,
    journal: TargetJournal,
    *,
    lease: Lease,
    by: str,
    stable_timeout: float,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Restore every unfinished drill on the target, oldest first (the caller holds ``lease``)."""
    records = journal.records()
    return [
        restore_unfinished(
            target,
            journal,
            drill,
            lease=lease,
            by=by,
            stable_timeout=stable_timeout,
            records=records,
            actor=actor,
        )
        for drill in journal.unfinished_drills(records)
    ]


def interrupted_drills(
    journal: TargetJournal, *, release_id: str | None, check_id: str, reported: Iterable[str]
) -> list[StartedDrill]:
    """Drills of this release's check that did not finish in their own process and that no recorded
    result has reported yet."""
    from release_gates.deploy.target_journal import started_drills

    done = set(reported)
    return [
        drill
        for drill in started_drills(journal.records())
        if drill.payload.get("release_id") == release_id
        and drill.payload.get("check_id") == check_id
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
    failed = [r for r in recoveries if r["outcome"] == "restore_failed"]
    if not interrupted and not failed:
        return None
    findings: list[Finding] = []
    for recovery in failed:
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
            "restored": not failed,
        },
        findings=findings,
        inputs=dict(inputs or {}),
        started_at=utcnow(),
        finished_at=utcnow(),
    )
