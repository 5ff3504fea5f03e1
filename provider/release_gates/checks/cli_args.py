"""Argument helpers shared by the ``release-gates check …`` subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from release_gates.cli import UsageError

if TYPE_CHECKING:
    from release_gates.policy import ReleasePolicy


def add_policy_arguments(parser: argparse.ArgumentParser, kind: str, *, datasets: bool = False) -> None:
    """`--policy FILE --gate GATE [--check NAME]`; with `datasets` also `--base-dir` and `--check-id`."""
    group = parser.add_argument_group(f"from a release policy (the gate's {kind} check)")
    group.add_argument("--policy", metavar="FILE", help="release policy YAML")
    group.add_argument("--gate", metavar="GATE", help="gate id in the policy")
    group.add_argument(
        "--check", metavar="NAME", help=f"check id within the gate (needed when it has several {kind} checks)"
    )
    if datasets:
        parser.add_argument(
            "--base-dir", metavar="DIR", help="directory relative dataset and suite paths resolve against"
        )
        parser.add_argument("--check-id", help="check id to report when run without a policy")


def policy_check(args: argparse.Namespace, kind: str) -> tuple[ReleasePolicy, Any, str] | None:
    """The policy, the ``kind`` check of ``--gate`` and its id; None without ``--policy``."""
    from release_gates.policy import PolicyError, load_policy

    if not args.policy:
        if args.gate or args.check:
            raise UsageError("--gate and --check need --policy")
        return None
    if not args.gate:
        raise UsageError("--policy needs --gate")
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc
    try:
        gate = policy.gate(args.gate)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from exc
    checks = [c for c in gate.checks if c.kind == kind and (args.check is None or c.check_name == args.check)]
    if not checks:
        wanted = f"{kind} check {args.check!r}" if args.check else f"{kind} check"
        raise UsageError(f"gate {gate.id!r} in {policy.source} has no {wanted}")
    if len(checks) > 1:
        names = ", ".join(c.check_name for c in checks)
        raise UsageError(f"gate {gate.id!r} has several {kind} checks ({names}): pick one with --check")
    check = checks[0]
    return policy, check, f"{gate.id}.{check.check_name}"


def pairs(values: Iterable[str] | None, flag: str) -> dict[str, str]:
    """``["a=1", "b=2"]`` → ``{"a": "1", "b": "2"}``; anything else is a usage error naming the flag."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{flag} expects NAME=VALUE, got {value!r}")
        out[name.strip()] = rest.strip()
    return out


def split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]
