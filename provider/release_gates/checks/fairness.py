"""Subgroup fairness with uncertainty: counts → rates with Wilson intervals → criteria → CheckResult.

Every number comes from one table of outcome counts (TP, FP, TN, FN per finest subgroup), built by a
single grouped aggregation — :func:`count_outcomes` in memory, or :func:`count_outcomes_sql` as one
``GROUP BY`` pushed down to the database, so warehouse tables never leave the warehouse. Marginal and
intersectional groups are sums of those cells; both paths give identical results.

The decision rule respects uncertainty (``decision: interval``, the default): a criterion PASSES
when it holds even at the unfavourable end of the groups' intervals, FAILS when it is breached even
at the favourable end, and is INCONCLUSIVE in between. Groups smaller than ``min_group_size`` and
rates whose denominator is zero make a criterion INCONCLUSIVE with the reason — a tiny group never
"looks perfectly fair". ``decision: point_estimate`` compares point estimates only.

Positive class: the last of the dataset's ``label_values`` (else 1) — the favourable outcome, so
``selection_rate`` is the share of the group the model selects (e.g. approves).

Privacy: the result holds aggregates only; groups with fewer than ``min_cell_size`` rows are shown
as ``"<10"`` with no rates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.exceptions import FairnessInputError
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Connection, Engine

    from release_gates.policy import Criterion, FairnessCheck

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


def _group_value(value: Any) -> str:
    """One spelling per group value on every path (pandas, SQLite, PostgreSQL)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _outcome(value: Any, column: str, positive: Any, negative: Any) -> bool | None:
    """True for the positive class, False for the negative one, None for anything else."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
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


# --------------------------------------------------------------------------------------------------
# Criteria
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    grouping: tuple[str, ...]
    key: tuple[str, ...]
    cell: Cell

    @property
    def label(self) -> dict[str, str]:
        return dict(zip(self.grouping, self.key, strict=True))

    @property
    def name(self) -> str:
        return ", ".join(f"{f}={v}" for f, v in zip(self.grouping, self.key, strict=True))


@dataclass(frozen=True)
class CriterionOutcome:
    criterion: Criterion
    grouping: tuple[str, ...]
    status: Status
    value: float | None
    ci_low: float | None  # the unfavourable end of the criterion's interval
    ci_high: float | None  # the favourable end
    groups_compared: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.criterion.metric,
            "rule": self.criterion.rule,
            "threshold": self.criterion.threshold,
            "grouping": list(self.grouping),
            "value": _round(self.value),
            # The interval in ascending order, and which end is which for this rule.
            "ci_low": _round(None if self.ci_low is None else min(self.ci_low, self.ci_high or self.ci_low)),
            "ci_high": _round(
                None if self.ci_high is None else max(self.ci_high, self.ci_low or self.ci_high)
            ),
            "unfavourable": _round(self.ci_low),
            "favourable": _round(self.ci_high),
            "status": self.status.value,
            "groups_compared": list(self.groups_compared),
            "reason": self.reason,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return 1.0 if num == 0 else math.inf
    return num / den


def evaluate_criterion(
    criterion: Criterion,
    grouping: tuple[str, ...],
    groups: Sequence[Group],
    *,
    reference: tuple[str, ...] | None,
    confidence: float,
    min_group_size: int,
    decision: str,
) -> CriterionOutcome:
    """Decide one criterion over the groups of one grouping (see the module docstring)."""
    metric, rule, threshold = criterion.metric, criterion.rule, criterion.threshold

    def outcome(status: Status, reason: str, measured: bool = True) -> CriterionOutcome:
        if not measured:
            return CriterionOutcome(criterion, grouping, status, None, None, None, (), reason)
        return CriterionOutcome(
            criterion, grouping, status, point, unfavourable, favourable, compared, reason
        )

    small = [g for g in groups if g.cell.n < min_group_size]
    rated = {g.key: (g, rate(g.cell, metric, confidence)) for g in groups if g.cell.n >= min_group_size}
    undefined = [g for g, r in rated.values() if not r.defined]
    usable = {k: (g, r) for k, (g, r) in rated.items() if r.defined}

    caveats = []
    if small:
        names = ", ".join(g.name for g in small[:4])
        caveats.append(f"{len(small)} group(s) below min_group_size {min_group_size}: {names}")
    if undefined:
        caveats.append(
            f"{metric} undefined (no cases in its denominator) for {', '.join(g.name for g in undefined[:4])}"
        )

    if reference is not None and reference not in usable:
        why = "missing" if all(g.key != reference for g in groups) else "too small or its rate is undefined"
        ref_name = ", ".join(f"{f}={v}" for f, v in zip(grouping, reference, strict=True))
        return outcome(
            Status.INCONCLUSIVE, f"reference group {ref_name} is {why}; " + "; ".join(caveats), measured=False
        )
    if len(usable) < 2:
        return outcome(
            Status.INCONCLUSIVE,
            "fewer than two groups with enough data to compare"
            + (f" ({'; '.join(caveats)})" if caveats else ""),
            measured=False,
        )

    pairs = _pairs(usable, reference)
    point, unfavourable, favourable, worst = _bounds(pairs, rule)
    if decision == "point_estimate":
        unfavourable = favourable = point

    def holds(value: float) -> bool:
        return value >= threshold if rule == "ratio_min" else value <= threshold

    compared = tuple(g.name for g in worst)
    shown = "ratio" if rule == "ratio_min" else "difference"
    sign = "≥" if rule == "ratio_min" else "≤"
    described = (
        f"{metric} {shown} {compared[0]} vs {compared[1]} is {point:.3f} (needs {sign} {threshold:g}; "
        f"{confidence:.0%} bounds {min(unfavourable, favourable):.3f}–{max(unfavourable, favourable):.3f})"
    )
    if not holds(favourable):
        # Breached even at the favourable end: a FAIL stands whatever the small groups would show.
        return outcome(Status.FAIL, described)
    if caveats:
        return outcome(Status.INCONCLUSIVE, described + "; " + "; ".join(caveats))
    if holds(unfavourable):
        return outcome(Status.PASS, described)
    return outcome(Status.INCONCLUSIVE, described + "; the interval straddles the threshold")


def _pairs(
    usable: Mapping[tuple[str, ...], tuple[Group, Rate]], reference: tuple[str, ...] | None
) -> list[tuple[tuple[Group, Rate], tuple[Group, Rate]]]:
    if reference is not None:
        ref = usable[reference]
        return [(item, ref) for key, item in usable.items() if key != reference]
    return list(itertools.permutations(usable.values(), 2))


def _bounds(
    pairs: Sequence[tuple[tuple[Group, Rate], tuple[Group, Rate]]], rule: str
) -> tuple[float, float, float, tuple[Group, Group]]:
    """Worst point value over the pairs, and its unfavourable and favourable interval ends.

    ratio (group a vs b): point a/b; unfavourable a.low/b.high; favourable a.high/b.low.
    difference: point |a−b|; unfavourable the widest gap the intervals allow; favourable the
    narrowest (0 when they overlap). The criterion must hold for every pair, so each bound takes
    the worst pair for that bound.
    """
    points, unfav, fav = [], [], []
    for (ga, ra), (gb, rb) in pairs:
        assert ra.value is not None and rb.value is not None
        assert ra.low is not None and ra.high is not None and rb.low is not None and rb.high is not None
        if rule == "ratio_min":
            points.append((_ratio(ra.value, rb.value), (ga, gb)))
            unfav.append(_ratio(ra.low, rb.high))
            fav.append(min(_ratio(ra.high, rb.low), math.inf))
        else:
            points.append((abs(ra.value - rb.value), (ga, gb)))
            unfav.append(max(ra.high - rb.low, rb.high - ra.low))
            fav.append(max(0.0, ra.low - rb.high, rb.low - ra.high))
    if rule == "ratio_min":
        point, worst = min(points, key=lambda p: p[0])
        return point, min(unfav), min(fav), worst
    point, worst = max(points, key=lambda p: p[0])
    return point, max(unfav), max(fav), worst


# --------------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------------


def groupings(features: Sequence[str], intersectional: bool) -> list[tuple[str, ...]]:
    """Each feature alone, then (if asked) every intersection of two or more."""
    out: list[tuple[str, ...]] = [(f,) for f in features]
    if intersectional:
        for size in range(2, len(features) + 1):
            out += list(itertools.combinations(features, size))
    return out


def group_table(
    counts: OutcomeCounts, grouping: tuple[str, ...], *, confidence: float, min_cell_size: int
) -> list[dict[str, Any]]:
    """``metrics.groups`` entries: aggregates only; small groups suppressed."""
    table = []
    for key, cell in counts.project(grouping).items():
        entry: dict[str, Any] = {"group": dict(zip(grouping, key, strict=True))}
        if cell.n < min_cell_size:
            entry.update(n=f"<{min_cell_size}", suppressed=True, rates={})
        else:
            entry.update(n=cell.n, rates={m: _rate_dict(rate(cell, m, confidence)) for m in METRICS})
        table.append(entry)
    return table


def _rate_dict(r: Rate) -> dict[str, float | None]:
    return {k: _round(v) for k, v in r.to_dict().items()}


def evaluate_subgroup_fairness(
    counts: OutcomeCounts,
    spec: FairnessCheck,
    *,
    check_id: str = "fairness",
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Decide every criterion of ``spec`` over every grouping of ``counts``."""
    started = utcnow()
    engine = {"release-gates": __version__, "counts": counts.source}
    base_metrics: dict[str, Any] = {
        "rows": counts.rows,
        "source": counts.source,
        "decision": spec.decision,
        "confidence": spec.confidence,
        "min_group_size": spec.min_group_size,
        "min_cell_size": spec.min_cell_size,
    }
    if counts.rows == 0:
        return CheckResult(
            check_id=check_id,
            kind="fairness",
            status=Status.INCONCLUSIVE,
            summary="no rows to evaluate: the evaluation data is empty",
            metrics=base_metrics,
            inputs=dict(inputs or {}),
            engine=engine,
            started_at=started,
            finished_at=utcnow(),
        )

    all_groupings = groupings(counts.features, spec.intersectional)
    outcomes: list[CriterionOutcome] = []
    groups_out: list[dict[str, Any]] = []
    for grouping in all_groupings:
        projected = counts.project(grouping)
        groups = [Group(grouping, key, cell) for key, cell in projected.items()]
        groups_out += group_table(
            counts, grouping, confidence=spec.confidence, min_cell_size=spec.min_cell_size
        )
        reference = None
        if spec.reference_group is not None:
            reference = tuple(str(spec.reference_group.get(f, "")) for f in grouping)
        for criterion in spec.criteria:
            outcomes.append(
                evaluate_criterion(
                    criterion,
                    grouping,
                    groups,
                    reference=reference,
                    confidence=spec.confidence,
                    min_group_size=spec.min_group_size,
                    decision=spec.decision,
                )
            )

    status = Status.worst(o.status for o in outcomes)
    findings = [_finding(o, spec) for o in outcomes if o.status is not Status.PASS]
    decisive = next((o for o in outcomes if o.status is status), outcomes[0])
    counts_by = {
        s: sum(o.status is s for o in outcomes) for s in (Status.PASS, Status.FAIL, Status.INCONCLUSIVE)
    }
    summary = (
        f"{counts_by[Status.FAIL]} failed, {counts_by[Status.INCONCLUSIVE]} inconclusive, "
        f"{counts_by[Status.PASS]} passed of {len(outcomes)} criterion checks"
        + ("" if status is Status.PASS else f"; first: {decisive.reason}")
    )
    return CheckResult(
        check_id=check_id,
        kind="fairness",
        status=status,
        summary=summary,
        metrics={
            **base_metrics,
            "groupings": [list(g) for g in all_groupings],
            "groups": groups_out,
            "criteria": [o.to_dict() for o in outcomes],
        },
        findings=findings,
        inputs=dict(inputs or {}),
        engine=engine,
        started_at=started,
        finished_at=utcnow(),
    )


def _finding(outcome: CriterionOutcome, spec: FairnessCheck) -> Finding:
    criterion = outcome.criterion
    grouping = "×".join(outcome.grouping)
    rule = f"{criterion.metric} {criterion.rule.replace('_', ' ')} {criterion.threshold:g}"
    if outcome.status is Status.FAIL:
        severity = criterion.severity or spec.severity
        title = f"{rule} breached by {grouping}"
    else:
        severity = Severity.LOW
        title = f"{rule} undecided for {grouping}"
    return Finding(
        id=f"{criterion.metric}.{criterion.rule}.{'.'.join(outcome.grouping)}",
        severity=severity,
        title=title,
        detail=outcome.reason + (f" Rationale: {criterion.rationale}" if criterion.rationale else ""),
        location=grouping,
        data=outcome.to_dict(),
    )
