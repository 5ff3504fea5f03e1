"""The release report as data: its rows, panels, heat map and checklist, and the report itself.

Plain frozen dataclasses with no behaviour beyond presentation helpers, so the builder
(:mod:`release_gates.reports.build`), the renderers (:mod:`release_gates.reports.render`,
:mod:`release_gates.reports.charts`) and the Airflow UI share one shape, and tests read the numbers
here rather than in pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from release_gates.results import Status

if TYPE_CHECKING:
    from release_gates.reports.explainability import ExplainabilityPanel

#: The status of a check, criterion or approval the policy expects but the trail holds no result for.
MISSING = "MISSING"
_RECORDED_STATUSES = frozenset(status.value for status in Status)


def worst_recorded_status(statuses: Iterable[str | None]) -> str | None:
    """How a set of recorded statuses adds up, by :meth:`Status.worst`'s ranking.

    Unlike ``Status.worst`` this reads the trail as recorded: MISSING (no result) is as bad as ERROR
    and outranks it, values that are no status are ignored, and nothing known is None rather than
    INCONCLUSIVE, so a report can tell "no checks" from "inconclusive checks".
    """
    known = [s for s in statuses if s == MISSING or s in _RECORDED_STATUSES]
    if MISSING in known:
        return MISSING
    return Status.worst(known).value if known else None


@dataclass(frozen=True)
class CheckRow:
    check_id: str
    kind: str
    status: str
    summary: str
    decisive: str
    findings_by_severity: dict[str, int]
    waived: int
    top_findings: list[dict[str, Any]]
    evidence_seq: int | None


@dataclass(frozen=True)
class GateRow:
    gate_id: str
    title: str
    verdict: str
    status: str | None
    owner_role: str | None
    owners: list[str]
    decisive: str
    reason: str
    checks: list[CheckRow]
    cleared_by: dict[str, Any] | None = None


@dataclass(frozen=True)
class RemediationRow:
    gate: str
    check_id: str
    finding_id: str
    title: str
    severity: str
    owner_role: str
    owners: list[str]
    contact: str | None
    deadline: str
    overdue: bool
    mitigations: list[str]


@dataclass(frozen=True)
class WaiverRow:
    id: str
    kind: str
    gate: str | None
    owner: str | None
    statement: str
    expires: str | None
    expiring_soon: bool
    findings: int | None


@dataclass(frozen=True)
class DecisionRow:
    task_id: str
    gate: str | None
    role: str | None
    user: str | None
    choice: str | None
    at: str | None
    rationale: str
    authorized: bool
    problem: str | None


@dataclass(frozen=True)
class HeatMap:
    """Gates × severities: counts of unwaived findings, coloured by the worst status among the checks
    that contributed them (None where a cell is empty). The renderer draws exactly this."""

    gates: list[str]
    severities: list[str]
    counts: list[list[int]]
    statuses: list[list[str | None]]
    waived: list[list[int]]

    def cell(self, gate: str, severity: str) -> tuple[int, str | None]:
        i, j = self.gates.index(gate), self.severities.index(severity)
        return self.counts[i][j], self.statuses[i][j]

    def label(self, i: int, j: int) -> str:
        """The text printed in a cell, so colour is never the only carrier of meaning."""
        count, status, waived = self.counts[i][j], self.statuses[i][j], self.waived[i][j]
        text = f"{count} {status}" if count and status else str(count)
        return text + (f" (+{waived} waived)" if waived else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FairnessPanel:
    """One criterion over one grouping: every group's rate with its interval, and the threshold."""

    check_id: str
    metric: str
    metric_label: str
    rule: str
    threshold: float
    grouping: list[str]
    status: str | None
    reference: str | None
    confidence: float | None
    groups: list[dict[str, Any]]
    threshold_lines: list[float]
    criterion: str


@dataclass(frozen=True)
class DriftPanel:
    check_id: str
    status: str
    columns: list[dict[str, Any]]


@dataclass(frozen=True)
class HistoryPoint:
    release_id: str
    label: str
    decision: str | None
    counts: dict[str, int]
    current: bool = False


@dataclass(frozen=True)
class ChecklistRow:
    gate: str
    check: str
    kind: str
    owner_role: str
    owner_users: str
    criterion: str
    rationale: str
    estimate: str
    status: str
    evidence: str

    FIELDS = (
        "gate",
        "check",
        "kind",
        "owner_role",
        "owner_users",
        "criterion",
        "rationale",
        "estimate",
        "status",
        "evidence",
    )


@dataclass
class ReleaseReport:
    release_id: str
    model: str | None
    model_version: str | None
    risk_tier: str | None
    run_id: str | None
    triggered_by: str | None
    started_at: str | None
    sealed_at: str | None
    generated_at: str
    source: str
    decision: str | None
    decision_reasons: list[str]
    headline: list[str]
    gates: list[GateRow]
    remediation: list[RemediationRow]
    waivers: list[WaiverRow]
    decisions: list[DecisionRow]
    changes: list[str]
    previous_release_id: str | None
    heatmap: HeatMap
    fairness: list[FairnessPanel]
    drift: list[DriftPanel]
    history: list[HistoryPoint]
    checklist: list[ChecklistRow]
    checklist_note: str | None
    verify: dict[str, Any] | None
    records: int
    head_hash: str | None
    policy: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: The model card written with the report (``MODEL_CARD.md``), None when it was not written.
    model_card: str | None = None
    #: The seal's signed release attestation (``status``, ``name``, ``uri``, ``sha256``, ``key_id``), or
    #: why there is none (``status`` skipped/error, ``reason``); None when the policy asks for none.
    attestation: dict[str, Any] | None = None
    #: Permutation importances of explainability checks, overall and per subgroup.
    explainability: list[ExplainabilityPanel] = field(default_factory=list)

    @property
    def findings_by_severity(self) -> dict[str, int]:
        return {s: sum(row[j] for row in self.heatmap.counts) for j, s in enumerate(self.heatmap.severities)}

    @property
    def overdue(self) -> list[RemediationRow]:
        return [r for r in self.remediation if r.overdue]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["findings_by_severity"] = self.findings_by_severity
        return data
