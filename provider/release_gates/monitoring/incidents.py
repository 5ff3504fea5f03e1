"""Incidents from monitoring verdicts: priority by impact, no duplicate pages, escalation, rollback.

Pure functions over evidence records; the monitoring DAG's tasks call them and append what they
return. Nothing is kept in memory between runs: every run folds the model's monitoring chain
(``monitor__<model>``) again.

* **Priority** (P1–P4): the first ``monitoring.priorities`` rule whose ``min_severity`` and
  ``min_traffic_share`` the breach meets (:func:`priority_for`). Severity is the worst active finding
  of the result (else the check's severity); the share of traffic affected is the share of the
  window's rows in the disadvantaged groups of failed criteria (fairness, error rates), else all of it.
* **One incident per breaching check**: a breach opens an incident; a breach of the same check while
  it is open *updates* it (no new page); a PASS or WARN window *resolves* it; an INCONCLUSIVE window
  keeps it open and resets its streak of consecutive breaching windows. A window already recorded for
  an incident is never counted twice (retries, re-runs).
* **Escalation**: step *k* of ``monitoring.escalation.path`` is due ``k × after[priority]`` after the
  incident opened (step 0 at once); each due step is notified exactly once. An authorized
  acknowledgement stops further steps; a dismissal (a human calling it a false alarm, with a reason)
  also keeps the check quiet until it recovers. Overdue remediation items of releases escalate the
  same way, starting at their deadline.
* **Automatic rollback**: an open incident meeting a ``rollback_on`` rule (check, priority, streak of
  consecutive FAIL windows) is rolled back once — never again for the same incident — to the last
  released good version (:func:`rollback_version`); when no such version is known it escalates to the
  whole path instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates.monitoring.plan import LABELLED_CHECKS, monitor_chain_id
from release_gates.policy import GATE_OWNER, PRIORITIES, Priority, PriorityRule
from release_gates.results import Severity, Status

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore
    from release_gates.monitoring.plan import MonitoredCheck, Window
    from release_gates.policy import Escalation, Monitoring, ReleasePolicy, RollbackRule

PRIORITY_RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
#: Rates where a higher value harms the group; for the others a lower value does.
HIGHER_IS_WORSE = frozenset({"fpr", "fnr", "error_rate"})
#: A rollback record with one of these statuses ends automatic rollback for its incident.
FINAL_ROLLBACK = frozenset({"done", "unhealthy", "skipped", "covered"})
MIN_NOTE = 10
FALSE_POSITIVE = re.compile(r"false[\s_-]*(positive|alarm)", re.IGNORECASE)


def _time(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


# --------------------------------------------------------------------------------------------------
# Impact and priority
# --------------------------------------------------------------------------------------------------


def priority_for(rules: Sequence[PriorityRule], severity: Severity, share: float) -> Priority:
    """The first rule the breach meets (at least as severe, at least that share); P4 otherwise."""
    for rule in rules:
        if severity.rank <= rule.min_severity.rank and share >= rule.min_traffic_share:
            return rule.priority
    return "P4"


def more_urgent(a: Priority, b: Priority) -> Priority:
    return a if PRIORITY_RANK[a] <= PRIORITY_RANK[b] else b


def breach_severity(result: Mapping[str, Any], default: Severity) -> Severity:
    """The worst active finding of a failed result; the check's severity for errors or bare FAILs."""
    if result.get("status") != Status.FAIL.value:
        return default
    severities = [Severity(f["severity"]) for f in result.get("findings", []) if not f.get("waived_by")]
    return min(severities, key=lambda s: s.rank) if severities else default


def traffic_share(result: Mapping[str, Any]) -> float:
    """Share of the window's rows the breach affects (see the module docstring); 1.0 when unknown."""
    metrics = result.get("metrics") or {}
    kind = result.get("kind")
    if result.get("status") != Status.FAIL.value or kind not in ("fairness", "error_rate"):
        return 1.0
    rows = metrics.get("rows") or 0
    if not rows:
        return 1.0
    affected: dict[tuple[str, ...], dict[str, int]] = {}
    if kind == "fairness":
        for name, (grouping, n) in _disadvantaged(metrics).items():
            affected.setdefault(grouping, {})[name] = n
    else:
        for group in metrics.get("groups", []):
            if group.get("status") == Status.FAIL.value and isinstance(group.get("n"), int):
                affected.setdefault(tuple(group["group"]), {})[_name(group["group"])] = group["n"]
    if not affected:
        return 1.0
    return round(min(1.0, max(sum(groups.values()) for groups in affected.values()) / rows), 6)


def _name(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


def _disadvantaged(metrics: Mapping[str, Any]) -> dict[str, tuple[tuple[str, ...], int]]:
    """Group name → (grouping, rows) of the worse-off group of every failed fairness criterion."""
    table = {_name(g["group"]): g for g in metrics.get("groups", [])}
    out: dict[str, tuple[tuple[str, ...], int]] = {}
    for criterion in metrics.get("criteria", []):
        if criterion.get("status") != Status.FAIL.value:
            continue
        metric = criterion["metric"]
        candidates = []
        for name in criterion.get("groups_compared", []):
            entry = table.get(name)
            value = ((entry or {}).get("rates") or {}).get(metric, {}).get("value")
            if entry is not None and isinstance(entry.get("n"), int) and value is not None:
                candidates.append((value, name, entry["n"]))
        if candidates:
            pick = max if metric in HIGHER_IS_WORSE else min
            _, name, n = pick(candidates)
            out[name] = (tuple(criterion.get("grouping", [])), n)
    return out


@dataclass(frozen=True)
class Verdict:
    """One monitored check in one window, as incidents see it."""

    check_id: str
    name: str
    kind: str
    status: str
    summary: str
    severity: str
    traffic_share: float
    priority: Priority | None
    owner_role: str | None
    gate_id: str | None
    findings: tuple[str, ...] = ()
    result_seq: int | None = None

    @property
    def breach(self) -> bool:
        """FAIL (measured) or ERROR (could not run: monitoring is blind, which is never fine)."""
        return self.status in (Status.FAIL.value, Status.ERROR.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "monitored_check": self.name,
            "kind": self.kind,
            "status": self.status,
            "summary": self.summary,
            "severity": self.severity,
            "traffic_share": self.traffic_share,
            "priority": self.priority,
            "owner_role": self.owner_role,
            "gate": self.gate_id,
            "findings": list(self.findings),
            "result_seq": self.result_seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            check_id=data["check_id"],
            name=data["monitored_check"],
            kind=data["kind"],
            status=data["status"],
            summary=data["summary"],
            severity=data["severity"],
            traffic_share=float(data["traffic_share"]),
            priority=data.get("priority"),
            owner_role=data.get("owner_role"),
            gate_id=data.get("gate"),
            findings=tuple(data.get("findings", [])),
            result_seq=data.get("result_seq"),
        )


def verdict_of(
    rules: Sequence[PriorityRule], check: MonitoredCheck, result: Mapping[str, Any], *, seq: int | None = None
) -> Verdict:
    severity = breach_severity(result, check.severity)
    share = traffic_share(result)
    breach = result["status"] in (Status.FAIL.value, Status.ERROR.value)
    findings = tuple(
        f["id"]
        for f in result.get("findings", [])
        if not f.get("waived_by") and f["severity"] != Severity.LOW.value
    )
    return Verdict(
        check_id=check.check_id,
        name=check.name,
        kind=check.kind,
        status=result["status"],
        summary=result["summary"],
        severity=severity.value,
        traffic_share=share,
        priority=priority_for(rules, severity, share) if breach else None,
        owner_role=check.owner_role,
        gate_id=check.gate_id,
        findings=findings[:50],
        result_seq=seq,
    )


# --------------------------------------------------------------------------------------------------
# Incidents, folded from the monitoring chain
# --------------------------------------------------------------------------------------------------


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
        return _time(self.history[-1]["window"]["end"]) if self.history else None

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
            if since is not None and _time(began) < since:
                break
            count += 1
        return count


@dataclass
class Acknowledgement:
    subject_id: str
    payload: dict[str, Any]


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
            opened_at=_time(window_end),
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
        incident.resolved_at = _time(payload["window"]["end"])


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


# --------------------------------------------------------------------------------------------------
# Escalation
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Remediation items of releases
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemediationItemRef:
    """A remediation item recorded by a release, addressed as ``<release_id>#<seq>``."""

    release_id: str
    seq: int
    check_id: str
    finding_id: str
    title: str
    severity: Severity
    owner_role: str | None
    found_at: datetime
    deadline: datetime

    @property
    def item_id(self) -> str:
        return f"{self.release_id}#{self.seq}"


def remediation_items(releases: Mapping[str, Sequence[EvidenceRecord]]) -> list[RemediationItemRef]:
    items = []
    for release_id, records in releases.items():
        for record in records:
            if record.kind != "remediation_item":
                continue
            payload = record.payload
            items.append(
                RemediationItemRef(
                    release_id=release_id,
                    seq=record.seq,
                    check_id=payload["check_id"],
                    finding_id=payload.get("finding_id", ""),
                    title=payload.get("title", ""),
                    severity=Severity(payload.get("severity", Severity.HIGH.value)),
                    owner_role=payload.get("owner_role"),
                    found_at=_time(payload["found_at"]),
                    deadline=_time(payload["deadline"]),
                )
            )
    return items


def check_passes(
    releases: Mapping[str, Sequence[EvidenceRecord]], monitoring: Sequence[EvidenceRecord] = ()
) -> dict[str, list[datetime]]:
    """When each check passed (PASS or WARN): in a release (finished_at), in production (window end)."""
    passes: dict[str, list[datetime]] = {}
    for records in [*releases.values(), monitoring]:
        for record in records:
            payload = record.payload
            if record.kind != "check_result" or payload.get("status") not in (
                Status.PASS.value,
                Status.WARN.value,
            ):
                continue
            window = (payload.get("inputs") or {}).get("window")
            at = window["end"] if isinstance(window, dict) else payload["finished_at"]
            passes.setdefault(payload["check_id"], []).append(_time(at))
    return passes


def closed_at(item: RemediationItemRef, passes: Mapping[str, Sequence[datetime]]) -> datetime | None:
    """An item is closed when its check passes again after it was found (in a release or production)."""
    later = [t for t in passes.get(item.check_id, []) if t > item.found_at]
    return min(later) if later else None


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


# --------------------------------------------------------------------------------------------------
# Automatic rollback
# --------------------------------------------------------------------------------------------------


def last_rollback_at(state: MonitorState) -> datetime | None:
    """When the deployment was last rolled back by monitoring (the run's clock), if ever."""
    done = [_time(r["clock"]) for r in state.rollbacks if r.get("status") == "done" and r.get("clock")]
    return max(done) if done else None


def rollback_rule_for(
    monitoring: Monitoring, incident: Incident, *, since: datetime | None = None
) -> RollbackRule | None:
    """The ``rollback_on`` rule an open incident meets, unless it was rolled back (or dismissed) already.

    Only a measured breach (FAIL) counts — an ERROR escalates instead — and, after an earlier
    rollback at ``since``, only windows of traffic served since then: the version rolled back to must
    breach on its own before it is rolled back in turn.
    """
    if not incident.open or incident.dismissed_by is not None or incident.rolled_back:
        return None
    streak = incident.streak_since(since)
    for rule in monitoring.rollback_on:
        if (
            rule.check == incident.name
            and PRIORITY_RANK[incident.priority] <= PRIORITY_RANK[rule.min_priority]
            and streak >= rule.consecutive_windows
        ):
            return rule
    return None


@dataclass(frozen=True)
class ReleasedVersion:
    release_id: str
    version: str
    from_version: str | None
    recorded_at: str


def released_versions(
    releases: Mapping[str, Sequence[EvidenceRecord]], target: Mapping[str, Any]
) -> list[ReleasedVersion]:
    """Versions promoted to ``target`` by releases that ended ``released``, oldest first."""
    out = []
    for release_id, records in releases.items():
        sealed = [r for r in records if r.kind == "release_sealed"]
        if not sealed or sealed[-1].payload.get("decision") != "released":
            continue
        for record in records:
            payload = record.payload
            if (
                record.kind == "promotion"
                and payload.get("status") == "done"
                and payload.get("target") == dict(target)
            ):
                out.append(
                    ReleasedVersion(
                        release_id,
                        str(payload["to_version"]),
                        payload.get("from_version"),
                        record.recorded_at,
                    )
                )
    return sorted(out, key=lambda v: v.recorded_at)


def rollback_version(
    released: Sequence[ReleasedVersion], rollbacks: Sequence[Mapping[str, Any]], current: str
) -> tuple[str | None, str]:
    """The last released good version to roll back to from ``current``, and how it is known.

    Candidates are versions released before the release that made ``current`` live, newest first,
    skipping ``current`` and any version monitoring already rolled back from. Failing that, the
    version ``current`` replaced (its promotion's ``from_version``). None when neither is known.
    """
    bad = {str(r.get("from_version")) for r in rollbacks if r.get("status") == "done"}
    live = [i for i, v in enumerate(released) if v.version == current]
    earlier = released[: live[-1]] if live else list(released)
    for candidate in reversed(earlier):
        if candidate.version not in (current, *bad):
            return candidate.version, f"released by {candidate.release_id}"
    if live:
        replaced = released[live[-1]].from_version
        if replaced and replaced != current and replaced not in bad:
            return str(replaced), f"served before {released[live[-1]].release_id} promoted {current}"
    return None, (
        f"no released version before {current} is recorded in evidence"
        + ("" if live else f", and no release promoted {current}")
    )


# --------------------------------------------------------------------------------------------------
# Acknowledgements
# --------------------------------------------------------------------------------------------------


def acknowledgement_users(policy: ReleasePolicy, owner_role: str | None) -> list[str]:
    """Who may acknowledge: the users of every role on the escalation path (gate owner resolved)."""
    assert policy.monitoring is not None
    users: list[str] = []
    for entry in policy.monitoring.escalation.path:
        role = owner_role if entry == GATE_OWNER else entry
        if role is not None and role in policy.owners:
            users += [u for u in policy.users_of(role) if u not in users]
    return users


def acknowledge_incident(
    store: EvidenceStore,
    policy: ReleasePolicy,
    subject_id: str,
    user: str,
    note: str = "",
    *,
    action: str = "acknowledge",
) -> EvidenceRecord:
    """Record that ``user`` acknowledged (or dismissed, as a false alarm) an incident or overdue item.

    ``subject_id`` is an incident id (``<check>@<window end>``) or a remediation item
    (``<release_id>#<seq>``). Only users of the escalation path's roles are authorized; a dismissal
    needs a note of at least 10 characters. Unauthorized attempts are recorded too, and change nothing.
    """
    from release_gates.evidence import EvidenceNotFoundError
    from release_gates.monitoring.history import load_history

    if action not in ("acknowledge", "dismiss"):
        raise ValueError(f"action must be 'acknowledge' or 'dismiss', not {action!r}")
    chain = monitor_chain_id(policy.release.model)
    try:
        state = fold_monitoring(store.records(chain))
    except EvidenceNotFoundError:
        state = MonitorState()
    owner_role: str | None
    if subject_id in state.incidents:
        owner_role = state.incidents[subject_id].owner_role
    else:
        items = {
            i.item_id: i for i in remediation_items(load_history(store, model=policy.release.model).releases)
        }
        if subject_id not in items:
            raise KeyError(f"no incident or remediation item {subject_id!r} for {policy.release.model}")
        owner_role = items[subject_id].owner_role
    allowed = acknowledgement_users(policy, owner_role)
    problem = None
    if user not in allowed:
        problem = f"{user} is not on the escalation path ({', '.join(allowed) or 'nobody'})"
    elif action == "dismiss" and len(note.strip()) < MIN_NOTE:
        problem = f"a dismissal needs a note of at least {MIN_NOTE} characters"
    payload = {
        "subject_id": subject_id,
        "action": action,
        "user": user,
        "note": note.strip(),
        "authorized": problem is None,
        "problem": problem,
    }
    return store.append(chain, "acknowledgement", payload, actor=user)


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
