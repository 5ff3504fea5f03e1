"""The drift check on data that stays where it lives: aggregates in, the same verdict out.

:func:`evaluate_drift_sources` is :func:`~release_gates.checks.drift.evaluate_drift` for two
:class:`~release_gates.aggregates.engine.AggregateSource` (files through DuckDB, SQL tables in their
own database). It keeps every rule of the in-memory engine — Evidently's method choice, thresholds,
the dataset-drift share, prediction drift, and every INCONCLUSIVE/ERROR case with the same messages —
and changes only where the numbers come from:

* large samples (auto → Wasserstein or Jensen–Shannon, or those two named by the policy) are computed
  from aggregates the database returns (:mod:`release_gates.aggregates.drift_queries`): value counts
  for Jensen–Shannon (exact), histogram bins for the normed Wasserstein distance (within
  :data:`~release_gates.checks.drift_aggregates.WASSERSTEIN_TOLERANCE` of the exact value, certified;
  a score whose bound still straddles its threshold after every refinement is INCONCLUSIVE);
* a column with at most ``large_sample_rows`` reference values (a p-value test), and any other
  method a policy names, reads that column's values and runs the in-memory engine's own test on
  them, exactly as before — only then are pandas and Evidently imported.

The HTML report, when asked for, is rendered from a random sample of ``report_rows`` per side.
No Airflow, pandas or Evidently import on the aggregate path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.checks.drift import (
    DEFAULT_REPORT_ROWS,
    KIND,
    ColumnDrift,
    ColumnKind,
    DriftProblems,
    MethodChoice,
    auto_method,
    decide_columns,
    drift_finding,
    drift_summary,
    final_status,
    inconclusive_result,
    kind_word,
    note_prediction_not_measured,
    note_unmeasured,
    policy_method,
    report_unmatched,
)
from release_gates.checks.drift_aggregates import WASSERSTEIN_TOLERANCE, jensenshannon_from_counts
from release_gates.datasets import describe_error
from release_gates.exceptions import AggregateLimitError, DatasetError, DriftInputError
from release_gates.results import Artifact, CheckResult, Status, utcnow

if TYPE_CHECKING:
    from release_gates.aggregates.drift_queries import NumericStats
    from release_gates.aggregates.engine import AggregateSource
    from release_gates.checks.drift_histograms import ColumnGrid
    from release_gates.policy import DriftCheck

#: Distinct values of a categorical column counted from aggregates at most (more: INCONCLUSIVE).
MAX_CATEGORIES = 100_000
#: Methods computed from aggregates; any other method reads the column's values.
AGGREGATE_METHODS = ("wasserstein", "jensenshannon")
#: Both distances' default threshold in Evidently 0.7.
DEFAULT_THRESHOLD = 0.1


@dataclass
class _Side:
    """One dataset of the comparison, with what has been asked of it so far."""

    source: AggregateSource
    name: str
    role: str
    #: Column name as the check calls it → the source's own column name.
    rename: Mapping[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    numeric: dict[str, NumericStats] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    #: Categorical column → its value counts, asked together for all columns (see _prefetch).
    categories: dict[str, dict[Any, int]] = field(default_factory=dict)
    #: (id of the other side, column) → the column's histograms against that side.
    grids: dict[tuple[int, str], ColumnGrid] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.rename.get(name, name)

    def has(self, name: str) -> bool:
        return self.column(name) in self.source.columns()

    def kind(self, name: str) -> ColumnKind | None:
        value = self.values[name]
        if value is None:
            return None
        return "num" if isinstance(value, int | float) and not isinstance(value, bool) else _other(value)

    def prepare(self, names: Sequence[str]) -> None:
        """One non-null value per column (its type) and, in one scan, each column's counts."""
        from release_gates.aggregates.drift_queries import column_stats, first_values

        wanted = [n for n in names if n not in self.values]
        found = first_values(self.source, [self.column(n) for n in wanted])
        self.values.update({n: found[self.column(n)] for n in wanted})
        numeric = [n for n in wanted if self.kind(n) == "num"]
        categorical = [n for n in wanted if self.kind(n) == "cat"]
        stats, counts = column_stats(
            self.source, [self.column(n) for n in numeric], [self.column(n) for n in categorical]
        )
        self.numeric.update({n: stats[self.column(n)] for n in numeric})
        self.counts.update({n: counts[self.column(n)] for n in categorical})

    def count(self, name: str) -> int:
        if name in self.numeric:
            return self.numeric[name].count
        return self.counts.get(name, 0)


def _other(value: Any) -> ColumnKind:
    from decimal import Decimal

    return "num" if isinstance(value, Decimal) else "cat"


def evaluate_drift_sources(
    reference: AggregateSource,
    current: AggregateSource,
    spec: DriftCheck,
    *,
    check_id: str,
    reference_name: str = "reference",
    current_name: str = "current",
    prediction_columns: Sequence[str] = (),
    prediction_reference: AggregateSource | None = None,
    prediction_reference_columns: Mapping[str, str] | None = None,
    prediction_reference_name: str = "prediction_reference",
    artifact_dir: str | Path | None = None,
    report_rows: int = DEFAULT_REPORT_ROWS,
    inputs: dict[str, Any] | None = None,
) -> CheckResult:
    """Compare ``current`` with ``reference`` column by column (see the module docstring).

    :param prediction_reference_columns: prediction column (the current data's name) → its column
        in ``prediction_reference`` (default: the same name).
    """
    started = utcnow()
    names = {"reference": reference_name, "current": current_name}
    sides = {
        "reference": _Side(reference, reference_name, "reference"),
        "current": _Side(current, current_name, "current"),
    }
    if prediction_reference is not None:
        names["prediction_reference"] = prediction_reference_name
        sides["prediction_reference"] = _Side(
            prediction_reference,
            prediction_reference_name,
            "reference",
            rename=dict(prediction_reference_columns or {}),
        )
    base: dict[str, Any] = {
        "check_id": check_id,
        "kind": KIND,
        "started_at": started,
        "inputs": dict(inputs or {}),
    }
    try:
        return _evaluate(
            sides,
            spec,
            names=names,
            prediction_columns=prediction_columns,
            artifact_dir=artifact_dir,
            report_rows=report_rows,
            base=base,
        )
    except (DriftInputError, DatasetError, AggregateLimitError) as exc:
        facts = {"type": type(exc).__name__, "transient": exc.transient}
        return CheckResult.error(message=str(exc), metrics={"error": facts}, **base)


def _evaluate(
    sides: dict[str, _Side],
    spec: DriftCheck,
    *,
    names: dict[str, str],
    prediction_columns: Sequence[str],
    artifact_dir: str | Path | None,
    report_rows: int,
    base: dict[str, Any],
) -> CheckResult:
    from importlib.metadata import version

    from release_gates.aggregates.drift_queries import row_count

    reference, current = sides["reference"], sides["current"]
    problems = DriftProblems()
    rows = {role: row_count(sides[role].source) for role in ("reference", "current")}
    metrics: dict[str, Any] = {"rows": rows}
    for role in ("reference", "current"):
        if rows[role] == 0:
            return inconclusive_result(
                base, f"dataset {names[role]!r} ({role}) is empty: nothing to compare", metrics
            )
    metrics["sampling"] = {"sample_rows": None, "seed": spec.seed, "sampled": False}
    features, unmatched = _feature_columns(reference, current, spec, names, prediction_columns)
    metrics["unmatched_columns"] = unmatched
    report_unmatched(problems, unmatched, spec, names)

    facts: dict[str, dict[str, Any]] = {}
    reference.prepare(features)
    current.prepare(features)
    _prefetch(features, reference, current, spec)
    results = {}
    for column in features:
        measured = _test_column(column, reference, current, spec, names, problems, facts)
        if measured is not None:
            results[column] = measured
    decide_columns(results, features, spec, problems, metrics)
    baseline = sides.get("prediction_reference", reference)
    metrics["prediction"] = _prediction_drift(
        baseline,
        current,
        spec,
        names=names,
        prediction_columns=prediction_columns,
        problems=problems,
        facts=facts,
    )
    status = final_status(results, metrics, problems)
    metrics["aggregates"] = {
        "engines": {role: side.source.dialect for role, side in sides.items()},
        "wasserstein_tolerance": WASSERSTEIN_TOLERANCE,
        "columns": facts,
    }
    artifacts: list[Artifact] = []
    if artifact_dir is not None and results:
        artifacts, metrics["report"] = _report(
            reference, current, results, spec, base, artifact_dir, report_rows
        )
    return CheckResult(
        status=status,
        summary=drift_summary(metrics, spec),
        metrics=metrics,
        findings=tuple(problems.findings),
        artifacts=tuple(artifacts),
        engine={"evidently": version("evidently"), "aggregates": reference.source.dialect},
        finished_at=utcnow(),
        **base,
    )


def _feature_columns(
    reference: _Side,
    current: _Side,
    spec: DriftCheck,
    names: dict[str, str],
    prediction_columns: Sequence[str],
) -> tuple[list[str], dict[str, str]]:
    """As :func:`release_gates.checks.drift._feature_columns`, from the sources' column names."""
    if spec.columns is not None:
        for column in spec.columns:
            for side in (reference, current):
                if column not in side.source.columns():
                    raise DriftInputError(
                        f"dataset {names[side.role]!r} ({side.role}) has no column {column!r} "
                        f"(has: {', '.join(side.source.columns()[:20])})"
                    )
        return list(spec.columns), {}
    skip = set(prediction_columns)
    ref_cols = [c for c in reference.source.columns() if c not in skip]
    cur_cols = {c for c in current.source.columns() if c not in skip}
    features = [c for c in ref_cols if c in cur_cols]
    unmatched = {c: "reference" for c in ref_cols if c not in cur_cols}
    unmatched |= dict.fromkeys(sorted(cur_cols - set(ref_cols)), "current")
    return features, unmatched


# --------------------------------------------------------------------------------------------------
# One column
# --------------------------------------------------------------------------------------------------


def _test_column(  # noqa: PLR0917 - one column's inputs, always passed in this order
    column: str,
    reference: _Side,
    current: _Side,
    spec: DriftCheck,
    names: dict[str, str],
    problems: DriftProblems,
    facts: dict[str, dict[str, Any]],
) -> ColumnDrift | None:
    kinds = {"reference": reference.kind(column), "current": current.kind(column)}
    for side in (reference, current):
        if kinds[side.role] is None or side.count(column) == 0:
            message = (
                f"column {column!r} of dataset {names[side.role]!r} ({side.role}) has no values (all null): "
                "not compared"
            )
            note_unmeasured(problems, column, spec, message)
            return None
    if kinds["reference"] != kinds["current"]:
        ref_type, cur_type = (type(side.values[column]).__name__ for side in (reference, current))
        note_unmeasured(
            problems,
            column,
            spec,
            f"column {column!r} is {kind_word(kinds['reference'] or 'cat')} ({ref_type}) in "
            f"{names['reference']!r} but {kind_word(kinds['current'] or 'cat')} ({cur_type}) in "
            f"{names['current']!r}: wrong dtype, not compared",
        )
        return None
    kind: ColumnKind = kinds["reference"] or "cat"
    rows = reference.count(column)
    choice = policy_method(column, kind, spec)
    route = _route(choice, kind, rows, spec)
    if route == "memory":  # a p-value test, or a method only the in-memory engine has
        return _in_memory(column, kind, reference, current, spec, names, problems)
    if route == "wrong":
        raise DriftInputError(f"drift method 'wasserstein' does not apply to categorical column {column!r}")
    actual = _threshold(column, spec)
    try:
        measured = _measure(column, kind, rows, choice, reference, current, spec, actual)
    except (DatasetError, AggregateLimitError):
        raise
    except Exception as exc:
        name = choice.name if choice is not None else "auto"
        note_unmeasured(
            problems, column, spec, f"column {column!r}: {name} could not be computed: {describe_error(exc)}"
        )
        return None
    if isinstance(measured, str):
        note_unmeasured(problems, column, spec, measured)
        return None
    chosen, score, detail = measured
    facts[column] = detail
    return ColumnDrift(
        column=column,
        kind=kind,
        method=chosen.name,
        method_kind="distance",
        reason=chosen.reason,
        threshold=actual,
        score=score,
        drifted=score >= actual,
        reference_rows=rows,
        current_rows=current.count(column),
    )


def _route(choice: MethodChoice | None, kind: ColumnKind, rows: int, spec: DriftCheck) -> str:
    """Where a column is measured: "aggregates", "memory" (its values, the in-memory engine's own
    test) or "wrong" (the policy names Wasserstein for a categorical column)."""
    if choice is None:
        return "memory" if rows <= spec.large_sample_rows else "aggregates"
    if choice.name not in AGGREGATE_METHODS or (kind, choice.name) == ("num", "jensenshannon"):
        return "memory"
    return "wrong" if (kind, choice.name) == ("cat", "wasserstein") else "aggregates"


def _threshold(column: str, spec: DriftCheck) -> float:
    threshold = spec.column_thresholds.get(column, spec.threshold)
    return DEFAULT_THRESHOLD if threshold is None else float(threshold)


def _prefetch(features: Sequence[str], reference: _Side, current: _Side, spec: DriftCheck) -> None:
    """What the columns measured from aggregates will ask, asked together: the categorical columns'
    value counts in one statement per side, the numerical columns' histograms in one statement per
    side per pass (:mod:`release_gates.checks.drift_histograms`). Columns that cannot be measured are
    left to :func:`_test_column`, which reports them as before; so is any column the batch could not
    prepare for a reason other than the database's (DatasetError, AggregateLimitError: those stop the
    check either way)."""
    from release_gates.aggregates.drift_queries import category_counts
    from release_gates.checks.drift_histograms import open_grids, settle

    wanted: dict[ColumnKind, list[str]] = {"num": [], "cat": []}
    for column in features:
        kind = reference.kind(column)
        if kind is None or kind != current.kind(column) or not reference.count(column):
            continue
        if not current.count(column):
            continue
        if _route(policy_method(column, kind, spec), kind, reference.count(column), spec) == "aggregates":
            wanted[kind].append(column)
    for side in (reference, current):
        counted = category_counts(side.source, [side.column(c) for c in wanted["cat"]], limit=MAX_CATEGORIES)
        side.categories.update({c: counted[side.column(c)] for c in wanted["cat"]})
    if not wanted["num"]:
        return
    try:
        grids = open_grids(wanted["num"], reference, current)
        thresholds = {}
        for column, grid in grids.items():
            choice = policy_method(column, "num", spec)
            many = grid.more_than_few() if choice is None else True
            chosen = choice or auto_method("num", reference.count(column), many, spec, distinct=_never)
            if chosen.name == "wasserstein":
                thresholds[grid] = _threshold(column, spec)
        settle(thresholds)
    except (DatasetError, AggregateLimitError):
        raise
    except Exception:  # measured alone, each column reports its own error
        return
    current.grids.update({(id(reference), column): grid for column, grid in grids.items()})


def _measure(  # noqa: PLR0917
    column: str,
    kind: ColumnKind,
    rows: int,
    choice: MethodChoice | None,
    reference: _Side,
    current: _Side,
    spec: DriftCheck,
    threshold: float,
) -> tuple[MethodChoice, float, dict[str, Any]] | str:
    """The column's distance from aggregates: (method, score, facts), or why it is not measured."""
    from release_gates.aggregates.drift_queries import value_counts

    if kind == "cat":
        counts = [
            s.categories[column]
            if column in s.categories
            else value_counts(s.source, s.column(column), numeric=False, limit=MAX_CATEGORIES)
            for s in (reference, current)
        ]
        if any(len(c) > MAX_CATEGORIES for c in counts):
            return (
                f"column {column!r} has more than {MAX_CATEGORIES} distinct values: "
                "jensenshannon not computed from aggregates"
            )
        many = len({*counts[0], *counts[1]}) > 5
        chosen = choice or auto_method(kind, rows, many, spec, distinct=_never)
        return chosen, jensenshannon_from_counts(*counts), {"from": "value counts", "exact": True}
    grid = current.grids.get((id(reference), column))
    if grid is None:
        from release_gates.checks.drift_histograms import ColumnGrid

        grid = ColumnGrid.plan(column, reference, current)
    if choice is None:
        chosen = auto_method(kind, rows, grid.more_than_few(), spec, distinct=_never)
    else:
        chosen = choice
    if chosen.name == "jensenshannon":  # auto, at most five distinct values: Evidently counts them
        counts = [
            value_counts(s.source, s.column(column), numeric=True, limit=MAX_CATEGORIES)
            for s in (reference, current)
        ]
        return chosen, jensenshannon_from_counts(*counts), {"from": "value counts", "exact": True}
    score, bound, passes = grid.wasserstein(threshold)
    detail = {"from": "histogram", "bound": bound, "passes": passes, "bins": grid.bin_count()}
    low, high = score - bound, score + bound
    if bound > 0 and low < threshold <= high:
        return (
            f"column {column!r}: normed Wasserstein distance {score:.6g} ± {bound:.2g} from aggregates "
            f"cannot be told apart from the threshold {threshold:g}"
        )
    return chosen, score, detail


def _never() -> int:
    raise AssertionError("distinct values are only asked on small samples")


# --------------------------------------------------------------------------------------------------
# p-value tests and other methods: the column's values, through the in-memory engine
# --------------------------------------------------------------------------------------------------


def _in_memory(  # noqa: PLR0917
    column: str,
    kind: ColumnKind,
    reference: _Side,
    current: _Side,
    spec: DriftCheck,
    names: dict[str, str],
    problems: DriftProblems,
) -> ColumnDrift | None:
    import pandas as pd

    from release_gates.aggregates.drift_queries import column_values
    from release_gates.checks.drift import _test_column as test_in_memory

    numeric = kind == "num"
    series = [
        pd.Series(
            column_values(s.source, s.column(column), numeric=numeric), dtype=float if numeric else None
        )
        for s in (reference, current)
    ]
    return test_in_memory(series[0], series[1], column, spec, names, problems)


# --------------------------------------------------------------------------------------------------
# Prediction drift and the report
# --------------------------------------------------------------------------------------------------


def _prediction_drift(
    baseline: _Side,
    current: _Side,
    spec: DriftCheck,
    *,
    names: dict[str, str],
    prediction_columns: Sequence[str],
    problems: DriftProblems,
    facts: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """As :func:`release_gates.checks.drift._prediction_drift`, on the sources."""
    if not spec.prediction_drift:
        return {"measured": False, "reason": "prediction_drift is off in the policy"}
    if not prediction_columns:
        return {"measured": False, "reason": "no score or prediction column declared"}
    explicit = "prediction_reference" in names
    side_names = {**names, "reference": names["prediction_reference"]} if explicit else names
    result_facts: dict[str, Any] = {"measured": False, "reference": side_names["reference"], "columns": {}}
    for column in prediction_columns:
        missing = [
            role for role, side in (("reference", baseline), ("current", current)) if not side.has(column)
        ]
        if missing:
            note_prediction_not_measured(problems, spec, column, missing, side_names, explicit=explicit)
            continue
        baseline.prepare([column])
        current.prepare([column])
        result = _test_column(column, baseline, current, spec, side_names, problems, facts)
        if result is None:
            continue
        result_facts["measured"] = True
        result_facts["columns"][column] = result.to_dict()
        if result.drifted:
            problems.add(Status.FAIL, drift_finding(result, spec.severity, prediction=True))
    return result_facts


def _report(  # noqa: PLR0917
    reference: _Side,
    current: _Side,
    results: dict[str, ColumnDrift],
    spec: DriftCheck,
    base: dict[str, Any],
    artifact_dir: str | Path,
    report_rows: int,
) -> tuple[list[Artifact], dict[str, Any]]:
    """Evidently's HTML report from a random sample of each side (the verdict came from all rows)."""
    import pandas as pd

    from release_gates.aggregates.drift_queries import sample_rows
    from release_gates.checks.drift_report import render_drift_report

    columns = list(results)
    frames = []
    for offset, side in enumerate((reference, current)):
        rows = sample_rows(
            side.source, [side.column(c) for c in columns], rows=report_rows, seed=spec.seed + offset
        )
        frame = pd.DataFrame.from_records(rows, columns=columns)
        for column in columns:
            if results[column].kind == "num":
                frame[column] = pd.to_numeric(frame[column], errors="coerce")
        frames.append(frame)
    sampled = any(side.count(c) > report_rows for side in (reference, current) for c in columns)
    return render_drift_report(
        frames[0],
        frames[1],
        results,
        spec,
        check_id=base["check_id"],
        artifact_dir=artifact_dir,
        report_rows=report_rows,
        sampled=sampled,
    )
