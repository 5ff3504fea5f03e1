"""``release-gates`` — every part of the provider, runnable outside Airflow.

Exit codes (the same everywhere, so CI jobs can gate on them)::

    0  PASS or WARN          (policy valid, evidence chain intact)
    1  FAIL                  (policy invalid, evidence chain broken)
    2  usage error           (bad arguments, file not found)
    3  INCONCLUSIVE
    4  ERROR                 (the check or the store could not run)

Layout (the shape of ``airflow/cli``): :mod:`~release_gates.cli.common` is the leaf every command
imports its helpers from; :mod:`~release_gates.cli.commands` declares the commands as data;
:mod:`~release_gates.cli.parser` builds argparse from it and imports a command's module only when
that command runs; ``release_gates.cli.checks`` holds one module per check kind. Nothing outside
this package imports from it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from release_gates.cli.common import (
    EXIT_ERROR,
    EXIT_FAIL,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
    CheckCommand,
    UsageError,
)
from release_gates.cli.parser import CHECK_COMMANDS, build_parser, selected_path

__all__ = [
    "CHECK_COMMANDS",
    "EXIT_ERROR",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CheckCommand",
    "UsageError",
    "build_parser",
    "main",
]


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    arguments = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(selected_path(arguments)).parse_args(arguments)
        with logs_to_stderr():
            code: int = args.func(args, out)
    except UsageError as exc:
        print(f"release-gates: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and closed early: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        import sqlalchemy.exc

        from release_gates.exceptions import EvidenceError

        # The store or a file could not be used: one line, not a traceback. Anything else is a bug.
        if isinstance(exc, EvidenceError | OSError | sqlalchemy.exc.SQLAlchemyError):
            print(f"release-gates: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise
    return code


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """While a command runs, anything written to ``sys.stdout`` but its output goes to stderr.

    A command prints its output to the ``out`` it was given (stdout by default), so a script can parse
    it (``--json``). Airflow configures logging the first time it is imported — usually inside the
    command, by a hook — with a handler on whatever ``sys.stdout`` is then; hooks' log lines would land
    in the middle of the JSON. Redirecting ``sys.stdout`` covers that, and handlers configured earlier
    in this process (Airflow imported before ``main``) are pointed at stderr for the command's length.
    """
    real_stdout = sys.stdout
    moved: list[logging.StreamHandler[TextIO]] = []
    for logger in (logging.getLogger(), logging.getLogger("airflow")):
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is real_stdout:
                handler.setStream(sys.stderr)
                moved.append(handler)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler in moved:
            handler.setStream(real_stdout)
