"""Inputs of ``kind: rollback_drill``: the deployment target, reached through a source of AWS clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from release_gates.deploy import ClientSource, DeploymentTarget
    from release_gates.policy import RollbackDrillCheck


def resolve_rollback_drill_inputs(spec: RollbackDrillCheck, clients: ClientSource) -> DeploymentTarget:
    """The target the drill rolls back and forward (``clients``: the Airflow AWS hook's, or boto3's)."""
    from release_gates.deploy import build_target

    return build_target(spec.target, clients)
