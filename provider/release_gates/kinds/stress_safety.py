"""``kind: stress_safety`` — error ceilings per subgroup with the candidate model under stress."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from release_gates.kinds.common import ModelRef
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import (
    CheckSpecBase,
    Fraction,
    Identifier,
    OpenUnit,
    PolicyModel,
    PositiveFloat,
)


class StressScenario(PolicyModel):
    name: Identifier = Field(description="Scenario name, shown in findings.")
    kind: Literal["baseline", "gaussian_noise", "missing_values", "category_swap"] = Field(
        description="baseline (no change), gaussian_noise, missing_values or category_swap."
    )
    columns: list[str] = Field(
        description="Columns perturbed (default: every feature the kind applies to).", default_factory=list
    )
    relative_std: PositiveFloat | None = Field(
        default=None, description="gaussian_noise: noise standard deviation relative to the column's."
    )
    rate: Fraction | None = Field(
        default=None, description="missing_values / category_swap: share of rows changed."
    )


class StressSafetyCheck(CheckSpecBase):
    kind: Literal["stress_safety"] = Field(
        description="stress_safety: error ceilings per subgroup with perturbed inputs."
    )
    data: str = Field(description="Dataset with the label column to stress the model on.")
    model: ModelRef | None = Field(
        default=None, description="The model under stress (default: the policy's candidate)."
    )
    sensitive_features: list[str] = Field(description="Columns that define the subgroups.", min_length=1)
    metric: Literal["error_rate", "fnr", "fpr"] = Field(
        default="error_rate", description="Error metric held under the ceiling per subgroup."
    )
    ceiling: Fraction = Field(
        description="Highest allowed metric (upper confidence bound) of any subgroup in any scenario."
    )
    scenarios: list[StressScenario] = Field(
        description="Perturbations to run (name, kind, columns, strength).", min_length=1
    )
    min_group_size: Annotated[int, Field(ge=1)] = Field(
        default=30, description="Subgroups with fewer rows are INCONCLUSIVE."
    )
    min_cell_size: Annotated[int, Field(ge=1)] = Field(
        default=10, description="Subgroups under this size are shown as <N in reports."
    )
    confidence: OpenUnit = Field(default=0.95, description="Confidence level of the upper bounds.")
    seed: int = Field(default=0, description="Seed of the perturbations.")
    allow_unpinned_model: bool = Field(
        default=False,
        description="Judge a model: with no sha256 pin anyway (default: INCONCLUSIVE, nothing to bind the "
        "verdict to the file that ships).",
    )

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", self.data)]

    def required_columns(self) -> list[str]:
        return ["label"]


KIND = CheckKind(
    name="stress_safety",
    spec=StressSafetyCheck,
    engine="release_gates.checks.stress_safety:evaluate_stress_safety",
    resolver="release_gates.inputs.stress_safety:resolve_stress_safety_inputs",
    operator="release_gates.operators.fairness:StressSafetyCheckOperator",
    cli_command="release_gates.cli.checks.stress_safety:COMMAND",
)
