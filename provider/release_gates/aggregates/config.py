"""The engine's settings from configuration: ``$RELEASE_GATES_AGGREGATE_*``, else Airflow's config
(section ``[release_gates]``):

* memory limit — ``RELEASE_GATES_AGGREGATE_MEMORY_LIMIT`` / ``aggregate_memory_limit`` (default 1GB);
* threads — ``RELEASE_GATES_AGGREGATE_THREADS`` / ``aggregate_threads`` (default: one per core);
* timeout in seconds — ``RELEASE_GATES_AGGREGATE_TIMEOUT`` / ``aggregate_timeout`` (default: none);
* spill folder — ``RELEASE_GATES_AGGREGATE_TEMP_DIRECTORY`` / ``aggregate_temp_directory``;
* pandas below (rows) — ``RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS`` / ``aggregate_pandas_max_rows``.

``AIRFLOW__RELEASE_GATES__AGGREGATE_MEMORY_LIMIT`` (Airflow's environment form of the config key) is
read too. Kept apart from :mod:`~release_gates.aggregates.engine` so that the engine itself imports no
Airflow; Airflow's configuration is consulted only where Airflow is already loaded (see
:func:`_airflow_lookup`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from release_gates.aggregates.settings import EngineSettings

_KEYS = ("memory_limit", "threads", "timeout", "temp_directory", "pandas_max_rows")


def _airflow_lookup() -> Callable[[str], str | None]:
    """Airflow's ``[release_gates]`` section when Airflow is already loaded (a task, a scheduler);
    otherwise only its environment form, ``AIRFLOW__RELEASE_GATES__AGGREGATE_*``: importing Airflow
    to read one option would cost the CLI about 3 s before its first query."""
    if "airflow.configuration" not in sys.modules:
        return lambda key: os.environ.get(f"AIRFLOW__RELEASE_GATES__AGGREGATE_{key.upper()}") or None
    from airflow.configuration import conf

    def lookup(key: str) -> str | None:
        value = conf.get("release_gates", f"aggregate_{key}", fallback=None)
        return str(value) if value not in (None, "") else None

    return lookup


def configured_settings(lookup: Callable[[str], str | None] | None = None) -> EngineSettings:
    """:class:`EngineSettings` from the environment, else Airflow's config, else the defaults.

    ``lookup`` (key → value) replaces Airflow's config, for callers and tests without Airflow.
    """
    fallback = lookup or _airflow_lookup()
    values: dict[str, str] = {}
    for key in _KEYS:
        value = os.environ.get(f"RELEASE_GATES_AGGREGATE_{key.upper()}") or fallback(key)
        if value:
            values[key] = value
    return EngineSettings.parse(values)
