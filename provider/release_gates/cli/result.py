"""``release-gates result show FILE``: print a stored CheckResult and exit with its status code."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from release_gates.cli.common import EXIT_ERROR, UsageError, print_result


def show(args: argparse.Namespace, out: TextIO) -> int:
    from pydantic import ValidationError

    from release_gates.results import CheckResult

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"result file not found: {path}")
    try:
        result = CheckResult.from_json(path.read_bytes())
    except ValidationError as exc:
        print(f"ERROR        {path} is not a valid CheckResult: {exc.error_count()} problem(s)", file=out)
        for error in exc.errors(include_url=False)[:10]:
            print(f"  {'.'.join(str(p) for p in error['loc'])}: {error['msg']}", file=out)
        return EXIT_ERROR
    print_result(result, out, as_json=args.json)
    return int(result.status.exit_code)
