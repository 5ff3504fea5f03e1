"""The scanner interface the engine needs; :class:`release_gates.hooks.trivy.TrivyHook` implements it.

The engine calls a scanner, never a binary: tests and notebooks can hand it any object with these
two methods, and this package stays free of Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class TrivyScan:
    """What one scan produced: the raw JSON report and how it was made."""

    stdout: bytes
    argv: tuple[str, ...]
    version: str
    command: str
    seconds: float
    db: Mapping[str, Any] | None = None


class TrivyScanner(Protocol):
    def scan(
        self, target: str, *, kind: str, scanners: Sequence[str], timeout: float | None = None
    ) -> TrivyScan: ...

    def convert(self, report: Path, output: Path, *, fmt: str = "cyclonedx") -> None: ...
