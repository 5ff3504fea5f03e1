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
            check_id=getattr(args, "check_id", None) or command.name,
            kind=command.name,
            message=describe_failure(exc),
        )
    if args.record:
        open_store(args).append(args.record, "check_result", result.to_dict(), actor="cli")
    print_result(result, out, as_json=args.json)
    return int(result.status.exit_code)
