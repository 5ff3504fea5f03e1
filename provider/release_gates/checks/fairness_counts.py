"""Outcome counts per subgroup and the rates with Wilson intervals built from them.

Every number of the fairness check comes from one table of outcome counts (TP, FP, TN, FN per finest
subgroup), built by a single grouped aggregation — :func:`count_outcomes` in memory, or
:func:`count_outcomes_source` as one ``GROUP BY`` through the aggregate engine (DuckDB over files, the
dataset's own database for SQL; :func:`count_outcomes_sql` for a SQLAlchemy engine at hand). See
:mod:`release_gates.checks.fairness` for how they are judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import FairnessInputError

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection, Engine

    from release_gates.aggregates.engine import AggregateSource

MISSING = "(missing)"
METRICS = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "precision", "error_rate")


# --------------------------------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """Outcome counts of one group."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    def __add__(self, other: Cell) -> Cell:
        return Cell(self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn)

    def fraction(self, metric: str) -> tuple[int, int]:
        """(numerator, denominator) of a rate."""
        tp, fp, tn, fn = self.tp, self.fp, self.tn, self.fn
        return {
            "selection_rate": (tp + fp, self.n),
            "base_rate": (tp + fn, self.n),
            "tpr": (tp, tp + fn),
            "fpr": (fp, fp + tn),
            "fnr": (fn, tp + fn),
            "precision": (tp, tp + fp),
            "error_rate": (fp + fn, self.n),
        }[metric]


@dataclass(frozen=True)
class OutcomeCounts:
    """Outcome counts per finest subgroup (one value per sensitive feature)."""

    features: tuple[str, ...]
    cells: Mapping[tuple[str, ...], Cell]
    source: str

    @property
    def rows(self) -> int:
        return sum(cell.n for cell in self.cells.values())

    def project(self, grouping: Sequence[str]) -> dict[tuple[str, ...], Cell]:
        """Sum the cells over the features not in ``grouping`` (marginal or partial intersection)."""
        index = [self.features.index(f) for f in grouping]
        out: dict[tuple[str, ...], Cell] = {}
        for key, cell in self.cells.items():
            sub = tuple(key[i] for i in index)
            out[sub] = out.get(sub, Cell()) + cell
        return dict(sorted(out.items()))


def _is_missing(value: Any) -> bool:
    """None, NaN, and pandas' own missing markers (``pd.NA`` of nullable columns, ``NaT``), which the
    engines return as NULL: all one missing group (matched by type name, so pandas need not load)."""
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ in ("NAType", "NaTType")
    )


def _group_value(value: Any) -> str:
    """One spelling per group value on every path (pandas, DuckDB, SQLite, PostgreSQL)."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _outcome(value: Any, column: str, positive: Any, negative: Any) -> bool | None:
    """True for the positive class, False for the negative one, None for anything else."""
    if _is_missing(value):
        return None
    for candidate, verdict in ((positive, True), (negative, False)):
        if value == candidate or str(value) == str(candidate):
            return verdict
    return None


def _cells_from_rows(
    rows: Iterable[Sequence[Any]],
    *,
    n_features: int,
    label: str,
    prediction: str,
    positive: Any,
    negative: Any,
) -> dict[tuple[str, ...], Cell]:
    """Fold (features…, label, prediction, count) rows into cells; reject anything not binary."""
    cells: dict[tuple[str, ...], dict[str, int]] = {}
    bad: dict[str, dict[str, int]] = {label: {}, prediction: {}}
    for row in rows:
        key = tuple(_group_value(v) for v in row[:n_features])
        y_raw, p_raw, count = row[n_features], row[n_features + 1], int(row[n_features + 2])
        y = _outcome(y_raw, label, positive, negative)
        p = _outcome(p_raw, prediction, positive, negative)
        for column, raw, parsed in ((label, y_raw, y), (prediction, p_raw, p)):
            if parsed is None:
                name = _group_value(raw)
                bad[column][name] = bad[column].get(name, 0) + count
        if y is None or p is None:
            continue
        slot = {(True, True): "tp", (False, True): "fp", (False, False): "tn", (True, False): "fn"}[(y, p)]
        counts = cells.setdefault(key, {"tp": 0, "fp": 0, "tn": 0, "fn": 0})
        counts[slot] += count
    problems = []
    for column, values in bad.items():
        if values:
            # Counts only: the offending cells are user data and this message reaches evidence and the UI.
            missing = values.get(MISSING, 0)
            problems.append(
                f"column {column!r} has {sum(values.values())} value(s) in {len(values)} distinct "
                f"value(s) that are neither the positive {positive!r} nor the negative {negative!r} class"
                + (f" ({missing} missing)" if missing else "")
            )
    if problems:
        raise FairnessInputError("; ".join(problems))
    return {key: Cell(**c) for key, c in sorted(cells.items())}


def count_outcomes(
    frame: pd.DataFrame,
    *,
    label: str,
    prediction: str,
    sensitive: Sequence[str],
    positive: Any = 1,
    negative: Any = 0,
) -> OutcomeCounts:
    """One grouped count over (sensitive…, label, prediction) of an in-memory frame."""
    columns = [*sensitive, label, prediction]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        has = ", ".join(map(str, frame.columns[:20]))
        raise FairnessInputError(f"missing column(s) {', '.join(map(repr, missing))} (has: {has})")
    grouped = frame.groupby(columns, dropna=False, observed=True, sort=False).size()
    rows = ((*(key if isinstance(key, tuple) else (key,)), count) for key, count in grouped.items() if count)
    cells = _cells_from_rows(
        rows,
        n_features=len(sensitive),
        label=label,
        prediction=prediction,
        positive=positive,
        negative=negative,
    )
    return OutcomeCounts(features=tuple(sensitive), cells=cells, source="pandas")


def count_outcomes_sql(
    bind: Engine | Connection,
    table: str,
    *,
    label: str,
    prediction: str,
    sensitive: Sequence[str],
    positive: Any = 1,
    negative: Any = 0,
    schema: str | None = None,
) -> OutcomeCounts:
    """The same count as one ``GROUP BY`` in the database; only the grouped counts come back."""
    from sqlalchemy import MetaData, Table, func, select
    from sqlalchemy.exc import NoSuchTableError

    try:
        reflected = Table(table, MetaData(), schema=schema, autoload_with=bind)
    except NoSuchTableError as exc:
        raise FairnessInputError(f"table {table!r} does not exist") from exc
    columns = [*sensitive, label, prediction]
    missing = [c for c in columns if c not in reflected.c]
    if missing:
        raise FairnessInputError(
            f"table {table!r} has no column(s) {', '.join(map(repr, missing))} "
            f"(has: {', '.join(list(reflected.c.keys())[:20])})"
        )
    cols = [reflected.c[c] for c in columns]
    query = select(*cols, func.count()).group_by(*cols)
    from sqlalchemy import Connection

    if isinstance(bind, Connection):
        rows = bind.execute(query).all()
    else:
        with bind.connect() as conn:
            rows = conn.execute(query).all()
    cells = _cells_from_rows(
        rows,
        n_features=len(sensitive),
        label=label,
        prediction=prediction,
        positive=positive,
        negative=negative,
    )
    dialect = bind.dialect.name
    return OutcomeCounts(features=tuple(sensitive), cells=cells, source=f"sql:{dialect}")


def count_outcomes_source(
    source: AggregateSource,
    *,
    label: str,
    prediction: str,
    sensitive: Sequence[str],
    positive: Any = 1,
    negative: Any = 0,
    where: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> OutcomeCounts:
    """The same count as one ``GROUP BY`` through the aggregate engine (DuckDB over files, or the
    dataset's own database): only the grouped counts cross into Python, whatever the row count.

    ``where`` (SQL over quoted identifiers, values as ``:name`` in ``params``) restricts the rows,
    e.g. to a monitoring window."""
    columns = list(dict.fromkeys([*sensitive, label, prediction]))
    available = source.columns()
    missing = [c for c in columns if c not in available]
    if missing:
        raise FairnessInputError(
            f"dataset {source.name!r} has no column(s) {', '.join(map(repr, missing))} "
            f"(has: {', '.join(available[:20])})"
        )
    keys = ", ".join(source.quote(c) for c in columns)
    condition = f" WHERE {where}" if where else ""
    rows = source.fetch(f"SELECT {keys}, COUNT(*) FROM {source.relation}{condition} GROUP BY {keys}", params)
    index = {c: i for i, c in enumerate(columns)}
    order = [index[c] for c in [*sensitive, label, prediction]]
    cells = _cells_from_rows(
        ((*(row[i] for i in order), row[-1]) for row in rows),
        n_features=len(sensitive),
        label=label,
        prediction=prediction,
        positive=positive,
        negative=negative,
    )
    origin = "duckdb" if source.dialect == "duckdb" else f"sql:{source.dialect}"
    return OutcomeCounts(features=tuple(sensitive), cells=cells, source=origin)


# --------------------------------------------------------------------------------------------------
# Rates and intervals
# --------------------------------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of ``successes / n``; None when n is 0 (the rate is undefined)."""
    if n <= 0:
        return None
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    value: float | None
    low: float | None
    high: float | None
    numerator: int
    denominator: int

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


def rate(cell: Cell, metric: str, confidence: float) -> Rate:
    num, den = cell.fraction(metric)
    interval = wilson_interval(num, den, confidence)
    if interval is None:
        return Rate(None, None, None, num, den)
    return Rate(num / den, interval[0], interval[1], num, den)
