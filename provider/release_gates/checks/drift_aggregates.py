"""Drift distances from aggregates: Wasserstein from histogram bins, Jensen–Shannon from value counts.

Large datasets never cross into Python here: the database (DuckDB for files, the warehouse for SQL
tables, see :mod:`release_gates.aggregates.drift_queries`) returns one row per histogram bin or per
category, and this module turns those rows into Evidently's two large-sample distances.

**Jensen–Shannon** (Evidently's ``jensenshannon`` on categories, and on numerical columns with few
values) is computed from the exact value counts: the same number Evidently computes, up to float
rounding.

**Normed Wasserstein** (Evidently's ``wasserstein``: W1(reference, current) / max(std(reference),
0.001)) is computed from a histogram on a uniform grid, each bin carrying per side the count, the sum
of its values, and its smallest and largest value. W1 is the area between the two empirical CDFs,
∫|F_r − F_c|. From those aggregates the CDFs are known exactly between bins (both constant) and the
integral of F_r − F_c over each bin is known exactly (from the sums); only where F_r − F_c may change
sign inside a bin is |F_r − F_c| not determined. :func:`wasserstein_from_bins` returns, per bin, the
interval the true contribution must lie in (from the pointwise bounds of both CDFs and the exact
integral) and takes its midpoint, so the **certified error bound** is half the summed interval widths.
It never assumes a shape inside a bin; it holds for any data, up to floating-point rounding.

Resolution: the bound of a bin is at most its width times its mass, so it shrinks with finer bins.
The caller starts with :data:`INITIAL_BINS` bins over the two datasets' common range and splits the
bins with the largest bounds :data:`REFINE_FACTOR` ways in further passes until the normed bound is at
most :data:`WASSERSTEIN_TOLERANCE` (1e-3) — and, for a score that close to its threshold, until the
bound no longer straddles the threshold (up to :data:`MAX_LEVELS` passes). Where the two CDFs lie
close together their difference may change sign in every bin, and the bound is then about half a bin
width: 16384 bins settle a column whose range spans up to ~30 standard deviations in the first pass,
so only long-tailed columns (or scores at their threshold) pay for refinement passes. Bins at level
L have width ``w0 / 64**L``; 64 is a power of two, so a bin index at level L+1 floor-divided by 64 is
exactly its parent's index at level L (the division is exact in binary floating point) and bins of
different levels never overlap.

numpy only (imported inside the functions): scipy's ``jensenshannon`` and ``rel_entr`` cost
≈0.6–1.1 s of import for four lines of arithmetic, written out below as scipy defines them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

#: Bins of the first histogram pass over the common range of both datasets.
INITIAL_BINS = 16384
#: Sub-bins each refined bin is split into (a power of two: exact nesting, see the module docstring).
REFINE_FACTOR = 64
#: Refinement passes at most after the first histogram.
MAX_LEVELS = 4
#: The normed Wasserstein distance is reported within this much of the exact value.
WASSERSTEIN_TOLERANCE = 1e-3
#: Evidently's floor of the reference standard deviation in the normed Wasserstein distance.
STD_FLOOR = 0.001


@dataclass(frozen=True)
class Bin:
    """One side's aggregates of one histogram bin: ``index`` at ``level`` of the grid."""

    level: int
    index: int
    count: int
    #: Σ (x − origin) over the bin's values (the origin is the grid's lower end).
    offset_sum: float
    minimum: float
    maximum: float


@dataclass(frozen=True)
class BinTable:
    """One side's bins as numpy columns (what a histogram query returns), in any order; each
    (level, index) at most once. The same fields as :class:`Bin`, without a Python object per bin."""

    level: Any
    index: Any
    count: Any
    offset_sum: Any
    minimum: Any
    maximum: Any

    @classmethod
    def of(cls, bins: Sequence[Bin]) -> BinTable:
        import numpy as np

        return cls(
            level=np.array([b.level for b in bins], dtype=np.int64),
            index=np.array([b.index for b in bins], dtype=np.int64),
            count=np.array([b.count for b in bins], dtype=float),
            offset_sum=np.array([b.offset_sum for b in bins], dtype=float),
            minimum=np.array([b.minimum for b in bins], dtype=float),
            maximum=np.array([b.maximum for b in bins], dtype=float),
        )

    @classmethod
    def empty(cls) -> BinTable:
        return cls.of([])

    def __len__(self) -> int:
        return len(self.index)

    def without(self, level: int, indexes: Any) -> BinTable:
        """These bins minus those at ``level`` whose index is in ``indexes`` (refined away)."""
        import numpy as np

        keep = ~((self.level == level) & np.isin(self.index, indexes))
        return self.select(keep)

    def select(self, mask: Any) -> BinTable:
        return BinTable(*(getattr(self, f)[mask] for f in _FIELDS))

    @staticmethod
    def concat(tables: Sequence[BinTable]) -> BinTable:
        import numpy as np

        return BinTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in _FIELDS))


_FIELDS = ("level", "index", "count", "offset_sum", "minimum", "maximum")


@dataclass(frozen=True)
class WassersteinEstimate:
    """W1 between the two samples, with a certified bound: |exact − distance| ≤ bound."""

    distance: float
    bound: float
    #: (level, index) → that bin's share of the bound, for choosing what to refine.
    bin_bounds: dict[tuple[int, int], float]


def wasserstein_from_bins(
    reference: Sequence[Bin] | BinTable,
    current: Sequence[Bin] | BinTable,
    *,
    origin: float,
    reference_rows: int,
    current_rows: int,
) -> WassersteinEstimate:
    """W1(reference, current) from per-bin aggregates of both sides on the same (nested) grid.

    ``reference_rows``/``current_rows`` are the sides' value counts (the bins' counts sum to them).
    The bins of each side must partition its values; bins with the same (level, index) on both
    sides cover the same interval.
    """
    import numpy as np

    ref = reference if isinstance(reference, BinTable) else BinTable.of(reference)
    cur = current if isinstance(current, BinTable) else BinTable.of(current)
    if not len(ref) and not len(cur):
        return WassersteinEstimate(0.0, 0.0, {})
    levels, indexes, columns = _merged(ref, cur, reference_rows, current_rows)
    count_r, off_r, low_r, high_r, a0, a1 = columns["r"]
    count_c, off_c, low_c, high_c, b0, b1 = columns["c"]
    start = np.fmin(low_r, low_c)  # fmin/fmax ignore the side a bin has no values on
    end = np.fmax(high_r, high_c)

    # Between bins both CDFs are constant: exact.
    gaps = np.maximum(start[1:] - end[:-1], 0.0)
    between = float(np.sum(np.abs(a1[:-1] - b1[:-1]) * gaps))

    # Inside a bin: ∫F over [s, t] = (t − s)·F(s⁻) + (m·(t − origin) − Σ(x − origin)) / n, exactly.
    width = end - start
    integral_r = width * a0 + (count_r * (end - origin) - off_r) / reference_rows
    integral_c = width * b0 + (count_c * (end - origin) - off_c) / current_rows
    exact_integral = integral_r - integral_c

    # Pointwise bounds of each CDF on the ≤ 5 pieces between the bin's breakpoints.
    points = np.sort(
        np.stack([start, np.where(count_r > 0, low_r, start), np.where(count_r > 0, high_r, start),
                  np.where(count_c > 0, low_c, start), np.where(count_c > 0, high_c, start), end], axis=1),
        axis=1,
    )  # fmt: skip
    lengths = np.diff(points, axis=1)
    middle = (points[:, :-1] + points[:, 1:]) / 2

    def bounds(low: Any, high: Any, f0: Any, f1: Any, count: Any) -> tuple[Any, Any]:
        has = (count > 0)[:, None]
        upper = np.where(has & (middle >= low[:, None]), f1[:, None], f0[:, None])
        lower = np.where(has & (middle >= high[:, None]), f1[:, None], f0[:, None])
        return lower, upper

    r_lo, r_hi = bounds(low_r, high_r, a0, a1, count_r)
    c_lo, c_hi = bounds(low_c, high_c, b0, b1, count_c)
    d_lo, d_hi = r_lo - c_hi, r_hi - c_lo
    positive = np.sum(lengths * np.maximum(d_hi, 0.0), axis=1)  # ≥ ∫ max(D, 0)
    negative = np.sum(lengths * np.maximum(-d_lo, 0.0), axis=1)  # ≥ ∫ max(−D, 0)
    widest = np.sum(lengths * np.maximum(np.abs(d_lo), np.abs(d_hi)), axis=1)
    nearest = np.sum(lengths * (np.maximum(d_lo, 0.0) + np.maximum(-d_hi, 0.0)), axis=1)
    lower_area = np.maximum(np.abs(exact_integral), nearest)
    upper_area = np.minimum(widest, np.minimum(exact_integral + 2 * negative, 2 * positive - exact_integral))
    upper_area = np.maximum(upper_area, lower_area)
    inside = (lower_area + upper_area) / 2
    half = (upper_area - lower_area) / 2
    return WassersteinEstimate(
        distance=between + float(np.sum(inside)),
        bound=float(np.sum(half)),
        bin_bounds={(int(levels[i]), int(indexes[i])): float(half[i]) for i in np.flatnonzero(half > 0)},
    )


def _merged(ref: BinTable, cur: BinTable, reference_rows: int, current_rows: int) -> tuple[Any, Any, Any]:
    """Both sides' bins on the union of their (level, index) keys, in value order: the keys' levels and
    indexes, and per side (count, Σ(x − origin), min, max, F below the bin, F after it)."""
    import numpy as np

    # Bins in value order: a bin at level L covers the finest-level indexes index·64^(deepest−L) on.
    deepest = int(max(ref.level.max(initial=0), cur.level.max(initial=0)))
    sort_r = ref.index * np.power(np.int64(REFINE_FACTOR), deepest - ref.level)
    sort_c = cur.index * np.power(np.int64(REFINE_FACTOR), deepest - cur.level)
    keys = np.union1d(sort_r, sort_c)
    at_r, at_c = np.searchsorted(keys, sort_r), np.searchsorted(keys, sort_c)
    levels = np.zeros(len(keys), dtype=np.int64)
    indexes = np.zeros(len(keys), dtype=np.int64)
    levels[at_r], indexes[at_r] = ref.level, ref.index
    levels[at_c], indexes[at_c] = cur.level, cur.index
    columns = {}
    for name, side, at, rows in (("r", ref, at_r, reference_rows), ("c", cur, at_c, current_rows)):
        count = np.zeros(len(keys))
        offsets = np.zeros(len(keys))
        low = np.full(len(keys), np.nan)
        high = np.full(len(keys), np.nan)
        count[at], offsets[at], low[at], high[at] = side.count, side.offset_sum, side.minimum, side.maximum
        before = (np.cumsum(count) - count) / rows  # F just below the bin
        after = before + count / rows  # F at and after the bin's largest value
        columns[name] = (count, offsets, low, high, before, after)
    return levels, indexes, columns


def std_norm(variance: float) -> float:
    """Evidently's denominator: the reference's population standard deviation, at least 0.001."""
    return max(math.sqrt(max(variance, 0.0)), STD_FLOOR)


def to_refine(estimate: WassersteinEstimate, *, norm: float, tolerance: float) -> list[tuple[int, int]]:
    """The bins whose split brings the normed bound under ``tolerance``: largest bounds first, until
    what is left unrefined is at most a quarter of it (the refined bins' own bounds shrink ≈64×)."""
    budget = tolerance * norm / 4
    remaining = estimate.bound
    chosen = []
    for key, value in sorted(estimate.bin_bounds.items(), key=lambda item: -item[1]):
        if remaining <= budget:
            break
        chosen.append(key)
        remaining -= value
    return chosen


def wasserstein_normed(reference: pd.Series, current: pd.Series) -> float | None:
    """Evidently's ``wasserstein`` score, W1(reference, current) / max(std(reference), 0.001), or None.

    For samples of equal size the first Wasserstein distance is the mean absolute difference of the
    sorted samples (the quantile form of ∫|F_r - F_c|): two sorts instead of scipy's two argsorts, a
    sort of the merged 2n values and two binary searches. Equal to Evidently's value up to float
    rounding (tests/integration/test_drift_evidently.py compares them). Other sizes return None: the
    caller then runs Evidently's own implementation.
    """
    import numpy as np

    if len(reference) != len(current) or not len(reference):
        return None
    ref = reference.to_numpy(dtype=float)
    cur = current.to_numpy(dtype=float)
    norm = max(float(np.std(ref)), 0.001)
    distance = float(np.mean(np.abs(np.sort(ref) - np.sort(cur))))
    return distance / norm


def jensenshannon_from_counts(reference: Mapping[Any, int], current: Mapping[Any, int]) -> float:
    """Evidently's ``jensenshannon`` on categories: scipy's JS distance (natural log) of the two
    sides' value shares over the union of their values; counts of nulls excluded by the caller."""
    import numpy as np

    keys = list(dict.fromkeys([*reference, *current]))
    ref_total = sum(reference.values())
    cur_total = sum(current.values())
    p = np.array([reference.get(k, 0) / ref_total for k in keys], dtype=float)
    q = np.array([current.get(k, 0) / cur_total for k in keys], dtype=float)
    # scipy.spatial.distance.jensenshannon(p, q), step for step.
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    total = float(np.sum(_rel_entr(p, m)) + np.sum(_rel_entr(q, m)))
    return math.sqrt(total / 2.0)


def _rel_entr(x: Any, y: Any) -> Any:
    """scipy.special.rel_entr: x·log(x/y) for x, y > 0; 0 for x = 0 ≤ y; inf otherwise."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        value = x * np.log(x / y)
    return np.where(x == 0, 0.0, np.where(y > 0, value, np.inf))
