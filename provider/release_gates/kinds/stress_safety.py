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
    name: Identifier
    kind: Literal["baseline", "gaussian_noise", "missing_values", "category_swap"]
    columns: list[str] = Field(default_factory=list)
    relative_std: PositiveFloat | None = None
    rate: Fraction | None = None


class StressSafetyCheck(CheckSpecBase):
    kind: Literal["stress_safety"]
    data: str
    model: ModelRef | None = Field(
        default=None, description="The model under stress (default: the policy's candidate)."
    )
    sensitive_features: list[str] = Field(min_length=1)
    metric: Literal["error_rate", "fnr", "fpr"] = "error_rate"
    ceiling: Fraction
    scenarios: list[StressScenario] = Field(min_length=1)
    min_group_size: Annotated[int, Field(ge=1)] = 30
    min_cell_size: Annotated[int, Field(ge=1)] = 10
    confidence: OpenUnit = 0.95
    seed: int = 0
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
