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

    id: str = Field(
        min_length=1, description="Finding id it covers, e.g. CVE-2025-0001.", examples=["CVE-2025-0001"]
    )
    owner: str = Field(
        min_length=1, description="Owner role accountable for the accepted risk.", examples=["security"]
    )
    statement: str = Field(
        min_length=1,
        description="Why the risk is accepted.",
        examples=["Not reachable: the package is unused at run time."],
    )
    expires: date = Field(description="Last day the waiver applies (YYYY-MM-DD); never open-ended.")
    paths: list[str] = Field(description="Restrict to findings in these paths.", default_factory=list)
    purls: list[str] = Field(description="Restrict to these package URLs.", default_factory=list)
    gates: list[str] = Field(default_factory=list, description="Restrict to these gates (default: all).")

    def is_active(self, today: date) -> bool:
        return today <= self.expires


FairnessMetric = Literal["selection_rate", "tpr", "fpr", "fnr", "precision", "error_rate", "base_rate"]
#: The rules a criterion can have; ``calibration_gap_max`` goes with ``metric: calibration`` only.
CRITERION_RULES = ("ratio_min", "difference_max", "calibration_gap_max")


class Criterion(PolicyModel):
    metric: FairnessMetric | Literal["calibration"] = Field(
        description="Rate compared between groups, or calibration (with calibration_gap_max)."
    )
    ratio_min: Fraction | None = Field(
        default=None,
        description="Smallest allowed ratio of a group's rate to the reference group's (e.g. 0.8: "
        "four-fifths rule).",
    )
    difference_max: Fraction | None = Field(
        default=None,
        description="Largest allowed absolute difference between a group's rate and the reference group's.",
    )
    calibration_gap_max: Fraction | None = Field(
        default=None,
        description="With metric: calibration — largest allowed calibration gap of a group: its expected "
        "calibration error minus the one its rows would show if calibrated like the whole data set "
        "(needs the dataset's score column).",
    )
    rationale: str = Field(default="", description="Why this criterion, quoted in findings.")
    severity: SeverityField | None = Field(
        default=None, description="Severity of a breach (default: the check's)."
    )

    @model_validator(mode="after")
    def _one_rule(self) -> Criterion:
        rules = [r for r in CRITERION_RULES if getattr(self, r) is not None]
        if self.metric == "calibration":
            if rules != ["calibration_gap_max"]:
                raise ValueError("metric: calibration is judged with calibration_gap_max alone")
        elif "calibration_gap_max" in rules:
            raise ValueError("calibration_gap_max goes with metric: calibration")
        elif len(rules) != 1:
            raise ValueError("give exactly one of ratio_min or difference_max")
        if self.ratio_min == 0:
            raise ValueError("ratio_min of 0 accepts anything; use a value above 0")
        return self

    @property
    def rule(self) -> str:
        return next(r for r in CRITERION_RULES if getattr(self, r) is not None)

    @property
    def threshold(self) -> float:
        value: float = getattr(self, self.rule)
        return value


class ModelRef(PolicyModel):
    uri: str = Field(min_length=1, description="skops file, or module:callable.")
    sha256: str | None = Field(
        default=None,
        description="Pinned sha256 of the file (checked before loading; none: INCONCLUSIVE unless "
        "allow_unpinned_model).",
    )
    format: Literal["skops", "callable"] = Field(
        default="skops", description="skops file or a module:callable."
    )
    trusted_types: list[str] = Field(
        default_factory=list, description="Extra types a skops file may contain beyond skops' defaults."
    )


class DeploymentTargetSpec(PolicyModel):
    type: Literal["ecs", "lambda", "sagemaker", "s3_pointer", "mlflow_alias"] = Field(
        description="Platform: ecs, lambda, sagemaker, s3_pointer or mlflow_alias (an MLflow registry alias)."
    )
    name: str = Field(
        min_length=1, description="Service/function/endpoint name, bucket/key, or registered model name."
    )
    cluster: str | None = Field(default=None, description="ECS: the cluster.")
    alias: str | None = Field(
        default=None,
        description="Lambda: the alias that serves (required for lambda); mlflow_alias: default champion.",
    )
    mlflow_conn_id: str = Field(
        default="mlflow_default",
        description="mlflow_alias: Airflow connection of the MLflow registry (none: MLFLOW_TRACKING_URI).",
    )
    health_url: str | None = Field(default=None, description="URL probed after a change (smoke check).")
    aws_conn_id: str = Field(default="aws_default", description="Airflow AWS connection.")
    region: str | None = Field(default=None, description="AWS region (default: the connection's).")
    health_expected_status: Annotated[int, Field(ge=100, le=599)] = Field(
        default=200, description="HTTP status the health probe must return."
    )
    health_json_field: str | None = Field(
        default=None, description="Dotted path into the probe's JSON body that must hold health_json_value."
    )
    health_json_value: str | int | float | bool | None = Field(
        default=None, description="Expected value at health_json_field (default: any truthy value)."
    )
    health_timeout: Duration = Field(default=timedelta(seconds=5), description="Timeout of one health probe.")
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
    name: Identifier = Field(description="Pattern name, used in findings.")
    regex: str = Field(description="Regular expression of the PII.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value
