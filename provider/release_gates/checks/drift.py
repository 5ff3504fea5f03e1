"""Data and prediction drift between a reference and a current dataset, with Evidently's statistics.

:func:`evaluate_drift` tests each column with one of Evidently 0.7's registered stat tests (the same
functions ``DataDriftPreset`` calls per column) and decides like the preset does: a column drifted when
its test says so at the threshold, and the dataset drifted when the share of drifted feature columns is
**at least** ``drift_share`` (Evidently's rule, ``share >= drift_share``). Prediction drift (the
datasets' ``score``/``prediction`` columns) is tested separately and fails the check on its own; its
baseline is ``prediction_reference`` when given (the live version's outputs on the same rows, which
a policy names because training data has no predictions), else the reference dataset.

Choosing the method, per column, in this order: ``column_methods[column]``, ``num_method`` /
``cat_method`` for the column's type, ``method`` unless it is ``auto``, else automatically:

* up to ``large_sample_rows`` (default 1000) reference rows: K-S (numerical, more than 5 distinct
  values), chi-square (more than 2 distinct values) or a Z-test (binary) — p-value tests;
* above it: normed Wasserstein distance (numerical, more than 5 distinct values) or Jensen–Shannon
  distance — *distance* measures. With large samples a p-value test flags shifts far too small to
  matter (Evidently issue #50), so the result says, per column, which method ran and why.

This is the preset's own selection rule, so verdicts match a raw ``DataDriftPreset`` run. The preset
computes every column's test three times and renders plots of the full data (≈92 s and 1 GB at
1M × 10 columns on two cores); this engine computes each test once, on the full data, and renders
Evidently's HTML report only from a seeded sample (``report_rows`` per side), saved as an artifact file.
Tests run through Evidently's registered stat-test objects, except the normed Wasserstein distance on
samples of equal size, which :func:`wasserstein_normed` computes in its cheaper, equal quantile form.

Optional deterministic sampling (``sample_rows`` with ``seed``) happens before anything else and is
recorded in the result. Bad input never passes: a column named in the policy that a dataset lacks, or
an unknown method, is ERROR; an empty dataset, an all-null column, a column whose type differs
between the datasets, a reference column the current data lacks, or a declared score/prediction column
the current data lacks is INCONCLUSIVE; messages name the dataset and the column.

Large data that stays where it lives (files through DuckDB, SQL tables in their database) takes
:mod:`release_gates.checks.drift_sources` instead: the same rules and messages, with the distances
computed from aggregates. No Airflow import; pandas, numpy and Evidently (≈6.5 s) load inside functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from release_gates.checks.drift_aggregates import wasserstein_normed
from release_gates.datasets import describe_error
from release_gates.exceptions import DriftInputError
from release_gates.results import Artifact, CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import DriftCheck

KIND = "drift"
ColumnKind = Literal["num", "cat"]

#: Distinct values at or below which Evidently treats a column as categorical-like (its auto rule).
FEW_VALUES = 5
#: Rows per side used to render the HTML report.
DEFAULT_REPORT_ROWS = 5000


@dataclass(frozen=True)
class _Outcome:
    """The shape of Evidently's ``StatTestResult``, for the equivalent computed here."""

    drift_score: float
    drifted: bool
    actual_threshold: float


@dataclass(frozen=True)
class MethodChoice:
    name: str
    reason: str


@dataclass
class ColumnDrift:
    column: str
    kind: ColumnKind
    method: str
    method_kind: Literal["distance", "p_value"]
    reason: str
    threshold: float
    score: float
    drifted: bool
    reference_rows: int
    current_rows: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "numerical" if self.kind == "num" else "categorical",
            "method": self.method,
            "method_kind": self.method_kind,
            "why": self.reason,
            "score": round(self.score, 6),
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }


class DriftProblems:
    def __init__(self) -> None:
        self.statuses: list[Status] = []
        self.findings: list[Finding] = []

    def add(self, status: Status, finding: Finding) -> None:
        self.statuses.append(status)
        self.findings.append(finding)


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def evaluate_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DriftCheck,
    *,
    check_id: str,
    reference_name: str = "reference",
    current_name: str = "current",
    prediction_columns: Sequence[str] = (),
    prediction_reference: pd.DataFrame | None = None,
    prediction_reference_name: str = "prediction_reference",
    artifact_dir: str | Path | None = None,
    report_rows: int = DEFAULT_REPORT_ROWS,
    inputs: dict[str, Any] | None = None,
) -> CheckResult:
    """Compare ``current`` with ``reference`` column by column (see the module docstring).

    :param prediction_columns: score/prediction columns; tested for prediction drift, not counted in
        the feature drift share.
    :param prediction_reference: the baseline of prediction drift, holding ``prediction_columns``
        under the current data's names (default: ``reference``); a column it lacks is INCONCLUSIVE.
    :param artifact_dir: where Evidently's HTML report is written (no report when None).
    :param report_rows: rows per side the HTML report is rendered from.
    :param inputs: fingerprints of the two datasets, recorded as they are.
    """
    started = utcnow()
    names = {"reference": reference_name, "current": current_name}
    if prediction_reference is not None:
        names["prediction_reference"] = prediction_reference_name
    base: dict[str, Any] = {
        "check_id": check_id,
        "kind": KIND,
        "started_at": started,
        "inputs": dict(inputs or {}),
    }
    try:
        return _evaluate(
            reference,
            current,
            spec,
            names=names,
            prediction_columns=prediction_columns,
            prediction_reference=prediction_reference,
            artifact_dir=artifact_dir,
            report_rows=report_rows,
            base=base,
        )
    except DriftInputError as exc:  # the inputs themselves: a retry reads the same (no retry)
        return CheckResult.error(message=str(exc), metrics={"error": _error_facts(exc)}, **base)


def _error_facts(exc: DriftInputError) -> dict[str, Any]:
    return {"type": type(exc).__name__, "transient": exc.transient}


def _evaluate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DriftCheck,
    *,
    names: dict[str, str],
    prediction_columns: Sequence[str],
    prediction_reference: pd.DataFrame | None,
    artifact_dir: str | Path | None,
    report_rows: int,
    base: dict[str, Any],
) -> CheckResult:
    from evidently import __version__ as evidently_version  # type: ignore[import-untyped]

    problems = DriftProblems()
    metrics: dict[str, Any] = {"rows": {"reference": len(reference), "current": len(current)}}
    for side, frame in (("reference", reference), ("current", current)):
        if len(frame) == 0:
            return inconclusive_result(
                base, f"dataset {names[side]!r} ({side}) is empty: nothing to compare", metrics
            )

    reference, current, metrics["sampling"] = _sample(reference, current, spec)
    if prediction_reference is not None and spec.sample_rows and len(prediction_reference) > spec.sample_rows:
        prediction_reference = prediction_reference.sample(n=spec.sample_rows, random_state=spec.seed + 2)
    features, unmatched = _feature_columns(reference, current, spec, names, prediction_columns)
    metrics["unmatched_columns"] = unmatched
    report_unmatched(problems, unmatched, spec, names)

    results = {}
    for column in features:
        measured = _test_column(reference[column], current[column], column, spec, names, problems)
        if measured is not None:
            results[column] = measured
    decide_columns(results, features, spec, problems, metrics)
    metrics["prediction"] = _prediction_drift(
        reference if prediction_reference is None else prediction_reference,
        current,
        spec,
        names=names,
        prediction_columns=prediction_columns,
        problems=problems,
    )

    status = final_status(results, metrics, problems)

    artifacts: list[Artifact] = []
    if artifact_dir is not None and results:
        from release_gates.checks.drift_report import render_drift_report

        artifacts, metrics["report"] = render_drift_report(
            reference,
            current,
            results,
            spec,
            check_id=base["check_id"],
            artifact_dir=artifact_dir,
            report_rows=report_rows,
        )
    return CheckResult(
        status=status,
        summary=drift_summary(metrics, spec),
        metrics=metrics,
        findings=tuple(problems.findings),
        artifacts=tuple(artifacts),
        engine={"evidently": str(evidently_version)},
        finished_at=utcnow(),
        **base,
    )


def report_unmatched(
    problems: DriftProblems, unmatched: dict[str, str], spec: DriftCheck, names: dict[str, str]
) -> None:
    """Reference features the current data lacks (INCONCLUSIVE) and current-only columns (WARN)."""
    for column, side in unmatched.items():
        # A reference feature the current data lacks is a feature nobody measured: it may be the one
        # that drifted, so the check cannot say "no drift" (INCONCLUSIVE). A column only the current
        # data has has no baseline to drift from, and the model was judged without it: a warning.
        missing = side == "reference"
        problems.add(
            Status.INCONCLUSIVE if missing else Status.WARN,
            Finding(
                id=f"unmatched_column:{column}",
                severity=spec.severity if missing else Severity.LOW,
                title=(
                    f"reference column {column!r} is missing from the current dataset "
                    f"{names['current']!r}: drift not measured"
                    if missing
                    else f"column {column!r} is only in the current dataset {names['current']!r}: "
                    "not compared"
                ),
                location=column,
            ),
        )


def decide_columns(
    results: dict[str, ColumnDrift],
    features: Sequence[str],
    spec: DriftCheck,
    problems: DriftProblems,
    metrics: dict[str, Any],
) -> None:
    """The dataset-level rule (share of drifted features ≥ ``drift_share``), into ``metrics``."""
    drifted = [r.column for r in results.values() if r.drifted]
    share = len(drifted) / len(features) if features else 0.0
    dataset_drift = bool(features) and share >= spec.drift_share
    metrics.update(
        {
            "columns": {c: r.to_dict() for c, r in results.items()},
            "feature_columns": len(features),
            "measured_columns": len(results),
            "drifted_columns": drifted,
            "share_drifted": round(share, 6),
            "drift_share": spec.drift_share,
            "dataset_drift": dataset_drift,
            "large_sample_rows": spec.large_sample_rows,
        }
    )
    for column in drifted:
        problems.findings.append(drift_finding(results[column], spec.severity, prediction=False))


def final_status(results: dict[str, ColumnDrift], metrics: dict[str, Any], problems: DriftProblems) -> Status:
    """Nothing measured is INCONCLUSIVE; dataset drift FAILs; any drifted column WARNs."""
    if not results:
        problems.statuses.append(Status.INCONCLUSIVE)
    elif metrics["dataset_drift"]:
        problems.statuses.append(Status.FAIL)
    elif metrics["drifted_columns"]:
        problems.statuses.append(Status.WARN)
    return Status.worst(problems.statuses) if problems.statuses else Status.PASS


def inconclusive_result(base: dict[str, Any], message: str, metrics: dict[str, Any]) -> CheckResult:
    return CheckResult(
        status=Status.INCONCLUSIVE,
        summary=message,
        metrics=metrics,
        finished_at=utcnow(),
        **base,
    )


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------


def _sample(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DriftCheck
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    facts: dict[str, Any] = {"sample_rows": spec.sample_rows, "seed": spec.seed, "sampled": False}
    if spec.sample_rows is None:
        return reference, current, facts
    out = []
    for frame, offset in ((reference, 0), (current, 1)):
        if len(frame) > spec.sample_rows:
            # A different stream per side: the same row positions would correlate the two samples.
            out.append(frame.sample(n=spec.sample_rows, random_state=spec.seed + offset))
            facts["sampled"] = True
        else:
            out.append(frame)
    facts["rows_used"] = {"reference": len(out[0]), "current": len(out[1])}
    return out[0], out[1], facts


def _feature_columns(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DriftCheck,
    names: dict[str, str],
    prediction_columns: Sequence[str],
) -> tuple[list[str], dict[str, str]]:
    if spec.columns is not None:
        for column in spec.columns:
            for side, frame in (("reference", reference), ("current", current)):
                if column not in frame.columns:
                    raise DriftInputError(
                        f"dataset {names[side]!r} ({side}) has no column {column!r} "
                        f"(has: {', '.join(map(str, list(frame.columns)[:20]))})"
                    )
        return list(spec.columns), {}
    skip = set(prediction_columns)
    ref_cols = [str(c) for c in reference.columns if c not in skip]
    cur_cols = {str(c) for c in current.columns if c not in skip}
    features = [c for c in ref_cols if c in cur_cols]
    unmatched = {c: "reference" for c in ref_cols if c not in cur_cols}
    unmatched |= dict.fromkeys(sorted(cur_cols - set(ref_cols)), "current")
    return features, unmatched


def column_kind(series: pd.Series) -> ColumnKind:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "cat"
    return "num"


def _clean(series: pd.Series) -> pd.Series:
    """Drop nulls and infinities, as Evidently does before a test; no copy when there are none."""
    import numpy as np

    if column_kind(series) == "num":
        if bool(np.isfinite(series.to_numpy(dtype=float, na_value=np.nan)).all()):
            return series
        series = series.replace([-np.inf, np.inf], np.nan)
    return series.dropna()


# --------------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------------


def more_than_few_values(reference: pd.Series, current: pd.Series, limit: int = FEW_VALUES) -> bool:
    """Whether the two columns together hold more than ``limit`` distinct values.

    Exact, and cheap on large columns: when a prefix already holds more than ``limit`` distinct values
    the rest need not be hashed (Evidently counts all 2M values of a 1M-row pair, per column, per test).
    """
    import pandas as pd

    prefix = 10_000
    large = len(reference) > prefix or len(current) > prefix
    if large and pd.concat([reference.iloc[:prefix], current.iloc[:prefix]]).nunique() > limit:
        return True
    return bool(pd.concat([reference, current]).nunique() > limit)


def choose_method(
    column: str,
    kind: ColumnKind,
    reference: pd.Series,
    current: pd.Series,
    spec: DriftCheck,
) -> MethodChoice:
    """Which stat test runs on this column, and why (see the module docstring for the order)."""
    chosen = policy_method(column, kind, spec)
    if chosen is not None:
        return chosen
    many = more_than_few_values(reference, current)
    return auto_method(kind, len(reference), many, spec, distinct=lambda: _distinct(reference, current))


def policy_method(column: str, kind: ColumnKind, spec: DriftCheck) -> MethodChoice | None:
    """The method the policy names for this column, if it names one (the first three rules)."""
    if column in spec.column_methods:
        return MethodChoice(spec.column_methods[column], f"column_methods[{column}] in the policy")
    typed = spec.num_method if kind == "num" else spec.cat_method
    if typed:
        return MethodChoice(typed, f"{kind}_method in the policy")
    if spec.method != "auto":
        return MethodChoice(spec.method, "method in the policy")
    return None


def auto_method(
    kind: ColumnKind, rows: int, many: bool, spec: DriftCheck, *, distinct: Callable[[], int]
) -> MethodChoice:
    """Evidently's auto rule, from the reference's value count and whether the two columns hold
    more than :data:`FEW_VALUES` distinct values (``distinct`` is asked only on small samples)."""
    values = f"more than {FEW_VALUES}" if many else f"at most {FEW_VALUES}"
    if rows > spec.large_sample_rows:
        name = "wasserstein" if kind == "num" and many else "jensenshannon"
        return MethodChoice(
            name,
            f"auto: {rows} reference rows > {spec.large_sample_rows}, {values} distinct values → "
            f"{name} distance (p-value tests flag negligible shifts on large samples, evidently#50)",
        )
    if kind == "num" and many:
        name = "ks"
    elif distinct() > 2:
        name = "chisquare"
    else:
        name = "z"
    return MethodChoice(
        name,
        f"auto: {rows} reference rows ≤ {spec.large_sample_rows}, {values} distinct values → {name} p-value",
    )


def _distinct(reference: pd.Series, current: pd.Series) -> int:
    import pandas as pd

    return int(pd.concat([reference, current]).nunique())


def _stattest(name: str, kind: ColumnKind, column: str) -> Any:
    from evidently.legacy.calculations.stattests import registry  # type: ignore[import-untyped]
    from evidently.legacy.core import ColumnType  # type: ignore[import-untyped]

    column_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    try:
        return registry.get_registered_stattest(name, column_type)
    except registry.StatTestInvalidFeatureTypeError as exc:
        raise DriftInputError(
            f"drift method {name!r} does not apply to {'numerical' if kind == 'num' else 'categorical'} "
            f"column {column!r}"
        ) from exc
    except registry.StatTestNotFoundError as exc:
        known = ", ".join(sorted(registry._registered_stat_tests))
        raise DriftInputError(
            f"unknown drift method {name!r} for column {column!r} (known: {known})"
        ) from exc


def _auto_stattest(name: str) -> Any:
    # Auto-chosen tests are Evidently's own objects, applied regardless of the column's declared type,
    # exactly as its auto rule does (a numerical column with few values gets chi-square/Z/JS).
    from evidently.legacy.calculations import stattests  # type: ignore[import-untyped]

    return {
        "wasserstein": stattests.wasserstein_stat_test,
        "jensenshannon": stattests.jensenshannon_stat_test,
        "ks": stattests.ks_stat_test,
        "chisquare": stattests.chi_stat_test,
        "z": stattests.z_stat_test,
    }[name]


# --------------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------------


def _test_column(  # noqa: PLR0917 - one column's inputs, always passed in this order
    reference: pd.Series,
    current: pd.Series,
    column: str,
    spec: DriftCheck,
    names: dict[str, str],
    problems: DriftProblems,
) -> ColumnDrift | None:
    from evidently.legacy.core import ColumnType

    kinds = {"reference": column_kind(reference), "current": column_kind(current)}
    if kinds["reference"] != kinds["current"]:
        note_unmeasured(
            problems,
            column,
            spec,
            f"column {column!r} is {kind_word(kinds['reference'])} ({reference.dtype}) in "
            f"{names['reference']!r} but {kind_word(kinds['current'])} ({current.dtype}) in "
            f"{names['current']!r}: wrong dtype, not compared",
        )
        return None
    kind = kinds["reference"]
    ref, cur = _clean(reference), _clean(current)
    for side, values in (("reference", ref), ("current", cur)):
        if values.empty:
            note_unmeasured(
                problems,
                column,
                spec,
                f"column {column!r} of dataset {names[side]!r} ({side}) has no values (all null): "
                "not compared",
            )
            return None
    choice = choose_method(column, kind, ref, cur, spec)
    test = (
        _auto_stattest(choice.name)
        if choice.reason.startswith("auto")
        else _stattest(choice.name, kind, column)
    )
    threshold = spec.column_thresholds.get(column, spec.threshold)
    column_type = ColumnType.Numerical if kind == "num" else ColumnType.Categorical
    try:
        fast = wasserstein_normed(ref, cur) if test.name == "wasserstein" else None
        if fast is not None:
            actual = test.default_threshold if threshold is None else threshold
            outcome = _Outcome(drift_score=fast, drifted=fast >= actual, actual_threshold=actual)
        else:
            outcome = test(ref, cur, column_type, threshold)
    except Exception as exc:
        note_unmeasured(
            problems,
            column,
            spec,
            f"column {column!r}: {choice.name} could not be computed: {describe_error(exc)}",
        )
        return None
    score = float(outcome.drift_score)
    if not math.isfinite(score):
        note_unmeasured(problems, column, spec, f"column {column!r}: {choice.name} is undefined ({score})")
        return None
    return ColumnDrift(
        column=column,
        kind=kind,
        method=choice.name,
        method_kind="p_value" if "p_value" in test.display_name.lower() else "distance",
        reason=choice.reason,
        threshold=float(outcome.actual_threshold),
        score=score,
        drifted=bool(outcome.drifted),
        reference_rows=len(ref),
        current_rows=len(cur),
    )


def note_prediction_not_measured(
    problems: DriftProblems,
    spec: DriftCheck,
    column: str,
    missing: list[str],
    side_names: Mapping[str, str],
    *,
    explicit: bool,
) -> None:
    """A prediction column absent from a side. The current data is where the policy declares the
    candidate's outputs, and a prediction reference is named for its outputs: without them the check
    cannot say the predictions did not drift (INCONCLUSIVE). A plain reference without them (training
    data, never scored) is a known gap, recorded as a warning."""
    unmeasured = "current" in missing or explicit
    problems.add(
        Status.INCONCLUSIVE if unmeasured else Status.WARN,
        Finding(
            id=f"prediction_not_measured:{column}",
            severity=spec.severity if unmeasured else Severity.LOW,
            title=f"prediction drift of {column!r} not measured: no such column in "
            + ", ".join(f"{side_names[s]!r} ({s})" for s in missing),
            location=column,
        ),
    )


def kind_word(kind: ColumnKind) -> str:
    return "numerical" if kind == "num" else "categorical"


def note_unmeasured(problems: DriftProblems, column: str, spec: DriftCheck, message: str) -> None:
    problems.add(
        Status.INCONCLUSIVE,
        Finding(
            id=f"not_measured:{column}",
            severity=spec.severity,
            title=" ".join(message.split()),
            location=column,
        ),
    )


def drift_finding(result: ColumnDrift, severity: Severity, *, prediction: bool) -> Finding:
    comparison = (
        f"p-value {result.score:.4g} < {result.threshold:g}"
        if result.method_kind == "p_value"
        else f"distance {result.score:.4g} ≥ {result.threshold:g}"
    )
    what = "prediction drift" if prediction else "drift"
    return Finding(
        id=f"{'prediction_drift' if prediction else 'drift'}:{result.column}",
        severity=severity,
        title=f"{what} in column {result.column!r}: {result.method} {comparison}",
        detail=result.reason,
        location=result.column,
        data=result.to_dict(),
    )


def _prediction_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DriftCheck,
    *,
    names: dict[str, str],
    prediction_columns: Sequence[str],
    problems: DriftProblems,
) -> dict[str, Any]:
    if not spec.prediction_drift:
        return {"measured": False, "reason": "prediction_drift is off in the policy"}
    if not prediction_columns:
        return {"measured": False, "reason": "no score or prediction column declared"}
    # `reference` here is the prediction baseline: the named prediction reference when there is one.
    explicit = "prediction_reference" in names
    side_names = {**names, "reference": names["prediction_reference"]} if explicit else names
    facts: dict[str, Any] = {"measured": False, "reference": side_names["reference"], "columns": {}}
    for column in prediction_columns:
        missing = [
            side for side, f in (("reference", reference), ("current", current)) if column not in f.columns
        ]
        if missing:
            note_prediction_not_measured(problems, spec, column, missing, side_names, explicit=explicit)
            continue
        result = _test_column(reference[column], current[column], column, spec, side_names, problems)
        if result is None:
            continue
        facts["measured"] = True
        facts["columns"][column] = result.to_dict()
        if result.drifted:
            problems.add(Status.FAIL, drift_finding(result, spec.severity, prediction=True))
    return facts


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------


def drift_summary(metrics: dict[str, Any], spec: DriftCheck) -> str:
    features = metrics["feature_columns"]
    drifted: list[str] = metrics["drifted_columns"]
    text = (
        f"{len(drifted)} of {features} column(s) drifted ({metrics['share_drifted']:.0%}; "
        f"dataset drift at ≥ {spec.drift_share:.0%})"
    )
    if drifted:
        shown = ", ".join(drifted[:8]) + (" …" if len(drifted) > 8 else "")
        text += f": {shown}"
    unmeasured = features - metrics["measured_columns"]
    if unmeasured:
        text += f"; {unmeasured} column(s) not measured"
    missing = [c for c, side in (metrics.get("unmatched_columns") or {}).items() if side == "reference"]
    if missing:
        shown = ", ".join(missing[:8]) + (" …" if len(missing) > 8 else "")
        text += f"; {len(missing)} reference column(s) missing from the current data: {shown}"
    prediction = metrics.get("prediction") or {}
    drifted_predictions = [c for c, r in (prediction.get("columns") or {}).items() if r["drifted"]]
    if drifted_predictions:
        text += f"; prediction drift in {', '.join(drifted_predictions)}"
    elif prediction.get("measured"):
        text += "; no prediction drift"
    return text
