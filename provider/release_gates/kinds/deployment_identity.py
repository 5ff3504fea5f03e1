"""``kind: deployment_identity`` — the version about to serve carries the judged model and scanned image."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase

IdentityFact = Literal["model", "image"]


def _both() -> list[IdentityFact]:
    return ["model", "image"]


class DeploymentIdentityCheck(CheckSpecBase):
    kind: Literal["deployment_identity"] = Field(
        description="deployment_identity: the version about to serve carries the judged model and "
        "scanned image."
    )
    target: DeploymentTargetSpec = Field(description="The deployment target whose version is read.")
    version: str = Field(
        default="{{ params.model_version }}",
        min_length=1,
        description="The version that is promoted (templated; the deployment's version).",
    )
    compare: list[IdentityFact] = Field(
        default_factory=_both,
        description="What must match; both by default. Name one only when the other cannot apply "
        "(an S3 model pointer serves no image: compare: [model]).",
    )
    model_sha256_env: str | None = Field(
        default=None, description="Lambda / ECS: the environment variable holding the model sha256."
    )
    model_sha256_tag: str | None = Field(
        default=None,
        description="Lambda: the function tag holding the model sha256 (function-wide, so a match is a "
        "WARN); SageMaker / S3 pointer: a tag of the model data object.",
    )
    model_sha256_metadata: str | None = Field(
        default=None, description="SageMaker / S3 pointer: user metadata key of the model data object."
    )
    container: str | None = Field(default=None, description="ECS: the container serving the model.")
    read_object: bool = Field(
        default=True,
        description="SageMaker / S3 pointer: hash the model object's bytes when it has no SHA-256 checksum.",
    )

    @field_validator("compare")
    @classmethod
    def _compare_something(cls, value: list[IdentityFact]) -> list[IdentityFact]:
        if not value:
            raise ValueError("compare at least one of model, image")
        if len(set(value)) != len(value):
            raise ValueError("each of model, image at most once")
        return value


KIND = CheckKind(
    name="deployment_identity",
    spec=DeploymentIdentityCheck,
    engine="release_gates.checks.deployment_identity:evaluate_deployment_identity",
    resolver="release_gates.inputs.deployment_identity:resolve_deployment_identity_inputs",
    operator="release_gates.operators.aws:DeploymentIdentityCheckOperator",
    cli_command="release_gates.cli.checks.deployment_identity:COMMAND",
)
