"""The policy's ``deployment.canary`` section: traffic steps, what is judged at each, and who decides.

With a canary the promotion shifts a share of the live traffic to the candidate in steps and judges
canary against baseline on the same interval at each step (:mod:`release_gates.checks.canary_judge`
for the operational metrics; drift and subgroup selection rates on the inference log for the model
metrics). PASS goes to the next step and, after the last, to the full rollout; FAIL rolls back;
INCONCLUSIVE or marginal asks a human, and no answer in time rolls back.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from release_gates.kinds.fields import Duration, Fraction, Identifier, OpenUnit, PolicyModel

#: CloudWatch metrics a Lambda alias publishes per executed version, by the canary metric's name.
LAMBDA_DEFAULT_METRICS: dict[str, tuple[str, str]] = {
    "latency": ("Duration", "Average"),
    "errors": ("Errors", "Sum"),
    "invocations": ("Invocations", "Sum"),
    "throttles": ("Throttles", "Sum"),
}
#: The same for a SageMaker endpoint's production variants.
SAGEMAKER_DEFAULT_METRICS: dict[str, tuple[str, str]] = {
    "latency": ("ModelLatency", "Average"),
    "errors": ("Invocation5XXErrors", "Sum"),
    "invocations": ("Invocations", "Sum"),
}


class CloudWatchMetric(PolicyModel):
    """Where one operational metric is read: CloudWatch ``GetMetricData`` per period of the interval.

    The version dimensions are added by the canary (Lambda: ``FunctionName``, ``Resource`` =
    ``function:alias`` and ``ExecutedVersion``; SageMaker: ``EndpointName`` and ``VariantName``);
    ``dimensions`` adds fixed ones.
    """

    namespace: str = Field(min_length=1, description="CloudWatch namespace, e.g. AWS/Lambda.")
    metric_name: str = Field(min_length=1, description="Metric name, e.g. Duration.")
    stat: str = Field(
        default="Average", min_length=1, description="Statistic per period (Average, Sum, p99)."
    )
    dimensions: dict[str, str] = Field(default_factory=dict, description="Further fixed dimensions.")


class CanaryMetric(PolicyModel):
    """One operational metric judged canary against baseline (a sample = one period's value)."""

    name: Identifier = Field(description="Metric name in results; latency/errors/invocations/throttles "
                             "have platform defaults.")  # fmt: skip
    cloudwatch: CloudWatchMetric | None = Field(
        default=None, description="Where it is read (default: the platform's metric of that name)."
    )
    direction: Literal["increase", "decrease", "either"] = Field(
        default="increase",
        description="Which change is bad: an increase (latency, errors), a decrease, either.",
    )
    critical: bool = Field(default=False, description="A failure of this metric fails the whole step.")
    weight: Annotated[float, Field(gt=0)] = Field(default=1.0, description="Weight in the step's score.")
    tolerance: Annotated[float, Field(ge=0)] = Field(
        default=0.1, description="Allowed shift (Hodges–Lehmann) before a significant change counts."
    )
    tolerance_type: Literal["relative", "absolute"] = Field(
        default="relative", description="relative: tolerance × |baseline median|; absolute: in metric units."
    )
    min_samples: Annotated[int, Field(ge=3)] = Field(
        default=10, description="Fewer samples on either side is INCONCLUSIVE (never a pass)."
    )


class CanaryThresholds(PolicyModel):
    """Score (0–100, weighted share of passing metrics) → classification (Kayenta's defaults)."""

    pass_score: Annotated[float, Field(ge=0, le=100)] = Field(
        default=95.0, description="A step passes at or above this score."
    )
    marginal_score: Annotated[float, Field(ge=0, le=100)] = Field(
        default=75.0, description="Marginal (a human decides) at or above this score; fail below."
    )

    @model_validator(mode="after")
    def _ordered(self) -> CanaryThresholds:
        if self.marginal_score > self.pass_score:
            raise ValueError("marginal_score must not be above pass_score")
        return self


class CanaryModelMetrics(PolicyModel):
    """Model metrics on the rows of the inference log (``monitoring.source``) of the step's interval,
    split by the version that served them."""

    version_column: str = Field(
        default="model_version", min_length=1, description="Inference log column naming the serving version."
    )
    prediction_drift: bool = Field(
        default=True, description="Canary predictions against the baseline's on the same interval."
    )
    drift_method: str = Field(default="auto", description="Drift stattest (the drift check's methods).")
    drift_threshold: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Drift threshold (default: the method's)."
    )
    sensitive_features: list[str] = Field(
        default_factory=list, description="Columns whose groups' selection rates are compared."
    )
    selection_rate_difference_max: Fraction = Field(
        default=0.1, description="Largest allowed gap between a group's canary and baseline selection rate."
    )
    confidence: OpenUnit = Field(default=0.95, description="Confidence of the Wilson intervals.")
    min_group_size: Annotated[int, Field(ge=1)] = Field(
        default=30, description="Smaller groups (either side) are INCONCLUSIVE."
    )
    critical: bool = Field(default=True, description="A model-metric failure fails the step.")


class Canary(PolicyModel):
    """Shift traffic in steps; at each, judge canary against baseline; pass → next, fail → roll back."""

    steps: list[Annotated[int, Field(ge=1, le=99)]] = Field(
        default_factory=lambda: [5, 25, 50],
        min_length=1,
        description="Canary traffic weights in percent, increasing; after the last, the full rollout.",
    )
    interval: Duration = Field(
        default=timedelta(minutes=10), description="How long each step serves before it is judged."
    )
    period: Duration = Field(
        default=timedelta(minutes=1), description="CloudWatch period: one sample per period and side."
    )
    metrics: list[CanaryMetric] = Field(
        default_factory=lambda: [
            CanaryMetric(name="latency", critical=False),
            CanaryMetric(name="errors", critical=True, tolerance=0.0, tolerance_type="absolute"),
        ],
        description="Operational metrics judged at each step.",
    )
    confidence: OpenUnit = Field(default=0.95, description="Mann–Whitney U confidence.")
    thresholds: CanaryThresholds = Field(
        default_factory=CanaryThresholds, description="Score classification."
    )
    decision_timeout: Duration = Field(
        default=timedelta(hours=1), description="No human answer within this time rolls back."
    )
    decision_roles: list[str] = Field(
        default_factory=list, description="Owner roles whose users decide a marginal or inconclusive step."
    )
    model_metrics: CanaryModelMetrics | None = Field(
        default=None, description="Model metrics on the inference log (monitoring.source)."
    )
    baseline_variant: str | None = Field(default=None, description="SageMaker: the serving variant.")
    canary_variant: str | None = Field(default=None, description="SageMaker: the candidate's variant.")

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("steps must increase (e.g. [5, 25, 50])")
        return value

    @field_validator("metrics")
    @classmethod
    def _unique(cls, value: list[CanaryMetric]) -> list[CanaryMetric]:
        names = [m.name for m in value]
        if len(set(names)) != len(names):
            raise ValueError("metric names must be unique")
        known = {*LAMBDA_DEFAULT_METRICS, *SAGEMAKER_DEFAULT_METRICS}
        unread = [m.name for m in value if m.cloudwatch is None and m.name not in known]
        if unread:
            raise ValueError(
                f"metric(s) {', '.join(unread)} need a cloudwatch section (platform defaults exist for "
                f"{', '.join(sorted(known))})"
            )
        return value


__all__ = [
    "LAMBDA_DEFAULT_METRICS",
    "SAGEMAKER_DEFAULT_METRICS",
    "Canary",
    "CanaryMetric",
    "CanaryModelMetrics",
    "CanaryThresholds",
    "CloudWatchMetric",
]
