"""``release-gates pools POLICY [--create]``: the target pools a policy's DAGs queue in."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from release_gates.cli.common import EXIT_FAIL, EXIT_OK, UsageError


def run_pools(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.policy import PolicyError, load_policy
    from release_gates.pools import policy_target_pools

    if not Path(args.policy).is_file():
        raise UsageError(f"policy file not found: {args.policy}")
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc
    wanted = policy_target_pools(policy)
    existing, created = _existing(wanted), []
    if args.create:
        from release_gates.pools import ensure_target_pools

        created = ensure_target_pools(policy)
        existing |= set(created)
    missing = sorted(set(wanted) - existing)
    if args.json:
        rows = [
            {"pool": name, "target": wanted[name], "exists": name in existing, "created": name in created}
            for name in sorted(wanted)
        ]
        print(json.dumps({"pools": rows, "missing": missing}, indent=2), file=out)
    else:
        for name in sorted(wanted):
            state = "created" if name in created else "exists" if name in existing else "MISSING"
            print(f"{state:<8} {name}  {wanted[name]}", file=out)
        if missing:
            print(f"{len(missing)} pool(s) missing: run again with --create", file=out)
    return EXIT_FAIL if missing else EXIT_OK


def _existing(names: dict[str, str]) -> set[str]:
    from airflow.models.pool import Pool

    return {name for name in names if Pool.get_pool(name) is not None}
