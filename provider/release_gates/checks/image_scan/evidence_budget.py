"""Keeping an image scan result small enough for one evidence record."""

from __future__ import annotations

from release_gates.checks.image_scan.report import SEVERITY_RANK
from release_gates.results import CheckResult, Finding

#: Evidence records hold at most 1 MiB; a result stays well below so policy hash etc. still fit.
EVIDENCE_BUDGET_BYTES = 768 * 1024


def fit_for_evidence(result: CheckResult, max_bytes: int = EVIDENCE_BUDGET_BYTES) -> CheckResult:
    """The result, with its findings list shortened (worst and unwaived first) if its JSON would not
    fit in an evidence record. Counts, metrics and the verdict are unchanged: they were computed from
    every finding, and the full list stays in the report artifact."""
    size = len(result.to_json().encode())
    if size <= max_bytes:
        return result
    ordered = sorted(result.findings, key=lambda f: (f.waived_by is not None, SEVERITY_RANK[f.severity]))
    base = size - sum(len(f.model_dump_json().encode()) + 1 for f in ordered)
    budget = max_bytes - base - 512  # room for the added metrics and summary text
    kept: list[Finding] = []
    for finding in ordered:
        cost = len(finding.model_dump_json().encode()) + 1
        if cost > budget:
            break
        kept.append(finding)
        budget -= cost
    omitted = len(ordered) - len(kept)
    return result.model_copy(
        update={
            "findings": tuple(kept),
            "metrics": {**result.metrics, "findings_listed": len(kept), "findings_omitted": omitted},
            "summary": f"{result.summary} ({omitted} lower-ranked findings only in the report artifact)",
        }
    )
