"""``release-gates check rollback-drill``: roll a deployment back and forward again, timing the RTO.

From a policy::

    release-gates check rollback-drill --policy include/release_policy.yaml --gate operations --json

Or from flags::

    release-gates check rollback-drill --type lambda --name scorer --alias live --rto-budget 5m --dry-run

A shadow drill (the default) drills a stand-in created and removed by the drill; ``--mode live``
drills the target itself and needs a window (``--window-cron '0 3 * * 2' --window-duration 2h``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.checks.aws_args import (
    add_aws_arguments,
    add_target_arguments,
    aws_clients,
    duration,
    first_problem,
    refuse_templates,
    required_policy_check,
    target_spec,
)
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "rollback_drill")
    add_target_arguments(parser)
    drill = parser.add_argument_group("drill")
    drill.add_argument("--previous-version", help="known-good version to roll back to (default: history)")
    drill.add_argument("--rto-budget", help="recovery time budget, e.g. 15m (default 15m)")
    drill.add_argument("--stable-timeout", help="how long to wait for the target to settle (default: budget)")
    drill.add_argument("--dry-run", action="store_true", help="check versions and permissions only")
    drill.add_argument(
        "--mode", choices=("shadow", "live"), help="shadow: drill a stand-in (default); live: the target"
    )
    drill.add_argument("--window-cron", help="live mode: cron (UTC) of each window's start, e.g. '0 3 * * 2'")
    drill.add_argument("--window-duration", help="live mode: how long each window stays open, e.g. 2h")
    drill.add_argument(
        "--no-ecs-drill-service",
        action="store_true",
        help="shadow on ECS: verify the circuit breaker instead of running a drill service",
    )
    add_aws_arguments(parser)


def _run(args: argparse.Namespace) -> CheckResult:
    from pydantic import ValidationError

    from release_gates.checks.rollback_drill import run_rollback_drill
    from release_gates.inputs.rollback_drill import resolve_rollback_drill_inputs
    from release_gates.policy import RollbackDrillCheck

    if args.policy:
        _, spec, check_id = required_policy_check(args, "rollback_drill")
    else:
        check_id = "rollback_drill"
        try:
            spec = RollbackDrillCheck(kind="rollback_drill", target=target_spec(args))
        except ValidationError as exc:
            raise UsageError(f"invalid drill: {first_problem(exc)}") from exc
    overrides = {
        "previous_version": args.previous_version,
        "rto_budget": duration(args.rto_budget),
        "stable_timeout": duration(args.stable_timeout),
        "dry_run": True if args.dry_run else None,
        "mode": args.mode,
        "ecs_drill_service": False if args.no_ecs_drill_service else None,
    }
    if args.window_cron or args.window_duration:
        overrides["window"] = {"cron": args.window_cron, "duration": args.window_duration}
    merged = {**spec.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
    if merged["mode"] == "shadow":
        merged["window"] = None  # --mode shadow on a live policy: a shadow drill needs no window
    try:
        spec = RollbackDrillCheck.model_validate(merged)
    except ValidationError as exc:
        raise UsageError(f"invalid drill option: {first_problem(exc)}") from exc
    refuse_templates(name=spec.target.name, previous_version=spec.previous_version)
    clients = aws_clients(args, spec.target.aws_conn_id, spec.target.region)
    return run_rollback_drill(resolve_rollback_drill_inputs(spec, clients), spec, check_id=check_id)


COMMAND = CheckCommand(
    name="rollback-drill",
    help="roll a deployment back and forward again, measuring the RTO (AWS)",
    add_arguments=_add_arguments,
    run=_run,
)
