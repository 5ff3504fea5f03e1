"""One window of a Parquet inference log as aggregates: what volume, freshness and the labelled checks need.

Volume needs the window's row count, freshness its newest timestamp, fairness and error rates the
label coverage of the label-delayed window and its outcome counts per sensitive grouping. All of them
are ``count``/``max``/``GROUP BY`` queries, so for a log of Parquet files (one file, or a folder with
Hive partitions) the aggregate engine answers them with DuckDB and no row of the log reaches Python:
a month of inference log costs the worker the memory limit, not the log's size. Partitions outside
the window are skipped by their ``partition:`` values, row groups by their timestamp statistics.

A plan that also monitors drift still reads the window's rows (drift compares distributions), and a
SQL log keeps its window read (``monitoring.source``); :func:`counts_apply` says which way a plan goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import InferenceLogError
from release_gates.monitoring.plan import MonitoringPlan, Window, as_utc

if TYPE_CHECKING:
    from release_gates.aggregates.engine import AggregateSource, EngineSettings
    from release_gates.checks.fairness import OutcomeCounts
    from release_gates.policy import InferenceLog


@dataclass(frozen=True)
class WindowCounts:
    """A window's aggregates (see the module docstring)."""

    #: Rows with ``window.start <= timestamp < window.end``.
    rows: int
    #: The newest timestamp among them (aware, UTC), None for an empty window.
    newest: datetime | None
    #: Rows of the label-delayed window, and how many of them carry a label.
    labelled_window_rows: int = 0
    labelled: int = 0
    #: Outcome counts of the labelled rows per sensitive grouping (a tuple of feature names).
    outcomes: dict[tuple[str, ...], OutcomeCounts] = field(default_factory=dict)


def counts_apply(plan: MonitoringPlan) -> bool:
    """True when every monitored check of ``plan`` can run on :class:`WindowCounts`: no drift, and a
    log of Parquet files (SQL logs keep their pushed-down window read)."""
    from release_gates.datasets import is_sql_uri

    log = plan.monitoring.source
    if any(check.name == "drift" for check in plan.checks):
        return False
    return not is_sql_uri(log.uri, log.format) and (log.format or "parquet") == "parquet"


def count_window(
    plan: MonitoringPlan,
    window: Window,
    *,
    base_dir: str | Path | None = None,
    settings: EngineSettings | None = None,
) -> WindowCounts:
    """The window's :class:`WindowCounts`, from the aggregate engine (one connection, a few queries).

    Missing columns, a timestamp column that is not a timestamp, or an unreadable log raise
    :class:`InferenceLogError`, as a window read does; a log folder with no file yet is an empty window.
    """
    from release_gates.aggregates.engine import open_source
    from release_gates.datasets import locate
    from release_gates.exceptions import DatasetError
    from release_gates.monitoring.source import LOG_NAME, log_dataset

    log = plan.monitoring.source
    labelled_checks = [check for check in plan.checks if check.labelled]
    required = plan.labelled_columns() if labelled_checks else [log.timestamp]
    try:
        location = locate(LOG_NAME, log_dataset(log), base_dir=base_dir)
        if location.path is not None and location.path.is_dir() and not any(location.path.rglob("*.parquet")):
            return WindowCounts(rows=0, newest=None)  # the log exists but holds nothing yet
        with open_source(location, settings=settings, columns=required) as source:
            aware = _timestamp_is_aware(source, log)
            rows, newest = _rows_and_newest(source, log, window.start, window.end, aware)
            if not labelled_checks:
                return WindowCounts(rows=rows, newest=newest)
            assert log.label is not None  # labelled checks need one (plan validation)
            where, params = _window_filter(source, log, window.labelled_start, window.labelled_end, aware)
            label = source.quote(log.label)
            total, labelled = source.fetch(
                f"SELECT COUNT(*), COUNT({label}) FROM {source.relation} WHERE {where}", params
            )[0]
            outcomes = {}
            for features in dict.fromkeys(tuple(c.spec.sensitive_features) for c in labelled_checks):
                outcomes[features] = _outcomes(
                    source, log, features, f"{where} AND {label} IS NOT NULL", params
                )
    except InferenceLogError:
        raise
    except DatasetError as exc:
        # The same error class as a window read, so the monitoring step reports it the same way.
        raise InferenceLogError(f"inference log: {exc}") from exc
    return WindowCounts(
        rows=rows,
        newest=newest,
        labelled_window_rows=int(total or 0),
        labelled=int(labelled or 0),
        outcomes=outcomes,
    )


def _timestamp_is_aware(source: AggregateSource, log: InferenceLog) -> bool:
    """Whether the timestamp column carries a time zone; refuses a column that is no timestamp."""
    described = source.fetch(f"DESCRIBE SELECT {source.quote(log.timestamp)} FROM {source.relation}")
    kind = str(described[0][1]).upper()
    if not kind.startswith("TIMESTAMP"):
        raise InferenceLogError(
            f"inference log {log.uri}: timestamp column {log.timestamp!r} is {kind}, not a timestamp"
        )
    return "TIME ZONE" in kind


def _window_filter(
    source: AggregateSource, log: InferenceLog, start: datetime, end: datetime, aware: bool
) -> tuple[str, dict[str, Any]]:
    """``start <= ts < end`` (and the partitions of those hours, when the log declares them).

    Bounds in the column's own convention, as the row reader binds them: aware for a column with a
    time zone, naive UTC otherwise (DuckDB will not compare the two without a cast)."""
    from release_gates.monitoring.source import partition_values

    ts = source.quote(log.timestamp)
    where = f"{ts} >= :window_start AND {ts} < :window_end"
    low, high = (as_utc(v) if aware else as_utc(v).replace(tzinfo=None) for v in (start, end))
    params: dict[str, Any] = {"window_start": low, "window_end": high}
    if log.partition is not None and log.partition.column in source.columns():
        values = partition_values(log.partition.format, start, end)
        names = [f"partition_{i}" for i in range(len(values))]
        params.update(zip(names, values, strict=True))
        where += f" AND {source.quote(log.partition.column)} IN ({', '.join(f':{n}' for n in names)})"
    return where, params


def _rows_and_newest(
    source: AggregateSource, log: InferenceLog, start: datetime, end: datetime, aware: bool
) -> tuple[int, datetime | None]:
    where, params = _window_filter(source, log, start, end, aware)
    ts = source.quote(log.timestamp)
    count, newest = source.fetch(f"SELECT COUNT(*), MAX({ts}) FROM {source.relation} WHERE {where}", params)[
        0
    ]
    return int(count), None if newest is None else as_utc(newest)


def _outcomes(
    source: AggregateSource, log: InferenceLog, features: tuple[str, ...], where: str, params: dict[str, Any]
) -> OutcomeCounts:
    from release_gates.checks.fairness_counts import count_outcomes_source

    assert log.label is not None and log.prediction is not None
    return count_outcomes_source(
        source,
        label=log.label,
        prediction=log.prediction,
        sensitive=list(features),
        positive=log.positive_label,
        negative=log.negative_label,
        where=where,
        params=params,
    )
