"""The report's figures as numbers: subgroup-rate panels of fairness checks, drift-score panels of drift
checks, and the gates × severities heat map. :mod:`release_gates.reports.charts` draws exactly these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from release_gates.reports.rows import DriftPanel, FairnessPanel, HeatMap, worst_recorded_status
from release_gates.reports.trail import SEVERITIES
from release_gates.reports.wording import METRIC_NAMES, describe_criterion


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
            statuses[i][j] = worst_recorded_status(contributors[j]) if counts[i][j] else None
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
