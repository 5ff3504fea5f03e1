"""The report's explainability panels: per explainability check, each input's permutation importance
with its interval, overall and per subgroup, as numbers (:func:`explainability_panels`) and as a figure
(:func:`release_gates.reports.charts.draw_explainability`).

The figure draws only the panel's numbers; matplotlib is imported inside the function (as in
:mod:`release_gates.reports.charts`). Inputs the check flagged — a sensitive attribute read, a proxy
in the top-k — are drawn in the FAIL colour with a hatch and named in the legend, so the figure
reads without colour too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Inputs drawn per group: the overall ranking's first ones (the metrics keep every input).
MAX_FEATURES = 12


@dataclass(frozen=True)
class ExplainabilityPanel:
    check_id: str
    status: str
    target: str
    interval: str
    #: ``{"name", "n", "features": [{"feature", "mean", "ci_low", "ci_high"}]}``: overall first.
    groups: list[dict[str, Any]]
    #: Input → why it is flagged ("reads afam", "proxy of afam").
    flagged: dict[str, str] = field(default_factory=dict)
    #: How many inputs the check measured (the figure shows the first MAX_FEATURES of them).
    inputs: int = 0


def explainability_panels(results: Mapping[str, Any]) -> list[ExplainabilityPanel]:
    """One panel per explainability result that measured importances."""
    panels = []
    for check_id, result in results.items():
        if result.get("kind") != "explainability":
            continue
        metrics = result.get("metrics") or {}
        overall = metrics.get("features") or []
        if not overall:
            continue
        shown = [row["feature"] for row in overall[:MAX_FEATURES]]
        groups = [{"name": "all rows", "n": metrics.get("rows"), "features": _pick(overall, shown)}]
        groups += [
            {
                "name": f"{g.get('attribute')}={g.get('group')}",
                "n": g.get("n"),
                "features": _pick(g.get("features") or [], shown),
            }
            for g in metrics.get("groups") or []
        ]
        panels.append(
            ExplainabilityPanel(
                check_id=check_id,
                status=str(result.get("status")),
                target=str(metrics.get("target")),
                interval=str(metrics.get("interval") or ""),
                groups=groups,
                flagged=_flagged(metrics),
                inputs=len(overall),
            )
        )
    return panels


def _pick(rows: list[dict[str, Any]], shown: list[str]) -> list[dict[str, Any]]:
    by_name = {row.get("feature"): row for row in rows}
    return [
        {k: by_name[name].get(k) for k in ("feature", "mean", "ci_low", "ci_high")}
        for name in shown
        if name in by_name
    ]


def _flagged(metrics: Mapping[str, Any]) -> dict[str, str]:
    flagged: dict[str, str] = {}
    for read in metrics.get("sensitive_inputs") or []:
        for entry in read.get("inputs") or []:
            waived = " (waived)" if read.get("waived") else ""
            flagged[str(entry.get("input"))] = f"reads {read.get('attribute')}{waived}"
    for proxy in metrics.get("proxies") or []:
        if proxy.get("proxy") and proxy.get("in_top_k"):
            flagged.setdefault(str(proxy.get("feature")), f"proxy of {proxy.get('attribute')}")
    return flagged
