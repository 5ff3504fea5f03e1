"""The release checklist: every policy item (each check, each fairness criterion, each sign-off role) as
a row with its acceptance criterion in words, its owners, its status and the evidence that decided it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from release_gates.reports.rows import MISSING, ChecklistRow, worst_recorded_status
from release_gates.reports.wording import METRIC_NAMES

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.policy import CheckSpec, FairnessCheck, Gate, ReleasePolicy


def _criterion_status(result: Mapping[str, Any] | None, metric: str, rule: str) -> str:
    if result is None:
        return MISSING
    outcomes = [
        c.get("status")
        for c in (result.get("metrics") or {}).get("criteria") or []
        if c.get("metric") == metric and c.get("rule") == rule
    ]
    return worst_recorded_status(outcomes) or str(result.get("status"))


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
                else (str(result.get("status")) if result else MISSING)
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
