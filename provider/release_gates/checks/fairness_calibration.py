"""Calibration by group: expected calibration error (ECE) per group, with seeded bootstrap intervals.

**What is measured.** A group's ECE over ``bins`` equal-width bins of the score (the probability of
the positive class, in [0, 1]): ``Σ_bins (rows in bin / rows) · |share of positives − mean score|``.

**Against what.** ``{metric: calibration, calibration_gap_max: g}`` bounds each group's *calibration
gap*: its ECE minus the ECE the same rows would show if their labels followed the whole data set's
share of positives in each score bin (the overall population's calibration) — the mean over
``samples`` seeded draws of those labels. Comparing with the overall ECE directly, or with the
best-calibrated group, would not be fair: ECE is biased upward in small samples (noise alone gives a
perfectly calibrated group of 200 rows an ECE of several points, the whole data set far less), and
"the best group" is a different, selected group in every data set. The size-matched reference has
the same bins, sizes and scores as the group, so with the group calibrated like everyone else the
gap is 0 whatever its size. ``metrics.calibration.overall`` still reports the overall ECE.

**Counted like the rates.** Only sufficient statistics leave the data: per finest subgroup, per bin
and label, the row count and the sum of scores — one grouped aggregation, in pandas or pushed down
to the database (``CASE`` bins, identical edges on both paths). The point ECE is exact.

**Intervals.** The group's rows are resampled (seeded, ``samples`` times; numpy's multinomial draw
over its (bin, label) cells; a resampled row carries its cell's mean score — the spread of scores
inside one bin is ignored, small against the labels' own variance). The ECE interval is the
bootstrap percentile interval; the gap is judged on ``gap ± z·sd`` (sd of the resampled ECEs): PASS
when its upper end is within ``g`` for every group, FAIL when a group's lower end exceeds it, with
p-value ``erfc((gap − g) / sd / √2)`` entering the check's multiple-comparison correction together
with the rate comparisons (``checks/fairness_stats.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import FairnessInputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray
    from sqlalchemy import Connection, Engine

    from release_gates.aggregates.engine import AggregateSource


@dataclass(frozen=True)
class CalibrationCounts:
    """Per finest subgroup: ``counts[bin, label]`` rows and ``score_sums[bin, label]`` (label 0/1)."""

    features: tuple[str, ...]
    bins: int
    counts: Mapping[tuple[str, ...], tuple[tuple[int, int], ...]]
    score_sums: Mapping[tuple[str, ...], tuple[tuple[float, float], ...]]
    source: str

    def arrays(self) -> tuple[list[tuple[str, ...]], NDArray[np.float64], NDArray[np.float64]]:
        """Keys, counts ``(cells, bins, 2)`` and score sums ``(cells, bins, 2)``."""
        import numpy as np

        keys = sorted(self.counts)
        counts = np.array([self.counts[k] for k in keys], float).reshape(len(keys), self.bins, 2)
        sums = np.array([self.score_sums[k] for k in keys], float).reshape(len(keys), self.bins, 2)
        return keys, counts, sums


def _bin_edges(bins: int) -> list[float]:
    return [i / bins for i in range(1, bins)]


def _fold(
    rows: Sequence[Sequence[Any]],
    *,
    features: Sequence[str],
    bins: int,
    label: str,
    positive: Any,
    negative: Any,
    source: str,
) -> CalibrationCounts:
    """(features…, bin, label, count, score sum) rows → :class:`CalibrationCounts`; labels must be binary."""
    from release_gates.checks.fairness_counts import _group_value, _outcome

    counts: dict[tuple[str, ...], list[list[float]]] = {}
    sums: dict[tuple[str, ...], list[list[float]]] = {}
    bad = 0
    n = len(features)
    for row in rows:
        key = tuple(_group_value(v) for v in row[:n])
        b, raw, count, total = int(row[n]), row[n + 1], int(row[n + 2]), float(row[n + 3] or 0.0)
        y = _outcome(raw, label, positive, negative)
        if y is None:
            bad += count
            continue
        counts.setdefault(key, [[0, 0] for _ in range(bins)])[b][int(y)] += count
        sums.setdefault(key, [[0.0, 0.0] for _ in range(bins)])[b][int(y)] += total
    if bad:
        raise FairnessInputError(
            f"column {label!r} has {bad} value(s) that are neither the positive {positive!r} nor the "
            f"negative {negative!r} class"
        )
    return CalibrationCounts(
        features=tuple(features),
        bins=bins,
        counts={k: tuple((int(a), int(b)) for a, b in v) for k, v in sorted(counts.items())},
        score_sums={k: tuple((float(a), float(b)) for a, b in v) for k, v in sorted(sums.items())},
        source=source,
    )


def _score_problem(column: str, missing: int, outside: int) -> None:
    if missing or outside:
        # Counts only: score values are model outputs about people and this message reaches evidence.
        parts = [f"{missing} missing"] if missing else []
        parts += [f"{outside} outside [0, 1]"] if outside else []
        raise FairnessInputError(
            f"score column {column!r} has {' and '.join(parts)} value(s); calibration needs a probability "
            "of the positive class for every row"
        )


def count_calibration(
    frame: pd.DataFrame,
    *,
    score: str,
    label: str,
    sensitive: Sequence[str],
    positive: Any = 1,
    negative: Any = 0,
    bins: int = 10,
) -> CalibrationCounts:
    """One grouped count over (sensitive…, score bin, label) of an in-memory frame."""
    import numpy as np
    import pandas as pd

    missing = [c for c in [*sensitive, label, score] if c not in frame.columns]
    if missing:
        raise FairnessInputError(f"missing column(s) {', '.join(map(repr, missing))}")
    scores = pd.to_numeric(frame[score], errors="coerce").to_numpy(dtype=float)
    nan = np.isnan(scores)
    _score_problem(score, int(nan.sum()), int(((scores < 0) | (scores > 1)).sum()))
    # searchsorted over the inner edges, side="right": a score on an edge goes to the upper bin, the
    # same rule as the SQL CASE below (score < edge → lower bin).
    binned = np.searchsorted(np.array(_bin_edges(bins)), scores, side="right")
    work = frame[list(sensitive)].copy()
    work["__bin"], work["__label"], work["__score"] = binned, frame[label].to_numpy(), scores
    grouped = work.groupby([*sensitive, "__bin", "__label"], dropna=False, observed=True, sort=False)
    table = grouped["__score"].agg(["size", "sum"])
    rows = [(*key, size, total) for key, (size, total) in zip(table.index, table.to_numpy(), strict=True)]
    return _fold(
        rows,
        features=sensitive,
        bins=bins,
        label=label,
        positive=positive,
        negative=negative,
        source="pandas",
    )


def count_calibration_sql(
    bind: Engine | Connection,
    table: str,
    *,
    score: str,
    label: str,
    sensitive: Sequence[str],
    positive: Any = 1,
    negative: Any = 0,
    bins: int = 10,
    schema: str | None = None,
) -> CalibrationCounts:
    """The same count as one ``GROUP BY`` in the database (bins by ``CASE``: portable, same edges)."""
    from sqlalchemy import Connection, MetaData, Table, case, func, or_, select

    reflected = Table(table, MetaData(), schema=schema, autoload_with=bind)
    missing = [c for c in [*sensitive, label, score] if c not in reflected.c]
    if missing:
        raise FairnessInputError(f"table {table!r} has no column(s) {', '.join(map(repr, missing))}")
    s = reflected.c[score]
    binned = case(*[(s < edge, i) for i, edge in enumerate(_bin_edges(bins))], else_=bins - 1)
    keys = [reflected.c[c] for c in sensitive]
    grouped = select(*keys, binned, reflected.c[label], func.count(), func.sum(s)).group_by(
        *keys, binned, reflected.c[label]
    )
    invalid = select(func.count().filter(s.is_(None)), func.count().filter(or_(s < 0, s > 1))).select_from(
        reflected
    )

    def run(conn: Connection) -> tuple[list[Any], Any]:
        return list(conn.execute(grouped).all()), conn.execute(invalid).one()

    if isinstance(bind, Connection):
        rows, bad = run(bind)
    else:
        with bind.connect() as conn:
            rows, bad = run(conn)
    _score_problem(score, int(bad[0] or 0), int(bad[1] or 0))
    return _fold(
        rows,
        features=sensitive,
        bins=bins,
        label=label,
        positive=positive,
        negative=negative,
        source=f"sql:{bind.dialect.name}",
    )


def count_calibration_source(
    source: AggregateSource,
    *,
    score: str,
    label: str,
    sensitive: Sequence[str],
    positive: Any = 1,
    negative: Any = 0,
    bins: int = 10,
) -> CalibrationCounts:
    """The same count through the aggregate engine (DuckDB over files, or the dataset's database)."""
    available = source.columns()
    missing = [c for c in [*sensitive, label, score] if c not in available]
    if missing:
        raise FairnessInputError(f"dataset {source.name!r} has no column(s) {', '.join(map(repr, missing))}")
    s = source.quote(score)
    # Edges as literals (our own floats, repr round-trips): the same CASE bins as count_calibration_sql.
    whens = " ".join(f"WHEN {s} < {edge!r} THEN {i}" for i, edge in enumerate(_bin_edges(bins)))
    binned = f"CASE {whens} ELSE {bins - 1} END"
    keys = ", ".join([*(source.quote(c) for c in sensitive), binned, source.quote(label)])
    rows = source.fetch(f"SELECT {keys}, COUNT(*), SUM({s}) FROM {source.relation} GROUP BY {keys}")
    bad = source.fetch(
        f"SELECT SUM(CASE WHEN {s} IS NULL THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN {s} < 0 OR {s} > 1 THEN 1 ELSE 0 END) FROM {source.relation}"
    )[0]
    _score_problem(score, int(bad[0] or 0), int(bad[1] or 0))
    return _fold(
        rows,
        features=sensitive,
        bins=bins,
        label=label,
        positive=positive,
        negative=negative,
        source="duckdb" if source.dialect == "duckdb" else f"sql:{source.dialect}",
    )


# --------------------------------------------------------------------------------------------------
# ECE and its bootstrap
# --------------------------------------------------------------------------------------------------


def ece(counts: NDArray[Any], sums: NDArray[Any]) -> NDArray[np.float64]:
    """ECE from ``(…, bins, 2)`` counts and score sums; NaN for an empty group."""
    import numpy as np

    rows = counts.sum(axis=(-1, -2))
    # Per bin: |positives − Σ scores| = rows_in_bin · |share of positives − mean score|.
    gap = np.abs(counts[..., 1] - sums.sum(axis=-1)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(rows > 0, gap / np.where(rows > 0, rows, 1), np.nan)
    return out


@dataclass(frozen=True)
class GroupCalibration:
    """One group of one grouping: its ECE with a percentile interval, the ECE the same rows would
    show if calibrated like the whole data set (``reference``), and the gap between the two."""

    key: tuple[str, ...]
    rows: int
    ece: float
    ece_low: float
    ece_high: float
    reference: float
    gap_sd: float

    @property
    def gap(self) -> float:
        return self.ece - self.reference

    def gap_bounds(self, z: float) -> tuple[float, float]:
        return self.gap - z * self.gap_sd, self.gap + z * self.gap_sd

    def p_value(self, threshold: float) -> float:
        """p of H0 "gap ≤ threshold", ``erfc(((gap − t)/sd)/√2)``; 1 when the estimate holds (as for
        the rate comparisons: the smallest ``1 − c`` whose interval's favourable end breaches)."""
        if self.gap <= threshold:
            return 1.0
        if self.gap_sd == 0:
            return 0.0
        return math.erfc((self.gap - threshold) / self.gap_sd / math.sqrt(2))


@dataclass(frozen=True)
class CalibrationTable:
    """Every grouping's per-group calibration, and the overall ECE with its interval."""

    overall: float
    overall_low: float
    overall_high: float
    groups: Mapping[tuple[str, ...], list[GroupCalibration]]
    samples: int
    seed: int
    bins: int


def calibration_table(
    data: CalibrationCounts,
    groupings: Sequence[tuple[str, ...]],
    *,
    confidence: float,
    samples: int,
    seed: int,
) -> CalibrationTable:
    """Point ECEs, bootstrap intervals and size-matched gaps for every group of every grouping."""
    import numpy as np

    keys, counts, sums = data.arrays()
    rng = np.random.default_rng(seed)
    alpha = 1 - confidence
    all_counts, all_sums = counts.sum(axis=0), sums.sum(axis=0)
    in_bin = all_counts.sum(axis=-1)
    # The whole data set's share of positives per score bin: the calibration a group is held to.
    positive_rate = np.divide(all_counts[:, 1], in_bin, out=np.zeros(data.bins), where=in_bin > 0)
    overall_boot = _bootstrap(all_counts, all_sums, rng, samples)
    out: dict[tuple[str, ...], list[GroupCalibration]] = {}
    for grouping in groupings:
        index = [data.features.index(f) for f in grouping]
        members: dict[tuple[str, ...], list[int]] = {}
        for i, key in enumerate(keys):
            members.setdefault(tuple(key[j] for j in index), []).append(i)
        entries = []
        for group_key, cells in sorted(members.items()):
            group_counts, group_sums = counts[cells].sum(axis=0), sums[cells].sum(axis=0)
            boot = _bootstrap(group_counts, group_sums, rng, samples)
            rows_in_bin = group_counts.sum(axis=-1)
            # The same rows, bins and scores, labels drawn at the whole data set's rates: the ECE this
            # group would show by chance alone if it were calibrated like everyone else.
            positives = rng.binomial(rows_in_bin.astype(np.int64), positive_rate, size=(samples, data.bins))
            null = np.abs(positives - group_sums.sum(axis=-1)).sum(axis=-1) / max(1.0, rows_in_bin.sum())
            entries.append(
                GroupCalibration(
                    key=group_key,
                    rows=int(rows_in_bin.sum()),
                    ece=float(ece(group_counts, group_sums)),
                    ece_low=float(np.quantile(boot, alpha / 2)),
                    ece_high=float(np.quantile(boot, 1 - alpha / 2)),
                    reference=float(null.mean()),
                    gap_sd=float(boot.std(ddof=1)),
                )
            )
        out[grouping] = entries
    return CalibrationTable(
        overall=float(ece(all_counts, all_sums)),
        overall_low=float(np.quantile(overall_boot, alpha / 2)),
        overall_high=float(np.quantile(overall_boot, 1 - alpha / 2)),
        groups=out,
        samples=samples,
        seed=seed,
        bins=data.bins,
    )


def _bootstrap(
    counts: NDArray[np.float64], sums: NDArray[np.float64], rng: np.random.Generator, samples: int
) -> NDArray[np.float64]:
    """ECEs of ``samples`` resamples of one group's rows (each row keeps its cell's mean score)."""
    import numpy as np

    flat = counts.reshape(-1)
    size = int(flat.sum())
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    if size == 0:
        return np.full(samples, np.nan)
    draws = rng.multinomial(size, flat / size, size=samples).reshape(samples, *counts.shape)
    return ece(draws, draws * means)
