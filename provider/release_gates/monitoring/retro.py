"""The learning loop: how each check fared across releases and production windows.

:func:`retro_report` returns, per check id, what ``release-gates retro [--model M] [--since DATE]``
prints and a report page shows (a monitored drift or fairness check carries its gate check's id, so
one row covers both places):

* **releases**: release runs with a result for the check; how many FAILed (and were INCONCLUSIVE);
* **waived**: FAILs in a release whose gate an authorized owner waived;
* **overridden**: non-passing results a human let through anyway — an accepted risk on review, or a
  production incident dismissed as a false alarm;
* **false positives**: waivers, overrides and dismissals whose rationale says so ("false positive",
  "false alarm");
* **windows**: production windows judged (the latest result per window), FAILs, INCONCLUSIVEs;
* **incidents** and **alerts per incident** (every notice sent about the check's incidents);
* **remediation**: items opened by releases, how many were closed (the check passed again later, in
  a release or in production) and the hours from item to closure.

It names the checks that **never fire** (results, but no failure and no incident) and those that are
**always waived** (every failure and incident waived, overridden or dismissed): candidates for the
next policy review. Only aggregates of the evidence trail are read; no Airflow needed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates.monitoring.acknowledge import FALSE_POSITIVE
from release_gates.monitoring.history import ModelHistory, release_model
from release_gates.monitoring.incidents import fold_monitoring
from release_gates.monitoring.plan import monitor_chain_id
from release_gates.monitoring.remediation_items import check_passes, closed_at, remediation_items
from release_gates.results import Status

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore

_NON_PASSING = (Status.FAIL.value, Status.INCONCLUSIVE.value, Status.ERROR.value)


@dataclass
class CheckRetro:
    check_id: str
    kind: str = ""
    release_runs: int = 0
    release_failed: int = 0
    release_inconclusive: int = 0
    release_errors: int = 0
    waived: int = 0
    overridden: int = 0
    false_positives: int = 0
    windows: int = 0
    window_failed: int = 0
    window_inconclusive: int = 0
    window_errors: int = 0
    incidents: int = 0
    alerts: int = 0
    remediation_items: int = 0
    remediation_closed: int = 0
    hours_to_close: list[float] = field(default_factory=list)
    excused: int = 0  # failures and incidents that ended waived, overridden or dismissed

    @property
    def runs(self) -> int:
        return self.release_runs + self.windows

    @property
    def fired(self) -> int:
        """Release FAILs plus production incidents: the times the check raised its hand."""
        return self.release_failed + self.incidents

    @property
    def alerts_per_incident(self) -> float | None:
        return round(self.alerts / self.incidents, 3) if self.incidents else None

    @property
    def never_fires(self) -> bool:
        """Ran, and never raised its hand. A check that could not run (ERROR) is broken, not quiet."""
        errors = self.release_errors + self.window_errors
        return self.runs > 0 and self.fired == 0 and self.window_failed == 0 and errors == 0

    @property
    def always_waived(self) -> bool:
        return self.fired > 0 and self.excused >= self.fired

    def to_dict(self) -> dict[str, Any]:
        hours = self.hours_to_close
        return {
            "check_id": self.check_id,
            "kind": self.kind,
            "release_runs": self.release_runs,
            "release_failed": self.release_failed,
            "release_inconclusive": self.release_inconclusive,
            "release_errors": self.release_errors,
            "waived": self.waived,
            "overridden": self.overridden,
            "false_positives": self.false_positives,
            "windows": self.windows,
            "window_failed": self.window_failed,
            "window_inconclusive": self.window_inconclusive,
            "window_errors": self.window_errors,
            "incidents": self.incidents,
            "alerts": self.alerts,
            "alerts_per_incident": self.alerts_per_incident,
            "remediation_items": self.remediation_items,
            "remediation_closed": self.remediation_closed,
            "median_hours_to_close": round(statistics.median(hours), 2) if hours else None,
            "mean_hours_to_close": round(statistics.fmean(hours), 2) if hours else None,
            "never_fires": self.never_fires,
            "always_waived": self.always_waived,
        }


@dataclass
class RetroReport:
    model: str | None
    since: datetime | None
    releases: int
    windows: int
    checks: list[CheckRetro]

    @property
    def never_fire(self) -> list[str]:
        return [c.check_id for c in self.checks if c.never_fires]

    @property
    def always_waived(self) -> list[str]:
        return [c.check_id for c in self.checks if c.always_waived]

    @property
    def errored(self) -> list[str]:
        """Checks that could not run at least once (in a release or a production window)."""
        return [c.check_id for c in self.checks if c.release_errors or c.window_errors]

    def check(self, check_id: str) -> CheckRetro:
        return next(c for c in self.checks if c.check_id == check_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "since": self.since.isoformat() if self.since else None,
            "releases": self.releases,
            "monitoring_windows": self.windows,
            "checks": [c.to_dict() for c in self.checks],
            "review_candidates": {
                "never_fire": self.never_fire,
                "always_waived": self.always_waived,
                "could_not_run": self.errored,
            },
        }


# --------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------


def retro_report(
    store: EvidenceStore, *, model: str | None = None, since: datetime | None = None
) -> RetroReport:
    """The retro numbers from an evidence store (every model, or one)."""
    from release_gates.monitoring.history import load_history

    return retro_from_history(load_history(store, model=model), model=model, since=since)


def retro_from_history(
    history: ModelHistory, *, model: str | None = None, since: datetime | None = None
) -> RetroReport:
    rows: dict[str, CheckRetro] = {}

    def row(check_id: str, kind: str | None = None) -> CheckRetro:
        entry = rows.setdefault(check_id, CheckRetro(check_id))
        entry.kind = entry.kind or (kind or "")
        return entry

    releases = {
        rid: records
        for rid, records in history.releases.items()
        if (model is None or release_model(records) == model) and _after(_started(records), since)
    }
    for records in releases.values():
        _count_release(records, row)
    windows: set[tuple[str, str]] = set()  # (chain, window end): windows of every model add up
    monitoring = {
        chain: records
        for chain, records in history.monitoring.items()
        if model is None or chain == monitor_chain_id(model)
    }
    for chain, records in monitoring.items():
        windows |= {(chain, end) for end in _count_monitoring(records, row, since)}
    passes = check_passes(history.releases, [r for records in monitoring.values() for r in records])
    for item in remediation_items(releases):
        entry = row(item.check_id)
        entry.remediation_items += 1
        closed = closed_at(item, passes)
        if closed is not None:
            entry.remediation_closed += 1
            entry.hours_to_close.append(round((closed - item.found_at).total_seconds() / 3600, 3))
    return RetroReport(
        model=model,
        since=since,
        releases=len(releases),
        windows=len(windows),
        checks=sorted(rows.values(), key=lambda c: c.check_id),
    )


def _started(records: Sequence[EvidenceRecord]) -> datetime | None:
    return datetime.fromisoformat(records[0].recorded_at) if records else None


def _after(moment: datetime | None, since: datetime | None) -> bool:
    return since is None or (moment is not None and moment >= since)


def _count_release(records: Sequence[EvidenceRecord], row: Any) -> None:
    from release_gates.gates import latest_results

    results = latest_results(records)
    waived: dict[str, dict[str, Any]] = {}
    accepted: dict[str, dict[str, Any]] = {}
    for record in records:
        payload = record.payload
        if record.kind == "human_decision" and payload.get("authorized") and payload.get("gate"):
            if payload.get("choice") == "waive":
                waived[payload["gate"]] = payload
            elif payload.get("choice") == "accept_risk":
                accepted[payload["gate"]] = payload
    for check_id, result in results.items():
        entry = row(check_id, result.get("kind"))
        status = result.get("status")
        entry.release_runs += 1
        entry.release_failed += status == Status.FAIL.value
        entry.release_inconclusive += status == Status.INCONCLUSIVE.value
        entry.release_errors += status == Status.ERROR.value
        gate = check_id.split(".", 1)[0]
        decision = None
        if status == Status.FAIL.value and gate in waived:
            entry.waived += 1
            decision = waived[gate]
        elif status in _NON_PASSING and gate in accepted:
            entry.overridden += 1
            decision = accepted[gate]
        if decision is not None:
            entry.excused += status == Status.FAIL.value
            entry.false_positives += bool(FALSE_POSITIVE.search(str(decision.get("rationale") or "")))


def _count_monitoring(records: Sequence[EvidenceRecord], row: Any, since: datetime | None) -> set[str]:
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.kind != "check_result":
            continue
        window = (record.payload.get("inputs") or {}).get("window")
        if isinstance(window, dict) and _after(datetime.fromisoformat(window["end"]), since):
            latest[(record.payload["check_id"], window["end"])] = record.payload  # a re-run's result wins
    for (check_id, _), result in latest.items():
        entry = row(check_id, result.get("kind"))
        status = result.get("status")
        entry.windows += 1
        entry.window_failed += status == Status.FAIL.value
        entry.window_inconclusive += status == Status.INCONCLUSIVE.value
        entry.window_errors += status == Status.ERROR.value
    for incident in fold_monitoring(records).incidents.values():
        if not _after(incident.opened_at, since):
            continue
        entry = row(incident.check_id, incident.kind)
        entry.incidents += 1
        entry.alerts += incident.alerts
        if incident.dismissed_by is not None:
            entry.overridden += 1
            entry.excused += 1
            entry.false_positives += bool(FALSE_POSITIVE.search(str(incident.dismissed_by.get("note") or "")))
    return {end for _, end in latest}
