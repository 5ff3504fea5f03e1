"""Escalation of open incidents and overdue remediation items, and the notices it sends.

Step *k* of ``monitoring.escalation.path`` is due ``k × after[priority]`` after the incident opened
(step 0 at once); each due step is notified exactly once. An authorized acknowledgement stops further
steps; a dismissal (a human calling it a false alarm, with a reason) also keeps the check quiet until
it recovers. Overdue remediation items of releases escalate the same way, starting at their deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates.monitoring.priority import priority_for
from release_gates.monitoring.remediation_items import RemediationItemRef, closed_at
from release_gates.policy import GATE_OWNER, Priority

if TYPE_CHECKING:
    from release_gates.monitoring.incidents import Incident, MonitorState
    from release_gates.policy import Escalation, Monitoring


@dataclass(frozen=True)
class EscalationStep:
    subject_id: str
    step: int
    steps: int
    role: str
    due_at: datetime
    priority: Priority
    reason: str = "due"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_id": self.subject_id,
            "step": self.step,
            "steps": self.steps,
            "role": self.role,
            "due_at": self.due_at.isoformat(),
            "priority": self.priority,
            "reason": self.reason,
        }


def escalation_steps(
    escalation: Escalation,
    *,
    subject_id: str,
    start: datetime,
    priority: Priority,
    owner_role: str | None,
    notified: Iterable[int],
    now: datetime,
    everything: str | None = None,
) -> list[EscalationStep]:
    """Steps of the path due by ``now`` and not yet notified; ``everything`` (a reason) sends all now."""
    done = set(notified)
    delay = escalation.delay(priority)
    steps = []
    for index, entry in enumerate(escalation.path):
        due = start + index * delay
        if index in done:
            continue
        if due > now and everything is None:
            break
        role = owner_role if entry == GATE_OWNER else entry
        if role is None:
            continue
        steps.append(
            EscalationStep(subject_id, index, len(escalation.path), role, due, priority, everything or "due")
        )
    return steps


def due_incident_steps(monitoring: Monitoring, state: MonitorState, now: datetime) -> list[EscalationStep]:
    steps: list[EscalationStep] = []
    for incident in state.incidents.values():
        if not incident.open or incident.quiet:
            continue
        steps += escalation_steps(
            monitoring.escalation,
            subject_id=incident.incident_id,
            start=incident.opened_at,
            priority=incident.priority,
            owner_role=incident.owner_role,
            notified=incident.notified,
            now=now,
        )
    return steps


def due_item_steps(
    monitoring: Monitoring,
    items: Sequence[RemediationItemRef],
    passes: Mapping[str, Sequence[datetime]],
    state: MonitorState,
    now: datetime,
) -> list[EscalationStep]:
    """Escalation steps of overdue, still open remediation items (the path starts at the deadline)."""
    steps: list[EscalationStep] = []
    for item in items:
        if item.deadline >= now or closed_at(item, passes) is not None or item.item_id in state.acknowledged:
            continue
        steps += escalation_steps(
            monitoring.escalation,
            subject_id=item.item_id,
            start=item.deadline,
            priority=priority_for(monitoring.priorities, item.severity, 0.0),
            owner_role=item.owner_role,
            notified=state.notified.get(item.item_id, {}),
            now=now,
        )
    return steps


def incident_message(model: str, incident: Incident, step: EscalationStep, *, chain: str) -> tuple[str, str]:
    """Subject and body of an escalation notice."""
    subject = (
        f"[{incident.priority}] {model}: {incident.check_id} breached in production "
        f"(step {step.step + 1} of {step.steps})"
    )
    body = (
        f"Incident {incident.incident_id} — {incident.kind} check {incident.check_id}, opened for the "
        f"window ending {incident.opened_at:%Y-%m-%d %H:%M} UTC.\n"
        f"Priority {incident.priority}: severity {incident.severity}, {incident.traffic_share:.0%} of "
        f"traffic affected. Consecutive breaching windows: {incident.streak}.\n"
        f"Latest: {incident.summary}\n\n"
        f"You are step {step.step + 1} of {step.steps} of the escalation path"
        + (f" ({step.reason})" if step.reason != "due" else "")
        + ". Acknowledge to stop escalation: release_gates.monitoring.acknowledge_incident(store, policy, "
        f"{incident.incident_id!r}, user, note). Evidence: release-gates evidence show {chain}."
    )
    return subject, body


def item_message(
    model: str, item: RemediationItemRef, step: EscalationStep, *, chain: str
) -> tuple[str, str]:
    subject = f"[{step.priority}] {model}: remediation item overdue — {item.title}"[:200]
    body = (
        f"Remediation item {item.item_id} ({item.severity.value}, check {item.check_id}) was due "
        f"{item.deadline:%Y-%m-%d %H:%M} UTC and its check has not passed since.\n"
        f"You are step {step.step + 1} of {step.steps} of the escalation path. "
        f"Evidence: release-gates evidence show {item.release_id}; notices are recorded in {chain}."
    )
    return subject, body
