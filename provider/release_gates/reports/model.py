"""The release report as data: decision, gates, remediation, waivers, changes, heat map, checklist.

Built from evidence records only (:class:`~release_gates.reports.trail.Trail`), so the seal step,
the Airflow UI and an auditor holding an exported bundle all get the same report. No Airflow, no
matplotlib here: the renderers in :mod:`release_gates.reports.render` and
:mod:`release_gates.reports.charts` draw what this module computes, and tests read the numbers here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from release_gates.reports.trail import (
    SEVERITIES,
    Trail,
    active_severity_counts,
    first_payload,
    last_payload,
)

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.policy import CheckSpec, FairnessCheck, Gate, ReleasePolicy

#: Worst last: how a set of check statuses adds up (MISSING — no result — is as bad as ERROR).
STATUS_ORDER = ("PASS", "WARN", "INCONCLUSIVE", "FAIL", "ERROR", "MISSING")

METRIC_NAMES = {
    "selection_rate": "Selection rate",
    "base_rate": "Base rate",
    "tpr": "True positive rate",
    "fpr": "False positive rate",
    "fnr": "False negative rate",
    "precision": "Precision",
    "error_rate": "Error rate",
}

VERDICT_WORDS = {
    "passed": "passed",
    "remediate": "failed and needs remediation",
    "review": "was inconclusive",
    "blocked": "was blocked (a check could not run)",
}

#: Waivers expiring within this many days are flagged.
EXPIRY_WARNING_DAYS = 30


def worst_status(statuses: Iterable[str]) -> str | None:
    ranked = [s for s in statuses if s in STATUS_ORDER]
    return max(ranked, key=STATUS_ORDER.index) if ranked else None


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}f}"


def describe_criterion(criterion: Mapping[str, Any], confidence: float | None = None) -> str:
    """One fairness criterion outcome in plain language.

    ``Selection rate for afam=yes is 0.59 of afam=no's (needs ≥ 0.80); 95% interval 0.49–0.69``
    """
    metric = str(criterion.get("metric", ""))
    name = METRIC_NAMES.get(metric, metric.replace("_", " ").capitalize())
    rule, threshold = criterion.get("rule"), criterion.get("threshold")
    compared = list(criterion.get("groups_compared") or [])
    value = criterion.get("value")
    if value is None or len(compared) < 2:
        grouping = " × ".join(criterion.get("grouping") or []) or "the groups"
        need = f"≥ {_num(threshold)} ratio" if rule == "ratio_min" else f"≤ {_num(threshold)} difference"
        return f"{name} by {grouping} (needs {need}): not measured — {criterion.get('reason', '')}".strip()
    group, reference = compared[0], compared[1]
    if rule == "ratio_min":
        text = f"{name} for {group} is {_num(value)} of {reference}'s (needs ≥ {_num(threshold)})"
    else:
        text = f"{name} for {group} differs from {reference}'s by {_num(value)} (needs ≤ {_num(threshold)})"
    bounds = [b for b in (criterion.get("ci_low"), criterion.get("ci_high")) if b is not None]
    if len(bounds) == 2:
        # The engine records the unfavourable and favourable ends; shown as an ordinary interval.
        share = f"{confidence:.0%} " if confidence else ""
        text += f"; {share}interval {_num(min(bounds))}–{_num(max(bounds))}"
    return text


def describe_stress_cell(cell: Mapping[str, Any], metric: str, ceiling: Any, confidence: Any) -> str:
    group = ", ".join(f"{k}={v}" for k, v in (cell.get("group") or {}).items())
    name = METRIC_NAMES.get(metric, metric)
    rate = cell.get(metric) or {}
    share = f"{float(confidence):.0%} " if confidence else ""
    return (
        f"{name} for {group} under {cell.get('scenario')} is {_num(rate.get('value'))} "
        f"(upper {share}bound {_num(rate.get('ci_high'))}; ceiling {_num(ceiling)})"
    )


def top_findings(result: Mapping[str, Any], limit: int = 3) -> list[dict[str, Any]]:
    findings = [f for f in result.get("findings") or [] if not f.get("waived_by")]
    findings.sort(key=lambda f: SEVERITIES.index(f["severity"]) if f.get("severity") in SEVERITIES else 9)
    return [{k: f.get(k) for k in ("id", "severity", "title", "location")} for f in findings[:limit]]


def decisive_text(result: Mapping[str, Any]) -> str:
    """What decided a check's status, in plain language."""
    metrics = result.get("metrics") or {}
    status = result.get("status")
    if result.get("kind") == "fairness" and metrics.get("criteria"):
        criteria = metrics["criteria"]
        chosen = next((c for c in criteria if c.get("status") == status), criteria[0])
        return describe_criterion(chosen, metrics.get("confidence"))
    if result.get("kind") == "stress_safety" and metrics.get("cells"):
        cells = metrics["cells"]
        metric = str(metrics.get("metric", "error_rate"))
        chosen = next((c for c in cells if c.get("status") == status), None)
        if chosen is None:  # all passed: the cell closest to the ceiling
            chosen = max(cells, key=lambda c: (c.get(metric) or {}).get("ci_high") or 0)
        return describe_stress_cell(chosen, metric, metrics.get("ceiling"), metrics.get("confidence"))
    text = str(result.get("summary", ""))
    tops = top_findings(result)
    if tops and status not in ("PASS",):
        text += " — " + "; ".join(f"{f['severity']} {f['title']}" for f in tops)
    return text


# --------------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRow:
    check_id: str
    kind: str
    status: str
    summary: str
    decisive: str
    findings_by_severity: dict[str, int]
    waived: int
    top_findings: list[dict[str, Any]]
    evidence_seq: int | None


@dataclass(frozen=True)
class GateRow:
    gate_id: str
    title: str
    verdict: str
    status: str | None
    owner_role: str | None
    owners: list[str]
    decisive: str
    reason: str
    checks: list[CheckRow]
    cleared_by: dict[str, Any] | None = None


@dataclass(frozen=True)
class RemediationRow:
    gate: str
    check_id: str
    finding_id: str
    title: str
    severity: str
    owner_role: str
    owners: list[str]
    contact: str | None
    deadline: str
    overdue: bool
    mitigations: list[str]


@dataclass(frozen=True)
class WaiverRow:
    id: str
    kind: str
    gate: str | None
    owner: str | None
    statement: str
    expires: str | None
    expiring_soon: bool
    findings: int | None


@dataclass(frozen=True)
class DecisionRow:
    task_id: str
    gate: str | None
    role: str | None
    user: str | None
    choice: str | None
    at: str | None
    rationale: str
    authorized: bool
    problem: str | None


@dataclass(frozen=True)
class HeatMap:
    """Gates × severities: counts of unwaived findings, coloured by the worst status among the checks
    that contributed them (None where a cell is empty). The renderer draws exactly this."""

    gates: list[str]
    severities: list[str]
    counts: list[list[int]]
    statuses: list[list[str | None]]
    waived: list[list[int]]

    def cell(self, gate: str, severity: str) -> tuple[int, str | None]:
        i, j = self.gates.index(gate), self.severities.index(severity)
        return self.counts[i][j], self.statuses[i][j]

    def label(self, i: int, j: int) -> str:
        """The text printed in a cell, so colour is never the only carrier of meaning."""
        count, status, waived = self.counts[i][j], self.statuses[i][j], self.waived[i][j]
        text = f"{count} {status}" if count and status else str(count)
        return text + (f" (+{waived} waived)" if waived else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FairnessPanel:
    """One criterion over one grouping: every group's rate with its interval, and the threshold."""

    check_id: str
    metric: str
    metric_label: str
    rule: str
    threshold: float
    grouping: list[str]
    status: str | None
    reference: str | None
    confidence: float | None
    groups: list[dict[str, Any]]
    threshold_lines: list[float]
    criterion: str


@dataclass(frozen=True)
class DriftPanel:
    check_id: str
    status: str
    columns: list[dict[str, Any]]


@dataclass(frozen=True)
class HistoryPoint:
    release_id: str
    label: str
    decision: str | None
    counts: dict[str, int]
    current: bool = False


@dataclass(frozen=True)
class ChecklistRow:
    gate: str
    check: str
    kind: str
    owner_role: str
    owner_users: str
    criterion: str
    rationale: str
    estimate: str
    status: str
    evidence: str

    FIELDS = (
        "gate",
        "check",
        "kind",
        "owner_role",
        "owner_users",
        "criterion",
        "rationale",
        "estimate",
        "status",
        "evidence",
    )


@dataclass
class ReleaseReport:
    release_id: str
    model: str | None
    model_version: str | None
    risk_tier: str | None
    run_id: str | None
    triggered_by: str | None
    started_at: str | None
    sealed_at: str | None
    generated_at: str
    source: str
    decision: str | None
    decision_reasons: list[str]
    headline: list[str]
    gates: list[GateRow]
    remediation: list[RemediationRow]
    waivers: list[WaiverRow]
    decisions: list[DecisionRow]
    changes: list[str]
    previous_release_id: str | None
    heatmap: HeatMap
    fairness: list[FairnessPanel]
    drift: list[DriftPanel]
    history: list[HistoryPoint]
    checklist: list[ChecklistRow]
    checklist_note: str | None
    verify: dict[str, Any] | None
    records: int
    head_hash: str | None
    policy: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def findings_by_severity(self) -> dict[str, int]:
        return {s: sum(row[j] for row in self.heatmap.counts) for j, s in enumerate(self.heatmap.severities)}

    @property
    def overdue(self) -> list[RemediationRow]:
        return [r for r in self.remediation if r.overdue]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings_by_severity"] = self.findings_by_severity
        return data


# --------------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------------


def snapshot_policy(records: Sequence[EvidenceRecord]) -> tuple[ReleasePolicy | None, str | None]:
    """The policy recorded in the trail (``policy_snapshot``), checked against ``release_started``."""
    from release_gates.policy import PolicyError, parse_policy

    snapshot = last_payload(records, "policy_snapshot")
    if not snapshot or not snapshot.get("text"):
        return None, "the trail holds no policy snapshot, so the checklist lists recorded checks only"
    started = first_payload(records, "release_started") or {}
    try:
        policy = parse_policy(snapshot["text"], source=str(snapshot.get("source") or "<snapshot>"))
    except PolicyError as exc:
        return None, f"the recorded policy snapshot does not parse: {exc.problems[0]}"
    recorded = (started.get("policy") or {}).get("sha256")
    if recorded and recorded != policy.sha256:
        return policy, (
            f"the policy snapshot (sha256 {policy.sha256[:12]}…) differs from the policy the release "
            f"started with ({recorded[:12]}…): the file changed during the release"
        )
    return policy, None


def build_report(
    trail: Trail,
    *,
    policy: ReleasePolicy | None = None,
    pending_seal: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> ReleaseReport:
    """The report of ``trail``.

    ``policy`` is used only when the trail holds no policy snapshot (``release-gates report
    --policy``, checked against the recorded sha256 by the caller). ``pending_seal`` is the
    ``release_sealed`` payload the seal step is about to record: the report is generated (and its
    files' sha256 recorded) before the seal closes the chain.
    """
    from release_gates.gates import fold, latest_results

    now = now or datetime.now(UTC)
    records = trail.records
    started = first_payload(records, "release_started") or {}
    sealed = last_payload(records, "release_sealed") or (dict(pending_seal) if pending_seal else None)
    state = fold(records)
    results = latest_results(records)
    seqs = {str(r.payload.get("check_id")): r.seq for r in records if r.kind == "check_result"}
    notes: list[str] = []

    snap_policy, snap_note = snapshot_policy(records)
    if snap_policy is None and policy is not None:
        snap_policy, snap_note = policy, "checklist from the policy file given (sha256 matched the trail)"
    if snap_note:
        notes.append(snap_note)

    gate_ids = list(started.get("gates") or [])
    for gate in list(state.gates) + [cid.split(".", 1)[0] for cid in results]:
        if gate not in gate_ids:
            gate_ids.append(gate)
    gate_checks = _gate_checks(gate_ids, started, results)
    items = [_remediation_row(i, now) for i in state.open_items]
    items.sort(key=lambda r: (r.deadline, SEVERITIES.index(r.severity) if r.severity in SEVERITIES else 9))
    gates = [
        _gate_row(
            gate_id,
            gate_checks[gate_id],
            results=results,
            seqs=seqs,
            state=state,
            records=records,
            policy=snap_policy,
            items=items,
        )
        for gate_id in gate_ids
    ]
    decisions = [_decision_row(r.payload) for r in records if r.kind == "human_decision"]
    decision = sealed.get("decision") if sealed else None
    reasons = list(sealed.get("reasons") or []) if sealed else []
    if decision == "released":
        # Remediation items of a release that shipped (waived or accepted) are not "open" for on-call.
        items = [i for i in items if i.gate not in state.cleared_by and i.gate not in _passed(state)]
    verify = trail.verify.to_dict() if trail.verify is not None else None
    version = (started.get("inputs") or {}).get("model_version")
    report = ReleaseReport(
        release_id=trail.release_id,
        model=started.get("model"),
        model_version=None if version is None else str(version),
        risk_tier=started.get("risk_tier"),
        run_id=started.get("run_id"),
        triggered_by=started.get("triggered_by"),
        started_at=records[0].recorded_at if records else None,
        sealed_at=trail.sealed_at,
        generated_at=now.isoformat(timespec="seconds"),
        source=trail.source,
        decision=decision,
        decision_reasons=reasons,
        headline=[],
        gates=gates,
        remediation=items,
        waivers=_waivers(records, results, snap_policy, now),
        decisions=decisions,
        changes=[],
        previous_release_id=trail.previous_id,
        heatmap=build_heatmap(gate_ids, gate_checks, results),
        fairness=fairness_panels(results),
        drift=drift_panels(results),
        history=[],
        checklist=build_checklist(snap_policy, trail.release_id, results, seqs, records),
        checklist_note=snap_note,
        verify=verify,
        records=len(records),
        head_hash=records[-1].hash if records else None,
        policy=dict(started.get("policy") or {}),
        notes=notes,
    )
    report.headline = headline(report, state.cleared_by)
    report.changes = changes_since(trail, records, results, report)
    report.history = [
        HistoryPoint(d.release_id, d.label, d.decision, d.findings_by_severity)
        for d in reversed(trail.history)
    ] + [
        HistoryPoint(
            trail.release_id,
            f"v{report.model_version} {(report.started_at or '')[:10]}",
            decision,
            active_severity_counts(results.values()),
            current=True,
        )
    ]
    if any(g.get("suppressed") for p in report.fairness for g in p.groups):
        notes.append(
            'groups smaller than the check\'s min_cell_size are shown as recorded ("<10"), without rates'
        )
    return report


def _passed(state: Any) -> set[str]:
    return {g for g, o in state.gates.items() if o == "passed"}


def _gate_checks(
    gate_ids: Sequence[str], started: Mapping[str, Any], results: Mapping[str, Any]
) -> dict[str, list[str]]:
    declared = list(started.get("checks") or [])
    out: dict[str, list[str]] = {g: [] for g in gate_ids}
    for check_id in declared + [c for c in results if c not in declared]:
        gate = check_id.split(".", 1)[0]
        if gate in out and check_id not in out[gate]:
            out[gate].append(check_id)
    return out


def _check_row(check_id: str, result: Mapping[str, Any] | None, seq: int | None) -> CheckRow:
    if result is None:
        return CheckRow(
            check_id,
            "",
            "MISSING",
            "no result recorded",
            "no result recorded",
            dict.fromkeys(SEVERITIES, 0),
            0,
            [],
            None,
        )
    counts = active_severity_counts([dict(result)])
    waived = sum(1 for f in result.get("findings") or [] if f.get("waived_by"))
    return CheckRow(
        check_id=check_id,
        kind=str(result.get("kind", "")),
        status=str(result.get("status")),
        summary=str(result.get("summary", "")),
        decisive=decisive_text(result),
        findings_by_severity=counts,
        waived=waived,
        top_findings=top_findings(result),
        evidence_seq=seq,
    )


def _gate_row(
    gate_id: str,
    check_ids: Sequence[str],
    *,
    results: Mapping[str, Any],
    seqs: Mapping[str, int],
    state: Any,
    records: Sequence[EvidenceRecord],
    policy: ReleasePolicy | None,
    items: Sequence[RemediationRow],
) -> GateRow:
    checks = [_check_row(cid, results.get(cid), seqs.get(cid)) for cid in check_ids]
    decision = next(
        (
            r.payload
            for r in reversed(records)
            if r.kind == "gate_decision" and r.payload.get("gate") == gate_id
        ),
        None,
    )
    status = worst_status(c.status for c in checks)
    # The check that decided the gate: the worst one (first in policy order among equals).
    decider = next((c for c in checks if c.status == status), None)
    title, owner_role, owners = gate_id, None, []
    if policy is not None:
        try:
            gate = policy.gate(gate_id)
        except KeyError:
            gate = None
        if gate is not None:
            title, owner_role, owners = gate.title or gate.id, gate.owner, policy.users_of(gate.owner)
    if owner_role is None:
        item = next((i for i in items if i.gate == gate_id), None)
        if item is not None:
            owner_role, owners = item.owner_role, list(item.owners)
    return GateRow(
        gate_id=gate_id,
        title=title,
        verdict=state.gates.get(gate_id) or "no decision",
        status=status,
        owner_role=owner_role,
        owners=list(owners),
        decisive=decider.decisive if decider else "no checks recorded",
        reason=str((decision or {}).get("reason") or ""),
        checks=checks,
        cleared_by=state.cleared_by.get(gate_id),
    )


def _remediation_row(item: Mapping[str, Any], now: datetime) -> RemediationRow:
    deadline = str(item.get("deadline", ""))
    try:
        overdue = datetime.fromisoformat(deadline) < now
    except ValueError:
        overdue = False
    return RemediationRow(
        gate=str(item.get("gate", "")),
        check_id=str(item.get("check_id", "")),
        finding_id=str(item.get("finding_id", "")),
        title=str(item.get("title", "")),
        severity=str(item.get("severity", "")),
        owner_role=str(item.get("owner_role", "")),
        owners=list(item.get("owners") or []),
        contact=item.get("contact"),
        deadline=deadline,
        overdue=overdue,
        mitigations=list(item.get("mitigations") or []),
    )


def _decision_row(payload: Mapping[str, Any]) -> DecisionRow:
    return DecisionRow(
        task_id=str(payload.get("task_id", "")),
        gate=payload.get("gate"),
        role=payload.get("role"),
        user=payload.get("user"),
        choice=payload.get("choice"),
        at=payload.get("responded_at"),
        rationale=str(payload.get("rationale") or ""),
        authorized=bool(payload.get("authorized")),
        problem=payload.get("problem"),
    )


def _expiring(expires: str | None, now: datetime) -> bool:
    try:
        return (
            expires is not None
            and date.fromisoformat(expires[:10]) <= (now + timedelta(days=EXPIRY_WARNING_DAYS)).date()
        )
    except ValueError:
        return False


def _policy_waiver_statements(policy: ReleasePolicy | None) -> dict[str, str]:
    if policy is None:
        return {}
    statements = {w.id: w.statement for w in policy.waivers}
    for _, check, _ in policy.iter_checks():
        for waiver in getattr(check, "waivers", []):
            statements[waiver.id] = waiver.statement
    return statements


def _waivers(
    records: Sequence[EvidenceRecord],
    results: Mapping[str, Any],
    policy: ReleasePolicy | None,
    now: datetime,
) -> list[WaiverRow]:
    """Waivers in force for this release: policy waivers that covered findings, and human waivers."""
    statements = _policy_waiver_statements(policy)
    rows: dict[str, WaiverRow] = {}
    for check_id, result in results.items():
        gate = check_id.split(".", 1)[0]
        metrics = result.get("metrics") or {}
        for applied in metrics.get("waivers_applied") or []:
            wid = str(applied.get("id"))
            expires = applied.get("expires")
            rows[wid] = WaiverRow(
                wid,
                "policy waiver",
                gate,
                applied.get("owner"),
                statements.get(wid, ""),
                expires,
                _expiring(expires, now),
                applied.get("findings"),
            )
        for finding in result.get("findings") or []:
            wid = finding.get("waived_by")
            if not wid or wid in rows:
                continue
            waiver = (finding.get("data") or {}).get("waiver") or {}
            expires = waiver.get("expires")
            count = sum(1 for f in result.get("findings") or [] if f.get("waived_by") == wid)
            rows[wid] = WaiverRow(
                str(wid),
                "policy waiver",
                gate,
                waiver.get("owner"),
                statements.get(str(wid), ""),
                expires,
                _expiring(expires, now),
                count,
            )
    for record in records:
        payload = record.payload
        if record.kind == "waiver_applied":
            wid = str(payload.get("id") or payload.get("waiver") or f"waiver#{record.seq}")
            expires = payload.get("expires")
            rows[wid] = WaiverRow(
                wid,
                "policy waiver",
                payload.get("gate"),
                payload.get("owner"),
                str(payload.get("statement") or ""),
                expires,
                _expiring(expires, now),
                payload.get("findings"),
            )
        elif (
            record.kind == "human_decision"
            and payload.get("authorized")
            and payload.get("choice")
            in (
                "waive",
                "accept_risk",
            )
        ):
            kind = "gate waived by decision" if payload["choice"] == "waive" else "risk accepted by decision"
            wid = f"{payload.get('gate')}:{payload['choice']}"
            rows[wid] = WaiverRow(
                wid,
                kind,
                payload.get("gate"),
                payload.get("user"),
                str(payload.get("rationale") or ""),
                None,
                False,
                None,
            )
    return list(rows.values())


def build_heatmap(
    gate_ids: Sequence[str], gate_checks: Mapping[str, Sequence[str]], results: Mapping[str, Any]
) -> HeatMap:
    severities = list(SEVERITIES)
    counts = [[0] * len(severities) for _ in gate_ids]
    waived = [[0] * len(severities) for _ in gate_ids]
    statuses: list[list[str | None]] = [[None] * len(severities) for _ in gate_ids]
    for i, gate in enumerate(gate_ids):
        contributors: list[set[str]] = [set() for _ in severities]
        for check_id in gate_checks.get(gate, []):
            result = results.get(check_id)
            if result is None:
                continue
            for finding in result.get("findings") or []:
                severity = finding.get("severity")
                if severity not in severities:
                    continue
                j = severities.index(severity)
                if finding.get("waived_by"):
                    waived[i][j] += 1
                else:
                    counts[i][j] += 1
                    contributors[j].add(str(result.get("status")))
        for j in range(len(severities)):
            statuses[i][j] = worst_status(contributors[j]) if counts[i][j] else None
    return HeatMap(list(gate_ids), severities, counts, statuses, waived)


def _group_name(group: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


def fairness_panels(results: Mapping[str, Any]) -> list[FairnessPanel]:
    """Per fairness criterion and grouping: the groups' rates with intervals against the threshold."""
    panels = []
    for check_id, result in results.items():
        if result.get("kind") != "fairness":
            continue
        metrics = result.get("metrics") or {}
        groups = metrics.get("groups") or []
        confidence = metrics.get("confidence")
        for criterion in metrics.get("criteria") or []:
            grouping = list(criterion.get("grouping") or [])
            metric = str(criterion.get("metric"))
            rows = []
            for entry in groups:
                group = entry.get("group") or {}
                if list(group) != grouping:
                    continue
                rate = (entry.get("rates") or {}).get(metric) or {}
                rows.append(
                    {
                        "name": _group_name(group),
                        "n": entry.get("n"),
                        "suppressed": bool(entry.get("suppressed")),
                        "value": rate.get("value"),
                        "ci_low": rate.get("ci_low"),
                        "ci_high": rate.get("ci_high"),
                    }
                )
            compared = list(criterion.get("groups_compared") or [])
            reference = compared[1] if len(compared) == 2 else None
            panels.append(
                FairnessPanel(
                    check_id=check_id,
                    metric=metric,
                    metric_label=METRIC_NAMES.get(metric, metric),
                    rule=str(criterion.get("rule")),
                    threshold=float(criterion.get("threshold") or 0.0),
                    grouping=grouping,
                    status=criterion.get("status"),
                    reference=reference,
                    confidence=confidence,
                    groups=rows,
                    threshold_lines=_threshold_lines(criterion, rows, reference),
                    criterion=describe_criterion(criterion, confidence),
                )
            )
    return panels


def _threshold_lines(
    criterion: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], reference: str | None
) -> list[float]:
    """Where the threshold falls on the rate axis: relative to the reference group's rate."""
    rated = [r for r in rows if r.get("value") is not None]
    if not rated:
        return []
    ref = next((r for r in rated if r["name"] == reference), None)
    threshold = float(criterion.get("threshold") or 0.0)
    if criterion.get("rule") == "ratio_min":
        base = ref["value"] if ref else max(r["value"] for r in rated)
        return [round(threshold * base, 6)]
    base = ref["value"] if ref else sum(r["value"] for r in rated) / len(rated)
    return [round(max(0.0, base - threshold), 6), round(min(1.0, base + threshold), 6)]


def drift_panels(results: Mapping[str, Any]) -> list[DriftPanel]:
    panels = []
    for check_id, result in results.items():
        if result.get("kind") != "drift":
            continue
        columns = (result.get("metrics") or {}).get("columns") or {}
        rows = [
            {
                "column": name,
                "score": col.get("score"),
                "threshold": col.get("threshold"),
                "method": col.get("method"),
                "method_kind": col.get("method_kind"),
                "drifted": bool(col.get("drifted")),
            }
            for name, col in columns.items()
            if col.get("score") is not None
        ]
        panels.append(DriftPanel(check_id, str(result.get("status")), rows))
    return panels


# --------------------------------------------------------------------------------------------------
# Wording
# --------------------------------------------------------------------------------------------------


def _names(users: Iterable[str | None]) -> str:
    names = [u for u in users if u]
    if len(names) <= 1:
        return names[0] if names else "nobody"
    return ", ".join(names[:-1]) + " and " + names[-1]


def headline(report: ReleaseReport, cleared_by: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The decision and why, in two sentences."""
    what = f"{report.model or 'The model'} version {report.model_version or '?'}"
    gates = report.gates
    failing = [g for g in gates if g.verdict != "passed"]
    if report.decision == "released":
        approvers = [d.user for d in report.decisions if d.choice == "approve" and d.authorized]
        cleared = f" ({len(failing)} waived or accepted by their owners)" if failing else ""
        first = f"{what} was RELEASED: all {len(gates)} gates cleared{cleared}" + (
            f" and {_names(approvers)} signed off." if approvers else "."
        )
        warned = [c.check_id for g in gates for c in g.checks if c.status == "WARN"]
        open_count = sum(report.findings_by_severity.values())
        second = f"{open_count} finding(s) remain open, none blocking" + (
            f"; {len(warned)} check(s) passed with warnings ({', '.join(warned[:4])})." if warned else "."
        )
        if failing:
            g = failing[0]
            by = (cleared_by.get(g.gate_id) or {}).get("user")
            verdict = VERDICT_WORDS.get(g.verdict, g.verdict)
            second = f"Gate {g.gate_id} {verdict} and was cleared by {by}: {g.decisive}."
        return [first, second]
    if report.decision is None:
        decided = sum(1 for g in gates if g.verdict != "no decision")
        first = f"{what} is IN PROGRESS: {decided} of {len(gates)} gates decided so far."
        second = (
            f"First concern: {failing[0].gate_id} — {failing[0].decisive}."
            if failing
            else "No gate has failed so far."
        )
        return [first, second]
    if report.decision == "rolled_back":
        return [
            f"{what} was promoted and ROLLED BACK: the smoke check failed after promotion.",
            "The version it replaced is serving again; see the rollback record in the evidence trail.",
        ]
    word = "ABORTED" if report.decision == "aborted" else "HELD"
    blocking = [g for g in failing if g.gate_id not in cleared_by]
    if blocking:
        g = blocking[0]
        first = f"{what} was {word}: gate {g.gate_id} {VERDICT_WORDS.get(g.verdict, g.verdict)}."
        open_items = [r for r in report.remediation if r.gate == g.gate_id]
        second = f"Deciding criterion: {g.decisive}."
        if open_items:
            owners = _names(sorted({u for r in open_items for u in r.owners}))
            second = (
                f"Deciding criterion: {g.decisive}; {len(open_items)} remediation item(s) are open for "
                f"{owners}, the first due {_when(open_items[0].deadline)}."
            )
        return [first, second]
    reason = report.decision_reasons[0] if report.decision_reasons else "the release was not promoted"
    return [
        f"{what} was {word}: {reason}.",
        "Every gate cleared; the sign-off or the promotion did not complete.",
    ]


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def _dataset_fingerprints(results: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    prints: dict[str, str] = {}
    for result in results:
        inputs = result.get("inputs") or {}
        for name, value in {**inputs, **(inputs.get("datasets") or {})}.items():
            if isinstance(value, dict) and isinstance(value.get("sha256"), str) and name != "model":
                prints.setdefault(name, value["sha256"])
    return prints


def changes_since(
    trail: Trail, records: Sequence[EvidenceRecord], results: Mapping[str, Any], report: ReleaseReport
) -> list[str]:
    """What changed against the previous sealed release of the same model, in plain language."""
    from release_gates.gates import fold, latest_results

    if trail.previous is None:
        if not trail.history_available:
            return [
                "No earlier release to compare with: built from an export bundle without an evidence store."
            ]
        return [f"No earlier sealed release of {report.model or 'this model'} in the evidence store."]
    prev = trail.previous
    lines: list[str] = []
    old_start = first_payload(prev, "release_started") or {}
    new_start = first_payload(records, "release_started") or {}
    old_in, new_in = old_start.get("inputs") or {}, new_start.get("inputs") or {}
    for key, label in (
        ("model_version", "model version"),
        ("model_sha256", "model sha256"),
        ("image", "image"),
    ):
        if old_in.get(key) != new_in.get(key):
            lines.append(f"{label}: {_short(old_in.get(key))} → {_short(new_in.get(key))}")
    old_policy = (old_start.get("policy") or {}).get("sha256")
    new_policy = (new_start.get("policy") or {}).get("sha256")
    if old_policy != new_policy:
        lines.append(f"policy changed: sha256 {_short(old_policy)} → {_short(new_policy)}")
    old_results = latest_results(prev)
    old_prints, new_prints = (
        _dataset_fingerprints(old_results.values()),
        _dataset_fingerprints(results.values()),
    )
    for name in sorted(set(old_prints) | set(new_prints)):
        if old_prints.get(name) != new_prints.get(name):
            lines.append(
                f"dataset {name}: sha256 {_short(old_prints.get(name))} → {_short(new_prints.get(name))}"
            )
    old_sealed = last_payload(prev, "release_sealed") or {}
    if old_sealed.get("decision") != report.decision:
        lines.append(f"decision: {old_sealed.get('decision')} → {report.decision or 'in progress'}")
    old_gates = fold(prev).gates
    for gate in report.gates:
        if old_gates.get(gate.gate_id) != (gate.verdict if gate.verdict != "no decision" else None):
            lines.append(f"gate {gate.gate_id}: {old_gates.get(gate.gate_id, 'absent')} → {gate.verdict}")
    for check_id in sorted(set(old_results) | set(results)):
        lines += _check_changes(check_id, old_results.get(check_id), results.get(check_id))
    return lines or ["Nothing changed in the recorded inputs, verdicts or findings."]


def _short(value: Any) -> str:
    text = "none" if value in (None, "") else str(value)
    return text[:12] + "…" if len(text) > 16 and " " not in text and "/" not in text else text


def _check_changes(check_id: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    if old is None or new is None:
        return [f"check {check_id}: {'added' if old is None else 'no longer recorded'}"]
    lines = []
    if old.get("status") != new.get("status"):
        lines.append(f"check {check_id}: {old.get('status')} → {new.get('status')}")
    if new.get("kind") == "fairness":
        before = {
            (c.get("metric"), tuple(c.get("grouping") or ())): c.get("value")
            for c in (old.get("metrics") or {}).get("criteria") or []
        }
        for c in (new.get("metrics") or {}).get("criteria") or []:
            key = (c.get("metric"), tuple(c.get("grouping") or ()))
            old_value, new_value = before.get(key), c.get("value")
            if old_value is not None and new_value is not None and abs(old_value - new_value) >= 0.005:
                shown = "ratio" if c.get("rule") == "ratio_min" else "difference"
                lines.append(
                    f"{METRIC_NAMES.get(str(c.get('metric')), c.get('metric'))} {shown} by "
                    f"{' × '.join(key[1])}: {_num(before[key])} → {_num(c['value'])}"
                )
    old_ids = {f.get("id") for f in old.get("findings") or [] if not f.get("waived_by")}
    new_findings = [f for f in new.get("findings") or [] if not f.get("waived_by")]
    added = [f for f in new_findings if f.get("id") not in old_ids]
    resolved = old_ids - {f.get("id") for f in new_findings}
    if added:
        titles = "; ".join(f"{f.get('severity')} {f.get('title')}" for f in added[:2])
        lines.append(f"check {check_id}: {len(added)} new finding(s) — {titles}")
    if resolved:
        lines.append(f"check {check_id}: {len(resolved)} finding(s) resolved")
    return lines


# --------------------------------------------------------------------------------------------------
# Checklist
# --------------------------------------------------------------------------------------------------


def _criterion_status(result: Mapping[str, Any] | None, metric: str, rule: str) -> str:
    if result is None:
        return "MISSING"
    outcomes = [
        c.get("status")
        for c in (result.get("metrics") or {}).get("criteria") or []
        if c.get("metric") == metric and c.get("rule") == rule
    ]
    return worst_status(outcomes) or str(result.get("status"))


def _fairness_rows(check: FairnessCheck) -> list[tuple[str, str, str | None]]:
    scope = ", ".join(check.sensitive_features) + (" and their intersections" if check.intersectional else "")
    if check.reference_group:
        versus = " against " + ", ".join(f"{k}={v}" for k, v in check.reference_group.items())
    else:
        versus = " between every pair of groups"
    rows: list[tuple[str, str, str | None]] = []
    for c in check.criteria:
        rule = f"ratio ≥ {c.threshold:g}" if c.rule == "ratio_min" else f"difference ≤ {c.threshold:g}"
        words = (
            f"{METRIC_NAMES.get(c.metric, c.metric)} {rule} for {scope}{versus}, at the unfavourable end of "
            f"the {check.confidence:.0%} interval; groups under {check.min_group_size} rows are inconclusive"
        )
        rows.append((f"{c.metric} {c.rule}", words, c.rationale or None))
    return rows


def _describe_check(check: CheckSpec) -> str:
    from release_gates import policy as p

    if isinstance(check, p.DriftCheck):
        return (
            f"fewer than {check.drift_share:.0%} of the columns of {check.current} drift from "
            f"{check.reference} ({check.method} test per column)"
        )
    if isinstance(check, p.LineageCheck):
        text = f"datasets {', '.join(check.datasets)} documented (owner, description, legal basis) and pinned"
        if check.suites:
            text += f"; Great Expectations suites pass on {', '.join(check.suites)}"
        if check.label_balance:
            low, high = check.label_balance.get("min", 0), check.label_balance.get("max", 1)
            text += f"; positive-label share {low:g}–{high:g}"
        return text
    if isinstance(check, p.StressSafetyCheck):
        return (
            f"{check.metric} upper {check.confidence:.0%} bound ≤ {check.ceiling:g} for every "
            f"{', '.join(check.sensitive_features)} group under {', '.join(s.name for s in check.scenarios)}"
        )
    if isinstance(check, p.ImageScanCheck):
        limits = ", ".join(f"{sev.value} ≤ {n}" for sev, n in check.max_findings.items())
        misconfig = ", ".join(f"{sev.value} ≤ {n}" for sev, n in check.misconfig_max.items())
        text = f"vulnerabilities {limits}{' (fixable only)' if check.fixable_only else ''}; "
        text += f"misconfigurations {misconfig}; no secrets"
        return text + (f"; no {', '.join(check.license_deny)} licenses" if check.license_deny else "")
    if isinstance(check, p.RollbackDrillCheck):
        return (
            f"{check.target.type} {check.target.name} rolls back and recovers within "
            f"{p.format_duration(check.rto_budget)}, then rolls forward"
        )
    if isinstance(check, p.OpsReadinessCheck):
        return (
            f"alarms watch {check.target.type} {check.target.name} and have actions; inputs pinned by digest"
        )
    if isinstance(check, p.PostureCheck):
        kms = " with KMS" if check.require_kms else ""
        text = f"buckets {', '.join(check.buckets) or '(none)'} encrypted{kms}"
        text += ", public access blocked, versioned, TLS-only"
        if check.pii_patterns:
            text += f"; no {', '.join(x.name for x in check.pii_patterns)} in output samples"
        return text
    return check.description or check.kind


def acceptance_criterion(check: CheckSpec) -> list[tuple[str, str, str | None]]:
    """(criterion label, acceptance criterion in words, criterion rationale) rows of one check."""
    from release_gates.policy import FairnessCheck

    if isinstance(check, FairnessCheck):
        return _fairness_rows(check)
    return [(check.kind, _describe_check(check), None)]


def _gate_rows(
    policy: ReleasePolicy, gate: Gate, release_id: str, results: Mapping[str, Any], seqs: Mapping[str, int]
) -> list[ChecklistRow]:
    from release_gates.policy import format_duration

    rows = []
    users = ", ".join(policy.users_of(gate.owner)) if gate.owner in policy.owners else ""
    estimate = format_duration(gate.estimate) if gate.estimate else ""
    for check in gate.checks:
        check_id = f"{gate.id}.{check.check_name}"
        result = results.get(check_id)
        evidence = f"{release_id}#{seqs[check_id]}" if check_id in seqs else ""
        for label, words, rationale in acceptance_criterion(check):
            status = (
                _criterion_status(result, *label.split(" ", 1))
                if check.kind == "fairness"
                else (str(result.get("status")) if result else "MISSING")
            )
            why = gate.rationale + (f" {rationale}" if rationale else "")
            rows.append(
                ChecklistRow(
                    gate.id,
                    check_id + (f" [{label}]" if check.kind == "fairness" else ""),
                    check.kind,
                    gate.owner,
                    users,
                    words,
                    why,
                    estimate,
                    status,
                    evidence,
                )
            )
    return rows


def build_checklist(
    policy: ReleasePolicy | None,
    release_id: str,
    results: Mapping[str, Any],
    seqs: Mapping[str, int],
    records: Sequence[EvidenceRecord],
) -> list[ChecklistRow]:
    """Every policy item as a row: each check (each fairness criterion) and each sign-off role."""
    from release_gates.policy import format_duration

    if policy is None:
        return [
            ChecklistRow(
                cid.split(".", 1)[0],
                cid,
                str(r.get("kind", "")),
                "",
                "",
                "",
                "",
                "",
                str(r.get("status")),
                f"{release_id}#{seqs.get(cid, '')}",
            )
            for cid, r in results.items()
        ]
    rows = [row for gate in policy.gates for row in _gate_rows(policy, gate, release_id, results, seqs)]
    answers = {r.payload.get("task_id"): (r.seq, r.payload) for r in records if r.kind == "human_decision"}
    for name, approval in policy.approvals.items():
        for role in approval.roles:
            task_id = f"signoff.{name}_{role}"
            seq, answer = answers.get(task_id, (None, None))
            status = "not asked"
            if answer is not None:
                choice = answer.get("choice") or "no answer"
                status = f"{choice} by {answer.get('user') or 'nobody'}"
                if not answer.get("authorized"):
                    status += " (not accepted)"
            rows.append(
                ChecklistRow(
                    gate="sign-off",
                    check=f"{name}: {role}",
                    kind="approval",
                    owner_role=role,
                    owner_users=", ".join(policy.users_of(role)),
                    criterion=f"{role.replace('_', ' ')} approves within "
                    f"{format_duration(approval.timeout)}; no answer counts as a rejection",
                    rationale=approval.description or "Two-person rule: every approval role must approve.",
                    estimate="",
                    status=status,
                    evidence=f"{release_id}#{seq}" if seq else "",
                )
            )
    return rows
