"""Numerical columns' histograms for the drift check, asked of the database a pass at a time.

A :class:`ColumnGrid` is one column's histogram on both sides of a comparison (a uniform grid over
their common range, refined where the Wasserstein bound needs it, see
:mod:`release_gates.checks.drift_aggregates`). :func:`open_grids` and :func:`settle` work on many
columns at once: the first pass of every column is one statement per side, and so is every
refinement pass, which asks only for the bins of the columns still above their tolerance. Each
column's arithmetic, tolerance and pass limit are those of a column computed alone: batching changes
how many statements run, never a bin, a bound or a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from release_gates.checks.drift_aggregates import (
    INITIAL_BINS,
    MAX_LEVELS,
    REFINE_FACTOR,
    WASSERSTEIN_TOLERANCE,
    BinTable,
    std_norm,
    to_refine,
    wasserstein_from_bins,
)

if TYPE_CHECKING:
    from release_gates.aggregates.drift_queries import HistogramTask, NumericStats
    from release_gates.aggregates.engine import AggregateSource


class Side(Protocol):
    """What a grid needs of one dataset of the comparison (``drift_sources._Side``)."""

    source: AggregateSource
    numeric: dict[str, NumericStats]

    def column(self, name: str) -> str: ...


@dataclass(eq=False)  # identity: grids are keys of settle()'s thresholds
class ColumnGrid:
    """A column's histogram on both sides, refined until the Wasserstein bound is small enough."""

    column: str
    reference: Side
    current: Side
    origin: float
    width: float
    mean: float
    norm: float = 1.0
    bins: dict[str, BinTable] = field(default_factory=dict)
    passes: int = 0
    #: (normed distance, its bound, refinement passes) once settled, with the threshold it was for.
    result: tuple[float, float, int] | None = None
    settled_for: float | None = None

    @classmethod
    def plan(cls, column: str, reference: Side, current: Side) -> ColumnGrid:
        """The grid over both sides' range (no query); raises ValueError when that range is not finite."""
        ref, cur = reference.numeric[column], current.numeric[column]
        assert ref.minimum is not None and cur.minimum is not None and ref.maximum is not None
        assert cur.maximum is not None and ref.mean is not None
        origin = min(ref.minimum, cur.minimum)
        span = max(ref.maximum, cur.maximum) - origin
        if not math.isfinite(span):
            raise ValueError(f"the values' range {span} is not a finite number")
        grid = cls(column, reference, current, origin, span / INITIAL_BINS, ref.mean)
        if span == 0:  # one value on both sides: identical, W = 0, std = 0
            grid.norm = std_norm(0.0)
            grid.bins = {"r": BinTable.empty(), "c": BinTable.empty()}
        return grid

    @property
    def opened(self) -> bool:
        return bool(self.bins)

    def open(self) -> None:
        """The first pass for this column alone, unless a batch (:func:`open_grids`) made it."""
        if not self.opened:
            (square,) = _run([self], [self.first_task()], self.reference, self.current)
            self.norm = std_norm(square / self.reference.numeric[self.column].count)

    def first_task(self) -> HistogramTask:
        from release_gates.aggregates.drift_queries import HistogramTask

        # The task names the check's column; _run maps it to each side's own column name.
        return HistogramTask(self.column, origin=self.origin, width=self.width, level=0, mean=self.mean)

    def refine_tasks(self, chosen: Sequence[tuple[int, int]]) -> list[HistogramTask]:
        from release_gates.aggregates.drift_queries import HistogramTask

        tasks = []
        for level in sorted({level for level, _ in chosen}):
            tasks.append(
                HistogramTask(
                    self.column,
                    origin=self.origin,
                    width=self.width / REFINE_FACTOR ** (level + 1),
                    level=level + 1,
                    mean=self.mean,
                    parents=tuple(index for lv, index in chosen if lv == level),
                    parent_width=self.width / REFINE_FACTOR**level,
                )
            )
        return tasks

    def bin_count(self) -> int:
        import numpy as np

        r, c = self.bins["r"], self.bins["c"]
        keys = np.union1d(r.index * 8 + r.level, c.index * 8 + c.level)  # levels < 8
        return len(keys)

    def more_than_few(self, limit: int = 5) -> bool:
        """Whether both sides together hold more than ``limit`` distinct values: from the bins' smallest
        and largest values when they decide it, else by asking the next value up to ``limit`` times."""
        from release_gates.aggregates.drift_queries import next_value

        self.open()
        if self.bin_count() > limit:  # each bin holds at least one value
            return True
        seen: dict[tuple[int, int], set[float]] = {}
        for table in self.bins.values():
            for level, index, low, high in zip(
                table.level, table.index, table.minimum, table.maximum, strict=True
            ):
                seen.setdefault((int(level), int(index)), set()).update((float(low), float(high)))
        if sum(len(v) for v in seen.values()) > limit:
            return True
        if self.width == 0 or all(len(v) == 1 for v in seen.values()):
            return sum(len(v) for v in seen.values()) > limit
        value = self.origin
        found = 1
        while found <= limit:
            after = [
                next_value(s.source, s.column(self.column), value) for s in (self.reference, self.current)
            ]
            candidates = [v for v in after if v is not None]
            if not candidates:
                return False
            value = min(candidates)
            found += 1
        return True

    def step(self, threshold: float) -> list[tuple[int, int]]:
        """The bins to refine next for ``threshold``, or [] when settled (then :attr:`result` is set):
        the bound is within the tolerance and does not straddle the threshold, or :data:`MAX_LEVELS`
        passes were made."""
        ref, cur = self.reference.numeric[self.column], self.current.numeric[self.column]
        estimate = wasserstein_from_bins(
            self.bins["r"],
            self.bins["c"],
            origin=self.origin,
            reference_rows=ref.count,
            current_rows=cur.count,
        )
        score, bound = estimate.distance / self.norm, estimate.bound / self.norm
        tolerance = WASSERSTEIN_TOLERANCE
        if score - bound < threshold <= score + bound:
            tolerance = min(tolerance, abs(score - threshold) / 2)
        chosen = []
        if bound > tolerance and self.passes < MAX_LEVELS:
            chosen = to_refine(estimate, norm=self.norm, tolerance=tolerance)
        if not chosen:
            self.result, self.settled_for = (score, bound, self.passes), threshold
        return chosen

    def wasserstein(self, threshold: float) -> tuple[float, float, int]:
        """(normed distance, its bound, refinement passes) for ``threshold``, refining alone if no batch
        settled it for that threshold."""
        if self.result is None or self.settled_for != threshold:
            settle({self: threshold})
        assert self.result is not None
        return self.result


def open_grids(columns: Sequence[str], reference: Side, current: Side) -> dict[str, ColumnGrid]:
    """Every column's first histogram pass: one statement per side for all of them. A column whose
    range is not finite is left out (asked alone, it reports why it cannot be computed)."""
    grids = {}
    for column in columns:
        try:
            grids[column] = ColumnGrid.plan(column, reference, current)
        except ValueError:
            continue
    pending = [g for g in grids.values() if not g.opened]
    squares = _run(pending, [g.first_task() for g in pending], reference, current)
    for grid, square in zip(pending, squares, strict=True):
        grid.norm = std_norm(square / reference.numeric[grid.column].count)
    return grids


def settle(thresholds: Mapping[ColumnGrid, float]) -> None:
    """Refine every grid until it is settled for its threshold, all of them in one statement per
    side per pass; the grids must share their two sides."""
    for grid in thresholds:
        grid.open()
        grid.result = None
    pending = dict(thresholds)
    while pending:
        owners: list[ColumnGrid] = []
        tasks: list[HistogramTask] = []
        for grid, threshold in list(pending.items()):
            chosen = grid.step(threshold)
            if not chosen:
                del pending[grid]
                continue
            grid.passes += 1
            for task in grid.refine_tasks(chosen):
                owners.append(grid)
                tasks.append(task)
        if tasks:
            first = next(iter(pending))
            _run(owners, tasks, first.reference, first.current)


def _run(
    owners: Sequence[ColumnGrid], tasks: Sequence[HistogramTask], reference: Side, current: Side
) -> list[float]:
    """The tasks on both sides (one statement each); each owner's bins updated (refined parents
    replaced by their children). Returns each task's Σ(x − mean)² on the reference side."""
    from dataclasses import replace

    from release_gates.aggregates.drift_queries import histograms

    if not tasks:
        return []
    squares: list[float] = []
    for key, side in (("r", reference), ("c", current)):
        mapped = [replace(t, column=side.column(t.column)) for t in tasks]
        results = histograms(side.source, mapped)
        for grid, task, result in zip(owners, tasks, results, strict=True):
            table = grid.bins.get(key)
            if table is not None and task.parents is not None:
                table = table.without(task.level - 1, list(task.parents))
            grid.bins[key] = BinTable.concat([table, result.bins]) if table is not None else result.bins
            if key == "r":
                squares.append(result.squares)
    return squares
