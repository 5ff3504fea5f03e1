"""Figures of a release report: risk heat map, subgroup rates, drift scores, findings history.

matplotlib is imported inside each function (never at module level: DAG parses and the UI do not
pay for it) with the non-interactive Agg backend. Every figure draws only the data handed to it
from :mod:`release_gates.reports.panels` (shapes in :mod:`release_gates.reports.rows`), so tests
check numbers there, not pixels.

Readable without colour: statuses use the Okabe–Ito palette (safe for the common colour-vision
deficiencies), each heat-map cell also carries a hatch pattern and its count and status as text, and
SVG text stays text (``svg.fonttype: none``) for screen readers and search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from release_gates.reports.explainability import ExplainabilityPanel
    from release_gates.reports.rows import DriftPanel, FairnessPanel, HeatMap, HistoryPoint

#: Okabe–Ito colours; distinct in grayscale too (luminance falls from PASS-free cells to ERROR).
STATUS_COLOURS = {
    "PASS": "#009E73",
    "WARN": "#F0E442",
    "INCONCLUSIVE": "#56B4E9",
    "FAIL": "#D55E00",
    "ERROR": "#000000",
    "MISSING": "#000000",
}
STATUS_HATCHES = {
    "PASS": "",
    "WARN": "..",
    "INCONCLUSIVE": "\\\\",
    "FAIL": "//",
    "ERROR": "xx",
    "MISSING": "xx",
}
EMPTY_CELL = "#F2F2F2"
SEVERITY_COLOURS = {
    "CRITICAL": "#000000",
    "HIGH": "#D55E00",
    "MEDIUM": "#E69F00",
    "LOW": "#56B4E9",
    "INFO": "#CCCCCC",
}
SEVERITY_HATCHES = {"CRITICAL": "xx", "HIGH": "//", "MEDIUM": "..", "LOW": "\\\\", "INFO": ""}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "release-gates"  # stable ids: the same data, the same SVG
    import matplotlib.pyplot as plt

    return plt


def _text_colour(fill: str) -> str:
    rgb = [int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    return "black" if luminance > 0.45 else "white"


def _save(fig: Figure, paths: Sequence[Path]) -> list[Path]:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {"dpi": 110} if path.suffix == ".png" else {"metadata": {"Date": None}}
        fig.savefig(path, bbox_inches="tight", **kwargs)
    _pyplot().close(fig)
    return list(paths)


def draw_heatmap(heatmap: HeatMap, paths: Sequence[Path], *, title: str = "") -> list[Path]:
    """Gates × severities; each cell: colour and hatch by worst status, text '<count> <STATUS>'."""
    from matplotlib.patches import Rectangle

    plt = _pyplot()
    rows, cols = len(heatmap.gates), len(heatmap.severities)
    fig, ax = plt.subplots(figsize=(1.6 * cols + 1.8, 0.7 * max(rows, 1) + 1.4))
    for i in range(rows):
        for j in range(cols):
            status = heatmap.statuses[i][j]
            fill = STATUS_COLOURS.get(status or "", EMPTY_CELL)
            edge = "white" if fill == "#000000" else "#555555"
            ax.add_patch(
                Rectangle(
                    (j, i),
                    1,
                    1,
                    facecolor=fill,
                    edgecolor=edge,
                    linewidth=0.8,
                    hatch=STATUS_HATCHES.get(status or "", ""),
                )
            )
            label = heatmap.label(i, j).replace(" (", "\n(")
            ax.text(
                j + 0.5,
                i + 0.5,
                label,
                ha="center",
                va="center",
                fontsize=8.5,
                color=_text_colour(fill),
                fontweight="bold" if status else "normal",
                bbox={"boxstyle": "round,pad=0.15", "facecolor": fill, "edgecolor": "none", "alpha": 0.85},
            )
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_xticks([j + 0.5 for j in range(cols)], heatmap.severities)
    ax.set_yticks([i + 0.5 for i in range(rows)], heatmap.gates)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(
        title or "Open findings by gate and severity (colour and pattern: worst check status)",
        fontsize=9,
        pad=24,
    )
    handles = [
        Rectangle(
            (0, 0), 1, 1, facecolor=STATUS_COLOURS[s], hatch=STATUS_HATCHES[s], edgecolor="#555555", label=s
        )
        for s in ("PASS", "WARN", "INCONCLUSIVE", "FAIL", "ERROR")
    ]
    ax.legend(
        handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=5, fontsize=7.5, frameon=False
    )
    return _save(fig, paths)


def draw_fairness(panels: Sequence[FairnessPanel], path: Path, *, check_id: str) -> Path:
    """Per criterion × grouping: each group's rate with its interval, the threshold as a dashed line."""
    plt = _pyplot()
    mine = [p for p in panels if p.check_id == check_id]
    height = 1.0 + sum(0.42 * len(p.groups) + 0.9 for p in mine)
    fig, axes = plt.subplots(len(mine), 1, figsize=(7.5, height), squeeze=False, layout="constrained")
    for ax, panel in zip(axes[:, 0], mine, strict=True):
        names = [
            g["name"] + ("" if not g["suppressed"] else f" (n {g['n']}, suppressed)") for g in panel.groups
        ]
        for y, group in enumerate(panel.groups):
            if group["value"] is None:
                ax.text(0.01, y, "no rate shown", va="center", fontsize=7.5, color="#555555")
                continue
            low, high = sorted((group["ci_low"], group["ci_high"]))
            is_ref = group["name"] == panel.reference
            ax.errorbar(
                group["value"],
                y,
                xerr=[[group["value"] - low], [high - group["value"]]],
                fmt="s" if is_ref else "o",
                color="#0072B2" if is_ref else "#333333",
                capsize=3,
            )
            ax.text(high + 0.01, y, f"{group['value']:.2f} (n {group['n']})", va="center", fontsize=7.5)
        for line in panel.threshold_lines:
            ax.axvline(line, color="#D55E00", linestyle="--", linewidth=1.2)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlim(0, 1.12)
        rule = (
            f"≥ {panel.threshold:g} × reference"
            if panel.rule == "ratio_min"
            else f"within ±{panel.threshold:g}"
        )
        conf = f"{panel.confidence:.0%} " if panel.confidence else ""
        ax.set_title(
            f"{panel.metric_label} by {' × '.join(panel.grouping)} — {panel.status}: "
            f"{rule} (dashed); bars: {conf}intervals; square: reference",
            fontsize=8.5,
            loc="left",
        )
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, [path])[0]


def draw_drift(panel: DriftPanel, path: Path) -> Path:
    """Drift score per column against its threshold (p-values: drift below; distances: at or above)."""
    plt = _pyplot()
    kinds = sorted({c["method_kind"] or "distance" for c in panel.columns}) or ["distance"]
    height = 0.28 * max(len(panel.columns), 3) + 1.4
    fig, axes = plt.subplots(
        1, len(kinds), figsize=(6.5 * len(kinds), height), squeeze=False, layout="constrained"
    )
    for ax, kind in zip(axes[0], kinds, strict=True):
        columns = sorted(
            (c for c in panel.columns if (c["method_kind"] or "distance") == kind), key=lambda c: c["column"]
        )
        ys = range(len(columns))
        ax.barh(
            list(ys),
            [c["score"] for c in columns],
            color=["#D55E00" if c["drifted"] else "#56B4E9" for c in columns],
            hatch=None,
            edgecolor="#333333",
            linewidth=0.5,
        )
        for y, c in zip(ys, columns, strict=True):
            ax.plot([c["threshold"]] * 2, [y - 0.4, y + 0.4], color="black", linewidth=1.5)
            ax.text(
                max(c["score"], c["threshold"]) * 1.02 + 0.002,
                y,
                f"{c['score']:.3g} {'DRIFT' if c['drifted'] else 'ok'} ({c['method']})",
                va="center",
                fontsize=7,
            )
        ax.set_yticks(list(ys), [c["column"] for c in columns], fontsize=7.5)
        ax.set_ylim(len(columns) - 0.5, -0.5)
        where = (
            "drift when below the threshold (black tick)"
            if kind == "p_value"
            else "drift at or above the threshold (black tick)"
        )
        ax.set_title(
            f"{panel.check_id} — {'p-value' if kind == 'p_value' else 'distance'}: {where}",
            fontsize=8.5,
            loc="left",
        )
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, [path])[0]


def draw_history(points: Sequence[HistoryPoint], path: Path, *, severities: Sequence[str]) -> Path:
    """Open findings by severity over the last releases of the model (stacked, newest right)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(points) + 2.5), 3.4), layout="constrained")
    xs = list(range(len(points)))
    bottoms = [0] * len(points)
    for severity in severities:
        values = [p.counts.get(severity, 0) for p in points]
        ax.bar(
            xs,
            values,
            bottom=bottoms,
            color=SEVERITY_COLOURS.get(severity, "#999999"),
            hatch=SEVERITY_HATCHES.get(severity, ""),
            edgecolor="#333333",
            linewidth=0.5,
            label=severity,
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for x, total, point in zip(xs, bottoms, points, strict=True):
        ax.text(
            x,
            total + 0.1,
            f"{total}\n{point.decision or 'in progress'}",
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_xticks(xs, [p.label + (" (this)" if p.current else "") for p in points], fontsize=7.5, rotation=20)
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("open findings")
    ax.set_ylim(0, max([*bottoms, 1]) * 1.35)
    ax.legend(fontsize=7, ncol=len(severities), loc="upper left", frameon=False)
    ax.set_title("Findings by severity over the last releases of the model", fontsize=9, loc="left")
    return _save(fig, [path])[0]


def draw_explainability(panel: ExplainabilityPanel, path: Path) -> Path:
    """Per group (overall first): each input's mean importance as a bar with its interval."""
    from matplotlib.patches import Patch

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
        ax.set_yticks(
            range(len(names)), [f"{n} (!)" if n in panel.flagged else n for n in names], fontsize=7.5
        )
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
