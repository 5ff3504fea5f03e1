"""Report files: the one-page executive summary (HTML, Markdown), the checklist (CSV), the data (JSON),
and the figures (PNG, SVG) — written to one directory, each with its sha256 for the evidence trail.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.artifacts import safe_name, write_atomic

if TYPE_CHECKING:
    from release_gates.reports.rows import ReleaseReport

TEMPLATES = Path(__file__).parent / "templates"

MEDIA_TYPES = {
    ".html": "text/html",
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class ReportFile:
    name: str
    path: Path
    sha256: str
    media_type: str
    size_bytes: int

    @property
    def uri(self) -> str:
        return self.path.resolve().as_uri()

    def to_evidence(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uri": self.uri,
            "sha256": self.sha256,
            "media_type": self.media_type,
            "size_bytes": self.size_bytes,
        }


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def file_links(report: ReleaseReport, *, charts: bool = True) -> list[tuple[str, str]]:
    """(file name, label) of the companion files the summary links to, in reading order."""
    links = [
        ("summary.md", "summary (Markdown)"),
        ("checklist.csv", "checklist (CSV)"),
        ("report.json", "report data (JSON)"),
    ]
    if report.model_card:
        links.append((report.model_card, "model card (Hugging Face format)"))
    if not charts:
        return links
    links.append(("heatmap.png", "heat map (PNG)"))
    links += [(f"fairness_{safe_name(c)}.png", f"subgroup rates: {c}") for c in _fairness_checks(report)]
    links += [
        (f"drift_{safe_name(p.check_id)}.png", f"drift scores: {p.check_id}")
        for p in report.drift
        if p.columns
    ]
    links += [
        (f"explainability_{safe_name(p.check_id)}.png", f"input importance: {p.check_id}")
        for p in report.explainability
    ]
    links.append(("findings_history.png", "findings over releases"))
    return links


def _fairness_checks(report: ReleaseReport) -> list[str]:
    return list(dict.fromkeys(p.check_id for p in report.fairness))


def render_html(report: ReleaseReport, *, charts: bool = True) -> str:
    files = {"heatmap_svg": "heatmap.svg" if charts else None, "links": file_links(report, charts=charts)}
    text: str = _environment().get_template("summary.html.j2").render(r=report, files=files)
    return text


def _cell(text: Any) -> str:
    return str(text if text not in (None, "") else "—").replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ReleaseReport, *, charts: bool = True) -> str:
    r = report
    lines = [
        f"# {r.model} version {r.model_version}: {(r.decision or 'in progress').upper().replace('_', ' ')}",
        "",
        f"Release `{r.release_id}` · risk tier {r.risk_tier} · started {r.started_at} · "
        f"generated {r.generated_at}",
        "",
        " ".join(r.headline),
        "",
        "## Gates",
        "",
        "| Gate | Verdict | What decided it | Owner |",
        "|---|---|---|---|",
    ]
    for g in r.gates:
        cleared = f" ({g.cleared_by.get('choice')} by {g.cleared_by.get('user')})" if g.cleared_by else ""
        owner = f"{g.owner_role or '—'}" + (f" ({', '.join(g.owners)})" if g.owners else "")
        lines.append(
            f"| {_cell(g.gate_id)} | {g.verdict.upper()}{cleared} | {_cell(g.decisive)} | {_cell(owner)} |"
        )
    hm = r.heatmap
    lines += [
        "",
        "## Open findings by gate and severity",
        "",
        "![heat map](heatmap.svg)" if charts else "",
        "",
        "| Gate | " + " | ".join(hm.severities) + " |",
        "|---|" + "---|" * len(hm.severities),
    ]
    for i, gate in enumerate(hm.gates):
        lines.append(
            f"| {gate} | " + " | ".join(_cell(hm.label(i, j)) for j in range(len(hm.severities))) + " |"
        )
    lines += ["", f"## Remediation items ({len(r.remediation)}, {len(r.overdue)} overdue)", ""]
    if r.remediation:
        lines += ["| Severity | Item | Gate / check | Owner | Deadline |", "|---|---|---|---|---|"]
        for item in r.remediation:
            due = item.deadline[:16].replace("T", " ") + " UTC" + (" **OVERDUE**" if item.overdue else "")
            owner = f"{item.owner_role} ({', '.join(item.owners)})"
            lines.append(
                f"| {item.severity} | {_cell(item.title)} | {item.gate} / {item.check_id} | "
                f"{_cell(owner)} | {due} |"
            )
    else:
        lines.append("None open.")
    lines += ["", "## Waivers in force", ""]
    if r.waivers:
        lines += ["| Waiver | Kind | Gate | Owner | Statement | Expires |", "|---|---|---|---|---|---|"]
        for w in r.waivers:
            expires = (w.expires or "this release only") + (" (soon)" if w.expiring_soon else "")
            lines.append(
                f"| {_cell(w.id)} | {w.kind} | {_cell(w.gate)} | {_cell(w.owner)} | "
                f"{_cell(w.statement)} | {expires} |"
            )
    else:
        lines.append("None.")
    lines += ["", "## Human decisions", ""]
    for d in r.decisions:
        note = "" if d.authorized else f" — not accepted: {d.problem}"
        why = f": “{d.rationale}”" if d.rationale else ""
        lines.append(
            f"- {d.task_id}: {d.user or 'nobody'} chose {d.choice or 'no answer'} at {d.at or '—'}{why}{note}"
        )
    if not r.decisions:
        lines.append("None recorded.")
    previous = f" (`{r.previous_release_id}`)" if r.previous_release_id else ""
    lines += ["", f"## What changed since the last release{previous}", ""] + [f"- {c}" for c in r.changes]
    verify = r.verify or {}
    state = (
        f"chain verifies: {verify.get('records')} records, head {str(verify.get('head_hash'))[:16]}…"
        if verify.get("ok")
        else f"chain does NOT verify: {verify.get('problem')}"
    )
    lines += ["", "## Evidence", "", f"{state}. Built only from the evidence trail ({r.source})."]
    lines += [f"Note: {n}" for n in r.notes]
    lines += _attestation_lines(r.attestation)
    lines += [
        "",
        "Files: " + " · ".join(f"[{label}]({name})" for name, label in file_links(r, charts=charts)),
        "",
    ]
    return "\n".join(lines)


def _attestation_lines(entry: dict[str, Any] | None) -> list[str]:
    if not entry:
        return []
    if entry.get("status") != "signed":
        return ["", f"**No signed release attestation**: {entry.get('reason')}."]
    return [
        "",
        "Signed release attestation (in-toto Statement in a DSSE envelope): "
        f"[{entry['name']}]({entry['name']}), key `{entry['key_id']}`, sha256 `{entry['sha256']}`. "
        f"Verify: `release-gates attest verify {entry['name']} --key PUBLIC_KEY --bundle BUNDLE`.",
    ]


def checklist_csv(report: ReleaseReport) -> str:
    from release_gates.reports.rows import ChecklistRow

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(ChecklistRow.FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in report.checklist:
        writer.writerow(asdict(row))
    return buffer.getvalue()


def _record(path: Path) -> ReportFile:
    data = path.read_bytes()
    return ReportFile(
        path.name,
        path,
        hashlib.sha256(data).hexdigest(),
        MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
        len(data),
    )


def write_report_files(
    report: ReleaseReport, out_dir: str | Path, *, charts: bool = True, model_card: str | None = None
) -> list[ReportFile]:
    """Write every report file to ``out_dir``; returns them with their sha256, in a stable order.

    ``charts=False`` skips the matplotlib figures (the text files then stand alone). ``model_card`` is
    the card's text (:mod:`release_gates.reports.model_card`), written as ``report.model_card``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def text(name: str, content: str) -> None:
        path = out / name
        write_atomic(path, content.encode("utf-8"))  # a reader never sees half a report
        written.append(path)

    text("summary.html", render_html(report, charts=charts))
    text("summary.md", render_markdown(report, charts=charts))
    text("checklist.csv", checklist_csv(report))
    text("report.json", json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    if model_card is not None and report.model_card:
        text(report.model_card, model_card)
    if charts:
        from release_gates.reports.charts import draw_drift, draw_fairness, draw_heatmap, draw_history

        title = f"{report.model} v{report.model_version}: open findings by gate and severity"
        written += draw_heatmap(report.heatmap, [out / "heatmap.png", out / "heatmap.svg"], title=title)
        for check_id in _fairness_checks(report):
            written.append(
                draw_fairness(report.fairness, out / f"fairness_{safe_name(check_id)}.png", check_id=check_id)
            )
        for panel in report.drift:
            if panel.columns:
                written.append(draw_drift(panel, out / f"drift_{safe_name(panel.check_id)}.png"))
        from release_gates.reports.charts import draw_explainability

        for importance in report.explainability:
            name = f"explainability_{safe_name(importance.check_id)}.png"
            written.append(draw_explainability(importance, out / name))
        written.append(
            draw_history(report.history, out / "findings_history.png", severities=report.heatmap.severities)
        )
    return [_record(path) for path in written]
