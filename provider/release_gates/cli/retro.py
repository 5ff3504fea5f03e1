"""``release-gates retro [--model M] [--since DATE] [--json]``: the learning-loop table.

The numbers come from :func:`release_gates.monitoring.retro.retro_report`; this module parses the
flags and prints them.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, TextIO

from release_gates.cli.common import EXIT_OK, UsageError, open_store

if TYPE_CHECKING:
    from release_gates.monitoring.retro import RetroReport

# (title, key of CheckRetro.to_dict(), width)
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("check", "check_id", 24),
    ("releases", "release_runs", 8),
    ("failed", "release_failed", 6),
    ("waived", "waived", 6),
    ("overrid.", "overridden", 8),
    ("false+", "false_positives", 6),
    ("windows", "windows", 7),
    ("failed", "window_failed", 6),
    ("inconcl.", "window_inconclusive", 8),
    ("incid.", "incidents", 6),
    ("alerts/inc", "alerts_per_incident", 10),
    ("items", "remediation_items", 5),
    ("closed", "remediation_closed", 6),
    ("median h", "median_hours_to_close", 8),
)


def run_retro(args: argparse.Namespace, out: TextIO) -> int:
    """Print the report (or ``--json``); exit 0."""
    from release_gates.monitoring.retro import retro_report

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        raise UsageError(f"--since must be a date like 2025-01-31, got {args.since!r}") from exc
    report = retro_report(open_store(args), model=args.model, since=since)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
    else:
        print(format_report(report), file=out)
    return EXIT_OK


def parse_since(value: str | None) -> datetime | None:
    """``YYYY-MM-DD`` (or a full ISO timestamp) → aware UTC datetime; raises ValueError."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_report(report: RetroReport) -> str:
    scope = report.model or "all models"
    since = f" since {report.since:%Y-%m-%d}" if report.since else ""
    lines = [
        f"Retrospective for {scope}{since}: {report.releases} release(s), "
        f"{report.windows} monitoring window(s)",
        "",
        "  ".join(
            f"{title:<{width}}" if key == "check_id" else f"{title:>{width}}"
            for title, key, width in _COLUMNS
        ),
    ]
    for check in report.checks:
        data = check.to_dict()
        cells = []
        for _, key, width in _COLUMNS:
            value = data[key]
            text = "-" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
            cells.append(f"{text:<{width}}" if key == "check_id" else f"{text:>{width}}")
        lines.append("  ".join(cells))
    if not report.checks:
        lines.append("(no check results in the evidence trail)")
    lines += ["", "Candidates for the next policy review:"]
    lines.append(f"  never fire:    {', '.join(report.never_fire) or '—'}")
    lines.append(f"  always waived: {', '.join(report.always_waived) or '—'}")
    lines.append(f"  could not run: {', '.join(report.errored) or '—'}")
    return "\n".join(lines)
