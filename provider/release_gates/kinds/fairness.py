"""``kind: fairness`` — subgroup fairness criteria judged on confidence intervals."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from release_gates.kinds.common import Criterion
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, OpenUnit


class FairnessCheck(CheckSpecBase):
    kind: Literal["fairness"]
    data: str
    sensitive_features: list[str] = Field(min_length=1)
    intersectional: bool = False
    reference_group: dict[str, str] | None = None
    min_group_size: Annotated[int, Field(ge=1)] = 30
    min_cell_size: Annotated[int, Field(ge=1)] = 10
    confidence: OpenUnit = 0.95
    decision: Literal["interval", "point_estimate"] = "interval"
    criteria: list[Criterion] = Field(min_length=1)

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", self.data)]

    def required_columns(self) -> list[str]:
        return ["label", "prediction"]


KIND = CheckKind(
    name="fairness",
    spec=FairnessCheck,
    engine="release_gates.checks.fairness:evaluate_subgroup_fairness",
    resolver="release_gates.inputs.fairness:resolve_fairness_inputs",
    operator="release_gates.operators.fairness:SubgroupFairnessCheckOperator",
    cli_command="release_gates.cli.checks.fairness:COMMAND",
    report_panel="release_gates.reports.panels:fairness_panels",
)
