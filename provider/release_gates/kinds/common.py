"""Spec parts that several check kinds (and the policy's own sections) share."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from release_gates.kinds.fields import (
    Duration,
    Fraction,
    Identifier,
    PolicyModel,
    SeverityField,
    is_templated,
)


class Waiver(PolicyModel):
    """An accepted finding. Never open-ended: owner and expiry are required."""

    id: str = Field(min_length=1, description="Finding id it covers, e.g. CVE-2025-0001.")
    owner: str = Field(min_length=1, description="Owner role accountable for the accepted risk.")
    statement: str = Field(min_length=1, description="Why the risk is accepted.")
    expires: date
    paths: list[str] = Field(default_factory=list)
    purls: list[str] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list, description="Restrict to these gates (default: all).")

    def is_active(self, today: date) -> bool:
        return today <= self.expires


FairnessMetric = Literal["selection_rate", "tpr", "fpr", "fnr", "precision", "error_rate", "base_rate"]


class Criterion(PolicyModel):
    metric: FairnessMetric
    ratio_min: Fraction | None = None
    difference_max: Fraction | None = None
    rationale: str = ""
    severity: SeverityField | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Criterion:
        rules = [r for r in ("ratio_min", "difference_max") if getattr(self, r) is not None]
        if len(rules) != 1:
            raise ValueError("give exactly one of ratio_min or difference_max")
        if self.ratio_min == 0:
            raise ValueError("ratio_min of 0 accepts anything; use a value above 0")
        return self

    @property
    def rule(self) -> str:
        return "ratio_min" if self.ratio_min is not None else "difference_max"

    @property
    def threshold(self) -> float:
        value = self.ratio_min if self.ratio_min is not None else self.difference_max
        assert value is not None
        return value


class ModelRef(PolicyModel):
    uri: str = Field(min_length=1, description="skops file, or module:callable.")
    sha256: str | None = None
    format: Literal["skops", "callable"] = "skops"
    trusted_types: list[str] = Field(
        default_factory=list, description="Extra types a skops file may contain beyond skops' defaults."
    )


class DeploymentTargetSpec(PolicyModel):
    type: Literal["ecs", "lambda", "sagemaker", "s3_pointer"]
    name: str = Field(min_length=1, description="Service/function/endpoint name, or bucket/key.")
    cluster: str | None = None
    alias: str | None = None
    health_url: str | None = None
    aws_conn_id: str = "aws_default"
    region: str | None = None
    health_expected_status: Annotated[int, Field(ge=100, le=599)] = 200
    health_json_field: str | None = Field(
        default=None, description="Dotted path into the probe's JSON body that must hold health_json_value."
    )
    health_json_value: str | int | float | bool | None = Field(
        default=None, description="Expected value at health_json_field (default: any truthy value)."
    )
    health_timeout: Duration = timedelta(seconds=5)
    poll_interval: Duration = Field(
        default=timedelta(seconds=5), description="Pause between platform state polls while waiting."
    )

    @model_validator(mode="after")
    def _addressable(self) -> DeploymentTargetSpec:
        if self.type == "lambda" and not self.alias:
            raise ValueError("a lambda target needs an alias (the version behind it is what rolls back)")
        if self.type == "s3_pointer" and not is_templated(self.name) and "/" not in self.name.strip("/"):
            raise ValueError("an s3_pointer target's name is bucket/key of the pointer object")
        return self


class PiiPattern(PolicyModel):
    name: Identifier
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value
