"""``release-gates check <kind>``: run one check, print it, optionally record it, exit with its code.

The parser puts the chosen :class:`CheckCommand` into ``args.check_command_object``.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from release_gates.cli.common import CheckCommand, UsageError, open_store, print_result


def run_check(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.results import CheckResult

    command: CheckCommand = args.check_command_object
    try:
        result = command.run(args)
    except UsageError:
        raise
    except Exception as exc:  # fail closed: anything unexpected is an ERROR result, never a pass
        from release_gates.datasets import describe_failure

        result = CheckResult.error(
            check_id=getattr(args, "check_id", None) or _check_id(args, command),
            kind=_kind(command),
            message=describe_failure(exc),
        )
    if args.record:
        open_store(args).append(args.record, "check_result", result.to_dict(), actor="cli")
    print_result(result, out, as_json=args.json)
    return int(result.status.exit_code)


def _kind(command: CheckCommand) -> str:
    """The policy's ``kind`` of a check command (``stress-safety`` → ``stress_safety``)."""
    return command.name.replace("-", "_")


def _check_id(args: argparse.Namespace, command: CheckCommand) -> str:
    """The id the check has in the policy (``ethics.fairness``) when it was named with ``--gate``,
    else its kind: an ERROR line names the check a reader looks for in the policy."""
    gate = getattr(args, "gate", None)
    if gate:
        return f"{gate}.{getattr(args, 'check', None) or _kind(command)}"
    return _kind(command)
