"""``kind: rollback_drill`` — roll a deployment target back and forward, within an RTO budget."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Duration


class RollbackDrillCheck(CheckSpecBase):
    kind: Literal["rollback_drill"]
    target: DeploymentTargetSpec
    previous_version: str | None = None
    rto_budget: Duration = timedelta(minutes=15)
    dry_run: bool = False
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
