"""The aggregate engine's settings: a leaf module, so configuration and engine both import it.

:class:`EngineSettings` is re-exported by :mod:`release_gates.aggregates.engine`; values come from
configuration through :func:`release_gates.aggregates.config.configured_settings`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from release_gates.exceptions import DatasetError

_MEMORY = re.compile(r"^\d+(?:\.\d+)?\s*(?:[KMGT]i?B|B)$", re.IGNORECASE)


@dataclass(frozen=True)
class EngineSettings:
    """How much of the worker the engine may use (see :mod:`release_gates.aggregates.config`)."""

    #: DuckDB ``memory_limit`` (``"512MB"``, ``"2GiB"``); past it, a query spills or stops.
    memory_limit: str = "1GB"
    #: DuckDB worker threads; None: one per core.
    threads: int | None = None
    #: Stop a query after this many seconds (DuckDB interrupts it; PostgreSQL ``statement_timeout``).
    timeout_seconds: float | None = None
    #: Spill folder for out-of-core operators; None: a fresh folder under the system temp directory.
    temp_directory: str | None = None
    #: Seconds between two progress lines of a running query.
    progress_every: float = 5.0
    #: Files up to this many rows (and frames already in memory) are counted with pandas.
    pandas_max_rows: int = 100_000

    def __post_init__(self) -> None:
        if not _MEMORY.match(self.memory_limit.strip()):
            raise DatasetError(
                f"aggregate memory limit {self.memory_limit!r} is not a size such as 512MB or 2GiB"
            )
        if self.threads is not None and self.threads < 1:
            raise DatasetError(f"aggregate threads must be at least 1, not {self.threads}")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise DatasetError(f"aggregate timeout must be positive, not {self.timeout_seconds}")
        if self.pandas_max_rows < 0:
            raise DatasetError(f"aggregate pandas_max_rows must be >= 0, not {self.pandas_max_rows}")

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> EngineSettings:
        """Settings from configuration strings (keys as in :mod:`~release_gates.aggregates.config`)."""
        try:
            threads = int(values["threads"]) if values.get("threads") else None
            timeout = float(values["timeout"]) if values.get("timeout") else None
            pandas_max = int(values["pandas_max_rows"]) if values.get("pandas_max_rows") else None
        except ValueError as exc:
            raise DatasetError(f"aggregate engine configuration: {exc}") from None
        settings = cls(
            memory_limit=values.get("memory_limit") or cls.memory_limit,
            threads=threads,
            timeout_seconds=timeout,
            temp_directory=values.get("temp_directory") or None,
        )
        return settings if pandas_max is None else replace(settings, pandas_max_rows=pandas_max)
