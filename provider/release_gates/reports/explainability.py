"""The report's explainability panels: per explainability check, each input's permutation importance
with its interval, overall and per subgroup, as numbers (:func:`explainability_panels`) and as a figure
(:func:`draw_explainability`).

The figure draws only the panel's numbers; matplotlib is imported inside the function (as in
:mod:`release_gates.reports.charts`). Inputs the check flagged — a sensitive attribute read, a proxy
in the top-k — are drawn in the FAIL colour with a hatch and named in the legend, so the figure
reads without colour too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
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


def draw_explainability(panel: ExplainabilityPanel, path: Path) -> Path:
    """Per group (overall first): each input's mean importance as a bar with its interval."""
    from matplotlib.patches import Patch

    from release_gates.reports.charts import STATUS_COLOURS, STATUS_HATCHES, _pyplot, _save

    plt = _pyplot()
    rows = max(len(g["features"]) for g in panel.groups)
    fig, axes = plt.subplots(
        1,
        len(panel.groups),
        figsize=(3.2 * len(panel.groups) + 1.6, 0.32 * rows + 1.6),
        squeeze=False,
        sharey=True,
        sharex=True,
        layout="constrained",
    )
    names = [f["feature"] for f in panel.groups[0]["features"]]
    for ax, group in zip(axes[0], panel.groups, strict=True):
        by_name = {f["feature"]: f for f in group["features"]}
        for y, name in enumerate(names):
            entry = by_name.get(name)
            if entry is None or entry["mean"] is None:
                continue
            flagged = name in panel.flagged
            ax.barh(
                y,
                entry["mean"],
                color=STATUS_COLOURS["FAIL"] if flagged else "#56B4E9",
                hatch=STATUS_HATCHES["FAIL"] if flagged else "",
                edgecolor="#333333",
                linewidth=0.5,
            )
            low, high = entry["ci_low"], entry["ci_high"]
            if low is not None and high is not None:
                ax.plot([low, high], [y, y], color="black", linewidth=1.2)
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set_yticks(range(len(names)), [_label(n, panel.flagged) for n in names], fontsize=7.5)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_title(f"{group['name']} (n {group['n']})", fontsize=8.5, loc="left")
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=7)
    what = "share of decisions changed" if panel.target == "prediction" else "drop in accuracy"
    if panel.inputs > len(names):
        what += f"; the first {len(names)} of {panel.inputs} inputs"
    fig.suptitle(
        f"{panel.check_id} — {panel.status}: permutation importance ({what}); black line: 95% interval",
        fontsize=9,
        x=0.01,
        horizontalalignment="left",
    )
    if panel.flagged:
        label = "flagged (!): " + "; ".join(f"{k} ({v})" for k, v in panel.flagged.items())
        handles = [
            Patch(
                facecolor=STATUS_COLOURS["FAIL"],
                hatch=STATUS_HATCHES["FAIL"],
                edgecolor="#333333",
                label=label,
            )
        ]
        fig.legend(handles=handles, loc="outside lower left", fontsize=7.5, frameon=False)
    return _save(fig, [path])[0]


def _label(name: str, flagged: Mapping[str, str]) -> str:
    return f"{name} (!)" if name in flagged else name
