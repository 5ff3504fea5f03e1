"""The release report built from evidence records only (:class:`~release_gates.reports.trail.Trail`).

The seal step, the Airflow UI and an auditor holding an exported bundle all get the same report. No
Airflow, no matplotlib here: the renderers in :mod:`release_gates.reports.render` and
:mod:`release_gates.reports.charts` draw what this module computes, and tests read the numbers here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from release_gates.reports.checklist import build_checklist
from release_gates.reports.explainability import explainability_panels
from release_gates.reports.panels import build_heatmap, drift_panels, fairness_panels
from release_gates.reports.rows import (
    MISSING,
    CheckRow,
    DecisionRow,
    GateRow,
    HistoryPoint,
    ReleaseReport,
    RemediationRow,
    WaiverRow,
    worst_recorded_status,
)
from release_gates.reports.trail import (
    SEVERITIES,
    Trail,
    active_severity_counts,
    first_payload,
    last_payload,
)
from release_gates.reports.wording import changes_since, decisive_text, headline, top_findings

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.policy import ReleasePolicy

#: Waivers expiring within this many days are flagged.
EXPIRY_WARNING_DAYS = 30


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
    # The snapshot's text may have credentials redacted: its sha256 field is the file's own.
    snapshot_sha256 = str(snapshot.get("sha256") or policy.sha256)
    if recorded and recorded != snapshot_sha256:
        return policy, (
            f"the policy snapshot (sha256 {snapshot_sha256[:12]}…) differs from the policy the release "
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
        attestation=_attestation(sealed),
        explainability=explainability_panels(results),
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


def _attestation(sealed: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The seal's attestation entry (signed, or why not); None when the seal names none."""
    entry = (sealed or {}).get("attestation")
    return dict(entry) if isinstance(entry, Mapping) else None


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
            MISSING,
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
    status = worst_recorded_status(c.status for c in checks)
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
