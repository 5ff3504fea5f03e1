"""``kind: data_minimization`` — the candidate reads only features with a stated purpose, no sensitive one,
and the audited data holds nothing that neither the model nor a check uses."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase


def _one_or_more(value: Any) -> Any:
    # ``data: train`` reads as naturally as ``data: [train, eval]``.
    return [value] if isinstance(value, str) else value


class DataMinimizationCheck(CheckSpecBase):
    kind: Literal["data_minimization"] = Field(
        description="data_minimization: every input the candidate model declares has a stated purpose and "
        "none is (or one-to-one encodes) a sensitive attribute; columns nobody uses are listed (WARN)."
    )
    allowed_features: dict[str, str] = Field(
        min_length=1,
        description="Feature → why the model may read it (the purpose, non-empty). An input of the model "
        "that is not listed FAILs.",
        examples=[
            {"lvrat": "loan-to-value ratio: repayment risk", "chist": "credit history: repayment risk"}
        ],
    )
    sensitive_features: list[str] = Field(
        default_factory=list,
        description="Columns the model must never read (e.g. race, sex); an input named so, or a one-to-one "
        "recoding of one in the audited data, FAILs.",
        examples=[["afam", "sex"]],
    )
    data: Annotated[list[str], BeforeValidator(_one_or_more)] = Field(
        min_length=1,
        description="Dataset(s) whose columns are audited (a name or a list of names under datasets:).",
        examples=[["train", "eval"]],
    )
    detect_encodings: bool = Field(
        default=True,
        description="Also FAIL an input whose values map one-to-one onto a sensitive column's in the "
        "audited data (afam_b for afam): a renamed sensitive attribute is still that attribute.",
    )

    @field_validator("allowed_features")
    @classmethod
    def _purposes(cls, value: dict[str, str]) -> dict[str, str]:
        empty = sorted(feature for feature, purpose in value.items() if not str(purpose).strip())
        if empty:
            raise ValueError(f"state a purpose for every allowed feature (none for: {', '.join(empty)})")
        if any(not feature.strip() for feature in value):
            raise ValueError("a feature name is empty")
        return value

    @model_validator(mode="after")
    def _not_both(self) -> DataMinimizationCheck:
        both = sorted(set(self.allowed_features) & set(self.sensitive_features))
        if both:
            raise ValueError(
                f"{', '.join(both)} listed both as allowed and as sensitive: a sensitive attribute is never "
                "an allowed input"
            )
        return self

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", name) for name in self.data]


KIND = CheckKind(
    name="data_minimization",
    spec=DataMinimizationCheck,
    engine="release_gates.checks.data_minimization:evaluate_data_minimization",
    resolver="release_gates.inputs.data_minimization:resolve_data_minimization_inputs",
    operator="release_gates.operators.data_minimization:DataMinimizationCheckOperator",
    cli_command="release_gates.cli.checks.data_minimization:COMMAND",
)
