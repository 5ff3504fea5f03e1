"""Subgroup fairness with uncertainty: counts → rates with Wilson intervals → criteria → CheckResult.

Every number comes from one table of outcome counts (TP, FP, TN, FN per finest subgroup), built by a
single grouped aggregation — :func:`count_outcomes` in memory, or :func:`count_outcomes_sql` as one
``GROUP BY`` pushed down to the database, so warehouse tables never leave the warehouse
(:mod:`~release_gates.checks.fairness_counts`). Marginal and intersectional groups are sums of those
cells; both paths give identical results.

The decision rule respects uncertainty (``decision: interval``, the default): a criterion PASSES
when it holds even at the unfavourable end of the groups' intervals, FAILS when it is breached even
at the favourable end, and is INCONCLUSIVE in between. Groups smaller than ``min_group_size`` and
rates whose denominator is zero make a criterion INCONCLUSIVE with the reason — a tiny group never
"looks perfectly fair". ``decision: point_estimate`` compares point estimates only.

The favourable end is the value the criterion takes at the ends of the two groups' Wilson intervals
most favourable to it: ``a.high / b.low`` for ``ratio_min``, the narrowest gap ``a.low − b.high``
for ``difference_max``. With many groups and criteria some comparison breaches by chance, so a FAIL
is confirmed over the whole check (``correction: holm`` by default, ``bh`` or ``none``): each
comparison's p-value is the smallest ``1 − confidence`` at which its favourable end still breaches,
and a criterion FAILs only when one of its comparisons' adjusted p-values is below ``1 − confidence``
(:mod:`~release_gates.checks.fairness_stats` states the exact rule). A breach that does not survive
the correction is INCONCLUSIVE, saying so. Every INCONCLUSIVE criterion carries ``power``: which
true values the current group sizes would decide at 80% power, and the rows per group needed to
decide the observed one.

``metric: calibration`` with ``calibration_gap_max`` judges each group's expected calibration error
against the overall population's calibration, from the score column, with seeded bootstrap
intervals (:mod:`~release_gates.checks.fairness_calibration`); its comparisons join the correction.

Positive class: the last of the dataset's ``label_values`` (else 1) — the favourable outcome, so
``selection_rate`` is the share of the group the model selects (e.g. approves).

Privacy: the result holds aggregates only; groups with fewer than ``min_cell_size`` rows are shown
as ``"<10"`` with no rates.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.checks.fairness_counts import (
    METRICS,
    MISSING,
    Cell,
    OutcomeCounts,
    Rate,
    count_outcomes,
    count_outcomes_sql,
    rate,
    wilson_interval,
)
from release_gates.checks.fairness_stats import (
    adjust_p_values,
    comparison_p_values,
    decision_z,
    gap_power,
    interval_breaches,
    rate_power,
    z_of,
)
from release_gates.exceptions import FairnessInputError
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.checks.fairness_calibration import CalibrationCounts, CalibrationTable
    from release_gates.policy import Criterion, FairnessCheck

__all__ = [
    "METRICS",
    "MISSING",
    "Cell",
    "CriterionOutcome",
    "FairnessInputError",
    "Group",
    "OutcomeCounts",
    "Rate",
    "count_outcomes",
    "count_outcomes_sql",
    "evaluate_criterion",
    "evaluate_subgroup_fairness",
    "rate",
    "wilson_interval",
]

#: What an undecided comparison could decide: (z to PASS, z to FAIL) → the power entry.
PowerOf = Callable[[float, float], dict[str, Any]]


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
    #: One p-value per comparison the criterion makes (decision: interval); see fairness_stats.
    p_values: tuple[float, ...] = ()
    #: Per comparison: breached at the favourable end (the uncorrected FAIL).
    breaches: tuple[bool, ...] = ()
    #: The smallest of its comparisons' p-values after the check's correction.
    p_adjusted: float | None = None
    #: For INCONCLUSIVE: what the group sizes can decide at 80% power, and the size needed.
    power: Mapping[str, Any] | None = None
    caveats: tuple[str, ...] = ()
    power_of: PowerOf | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {
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
            "comparisons": len(self.p_values),
            "p_value": _p(min(self.p_values)) if self.p_values else None,
            "p_adjusted": _p(self.p_adjusted),
        }
        if self.power is not None:
            out["power"] = dict(self.power)
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _p(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.4g}")


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return 1.0 if num == 0 else math.inf
    return num / den


def _unmeasured(criterion: Criterion, grouping: tuple[str, ...], reason: str) -> CriterionOutcome:
    return CriterionOutcome(criterion, grouping, Status.INCONCLUSIVE, None, None, None, (), reason)


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
    """Decide one rate criterion over the groups of one grouping (see the module docstring).

    A FAIL here is the uncorrected one: :func:`apply_correction` confirms it, or not, over the check.
    """
    metric, rule, threshold = criterion.metric, criterion.rule, criterion.threshold
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
        return _unmeasured(criterion, grouping, f"reference group {ref_name} is {why}; " + "; ".join(caveats))
    if len(usable) < 2:
        return _unmeasured(
            criterion,
            grouping,
            "fewer than two groups with enough data to compare"
            + (f" ({'; '.join(caveats)})" if caveats else ""),
        )

    pairs = _pairs(usable, reference)
    point, unfavourable, favourable, worst = _bounds(pairs, rule)
    p_values: tuple[float, ...] = ()
    breaches: tuple[bool, ...] = ()
    if decision == "point_estimate":
        unfavourable = favourable = point
    else:
        p_values, breaches = _comparison_tests(pairs, rule, threshold, reference, confidence)

    def holds(value: float) -> bool:
        return value >= threshold if rule == "ratio_min" else value <= threshold

    compared = tuple(g.name for g in worst)
    shown = "ratio" if rule == "ratio_min" else "difference"
    sign = "≥" if rule == "ratio_min" else "≤"
    described = (
        f"{metric} {shown} {compared[0]} vs {compared[1]} is {point:.3f} (needs {sign} {threshold:g}; "
        f"{confidence:.0%} bounds {min(unfavourable, favourable):.3f}–{max(unfavourable, favourable):.3f})"
    )
    (_, ra), (_, rb) = next(pair for pair in pairs if (pair[0][0], pair[1][0]) == worst)
    power_of = _rate_power_of(ra, worst[0].cell.n, rb, worst[1].cell.n, rule=rule, threshold=threshold)

    def outcome(status: Status, reason: str) -> CriterionOutcome:
        return CriterionOutcome(
            criterion,
            grouping,
            status,
            point,
            unfavourable,
            favourable,
            compared,
            reason,
            p_values=p_values,
            breaches=breaches,
            caveats=tuple(caveats),
            power_of=power_of,
        )

    if not holds(favourable):
        # Breached even at the favourable end: a FAIL stands whatever the small groups would show.
        return outcome(Status.FAIL, described)
    if caveats:
        return outcome(Status.INCONCLUSIVE, described + "; " + "; ".join(caveats))
    if holds(unfavourable):
        return outcome(Status.PASS, described)
    return outcome(Status.INCONCLUSIVE, described + "; the interval straddles the threshold")


def _rate_power_of(ra: Rate, rows_a: int, rb: Rate, rows_b: int, *, rule: str, threshold: float) -> PowerOf:
    assert ra.value is not None and rb.value is not None

    def power_of(z_pass: float, z_fail: float) -> dict[str, Any]:
        assert ra.value is not None and rb.value is not None
        return rate_power(
            rate_a=ra.value,
            share_a=ra.denominator / rows_a,
            rate_b=rb.value,
            share_b=rb.denominator / rows_b,
            rows_a=rows_a,
            rows_b=rows_b,
            rule=rule,
            threshold=threshold,
            z_pass=z_pass,
            z_fail=z_fail,
        )

    return power_of


def _comparison_tests(
    pairs: Sequence[tuple[tuple[Group, Rate], tuple[Group, Rate]]],
    rule: str,
    threshold: float,
    reference: tuple[str, ...] | None,
    confidence: float,
) -> tuple[tuple[float, ...], tuple[bool, ...]]:
    """Per directional comparison, its p-value and whether it is breached at the favourable end:
    every ordered pair (ratio: each group against the reference); a difference against a reference
    is tested in both directions."""
    directional = list(pairs)
    if rule == "difference_max" and reference is not None:
        directional += [(b, a) for a, b in pairs]
    counts = (
        [ra.numerator for (_, ra), _ in directional],
        [ra.denominator for (_, ra), _ in directional],
        [rb.numerator for _, (_, rb) in directional],
        [rb.denominator for _, (_, rb) in directional],
    )
    values = comparison_p_values(*counts, rule=rule, threshold=threshold)
    breached = interval_breaches(*counts, rule=rule, threshold=threshold, confidence=confidence)
    return tuple(float(v) for v in values), tuple(bool(b) for b in breached)


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


def evaluate_calibration(
    criterion: Criterion,
    grouping: tuple[str, ...],
    table: CalibrationTable | None,
    *,
    confidence: float,
    min_group_size: int,
    decision: str,
) -> CriterionOutcome:
    """``calibration_gap_max``: every group's ECE minus the ECE its rows would show if calibrated like
    the whole data set (see fairness_calibration), with the same three-way rule as the rates."""
    if table is None:
        return _unmeasured(criterion, grouping, "calibration not measured: no score column was read")
    threshold = criterion.threshold
    entries = table.groups[grouping]
    small = [e for e in entries if e.rows < min_group_size]
    usable = [e for e in entries if e.rows >= min_group_size]
    name = {e.key: ", ".join(f"{f}={v}" for f, v in zip(grouping, e.key, strict=True)) for e in entries}
    caveats = []
    if small:
        names = ", ".join(name[e.key] for e in small[:4])
        caveats.append(f"{len(small)} group(s) below min_group_size {min_group_size}: {names}")
    if not usable:
        return _unmeasured(criterion, grouping, "no group with enough data to judge calibration")
    z = z_of(confidence)
    worst = max(usable, key=lambda e: e.gap)
    unfavourable = max(e.gap_bounds(z)[1] for e in usable)
    favourable = max(e.gap_bounds(z)[0] for e in usable)
    p_values: tuple[float, ...] = ()
    breaches: tuple[bool, ...] = ()
    if decision == "point_estimate":
        unfavourable = favourable = worst.gap
    else:
        p_values = tuple(e.p_value(threshold) for e in usable)
        breaches = tuple(e.gap_bounds(z)[0] > threshold for e in usable)
    described = (
        f"calibration gap {name[worst.key]} is {worst.gap:.3f}: ECE {worst.ece:.3f} vs {worst.reference:.3f} "
        f"for the same rows calibrated like the whole data set (needs ≤ {threshold:g}; {confidence:.0%} "
        f"bounds {favourable:.3f}–{unfavourable:.3f})"
    )

    def power_of(z_pass: float, z_fail: float) -> dict[str, Any]:
        return gap_power(
            gap=worst.gap, sd=worst.gap_sd, rows=worst.rows, threshold=threshold, z_pass=z_pass, z_fail=z_fail
        )

    def outcome(status: Status, reason: str) -> CriterionOutcome:
        return CriterionOutcome(
            criterion,
            grouping,
            status,
            worst.gap,
            unfavourable,
            favourable,
            (name[worst.key], "overall"),
            reason,
            p_values=p_values,
            breaches=breaches,
            caveats=tuple(caveats),
            power_of=power_of,
        )

    if favourable > threshold:
        return outcome(Status.FAIL, described)
    if caveats:
        return outcome(Status.INCONCLUSIVE, described + "; " + "; ".join(caveats))
    if unfavourable <= threshold:
        return outcome(Status.PASS, described)
    return outcome(Status.INCONCLUSIVE, described + "; the interval straddles the threshold")


def apply_correction(
    outcomes: Sequence[CriterionOutcome], *, correction: str, confidence: float, min_group_size: int
) -> list[CriterionOutcome]:
    """Confirm each uncorrected FAIL over the whole check (one family: every comparison of every
    criterion and grouping) and say, for each INCONCLUSIVE, what the sizes could decide.

    A FAIL stands when one of the criterion's comparisons is breached at the favourable end *and*
    has an adjusted p-value below ``1 − confidence`` (with ``none`` the first condition alone, as
    before corrections existed).
    """
    alpha = 1 - confidence
    family = [p for o in outcomes for p in o.p_values]
    adjusted = adjust_p_values(family, correction).tolist() if family else []
    z_pass, z_fail = decision_z(confidence, correction, len(family))
    out, start = [], 0
    for o in outcomes:
        mine = adjusted[start : start + len(o.p_values)]
        start += len(o.p_values)
        best = min(mine) if mine else None
        status, reason = o.status, o.reason
        breached = [p for b, p in zip(o.breaches, mine, strict=True) if b] or mine
        if status is Status.FAIL and mine and correction != "none" and min(breached) >= alpha:
            status = Status.INCONCLUSIVE
            reason += (
                f"; breached at the favourable end, but not after {correction} correction over "
                f"{len(family)} comparisons (adjusted p {min(breached):.3g} ≥ {alpha:g})"
            ) + "".join(f"; {c}" for c in o.caveats)
        power = None
        if status is Status.INCONCLUSIVE:
            power = _power(o, z_pass, z_fail, min_group_size)
            reason += _power_text(o.criterion.rule, power)
        out.append(replace(o, status=status, reason=reason, p_adjusted=best, power=power))
    return out


def _power(o: CriterionOutcome, z_pass: float, z_fail: float, min_group_size: int) -> dict[str, Any]:
    if o.power_of is None:  # nothing compared: at least every group must reach min_group_size
        return {"power": 0.8, "rows": None, "detectable": None, "needed_group_size": min_group_size}
    power = o.power_of(z_pass, z_fail)
    needed = power["needed_group_size"]
    power["needed_group_size"] = None if needed is None else max(needed, min_group_size)
    return power


def _power_text(rule: str, power: Mapping[str, Any]) -> str:
    needed = power.get("needed_group_size")
    detectable = power.get("detectable") or {}
    if not detectable:
        return f"; deciding needs at least {needed:,} rows per group"
    size = (
        f"≈ {needed:,} rows per group"
        if needed is not None
        else "more rows than any (it is on the threshold)"
    )
    shown = {"ratio_min": "ratio", "difference_max": "difference"}.get(rule, "gap")
    if rule == "ratio_min":
        fail, sign = detectable.get("fail_at_or_below"), "≤"
    else:
        fail, sign = detectable.get("fail_at_or_above"), "≥"
    now = f"a true {shown} {sign} {fail:.3f}" if fail is not None else "no true value"
    return f"; with 80% power these sizes detect {now} (FAIL); deciding this one needs {size}"


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
    counts: OutcomeCounts,
    grouping: tuple[str, ...],
    *,
    confidence: float,
    min_cell_size: int,
    calibration: CalibrationTable | None = None,
) -> list[dict[str, Any]]:
    """``metrics.groups`` entries: aggregates only; small groups suppressed."""
    eces = {e.key: e for e in calibration.groups.get(grouping, [])} if calibration is not None else {}
    table = []
    for key, cell in counts.project(grouping).items():
        entry: dict[str, Any] = {"group": dict(zip(grouping, key, strict=True))}
        if cell.n < min_cell_size:
            entry.update(n=f"<{min_cell_size}", suppressed=True, rates={})
        else:
            entry.update(n=cell.n, rates={m: _rate_dict(rate(cell, m, confidence)) for m in METRICS})
            if key in eces:
                e = eces[key]
                entry["rates"]["calibration"] = {
                    "value": _round(e.ece),
                    "ci_low": _round(e.ece_low),
                    "ci_high": _round(e.ece_high),
                }
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
    calibration: CalibrationCounts | None = None,
) -> CheckResult:
    """Decide every criterion of ``spec`` over every grouping of ``counts`` (and ``calibration``:
    score statistics from the same rows, for ``metric: calibration`` criteria)."""
    started = utcnow()
    engine = {"release-gates": __version__, "counts": counts.source}
    base_metrics: dict[str, Any] = {
        "rows": counts.rows,
        "source": counts.source,
        "decision": spec.decision,
        "confidence": spec.confidence,
        "correction": spec.correction,
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
    table = None
    if calibration is not None and spec.judges_calibration:
        from release_gates.checks.fairness_calibration import calibration_table

        table = calibration_table(
            calibration,
            all_groupings,
            confidence=spec.confidence,
            samples=spec.bootstrap_samples,
            seed=spec.seed,
        )
    outcomes: list[CriterionOutcome] = []
    groups_out: list[dict[str, Any]] = []
    for grouping in all_groupings:
        groups = [Group(grouping, key, cell) for key, cell in counts.project(grouping).items()]
        groups_out += group_table(
            counts, grouping, confidence=spec.confidence, min_cell_size=spec.min_cell_size, calibration=table
        )
        reference = None
        if spec.reference_group is not None:
            reference = tuple(str(spec.reference_group.get(f, "")) for f in grouping)
        for criterion in spec.criteria:
            if criterion.metric == "calibration":
                outcomes.append(
                    evaluate_calibration(
                        criterion,
                        grouping,
                        table,
                        confidence=spec.confidence,
                        min_group_size=spec.min_group_size,
                        decision=spec.decision,
                    )
                )
                continue
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
    outcomes = apply_correction(
        outcomes, correction=spec.correction, confidence=spec.confidence, min_group_size=spec.min_group_size
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
    metrics: dict[str, Any] = {
        **base_metrics,
        "comparisons": sum(len(o.p_values) for o in outcomes),
        "groupings": [list(g) for g in all_groupings],
        "groups": groups_out,
        "criteria": [o.to_dict() for o in outcomes],
    }
    if table is not None:
        metrics["calibration"] = {
            "reference": "overall",
            "overall": {
                "value": _round(table.overall),
                "ci_low": _round(table.overall_low),
                "ci_high": _round(table.overall_high),
            },
            "bins": table.bins,
            "bootstrap_samples": table.samples,
            "seed": table.seed,
        }
    return CheckResult(
        check_id=check_id,
        kind="fairness",
        status=status,
        summary=summary,
        metrics=metrics,
        findings=findings,
        inputs=dict(inputs or {}),
        engine=engine,
        started_at=started,
        finished_at=utcnow(),
    )


def _finding(outcome: CriterionOutcome, spec: FairnessCheck) -> Finding:
    criterion = outcome.criterion
    grouping = "×".join(outcome.grouping)
    rule = criterion.rule.replace("_", " ")
    if criterion.metric != "calibration":
        rule = f"{criterion.metric} {rule}"
    rule += f" {criterion.threshold:g}"
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
