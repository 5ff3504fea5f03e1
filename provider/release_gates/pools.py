"""One Airflow pool per deployment target, one slot each: the tasks that change a target queue for it.

The release DAG puts its rollback drills, its promotion and its rollback in the pool of the target
they change; the monitoring DAG puts its automatic rollback there. The pool's name is derived from
the target's identity, ``release_gates_target_<key>`` (the key of the target's evidence chain,
:func:`release_gates.deploy.target_journal.target_key`), so every DAG that names the same target
shares it. Airflow does not schedule a task whose pool does not exist (and shows a DAG warning): create
the pools once, where Airflow's metadata database is reachable —

    airflow pools set release_gates_target_<key> 1 "<target>"      # per target
    python -c "from release_gates.pools import ensure_target_pools; ensure_target_pools('policy.yaml')"

The pool serializes tasks of Airflow DAGs; the lease in the target's evidence chain covers every
other writer (another DAG, the CLI) as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from release_gates.deploy.factory import spec_identity
from release_gates.deploy.target_journal import target_key

if TYPE_CHECKING:
    from release_gates.policy import DeploymentTargetSpec, ReleasePolicy

POOL_PREFIX = "release_gates_target_"


def target_pool_name(spec: DeploymentTargetSpec) -> str:
    """``release_gates_target_<key>`` for the target ``spec`` describes."""
    return POOL_PREFIX + target_key(spec_identity(spec))


def policy_target_pools(policy: ReleasePolicy) -> dict[str, str]:
    """Every target pool the policy's DAGs use: pool name → a description naming the target."""
    specs = [check.target for _, check, _ in policy.iter_checks() if check.kind == "rollback_drill"]
    if policy.deployment is not None:
        specs.append(policy.deployment.target)
    pools = {}
    for spec in specs:
        identity = spec_identity(spec)
        pools[target_pool_name(spec)] = "release-gates: one change at a time on " + ", ".join(
            f"{k}={v}" for k, v in identity.items() if v is not None
        )
    return pools


def ensure_target_pools(policy: ReleasePolicy | str | Path) -> list[str]:
    """Create the policy's missing target pools with one slot (needs Airflow's metadata database:
    run it on the scheduler's host or in an init container). Returns the names it created."""
    from airflow.models.pool import Pool

    from release_gates.policy import load_policy

    loaded = policy if not isinstance(policy, str | Path) else load_policy(policy)
    created = []
    for name, description in policy_target_pools(loaded).items():
        if Pool.get_pool(name) is None:
            Pool.create_or_update_pool(name, slots=1, description=description, include_deferred=False)
            created.append(name)
    return created
