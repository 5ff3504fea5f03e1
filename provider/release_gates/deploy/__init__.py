"""Deployment targets: one interface to read, change, settle and health-check a deployed model version.

Used by the rollback drill, by promotion and by real rollback. Implementations take boto3 clients
(from :class:`release_gates.hooks.aws.AwsDeploymentHook` inside Airflow, or any boto3 session
outside it); nothing here imports Airflow, and boto3/botocore load only when a call is made.
"""

from __future__ import annotations

from release_gates.deploy.calls import (
    ApiCallLog,
    TargetAccessDeniedError,
    TargetError,
    TargetNotFoundError,
    TargetNotStableError,
)
from release_gates.deploy.ecs_service import EcsServiceTarget
from release_gates.deploy.factory import build_target
from release_gates.deploy.lambda_alias import LambdaAliasTarget
from release_gates.deploy.probe import HttpProbe, ProbeResult
from release_gates.deploy.s3_pointer import S3PointerTarget
from release_gates.deploy.sagemaker_endpoint import SageMakerEndpointTarget
from release_gates.deploy.targets import ClientSource, DeploymentTarget, HealthReport

__all__ = [
    "ApiCallLog",
    "ClientSource",
    "DeploymentTarget",
    "EcsServiceTarget",
    "HealthReport",
    "HttpProbe",
    "LambdaAliasTarget",
    "ProbeResult",
    "S3PointerTarget",
    "SageMakerEndpointTarget",
    "TargetAccessDeniedError",
    "TargetError",
    "TargetNotFoundError",
    "TargetNotStableError",
    "build_target",
]
