"""The SageMaker canary split over real HTTP (moto's server): production variant weights move with
``UpdateEndpointWeightsAndCapacities``, are read back from ``DescribeEndpoint``, and the rollback puts
every request back on the baseline variant; CloudWatch is read per variant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from release_gates.deploy import build_target
from release_gates.deploy.calls import TargetError
from release_gates.deploy.canary import SageMakerTrafficSplit, metric_queries, read_samples, traffic_split
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.policy import DeploymentTargetSpec
from release_gates.policy.canary import Canary
from release_gates_testing.sagemaker import SageMakerServer, start_sagemaker_moto
from tests.integration.aws_test_support import unique

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server() -> Iterator[SageMakerServer]:
    pytest.importorskip("moto.server")
    handle = start_sagemaker_moto(updating_polls=0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def hook(server: SageMakerServer, monkeypatch: pytest.MonkeyPatch) -> AwsDeploymentHook:
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": server.url}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return AwsDeploymentHook("aws_default")


def two_variant_endpoint(hook: AwsDeploymentHook) -> str:
    sm = hook.get_client("sagemaker")
    name = unique("scorer")
    variants = []
    for variant, weight in (("baseline", 1.0), ("candidate", 0.0)):
        sm.create_model(
            ModelName=f"{name}-{variant}",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/sagemaker",
            PrimaryContainer={"Image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/s:{variant}"},
        )
        variants.append({"VariantName": variant, "ModelName": f"{name}-{variant}", "InitialInstanceCount": 1,
                         "InstanceType": "ml.m5.large", "InitialVariantWeight": weight})  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=f"{name}-canary", ProductionVariants=variants)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-canary")
    return name


def test_variant_weights_shift_and_roll_back(hook: AwsDeploymentHook) -> None:
    endpoint = two_variant_endpoint(hook)
    target = build_target(
        DeploymentTargetSpec.model_validate({"type": "sagemaker", "name": endpoint}), hook.get_client
    )
    canary = Canary(baseline_variant="baseline", canary_variant="candidate")
    split = traffic_split(target, canary, baseline="unused", candidate="unused")
    assert isinstance(split, SageMakerTrafficSplit)
    assert split.read()["canary_weight"] == 0.0
    split.shift(25)
    assert split.read()["variant_weights"] == {"baseline": 75.0, "candidate": 25.0}
    after = split.rollback()
    assert after["canary_weight"] == 0.0 and after["variant_weights"]["baseline"] == 100.0
    operations = [c["operation"] for c in target.calls.drain()]
    assert operations.count("UpdateEndpointWeightsAndCapacities") == 2

    # CloudWatch, per variant: the values put for each variant come back on their side.
    cloudwatch = hook.get_client("cloudwatch")
    now = datetime.now(UTC).replace(microsecond=0)
    for second in range(10):
        for variant, latency in (("baseline", 10.0), ("candidate", 30.0)):
            dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
            when = now + timedelta(seconds=second)
            datum = {"MetricName": "ModelLatency", "Timestamp": when, "Value": latency, "Dimensions": dims,
                     "StorageResolution": 1}  # fmt: skip
            cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[datum])
    (query,) = metric_queries(split, [m for m in canary.metrics if m.name == "latency"])
    assert (query.namespace, query.metric_name) == ("AWS/SageMaker", "ModelLatency")
    samples = read_samples(
        cloudwatch, [query], start=now, end=now + timedelta(seconds=10), period=timedelta(seconds=1)
    )
    canary_values, baseline_values = samples["latency"]
    assert set(canary_values) == {30.0} and set(baseline_values) == {10.0} and len(canary_values) == 10


def test_a_missing_variant_is_named(hook: AwsDeploymentHook) -> None:
    endpoint = two_variant_endpoint(hook)
    target = build_target(
        DeploymentTargetSpec.model_validate({"type": "sagemaker", "name": endpoint}), hook.get_client
    )
    split = traffic_split(
        target, Canary(baseline_variant="baseline", canary_variant="shadow"), baseline="", candidate=""
    )
    with pytest.raises(TargetError, match="no variant shadow"):
        split.read()
    with pytest.raises(ValueError, match="baseline_variant and canary_variant"):
        traffic_split(target, Canary(), baseline="", candidate="")
