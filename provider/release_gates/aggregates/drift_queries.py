"""The drift check's queries: per-column statistics, histogram bins and value counts, in portable SQL.

Each function runs one ``SELECT`` on an :class:`~release_gates.aggregates.engine.AggregateSource`
(DuckDB over files, or the dataset's own database through SQLAlchemy) and returns aggregates only;
:mod:`release_gates.checks.drift_aggregates` turns them into distances.

Portable on purpose: ``CAST(… AS DOUBLE PRECISION)``, ``FLOOR``, ``COUNT``/``SUM``/``MIN``/``MAX``/
``AVG``, ``CASE``, sub-selects with aliases and ``LIMIT`` mean the same in DuckDB, PostgreSQL, SQLite
and most SQLAlchemy dialects. Histogram bins are an arithmetic floor, ``FLOOR((x − origin) / width)``,
not a dialect's bucketing function, so every database puts a value in the same bin. Where dialects
differ, the fragment is chosen here by ``source.dialect``:

* a **random sample** for the HTML report: DuckDB ``USING SAMPLE reservoir(n ROWS) REPEATABLE (seed)``
  (seeded); elsewhere ``ORDER BY random() LIMIT n`` (PostgreSQL and SQLite have ``random()``; a
  top-n sort, so memory stays small, but not seeded);
* **NaN and infinities** are dropped as Evidently drops them, by ``x > -inf AND x < inf`` with both
  bounds bound as parameters: DuckDB and PostgreSQL order NaN above infinity, so NaN fails ``x < inf``;
  SQLite stores NaN as NULL. Nulls fail any comparison.

Identifiers only ever come through ``source.quote`` (the dataset's column names, after the caller
checked they exist); values are bound parameters, and the lists of bin numbers are integers this
module formats itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.checks.drift_aggregates import Bin

if TYPE_CHECKING:
    from release_gates.aggregates.engine import AggregateSource

_FINITE = {"ninf": float("-inf"), "pinf": float("inf")}


@dataclass(frozen=True)
class NumericStats:
    """A numerical column's finite values on one side: how many, their range and mean."""

    count: int
    minimum: float | None
    maximum: float | None
    mean: float | None


def _double(source: AggregateSource, column: str) -> str:
    return f"CAST({source.quote(column)} AS DOUBLE PRECISION)"


def row_count(source: AggregateSource) -> int:
    return int(source.fetch(f"SELECT COUNT(*) FROM {source.relation}")[0][0])


def first_value(source: AggregateSource, column: str) -> Any:
    """One non-null value of ``column`` (its Python type tells numerical from categorical), or None."""
    quoted = source.quote(column)
    rows = source.fetch(f"SELECT {quoted} FROM {source.relation} WHERE {quoted} IS NOT NULL LIMIT 1")
    return rows[0][0] if rows else None


def column_stats(
    source: AggregateSource, numeric: Sequence[str], categorical: Sequence[str]
) -> tuple[dict[str, NumericStats], dict[str, int]]:
    """In one scan: count, min, max and mean of each numerical column's finite values, and the
    count of each categorical column's non-null values."""
    if not numeric and not categorical:
        return {}, {}
    inner = [f"{_double(source, c)} AS rg_n{i}" for i, c in enumerate(numeric)]
    inner += [f"{source.quote(c)} AS rg_c{i}" for i, c in enumerate(categorical)]
    outer = []
    for i in range(len(numeric)):
        finite = f"rg_n{i} > :ninf AND rg_n{i} < :pinf"
        outer += [
            f"COUNT(CASE WHEN {finite} THEN 1 END)",
            f"MIN(CASE WHEN {finite} THEN rg_n{i} END)",
            f"MAX(CASE WHEN {finite} THEN rg_n{i} END)",
            f"AVG(CASE WHEN {finite} THEN rg_n{i} END)",
        ]
    outer += [f"COUNT(rg_c{i})" for i in range(len(categorical))]
    sql = f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM {source.relation}) AS rg_s"
    (row,) = source.fetch(sql, _FINITE)
    stats = {}
    for i, column in enumerate(numeric):
        count, low, high, mean = row[4 * i : 4 * i + 4]
        stats[column] = NumericStats(
            count=int(count),
            minimum=None if low is None else float(low),
            maximum=None if high is None else float(high),
            mean=None if mean is None else float(mean),
        )
    offset = 4 * len(numeric)
    counts = {column: int(row[offset + i]) for i, column in enumerate(categorical)}
    return stats, counts


@dataclass(frozen=True)
class Histogram:
    bins: list[Bin]
    #: Σ (x − mean)² over the bins' values (the variance's numerator, for Evidently's norm).
    squares: float


def histogram(
    source: AggregateSource,
    column: str,
    *,
    origin: float,
    width: float,
    level: int,
    mean: float,
    parents: Iterable[int] | None = None,
    parent_width: float | None = None,
) -> Histogram:
    """Bins ``FLOOR((x − origin) / width)`` of the column's finite values, each with its count, Σ(x −
    origin), min and max; with ``parents``, only values in those bins of the ``parent_width`` grid."""
    where = "x > :ninf AND x < :pinf"
    params: dict[str, Any] = {**_FINITE, "origin": origin, "width": width, "mean": mean}
    if parents is not None:
        numbers = ", ".join(str(int(p)) for p in sorted(set(parents)))
        where += f" AND FLOOR((x - :origin) / :parent_width) IN ({numbers})"
        params["parent_width"] = parent_width
    sql = (
        "SELECT k, COUNT(*), SUM(x - :origin), MIN(x), MAX(x), SUM((x - :mean) * (x - :mean)) "
        f"FROM (SELECT FLOOR((x - :origin) / :width) AS k, x FROM (SELECT {_double(source, column)} AS x "
        f"FROM {source.relation}) AS rg_v WHERE {where}) AS rg_b GROUP BY k"
    )
    rows = source.fetch(sql, params)
    bins = [Bin(level, int(k), int(n), float(s), float(lo), float(hi)) for k, n, s, lo, hi, _ in rows]
    return Histogram(bins=bins, squares=float(sum(float(r[5]) for r in rows)))


def value_counts(source: AggregateSource, column: str, *, numeric: bool, limit: int) -> dict[Any, int]:
    """Count of each value (finite values of a numerical column, non-null ones otherwise), at most
    ``limit`` + 1 of them (the caller refuses more than ``limit``)."""
    value = _double(source, column) if numeric else source.quote(column)
    where = "v > :ninf AND v < :pinf" if numeric else "v IS NOT NULL"
    sql = (
        f"SELECT v, COUNT(*) FROM (SELECT {value} AS v FROM {source.relation}) AS rg_v "
        f"WHERE {where} GROUP BY v LIMIT {int(limit) + 1}"
    )
    return {row[0]: int(row[1]) for row in source.fetch(sql, _FINITE if numeric else None)}


def next_value(source: AggregateSource, column: str, after: float) -> float | None:
    """The smallest finite value above ``after``: a streaming probe, constant memory (a ``DISTINCT``
    of a 100M-row column would hash every value)."""
    sql = (
        f"SELECT MIN(x) FROM (SELECT {_double(source, column)} AS x FROM {source.relation}) AS rg_v "
        "WHERE x > :after AND x < :pinf"
    )
    value = source.fetch(sql, {"after": after, "pinf": float("inf")})[0][0]
    return None if value is None else float(value)


def column_values(source: AggregateSource, column: str, *, numeric: bool) -> list[Any]:
    """Every value of the column, nulls included (for a p-value test on a small sample)."""
    value = _double(source, column) if numeric else source.quote(column)
    return [row[0] for row in source.fetch(f"SELECT {value} FROM {source.relation}")]


def sample_rows(
    source: AggregateSource, columns: Sequence[str], *, rows: int, seed: int
) -> list[tuple[Any, ...]]:
    """At most ``rows`` random rows of ``columns`` (for the HTML report; see the module docstring)."""
    selected = ", ".join(source.quote(c) for c in columns)
    if source.dialect == "duckdb":
        sql = (
            f"SELECT {selected} FROM {source.relation} "
            f"USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})"
        )
    else:
        sql = f"SELECT {selected} FROM {source.relation} ORDER BY random() LIMIT {int(rows)}"
    return source.fetch(sql)
