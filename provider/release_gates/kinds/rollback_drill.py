"""``kind: rollback_drill`` — roll a deployment target back and forward, within an RTO budget."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Duration


class RollbackDrillCheck(CheckSpecBase):
    kind: Literal["rollback_drill"] = Field(
        description="rollback_drill: roll the target back and forward, within an RTO budget."
    )
    target: DeploymentTargetSpec = Field(description="The deployment target drilled.")
    previous_version: str | None = Field(
        default=None, description="Version rolled back to (default: the one before the current)."
    )
    rto_budget: Duration = Field(
        default=timedelta(minutes=15), description="Most time a rollback may take to recover (else FAIL)."
    )
    dry_run: bool = Field(default=False, description="Plan the drill without changing the target.")
    stable_timeout: Duration | None = Field(
        default=None, description="How long to wait for the target to settle (default: rto_budget)."
    )


KIND = CheckKind(
    name="rollback_drill",
    spec=RollbackDrillCheck,
    engine="release_gates.checks.rollback_drill:run_rollback_drill",
    resolver="release_gates.inputs.rollback_drill:resolve_rollback_drill_inputs",
    operator="release_gates.operators.aws:RollbackDrillOperator",
    cli_command="release_gates.cli.checks.rollback_drill:COMMAND",
)
