"""Incidents folded from a model's monitoring chain, and the incident records one window calls for.

Pure functions over evidence records; the monitoring DAG's tasks call them and append what they
return. Nothing is kept in memory between runs: every run folds the model's monitoring chain
(``monitor__<model>``) again.

* **One incident per breaching check**: a breach opens an incident; a breach of the same check while
  it is open *updates* it (no new page); a PASS or WARN window *resolves* it; an INCONCLUSIVE window
  keeps it open and resets its streak of consecutive breaching windows. A window already recorded for
  an incident is never counted twice (retries, re-runs).

The monitoring DAG folds with :class:`FoldLimits` (its state stays the same size however long the
chain grows) from the chain's latest ``monitoring_state`` snapshot
(:mod:`~release_gates.monitoring.snapshot`); without limits the fold keeps everything (the retro
reads every incident).

The rest of the monitoring decisions read the folded :class:`MonitorState`: priority in
:mod:`~release_gates.monitoring.priority`, escalation in :mod:`~release_gates.monitoring.escalation`,
remediation items of releases in :mod:`~release_gates.monitoring.remediation_items`, automatic
rollback in :mod:`~release_gates.monitoring.rollback`, acknowledgements in
:mod:`~release_gates.monitoring.acknowledge`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates.monitoring.plan import LABELLED_CHECKS
from release_gates.monitoring.priority import Verdict, more_urgent
from release_gates.results import Status

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.monitoring.plan import Window
    from release_gates.policy import Priority

#: A rollback record with one of these statuses ends automatic rollback for its incident.
FINAL_ROLLBACK = frozenset({"done", "unhealthy", "skipped", "covered"})


def recorded_time(value: str | datetime) -> datetime:
    """A time as recorded in an evidence payload (ISO 8601 text), or one already parsed."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@dataclass
class Incident:
    incident_id: str
    check_id: str
    name: str
    kind: str
    opened_at: datetime
    priority: Priority
    severity: str
    traffic_share: float
    summary: str
    owner_role: str | None
    gate_id: str | None
    state: str = "open"
    history: list[dict[str, Any]] = field(default_factory=list)  # {"window": {...}, "status": ...}
    notified: dict[int, int] = field(default_factory=dict)  # escalation step → notification seq
    alerts: int = 0  # every notification about this incident (escalation and rollback)
    acknowledged_by: dict[str, Any] | None = None
    dismissed_by: dict[str, Any] | None = None
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    resolved_at: datetime | None = None
    #: History entries dropped by a bounded fold (:class:`FoldLimits`), oldest first: how many, and
    #: of the FAIL run they end with, its length and when its first window began.
    dropped: int = 0
    dropped_fail_run: int = 0
    dropped_run_began: str | None = None

    @property
    def open(self) -> bool:
        return self.state == "open"

    @property
    def quiet(self) -> bool:
        """Acknowledged or dismissed: a human has it; no further escalation steps."""
        return self.acknowledged_by is not None or self.dismissed_by is not None

    @property
    def rolled_back(self) -> bool:
        return any(r.get("status") in FINAL_ROLLBACK for r in self.rollbacks)

    @property
    def windows(self) -> list[str]:
        return [entry["window"]["end"] for entry in self.history]

    @property
    def last_window(self) -> datetime | None:
        return recorded_time(self.history[-1]["window"]["end"]) if self.history else None

    @property
    def last_status(self) -> str:
        return str(self.history[-1]["status"]) if self.history else Status.FAIL.value

    @property
    def streak(self) -> int:
        """Consecutive FAIL windows up to the latest one."""
        return self.streak_since(None)

    def streak_since(self, since: datetime | None) -> int:
        """Consecutive FAIL windows up to the latest, counting only windows that began at or after
        ``since`` (for labelled checks: whose labelled window did), i.e. traffic served after it.

        When a bounded fold dropped older entries and every kept one counts, the dropped FAIL run
        they follow counts too if its first window began at or after ``since``.
        """
        count = 0
        for entry in reversed(self.history):
            if entry["status"] != Status.FAIL.value:
                return count
            if since is not None and recorded_time(self._began(entry)) < since:
                return count
            count += 1
        if self.dropped_fail_run and (
            since is None or (self.dropped_run_began and recorded_time(self.dropped_run_began) >= since)
        ):
            count += self.dropped_fail_run
        return count

    def _began(self, entry: Mapping[str, Any]) -> str:
        return str(entry["window"]["labelled_start" if self.name in LABELLED_CHECKS else "start"])

    def trim(self, keep: int) -> None:
        """Keep the latest ``keep`` history entries, remembering the FAIL run the dropped ones end with."""
        while len(self.history) > keep:
            entry = self.history.pop(0)
            self.dropped += 1
            if entry["status"] != Status.FAIL.value:
                self.dropped_fail_run, self.dropped_run_began = 0, None
                continue
            if not self.dropped_fail_run:
                self.dropped_run_began = self._began(entry)
            self.dropped_fail_run += 1


@dataclass
class MonitorState:
    """Everything the monitoring DAG needs from its chain."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    notified: dict[str, dict[int, int]] = field(default_factory=dict)  # subject (incident/item) → steps
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # subject → authorized ack
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # window key → latest summary
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    #: Incident ids in the order they were resolved (a bounded fold forgets the oldest first).
    resolved: list[str] = field(default_factory=list)
    #: Check id → the latest production window it passed (PASS or WARN) in: what closes remediation
    #: items (an item closes on any pass after it was found, so the latest one decides).
    last_pass: dict[str, str] = field(default_factory=dict)

    def passes(self) -> dict[str, list[datetime]]:
        """:attr:`last_pass` as :func:`~release_gates.monitoring.remediation_items.closed_at` reads it."""
        return {check_id: [recorded_time(at)] for check_id, at in self.last_pass.items()}

    def tracking(self, check_id: str) -> Incident | None:
        """The incident a check's next window belongs to: open, newest first."""
        for incident in reversed(self.incidents.values()):
            if incident.check_id == check_id and incident.open:
                return incident
        return None


@dataclass(frozen=True)
class FoldLimits:
    """What a bounded fold keeps, so that its state does not grow with the chain.

    The latest ``windows`` window summaries (a step reads its own window's, recorded moments before;
    :func:`~release_gates.monitoring.snapshot.window_summary` finds an older one in the store), open
    incidents and the latest
    ``resolved`` resolved ones, and the latest ``history`` windows of each incident (streaks longer
    than that count through :meth:`Incident.streak_since`). Everything else is kept whole.
    """

    windows: int = 16
    resolved: int = 32
    history: int = 128

    def to_dict(self) -> dict[str, int]:
        return {"windows": self.windows, "resolved": self.resolved, "history": self.history}


def fold_monitoring(
    records: Iterable[EvidenceRecord],
    state: MonitorState | None = None,
    *,
    limits: FoldLimits | None = None,
) -> MonitorState:
    """The monitoring state after ``records`` (a ``monitor__<model>`` chain, in order), folded onto
    ``state`` (a snapshot of the records before them; changed in place) or from nothing. With
    ``limits`` what is dropped is dropped record by record, so folding onto a bounded snapshot gives
    exactly the bounded fold of the whole chain."""
    state = state if state is not None else MonitorState()
    for record in records:
        payload = record.payload
        if record.kind == "monitoring_window":
            key = payload["window"]["end"]
            state.windows.pop(key, None)  # re-recorded: now the latest
            state.windows[key] = {**payload, "seq": record.seq}
            if limits is not None and len(state.windows) > limits.windows:
                del state.windows[next(iter(state.windows))]
        elif record.kind == "incident":
            _apply_incident(state, payload)
            if limits is not None:
                _bound_incidents(state, payload, limits)
        elif record.kind == "check_result":
            _apply_pass(state, payload)
        elif record.kind == "notification" and payload.get("subject_id"):
            _apply_notification(state, payload, record.seq)
        elif record.kind == "acknowledgement" and payload.get("authorized"):
            _apply_acknowledgement(state, payload)
        elif record.kind == "rollback":
            state.rollbacks.append(payload)
            if payload.get("incident_id") in state.incidents:
                state.incidents[payload["incident_id"]].rollbacks.append(payload)
    return state


def _apply_pass(state: MonitorState, payload: Mapping[str, Any]) -> None:
    """A production pass (as :func:`~release_gates.monitoring.remediation_items.check_passes` reads one)."""
    check_id = payload.get("check_id")
    if payload.get("status") not in (Status.PASS.value, Status.WARN.value) or not isinstance(check_id, str):
        return
    window = (payload.get("inputs") or {}).get("window")
    at = window["end"] if isinstance(window, dict) else payload["finished_at"]
    last = state.last_pass.get(check_id)
    if last is None or recorded_time(at) > recorded_time(last):
        state.last_pass[check_id] = str(at)


def _bound_incidents(state: MonitorState, payload: Mapping[str, Any], limits: FoldLimits) -> None:
    incident = state.incidents.get(payload["incident_id"])
    if incident is not None:
        incident.trim(limits.history)
    while len(state.resolved) > limits.resolved:
        forgotten = state.resolved.pop(0)
        state.incidents.pop(forgotten, None)
        state.notified.pop(forgotten, None)
        state.acknowledged.pop(forgotten, None)


def _apply_notification(state: MonitorState, payload: Mapping[str, Any], seq: int) -> None:
    subject = payload["subject_id"]
    escalation = payload.get("purpose") == "escalation"
    if escalation:
        state.notified.setdefault(subject, {})[int(payload["step"])] = seq
    incident = state.incidents.get(subject)
    if incident is not None:
        incident.alerts += 1
        if escalation:
            incident.notified[int(payload["step"])] = seq


def _apply_acknowledgement(state: MonitorState, payload: dict[str, Any]) -> None:
    subject = payload["subject_id"]
    state.acknowledged[subject] = payload
    incident = state.incidents.get(subject)
    if incident is not None and payload.get("action") == "dismiss":
        incident.dismissed_by = payload
    elif incident is not None:
        incident.acknowledged_by = payload


def _apply_incident(state: MonitorState, payload: Mapping[str, Any]) -> None:
    action, incident_id = payload["action"], payload["incident_id"]
    if action == "opened":
        window_end = payload["window"]["end"]
        if incident_id in state.resolved:  # opened again under the same id: open, not resolved
            state.resolved.remove(incident_id)
        state.incidents[incident_id] = Incident(
            incident_id=incident_id,
            check_id=payload["check_id"],
            name=payload["monitored_check"],
            kind=payload["kind"],
            opened_at=recorded_time(window_end),
            priority=payload["priority"],
            severity=payload["severity"],
            traffic_share=float(payload["traffic_share"]),
            summary=payload["summary"],
            owner_role=payload.get("owner_role"),
            gate_id=payload.get("gate"),
            history=[{"window": payload["window"], "status": payload["status"]}],
        )
        return
    incident = state.incidents.get(incident_id)
    if incident is None:  # an update of an incident this chain never opened: nothing to attach it to
        return
    incident.history.append({"window": payload["window"], "status": payload["status"]})
    if action == "updated" and payload["status"] in (Status.FAIL.value, Status.ERROR.value):
        incident.priority = payload.get("priority") or incident.priority
        incident.severity = payload.get("severity") or incident.severity
        incident.traffic_share = float(payload.get("traffic_share", incident.traffic_share))
        incident.summary = payload.get("summary") or incident.summary
    elif action == "resolved":
        if incident.state != "resolved":
            state.resolved.append(incident_id)
        incident.state = "resolved"
        incident.resolved_at = recorded_time(payload["window"]["end"])


def incident_id_for(check_id: str, window: Window) -> str:
    return f"{check_id}@{window.end:%Y%m%dT%H%MZ}"


def plan_incidents(window: Window, verdicts: Sequence[Verdict], state: MonitorState) -> list[dict[str, Any]]:
    """The ``incident`` records one window's verdicts call for: opened, updated or resolved."""
    records: list[dict[str, Any]] = []
    for verdict in verdicts:
        if any(i.check_id == verdict.check_id and window.key in i.windows for i in state.incidents.values()):
            continue  # a re-run of a window an incident already counted
        incident = state.tracking(verdict.check_id)
        if incident is not None and incident.last_window is not None and window.end <= incident.last_window:
            continue  # this window (or a later one) is already counted for the incident
        base = {
            "window": window.to_dict(),
            "status": verdict.status,
            "summary": verdict.summary,
            "findings": list(verdict.findings),
            "result_seq": verdict.result_seq,
        }
        if verdict.breach:
            assert verdict.priority is not None
            streak = 1 if verdict.status == Status.FAIL.value else 0
            if incident is None:
                records.append(
                    {
                        **base,
                        "action": "opened",
                        "incident_id": incident_id_for(verdict.check_id, window),
                        "check_id": verdict.check_id,
                        "monitored_check": verdict.name,
                        "kind": verdict.kind,
                        "priority": verdict.priority,
                        "severity": verdict.severity,
                        "traffic_share": verdict.traffic_share,
                        "owner_role": verdict.owner_role,
                        "gate": verdict.gate_id,
                        "streak": streak,
                    }
                )
                continue
            records.append(
                {
                    **base,
                    "action": "updated",
                    "incident_id": incident.incident_id,
                    # An open incident keeps its most urgent priority: a milder window is no reason
                    # to slow an escalation that is under way.
                    "priority": more_urgent(incident.priority, verdict.priority),
                    "severity": verdict.severity,
                    "traffic_share": verdict.traffic_share,
                    "streak": incident.streak + 1 if streak else 0,
                }
            )
        elif incident is not None and verdict.status in (Status.PASS.value, Status.WARN.value):
            records.append({**base, "action": "resolved", "incident_id": incident.incident_id, "streak": 0})
        elif incident is not None:  # INCONCLUSIVE: not evidence of recovery, nor of a breach
            records.append({**base, "action": "updated", "incident_id": incident.incident_id, "streak": 0})
    return records
