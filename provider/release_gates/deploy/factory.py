"""The :class:`DeploymentTarget` a policy's ``target:`` describes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from release_gates.deploy.targets import ClientSource, DeploymentTarget

if TYPE_CHECKING:
    from release_gates.policy import DeploymentTargetSpec
from release_gates.deploy.ecs_service import EcsServiceTarget
from release_gates.deploy.lambda_alias import LambdaAliasTarget
from release_gates.deploy.probe import HttpProbe
from release_gates.deploy.s3_pointer import S3PointerTarget
from release_gates.deploy.sagemaker_endpoint import SageMakerEndpointTarget


def build_target(
    spec: DeploymentTargetSpec,
    clients: ClientSource,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeploymentTarget:
    """The :class:`DeploymentTarget` a policy's ``target:`` describes."""
    probe = None
    if spec.health_url:
        probe = HttpProbe(
            url=spec.health_url,
            expected_status=spec.health_expected_status,
            json_field=spec.health_json_field,
            json_value=spec.health_json_value,
            timeout=spec.health_timeout.total_seconds(),
        )
    common: dict[str, Any] = {
        "probe": probe,
        "poll_interval": spec.poll_interval.total_seconds(),
        "clock": clock,
        "sleep": sleep,
    }
    if spec.type == "mlflow_alias":
        from release_gates.deploy.mlflow_alias import DEFAULT_ALIAS, MlflowAliasTarget

        # ``clients`` gives the MLflow client here (see release_gates.operators.aws.deployment_target).
        alias = spec.alias or DEFAULT_ALIAS
        return MlflowAliasTarget(clients("mlflow"), model=spec.name, alias=alias, **common)
    if spec.type == "lambda":
        if not spec.alias:
            raise ValueError("a lambda target needs an alias")
        return LambdaAliasTarget(clients, function=spec.name, alias=spec.alias, **common)
    if spec.type == "ecs":
        return EcsServiceTarget(clients, service=spec.name, cluster=spec.cluster, **common)
    if spec.type == "sagemaker":
        return SageMakerEndpointTarget(clients, endpoint=spec.name, **common)
    bucket, _, key = spec.name.strip("/").partition("/")
    if not key:
        raise ValueError(f"s3_pointer target name must be bucket/key, got {spec.name!r}")
    return S3PointerTarget(clients, bucket=bucket, key=key, **common)


def spec_identity(spec: DeploymentTargetSpec) -> dict[str, Any]:
    """The identity the target a policy's ``target:`` describes reports (no clients, no I/O): what
    its lease and its Airflow pool are named after, known at DAG parse."""
    if spec.type == "lambda":
        return {"type": "lambda", "name": spec.name, "alias": spec.alias}
    if spec.type == "mlflow_alias":
        return {"type": "mlflow_alias", "name": spec.name, "alias": spec.alias or "champion"}
    if spec.type == "ecs":
        return {"type": "ecs", "name": spec.name, "cluster": spec.cluster or "default"}
    if spec.type == "sagemaker":
        return {"type": "sagemaker", "name": spec.name}
    bucket, _, key = spec.name.strip("/").partition("/")
    return {"type": "s3_pointer", "name": f"{bucket}/{key}"}
