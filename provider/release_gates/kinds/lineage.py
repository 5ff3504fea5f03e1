"""``kind: lineage`` — datasets declared, documented and pinned; expectation suites; labelling standards."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Fraction


class LineageCheck(CheckSpecBase):
    kind: Literal["lineage"] = Field(
        description="lineage: datasets declared, documented and pinned; expectation suites; labelling "
        "standards."
    )
    datasets: list[str] = Field(
        description="Datasets whose lineage is checked (names under datasets:).",
        min_length=1,
        examples=[["train", "eval"]],
    )
    suites: dict[str, str] = Field(
        default_factory=dict,
        description="Dataset name → Great Expectations suite JSON file (relative to the policy file).",
        examples=[{"eval": "gx/eval.json"}],
    )
    label_balance: dict[str, Fraction] | None = Field(
        default=None, description="Bounds on the positive-label share: {min: 0.05, max: 0.5}."
    )

    def dataset_refs(self) -> list[tuple[str, str]]:
        refs = [("datasets", d) for d in self.datasets]
        refs += [("suites", d) for d in self.suites]
        return refs


KIND = CheckKind(
    name="lineage",
    spec=LineageCheck,
    engine="release_gates.checks.lineage:evaluate_lineage",
    resolver="release_gates.inputs.lineage:resolve_lineage_inputs",
    operator="release_gates.operators.data:DatasetLineageCheckOperator",
    cli_command="release_gates.cli.checks.lineage:COMMAND",
)
