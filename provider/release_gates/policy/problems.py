"""Problems in a policy file: where each is (file, line, field path) and what is wrong."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from release_gates._yaml import Path_, format_path
from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from release_gates.policy.model import ReleasePolicy


class PolicyProblem:
    """One problem in a policy file: where it is and what is wrong."""

    __slots__ = ("line", "message", "path", "source")

    def __init__(self, source: str, line: int | None, path: Path_, message: str) -> None:
        self.source = source
        self.line = line
        self.path = path
        self.message = message

    @property
    def field(self) -> str:
        return format_path(self.path)

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where} {self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"PolicyProblem({self!s})"


class PolicyError(ReleaseGatesError, ValueError):
    """The policy file is invalid. ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.field))
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in release policy"
        super().__init__(header + ":\n" + "\n".join(f"  {p}" for p in self.problems))


#: (field path, message) pairs found by the rules; the loader adds file and line.
Problems = list[tuple[Path_, str]]


def suggest(value: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, else the known names."""
    close = difflib.get_close_matches(value, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(known)})" if known else " (none declared)"


def role_problem(policy: ReleasePolicy, path: Path_, role: str, *, empty: str | None = None) -> Problems:
    """An unknown role, or a known role with nobody in it when ``empty`` (the message) is given."""
    if role not in policy.owners:
        return [(path, f"unknown owner role {role!r}{suggest(role, sorted(policy.owners))}")]
    if empty and not policy.owners[role].users:
        return [(path, empty.format(role=role))]
    return []
