"""Build the ``release-gates`` argument parser from the command table.

Commands are loaded lazily: a command's module is imported when the command runs, and a check
kind's module when its subcommand is parsed. :func:`main` builds only the part of the tree the
arguments select, so ``release-gates policy validate`` imports no evidence, report or check code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from release_gates import __version__
from release_gates.cli.commands import (
    COMMANDS,
    RUN_CHECK,
    ActionCommand,
    CheckGroupCommand,
    GroupCommand,
)
from release_gates.cli.common import CheckCommand, UsageError, add_store_arguments

#: Check subcommands by CLI name, filled from the check-kind registry as the parser needs them.
CHECK_COMMANDS: dict[str, CheckCommand] = {}

CommandFunc = Callable[[argparse.Namespace, TextIO], int]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors; keep that, say more
        self.print_usage(sys.stderr)
        raise UsageError(message)


def lazy_load_command(path: str) -> CommandFunc:
    """A stand-in for ``"module:function"`` that imports the module on the first call."""
    module_name, _, function_name = path.partition(":")

    def command(args: argparse.Namespace, out: TextIO) -> int:
        function: CommandFunc = getattr(importlib.import_module(module_name), function_name)
        return function(args, out)

    command.__name__ = command.__qualname__ = function_name
    return command


def selected_path(argv: Sequence[str]) -> tuple[str, ...]:
    """The command (and for ``check``, the kind) that ``argv`` runs, as far as it can be told.

    The top-level parser has options without values only (``--help``, ``--version``), so the
    first word not starting with ``-`` is the command; ``check``'s kind must follow it directly.
    """
    words = list(argv)
    for index, word in enumerate(words):
        if word.startswith("-"):
            continue
        following = words[index + 1 : index + 2]
        if word == "check" and following and not following[0].startswith("-"):
            return (word, following[0])
        return (word,)
    return ()


def build_parser(only: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser, or with ``only`` (see :func:`selected_path`) one whose other commands are
    listed by name and help but declare no arguments (enough to reject or describe them)."""
    parser = _Parser(
        prog="release-gates",
        description="Release gates for ML models: validate policies, run checks, verify the evidence trail.",
        epilog="Exit codes: 0 PASS/WARN, 1 FAIL, 2 usage error, 3 INCONCLUSIVE, 4 ERROR.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in COMMANDS:
        wanted = not only or only[0] == command.name
        if isinstance(command, CheckGroupCommand):
            check = sub.add_parser(command.name, help=command.help, description=command.description)
            if wanted:
                _add_check_kinds(check, kind=only[1] if len(only) > 1 else None)
        elif isinstance(command, GroupCommand):
            group = sub.add_parser(command.name, help=command.help)
            if wanted:
                actions = group.add_subparsers(dest="action", required=True)
                for action in command.subcommands:
                    _add_action(actions, action)
        elif wanted:
            _add_action(sub, command)
        else:
            sub.add_parser(command.name, help=command.help, description=command.description)
    return parser


def _add_action(sub: Any, command: ActionCommand) -> None:
    parser = sub.add_parser(command.name, help=command.help, description=command.description)
    for arg in command.args:
        arg.add_to(parser)
    if command.store:
        add_store_arguments(parser)
    parser.set_defaults(func=lazy_load_command(command.func))


def _add_check_kinds(check: argparse.ArgumentParser, *, kind: str | None) -> None:
    """One subparser per check kind; with ``kind``, only that kind's module is imported (the others
    are listed by name, which is all argparse needs to parse ``check <kind> …``)."""
    from release_gates.kinds import CHECK_KINDS, load_dotted

    registered = {k.cli_name: k.cli_command for k in CHECK_KINDS}
    if kind is None or kind in registered:
        for name, path in registered.items():
            if (kind is None or name == kind) and name not in CHECK_COMMANDS:
                CHECK_COMMANDS[name] = load_dotted(path)
    kinds = check.add_subparsers(dest="check_command", required=True, metavar="KIND", parser_class=_Parser)
    for name in sorted({*registered, *CHECK_COMMANDS}):
        command = CHECK_COMMANDS.get(name)
        if command is None:
            kinds.add_parser(name)
            continue
        kind_parser = kinds.add_parser(name, help=command.help)
        command.add_arguments(kind_parser)
        kind_parser.add_argument("--json", action="store_true", help="print the full CheckResult as JSON")
        kind_parser.add_argument("--record", metavar="RELEASE_ID", help="also append the result to evidence")
        add_store_arguments(kind_parser)
        kind_parser.set_defaults(func=lazy_load_command(RUN_CHECK), check_command_object=command)
