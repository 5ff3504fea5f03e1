"""Canary traffic: a weighted split between the serving (baseline) and the candidate version, and the
operational metrics of each side from CloudWatch.

===========  ==============================================  ===========================================
platform     the split                                        a side's metrics (dimensions)
===========  ==============================================  ===========================================
lambda       alias on the baseline version with               ``FunctionName``, ``Resource`` =
             ``RoutingConfig.AdditionalVersionWeights``       ``function:alias``, ``ExecutedVersion``
             ``{candidate: weight}``
sagemaker    ``UpdateEndpointWeightsAndCapacities`` on the    ``EndpointName``, ``VariantName``
             endpoint's baseline and canary variants
===========  ==============================================  ===========================================

:meth:`TrafficSplit.rollback` puts all traffic back on the baseline (canary weight 0) and reads the
split back to confirm it; the full rollout is the ordinary promotion
(:class:`~release_gates.operators.deployment.PromoteModelOperator`). Every AWS call is logged in the
target's :attr:`~release_gates.deploy.targets.DeploymentTarget.calls`. This module imports no Airflow.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import TargetError, aws_call

if TYPE_CHECKING:
    from release_gates.deploy.lambda_alias import LambdaAliasTarget
    from release_gates.deploy.sagemaker_endpoint import SageMakerEndpointTarget
    from release_gates.deploy.targets import DeploymentTarget
    from release_gates.policy.canary import Canary, CanaryMetric


class TrafficSplit(ABC):
    """Who serves which share of the traffic: the baseline and the canary (candidate)."""

    target: DeploymentTarget
    default_metrics: dict[str, tuple[str, str]]
    namespace: str

    @abstractmethod
    def read(self) -> dict[str, Any]:
        """The split now: ``{"baseline", "canary", "canary_weight"}`` (weight in percent)."""

    @abstractmethod
    def shift(self, weight: int) -> None:
        """Send ``weight`` percent of the traffic to the canary, the rest to the baseline."""

    def rollback(self) -> dict[str, Any]:
        """All traffic back on the baseline; returns the split read back afterwards."""
        self.shift(0)
        return self.read()

    @abstractmethod
    def dimensions(self, side: str) -> dict[str, str]:
        """CloudWatch dimensions of one side (``baseline`` or ``canary``)."""


class LambdaTrafficSplit(TrafficSplit):
    """A Lambda alias pointing at the baseline version, with the candidate as additional version."""

    namespace = "AWS/Lambda"

    def __init__(self, target: LambdaAliasTarget, *, baseline: str, candidate: str) -> None:
        from release_gates.policy.canary import LAMBDA_DEFAULT_METRICS

        self.target = target
        self.lam = target
        self.baseline = target.normalize_version(baseline)
        self.candidate = target.normalize_version(candidate)
        self.default_metrics = LAMBDA_DEFAULT_METRICS
        if self.baseline == self.candidate:
            raise ValueError(f"canary and baseline are the same version {self.baseline}")

    def read(self) -> dict[str, Any]:
        alias = aws_call(
            self.lam.client,
            "get_alias",
            self.lam.calls,
            FunctionName=self.lam.function,
            Name=self.lam.alias,
        )
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        share = float(weights.get(self.candidate, 0.0))
        return {
            "baseline": str(alias["FunctionVersion"]),
            "canary": self.candidate,
            "canary_weight": round(share * 100, 6),
            "additional_version_weights": {str(k): float(v) for k, v in weights.items()},
        }

    def shift(self, weight: int) -> None:
        routing = {"AdditionalVersionWeights": {self.candidate: weight / 100}} if weight else {}
        aws_call(
            self.lam.client,
            "update_alias",
            self.lam.calls,
            FunctionName=self.lam.function,
            Name=self.lam.alias,
            FunctionVersion=self.baseline,
            RoutingConfig=routing or {"AdditionalVersionWeights": {}},
        )

    def dimensions(self, side: str) -> dict[str, str]:
        version = self.candidate if side == "canary" else self.baseline
        return {
            "FunctionName": self.lam.function,
            "Resource": f"{self.lam.function}:{self.lam.alias}",
            "ExecutedVersion": version,
        }


class SageMakerTrafficSplit(TrafficSplit):
    """Two production variants of one endpoint: the baseline's and the candidate's."""

    namespace = "AWS/SageMaker"

    def __init__(
        self, target: SageMakerEndpointTarget, *, baseline_variant: str, canary_variant: str
    ) -> None:
        from release_gates.policy.canary import SAGEMAKER_DEFAULT_METRICS

        self.target = target
        self.sm = target
        self.baseline_variant = baseline_variant
        self.canary_variant = canary_variant
        self.default_metrics = SAGEMAKER_DEFAULT_METRICS
        if baseline_variant == canary_variant:
            raise ValueError(f"canary and baseline are the same variant {baseline_variant}")

    def read(self) -> dict[str, Any]:
        endpoint = aws_call(self.sm.client, "describe_endpoint", self.sm.calls, EndpointName=self.sm.endpoint)
        weights = {
            str(v.get("VariantName")): float(v.get("CurrentWeight", v.get("DesiredWeight", 0.0)) or 0.0)
            for v in endpoint.get("ProductionVariants") or []
        }
        missing = [v for v in (self.baseline_variant, self.canary_variant) if v not in weights]
        if missing:
            raise TargetError(
                f"sagemaker endpoint {self.sm.endpoint} has no variant {', '.join(missing)} "
                f"(has: {', '.join(weights) or 'none'})",
                service="sagemaker",
                operation="DescribeEndpoint",
                code="VariantNotFound",
            )
        total = sum(weights.values())
        canary = 100 * weights[self.canary_variant] / total if total else 0.0
        return {
            "baseline": self.baseline_variant,
            "canary": self.canary_variant,
            "canary_weight": round(canary, 6),
            "variant_weights": weights,
        }

    def shift(self, weight: int) -> None:
        aws_call(
            self.sm.client,
            "update_endpoint_weights_and_capacities",
            self.sm.calls,
            EndpointName=self.sm.endpoint,
            DesiredWeightsAndCapacities=[
                {"VariantName": self.baseline_variant, "DesiredWeight": float(100 - weight)},
                {"VariantName": self.canary_variant, "DesiredWeight": float(weight)},
            ],
        )

    def dimensions(self, side: str) -> dict[str, str]:
        variant = self.canary_variant if side == "canary" else self.baseline_variant
        return {"EndpointName": self.sm.endpoint, "VariantName": variant}


def traffic_split(target: DeploymentTarget, canary: Canary, *, baseline: str, candidate: str) -> TrafficSplit:
    """The split for ``target``: Lambda alias versions, or SageMaker variants named in the policy."""
    from release_gates.deploy.lambda_alias import LambdaAliasTarget
    from release_gates.deploy.sagemaker_endpoint import SageMakerEndpointTarget

    if isinstance(target, LambdaAliasTarget):
        return LambdaTrafficSplit(target, baseline=baseline, candidate=candidate)
    if isinstance(target, SageMakerEndpointTarget):
        if not (canary.baseline_variant and canary.canary_variant):
            raise ValueError("a SageMaker canary needs baseline_variant and canary_variant in the policy")
        return SageMakerTrafficSplit(
            target, baseline_variant=canary.baseline_variant, canary_variant=canary.canary_variant
        )
    raise ValueError(f"{target.description}: a canary needs a lambda or sagemaker target")


# --------------------------------------------------------------------------------------------------
# CloudWatch: one value per period and side
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricQuery:
    """Where one canary metric's two sides are read."""

    name: str
    namespace: str
    metric_name: str
    stat: str
    canary: dict[str, str]
    baseline: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "metric_name": self.metric_name,
            "stat": self.stat,
            "canary_dimensions": self.canary,
            "baseline_dimensions": self.baseline,
        }


def metric_queries(split: TrafficSplit, metrics: Sequence[CanaryMetric]) -> list[MetricQuery]:
    """The CloudWatch metric of each canary metric, with each side's dimensions.

    Raises :class:`ValueError` for a metric with neither a ``cloudwatch`` section nor a platform
    default of its name.
    """
    queries = []
    for metric in metrics:
        if metric.cloudwatch is not None:
            namespace, name, stat = (
                metric.cloudwatch.namespace,
                metric.cloudwatch.metric_name,
                metric.cloudwatch.stat,
            )
            extra = dict(metric.cloudwatch.dimensions)
        elif metric.name in split.default_metrics:
            (name, stat), namespace, extra = split.default_metrics[metric.name], split.namespace, {}
        else:
            raise ValueError(
                f"canary metric {metric.name!r} has no cloudwatch section and no platform default "
                f"(defaults: {', '.join(split.default_metrics)})"
            )
        queries.append(
            MetricQuery(
                name=metric.name,
                namespace=namespace,
                metric_name=name,
                stat=stat,
                canary={**extra, **split.dimensions("canary")},
                baseline={**extra, **split.dimensions("baseline")},
            )
        )
    return queries


def read_samples(
    cloudwatch: Any,
    queries: Sequence[MetricQuery],
    *,
    start: datetime,
    end: datetime,
    period: timedelta,
    calls: Any = None,
) -> dict[str, tuple[list[float], list[float]]]:
    """``GetMetricData`` for both sides of every query over ``[start, end)``: metric name →
    ``(canary values, baseline values)``, one value per period that has data. Pages are followed;
    API errors raise :class:`~release_gates.deploy.calls.TargetError`."""
    seconds = max(1, int(period.total_seconds()))
    data_queries = []
    ids: dict[str, tuple[str, int]] = {}
    for i, query in enumerate(queries):
        for side, dims in ((0, query.canary), (1, query.baseline)):
            qid = f"q{i}_{'cb'[side]}"
            ids[qid] = (query.name, side)
            data_queries.append(
                {
                    "Id": qid,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": query.namespace,
                            "MetricName": query.metric_name,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dims.items())],
                        },
                        "Period": seconds,
                        "Stat": query.stat,
                    },
                    "ReturnData": True,
                }
            )
    samples: dict[str, tuple[list[float], list[float]]] = {q.name: ([], []) for q in queries}
    token: str | None = None
    while True:
        params: dict[str, Any] = {"MetricDataQueries": data_queries, "StartTime": start, "EndTime": end}
        if token:
            params["NextToken"] = token
        page = aws_call(cloudwatch, "get_metric_data", calls, **params)
        for result in page.get("MetricDataResults") or []:
            name, side = ids[str(result["Id"])]
            values = list(result.get("Values") or [])
            if any(not isinstance(v, int | float) for v in values):
                # Never seen from CloudWatch itself; a value that is not a number is unreadable data,
                # not a sample to skip (the step must not pass on what is left).
                which = ("canary", "baseline")[side]
                raise TargetError(
                    f"GetMetricData returned a value that is not a number for {name} ({which} side, "
                    f"status {result.get('StatusCode')})",
                    service="cloudwatch",
                    operation="GetMetricData",
                    code="InvalidMetricData",
                )
            samples[name][side].extend(float(v) for v in values)
        token = page.get("NextToken")
        if not token:
            return samples
