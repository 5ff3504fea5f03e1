"""Release reports built from the evidence trail only: executive summary, heat map, charts, checklist.

>>> from release_gates.evidence import EvidenceStore                      # doctest: +SKIP
>>> from release_gates.reports import generate_report, load_from_store   # doctest: +SKIP
>>> report, files = generate_report(load_from_store(EvidenceStore(), "rel-1"), "out/")  # doctest: +SKIP

matplotlib is imported only when figures are drawn (:mod:`release_gates.reports.charts`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import TrailError
from release_gates.reports.build import build_report
from release_gates.reports.render import ReportFile, write_report_files
from release_gates.reports.rows import ReleaseReport
from release_gates.reports.trail import ReleaseIndex, Trail, load_from_bundle, load_from_store
from release_gates.reports.wording import describe_criterion

if TYPE_CHECKING:
    from collections.abc import Mapping

    from release_gates.policy import ReleasePolicy

log = logging.getLogger(__name__)

__all__ = [
    "ReleaseIndex",
    "ReleaseReport",
    "ReportFile",
    "Trail",
    "TrailError",
    "build_report",
    "describe_criterion",
    "generate_report",
    "load_from_bundle",
    "load_from_store",
    "write_report_files",
]


def generate_report(
    trail: Trail,
    out_dir: str | Path,
    *,
    policy: ReleasePolicy | None = None,
    pending_seal: Mapping[str, Any] | None = None,
    charts: bool = True,
) -> tuple[ReleaseReport, list[ReportFile]]:
    """Build the report of ``trail`` and write its files to ``out_dir``, the model card among them."""
    report = build_report(trail, policy=policy, pending_seal=pending_seal)
    card = _model_card(trail, report, policy=policy, pending_seal=pending_seal)
    return report, write_report_files(report, out_dir, charts=charts, model_card=card)


def _model_card(
    trail: Trail,
    report: ReleaseReport,
    *,
    policy: ReleasePolicy | None,
    pending_seal: Mapping[str, Any] | None,
) -> str | None:
    """The model card's text (and its name set on the report), or None and a note in the report: a card
    that cannot be built never costs the release its report."""
    from release_gates.reports.model_card import FILE_NAME, build_model_card

    try:
        card = build_model_card(
            trail.records,
            release_id=trail.release_id,
            policy=policy,
            pending_seal=pending_seal,
            verify=trail.verify,
        )
    except Exception as exc:
        log.exception("The model card of %s could not be built", trail.release_id)
        report.notes.append(f"the model card was not written: {type(exc).__name__}: {exc}"[:500])
        return None
    report.model_card = FILE_NAME
    return card.text
