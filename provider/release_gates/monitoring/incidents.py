"""Incidents folded from a model's monitoring chain, and the incident records one window calls for.

Pure functions over evidence records; the monitoring DAG's tasks call them and append what they
return. Nothing is kept in memory between runs: every run folds the model's monitoring chain
(``monitor__<model>``) again.

* **One incident per breaching check**: a breach opens an incident; a breach of the same check while
  it is open *updates* it (no new page); a PASS or WARN window *resolves* it; an INCONCLUSIVE window
  keeps it open and resets its streak of consecutive breaching windows. A window already recorded for
  an incident is never counted twice (retries, re-runs).

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
        ``since`` (for labelled checks: whose labelled window did), i.e. traffic served after it."""
        count = 0
        for entry in reversed(self.history):
            if entry["status"] != Status.FAIL.value:
                break
            began = entry["window"]["labelled_start" if self.name in LABELLED_CHECKS else "start"]
            if since is not None and recorded_time(began) < since:
                break
            count += 1
        return count


@dataclass
class MonitorState:
    """Everything the monitoring DAG needs from its chain."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    notified: dict[str, dict[int, int]] = field(default_factory=dict)  # subject (incident/item) → steps
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # subject → authorized ack
    windows: dict[str, dict[str, Any]] = field(default_factory=dict)  # window key → latest summary
    rollbacks: list[dict[str, Any]] = field(default_factory=list)

    def tracking(self, check_id: str) -> Incident | None:
        """The incident a check's next window belongs to: open, newest first."""
        for incident in reversed(self.incidents.values()):
            if incident.check_id == check_id and incident.open:
                return incident
        return None


def fold_monitoring(records: Iterable[EvidenceRecord]) -> MonitorState:
    """The monitoring state after ``records`` (a ``monitor__<model>`` chain, in order)."""
    state = MonitorState()
    for record in records:
        payload = record.payload
        if record.kind == "monitoring_window":
            state.windows[payload["window"]["end"]] = {**payload, "seq": record.seq}
        elif record.kind == "incident":
            _apply_incident(state, payload)
        elif record.kind == "notification" and payload.get("subject_id"):
            _apply_notification(state, payload, record.seq)
        elif record.kind == "acknowledgement" and payload.get("authorized"):
            _apply_acknowledgement(state, payload)
        elif record.kind == "rollback":
            state.rollbacks.append(payload)
            if payload.get("incident_id") in state.incidents:
                state.incidents[payload["incident_id"]].rollbacks.append(payload)
    return state


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
