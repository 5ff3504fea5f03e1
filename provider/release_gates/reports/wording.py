"""The words of a release report: headline, what decided each check, and what changed since the last
release. Plain language from recorded results only (no Airflow, no policy file needed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from release_gates.reports.trail import SEVERITIES, Trail, first_payload, last_payload

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.reports.rows import ReleaseReport

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
