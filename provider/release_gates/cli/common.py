"""What every ``release-gates`` command shares: exit codes, the usage error, the evidence-store
lookup, argument helpers and result printing.

A leaf module: it imports nothing from ``release_gates.cli``, so command modules import their
helpers from here and never from the parser (the shape of ``airflow/cli``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceStore
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult

#: Exit codes, the same for every command so CI jobs can gate on them.
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_ERROR = 0, 1, 2, 3, 4


class UsageError(ReleaseGatesError):
    """Bad arguments or a missing input file: exit code 2."""


@dataclass(frozen=True)
class CheckCommand:
    """A ``release-gates check <name>`` subcommand.

    ``add_arguments`` declares its flags; ``run`` returns a :class:`CheckResult`. The runner prints
    it, optionally records it in the evidence trail, and exits with the status's code. Raising
    :class:`UsageError` exits 2; any other exception becomes an ERROR result (exit 4).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], CheckResult]


# --------------------------------------------------------------------------------------------------
# The evidence store
# --------------------------------------------------------------------------------------------------


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--url`` / ``--conn-id``: which evidence store a command reads or writes."""
    group = parser.add_argument_group(
        "evidence store (default: $RELEASE_GATES_EVIDENCE_URL or SQLite in $AIRFLOW_HOME)"
    )
    group.add_argument("--url", help="SQLAlchemy URL of the evidence store")
    group.add_argument("--conn-id", help="Airflow connection of type release_gates_evidence")


def open_store(args: argparse.Namespace) -> EvidenceStore:
    """The store named by ``--url`` or ``--conn-id``, else the default one."""
    from release_gates.evidence import EvidenceStore

    if args.url:
        return EvidenceStore(args.url)
    if args.conn_id:
        from release_gates.hooks.evidence import EvidenceStoreHook

        return EvidenceStoreHook(args.conn_id).get_store()
    return EvidenceStore()


# --------------------------------------------------------------------------------------------------
# Check arguments
# --------------------------------------------------------------------------------------------------


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
    """``"a, b,,c"`` → ``["a", "b", "c"]``; None stays None (the flag was not given)."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


# --------------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------------


def print_result(result: CheckResult, out: TextIO, *, as_json: bool) -> None:
    """Human or JSON rendering of a CheckResult (shared by `check` and `result show`)."""
    if as_json:
        print(result.to_json(indent=2), file=out)
        return
    print(f"{result.status.value:<12} {result.check_id}: {result.summary}", file=out)
    findings = result.active_findings()
    for finding in findings[:20]:
        where = f" [{finding.location}]" if finding.location else ""
        print(f"  {finding.severity.value:<8} {finding.id}: {finding.title}{where}", file=out)
    if len(findings) > 20:
        print(f"  … and {len(findings) - 20} more findings (use --json for all)", file=out)
    waived = [f for f in result.findings if f.waived]
    if waived:
        print(
            f"  {len(waived)} finding(s) waived: {', '.join(sorted({f.waived_by or '' for f in waived}))}",
            file=out,
        )
