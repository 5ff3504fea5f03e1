"""A drill's :class:`~release_gates.results.CheckResult`: verdict, summary, findings and metrics.

This module imports no Airflow.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from release_gates import __version__
from release_gates.checks.drill_engine import PLATFORM_WAIT_STEPS, Drill
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow


def drill_result(
    drill: Drill, *, check_id: str, inputs: Mapping[str, Any] | None, started_at: Any, seconds: float
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
        "mode": drill.spec.mode,
        "measured_on": ("live" if drill.change_attempted else None),
        "rto_seconds": round_seconds(drill.rto),
        "rto_budget_seconds": drill.budget,
        "rollback_elapsed_seconds": round_seconds(drill.rollback_elapsed),
        "restore_seconds": round_seconds(
            sum(r.get("duration_s", 0.0) for r in records if r["phase"] == "restore")
            if drill.restore
            else None
        ),
        "stable_timeout_seconds": drill.stable_timeout,
        "changed": drill.change_attempted,
        "restored": drill.restore["restored"] if drill.restore is not None else None,
        "restore": drill.restore,
        "permissions": drill.permissions,
        "drill_seconds": round_seconds(seconds),
        "platform_wait_seconds": round_seconds(
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
        engine=engine_versions(),
        started_at=started_at,
        finished_at=utcnow(),
    )


def _verdict(drill: Drill) -> tuple[Status, str, list[Finding]]:
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
    elif drill.rto is None:  # validated without a change (a shadow drill without a stand-in)
        summary = f"{what} can roll back from {drill.original} to {drill.previous}; RTO not measured"
    else:
        summary = (
            f"rolled {what} back from {drill.original} to {drill.previous} and forward again: "
            f"RTO {drill.rto:.3g} s (budget {drill.budget:g} s), restored and healthy"
        )
    if retry_note is not None:
        return Status.WARN, summary + f"; {retry_note.title.lower()}", [retry_note, *findings]
    return Status.PASS, summary, findings


def _error_findings(drill: Drill) -> list[Finding]:
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


def _restore_health_findings(drill: Drill) -> list[Finding]:
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


def _retry_finding(drill: Drill) -> Finding | None:
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


def round_seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def engine_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    engine = {"release-gates": __version__}
    with contextlib.suppress(PackageNotFoundError):
        engine["botocore"] = version("botocore")
    return engine
