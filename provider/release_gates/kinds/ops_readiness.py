"""``kind: ops_readiness`` — alarms with actions watch the target; what ships is pinned."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase


class OpsReadinessCheck(CheckSpecBase):
    kind: Literal["ops_readiness"] = Field(
        description="ops_readiness: alarms with actions watch the target; model and image pinned."
    )
    target: DeploymentTargetSpec = Field(description="The deployment target whose alarms are checked.")
    require_alarm_actions: bool = Field(
        default=True, description="Every alarm must have an action (else FAIL)."
    )
    image: str | None = Field(default=None, description="Image the release ships; must be pinned by digest.")
    model_uri: str | None = Field(default=None, description="Model artifact the release ships.")
    model_sha256: str | None = Field(default=None, description="The artifact's pinned sha256.")


KIND = CheckKind(
    name="ops_readiness",
    spec=OpsReadinessCheck,
    engine="release_gates.checks.ops_readiness:evaluate_ops_readiness",
    resolver="release_gates.inputs.ops_readiness:resolve_ops_readiness_inputs",
    operator="release_gates.operators.aws:OpsReadinessCheckOperator",
    cli_command="release_gates.cli.checks.ops_readiness:COMMAND",
)
