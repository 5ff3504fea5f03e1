"""Impact and priority of a monitoring breach, and the verdict incidents are planned from.

* **Priority** (P1–P4): the first ``monitoring.priorities`` rule whose ``min_severity`` and
  ``min_traffic_share`` the breach meets (:func:`priority_for`). Severity is the worst active finding
  of the result (else the check's severity); the share of traffic affected is the share of the
  window's rows in the disadvantaged groups of failed criteria (fairness, error rates), else all of it.
* A :class:`Verdict` is one monitored check in one window with its priority, as
  :func:`release_gates.monitoring.incidents.plan_incidents` sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.policy import PRIORITIES, Priority, PriorityRule
from release_gates.results import Severity, Status

if TYPE_CHECKING:
    from release_gates.monitoring.plan import MonitoredCheck

PRIORITY_RANK: dict[str, int] = {p: i for i, p in enumerate(PRIORITIES)}
#: Rates where a higher value harms the group; for the others a lower value does.
HIGHER_IS_WORSE = frozenset({"fpr", "fnr", "error_rate"})


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
