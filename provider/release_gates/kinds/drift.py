"""``kind: drift`` — per-column data drift and prediction drift against a reference dataset.

Data drift compares ``current`` with ``reference``. Prediction drift compares the current data's
prediction/score columns with those of ``prediction_reference`` when the policy names one (the live
version's outputs on the same evaluation rows), else with the reference dataset's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Fraction, PositiveFloat


class DriftCheck(CheckSpecBase):
    kind: Literal["drift"] = Field(
        description="drift: data drift of current against reference, and prediction drift."
    )
    reference: str = Field(
        description="Dataset the current data is compared with (e.g. the training data).",
        examples=["train"],
    )
    current: str = Field(
        description="Dataset judged for drift (e.g. the evaluation data the candidate scored).",
        examples=["eval"],
    )
    columns: list[str] | None = Field(
        default=None,
        description="Columns tested (default: every column both datasets share); a listed column missing "
        "is ERROR.",
    )
    method: str = Field(default="auto", description="auto, or an Evidently stattest name.")
    column_methods: dict[str, str] = Field(
        description="Column → Evidently stattest for that column.", default_factory=dict
    )
    num_method: str | None = Field(default=None, description="Stattest for numerical columns (else auto).")
    cat_method: str | None = Field(default=None, description="Stattest for categorical columns (else auto).")
    threshold: PositiveFloat | None = Field(
        default=None, description="Stattest threshold for every column (default: the stattest's own)."
    )
    column_thresholds: dict[str, PositiveFloat] = Field(
        description="Column → stattest threshold for that column.", default_factory=dict
    )
    large_sample_rows: Annotated[int, Field(ge=1)] = Field(
        default=1000,
        description="Above this many reference rows, auto picks distance measures over p-value tests.",
    )
    drift_share: Fraction = Field(
        default=0.5, description="Share of drifted columns at which the data counts as drifted (FAIL)."
    )
    prediction_drift: bool = Field(
        default=True, description="Also test drift of the prediction and score columns."
    )
    prediction_reference: str | None = Field(
        default=None,
        description="Dataset holding the live version's predictions/scores on the same evaluation rows: "
        "prediction drift compares the current predictions with its prediction/score columns "
        "(default: the reference dataset's).",
    )
    sample_rows: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Test a seeded sample of this many rows per dataset (default: all rows)."
    )
    seed: int = Field(default=0, description="Seed of the sample.")

    def dataset_refs(self) -> list[tuple[str, str]]:
        refs = [("reference", self.reference), ("current", self.current)]
        if self.prediction_reference is not None:
            refs.append(("prediction_reference", self.prediction_reference))
        return refs


KIND = CheckKind(
    name="drift",
    spec=DriftCheck,
    engine="release_gates.checks.drift:evaluate_drift",
    resolver="release_gates.inputs.drift:resolve_drift_inputs",
    operator="release_gates.operators.data:DataDriftCheckOperator",
    cli_command="release_gates.cli.checks.drift:COMMAND",
    report_panel="release_gates.reports.panels:drift_panels",
)
