"""Inputs of ``kind: ops_readiness``: the target, a CloudWatch client, and what the release ships."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release_gates.deploy import ClientSource, DeploymentTarget
    from release_gates.policy import OpsReadinessCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class OpsReadinessInputs:
    target: DeploymentTarget
    cloudwatch: Any
    #: The release's image and model (run values win over the spec's; empty means not given).
    image: str | None
    model_uri: str | None
    model_sha256: str | None


def resolve_ops_readiness_inputs(
    spec: OpsReadinessCheck,
    clients: ClientSource,
    *,
    image: str | None = None,
    model_uri: str | None = None,
    model_sha256: str | None = None,
) -> OpsReadinessInputs:
    from release_gates.deploy import build_target

    return OpsReadinessInputs(
        target=build_target(spec.target, clients),
        cloudwatch=clients("cloudwatch"),
        image=image or None,
        model_uri=model_uri or None,
        model_sha256=model_sha256 or None,
    )


def run_ops_readiness_check(
    spec: OpsReadinessCheck,
    clients: ClientSource,
    *,
    check_id: str,
    image: str | None = None,
    model_uri: str | None = None,
    model_sha256: str | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.ops_readiness import evaluate_ops_readiness

    resolved = resolve_ops_readiness_inputs(
        spec, clients, image=image, model_uri=model_uri, model_sha256=model_sha256
    )
    return evaluate_ops_readiness(
        resolved.target,
        resolved.cloudwatch,
        spec,
        check_id=check_id,
        image=resolved.image,
        model_uri=resolved.model_uri,
        model_sha256=resolved.model_sha256,
    )
