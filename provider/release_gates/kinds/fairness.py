"""``kind: fairness`` — subgroup fairness criteria judged on confidence intervals."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from release_gates.kinds.common import Criterion
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, OpenUnit


class FairnessCheck(CheckSpecBase):
    kind: Literal["fairness"] = Field(
        description="fairness: per-group rates with confidence intervals, judged against criteria."
    )
    data: str = Field(
        description="Dataset with label and prediction columns (with a candidate: one of scoring.datasets).",
        examples=["eval"],
    )
    sensitive_features: list[str] = Field(
        description="Columns that define the groups (e.g. sex, race).", examples=[["sex"]], min_length=1
    )
    intersectional: bool = Field(
        default=False, description="Also judge every combination of the sensitive features."
    )
    reference_group: dict[str, str] | None = Field(
        default=None,
        description="Feature → the group others are compared with (default: the group with the highest "
        "rate).",
    )
    min_group_size: Annotated[int, Field(ge=1)] = Field(
        default=30,
        description="Groups with fewer rows make a criterion INCONCLUSIVE (default and minimum: the risk "
        "tier's).",
    )
    min_cell_size: Annotated[int, Field(ge=1)] = Field(
        default=10, description="Groups under this size are shown as <N in reports (small-cell suppression)."
    )
    confidence: OpenUnit = Field(
        default=0.95,
        description="Confidence level of the Wilson intervals (default and minimum: the risk tier's).",
    )
    decision: Literal["interval", "point_estimate"] = Field(
        default="interval",
        description="interval: pass only if the criterion holds at the unfavourable end of the "
        "intervals; point_estimate: judge the point estimates.",
    )
    correction: Literal["holm", "bh", "none"] = Field(
        default="holm",
        description="Multiple-comparison correction of a FAIL over every comparison of the check: holm "
        "(family-wise error), bh (Benjamini-Hochberg, false discovery rate) or none.",
    )
    criteria: list[Criterion] = Field(
        description="What must hold between groups: metric plus ratio_min or difference_max; "
        "metric: calibration with calibration_gap_max.",
        examples=[[{"metric": "selection_rate", "ratio_min": 0.8}]],
        min_length=1,
    )
    calibration_bins: Annotated[int, Field(ge=2, le=100)] = Field(
        default=10, description="Equal-width score bins of the expected calibration error."
    )
    bootstrap_samples: Annotated[int, Field(ge=100, le=20000)] = Field(
        default=1000, description="Bootstrap resamples of the calibration intervals."
    )
    seed: int = Field(
        default=0, description="Seed of the calibration bootstrap (the same data → the same result)."
    )

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", self.data)]

    def required_columns(self) -> list[str]:
        return ["label", "prediction", *(["score"] if self.judges_calibration else [])]

    @property
    def judges_calibration(self) -> bool:
        """Whether a criterion is ``metric: calibration`` (the dataset's score column is read)."""
        return any(c.metric == "calibration" for c in self.criteria)


KIND = CheckKind(
    name="fairness",
    spec=FairnessCheck,
    engine="release_gates.checks.fairness:evaluate_subgroup_fairness",
    resolver="release_gates.inputs.fairness:resolve_fairness_inputs",
    operator="release_gates.operators.fairness:SubgroupFairnessCheckOperator",
    cli_command="release_gates.cli.checks.fairness:COMMAND",
    report_panel="release_gates.reports.panels:fairness_panels",
)
