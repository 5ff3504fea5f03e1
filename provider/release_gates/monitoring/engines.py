"""Monitoring engines: one production window in, one :class:`CheckResult` per monitored check out.

:func:`evaluate_window` runs every check of a :class:`~release_gates.monitoring.plan.MonitoringPlan`
on one window of the inference log:

* **drift** — the release's drift engine (:func:`release_gates.checks.drift.evaluate_drift`), window
  against the reference dataset, data and prediction drift, with the gate's thresholds;
* **fairness** — the release's fairness engine (one grouped count, Wilson intervals, the interval
  rule) on the *labelled* window. A window whose labels have not arrived (labelled share below
  ``min_label_coverage``) is INCONCLUSIVE, never PASS and never an alarm;
* **error_rate** — :func:`evaluate_error_rates`: per-subgroup error rate (or FNR/FPR) against a
  ceiling with the same interval rule: FAIL only when even the favourable end of the interval is
  above the ceiling, PASS when the unfavourable end is within it, INCONCLUSIVE in between or for a
  group below ``min_group_size`` — a thin window is not an alarm;
* **volume** — :func:`evaluate_volume`: no inference in the window is a breach, as is fewer than
  ``min_rows`` (or more than ``max_rows``);
* **freshness** — :func:`evaluate_freshness`: the newest inference must be at most ``max_staleness``
  (default: half the window) before the window ends.

An engine that raises becomes an ERROR result naming the check (fail closed). Nothing here reads
Airflow context; pandas and the engines' libraries load inside the functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.datasets import describe_error
from release_gates.monitoring.plan import (
    WINDOW_DATASET,
    ErrorRateSpec,
    MonitoredCheck,
    MonitoringPlan,
    Window,
)
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.checks.fairness import OutcomeCounts
    from release_gates.monitoring.window_counts import WindowCounts
    from release_gates.policy import Dataset, FreshnessMonitor, InferenceLog, VolumeMonitor


def _result(
    check_id: str,
    kind: str,
    status: Status,
    summary: str,
    *,
    started: datetime,
    metrics: dict[str, Any] | None = None,
    findings: tuple[Finding, ...] = (),
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        kind=kind,
        status=status,
        summary=summary,
        metrics=metrics or {},
        findings=findings,
        inputs=dict(inputs or {}),
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=utcnow(),
    )


# --------------------------------------------------------------------------------------------------
# Volume and freshness
# --------------------------------------------------------------------------------------------------


def evaluate_volume(
    rows: int,
    spec: VolumeMonitor,
    *,
    check_id: str = "monitor.volume",
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Inference count of the window against ``min_rows``/``max_rows``; an empty window always fails."""
    started = utcnow()
    metrics = {"rows": rows, "min_rows": spec.min_rows, "max_rows": spec.max_rows}
    problem: tuple[str, str] | None = None
    if rows == 0:
        problem = (
            "volume.no_data",
            "no inferences in the window: no traffic reached the model, or none was logged",
        )
    elif rows < spec.min_rows:
        problem = ("volume.low", f"{rows} inferences in the window, fewer than min_rows {spec.min_rows}")
    elif spec.max_rows is not None and rows > spec.max_rows:
        problem = ("volume.high", f"{rows} inferences in the window, more than max_rows {spec.max_rows}")
    if problem is None:
        bounds = f"≥ {spec.min_rows}" + (f" and ≤ {spec.max_rows}" if spec.max_rows else "")
        return _result(
            check_id,
            "volume",
            Status.PASS,
            f"{rows} inferences in the window ({bounds})",
            started=started,
            metrics=metrics,
            inputs=inputs,
        )
    finding = Finding(id=problem[0], severity=spec.severity, title=problem[1], data=metrics)
    return _result(
        check_id,
        "volume",
        Status.FAIL,
        problem[1],
        started=started,
        metrics=metrics,
        findings=(finding,),
        inputs=inputs,
    )


def evaluate_freshness(
    newest: datetime | None,
    window_end: datetime,
    max_staleness: timedelta,
    spec: FreshnessMonitor,
    *,
    check_id: str = "monitor.freshness",
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Time from the window's newest inference to its end against ``max_staleness``."""
    started = utcnow()
    metrics: dict[str, Any] = {
        "newest": newest.isoformat() if newest else None,
        "window_end": window_end.isoformat(),
        "max_staleness_s": max_staleness.total_seconds(),
    }
    if newest is None:
        title = "no data in the window: the inference log is not being written"
        finding = Finding(id="freshness.no_data", severity=spec.severity, title=title, data=metrics)
        return _result(
            check_id,
            "freshness",
            Status.FAIL,
            title,
            started=started,
            metrics=metrics,
            findings=(finding,),
            inputs=inputs,
        )
    staleness = window_end - newest
    metrics["staleness_s"] = round(staleness.total_seconds(), 3)
    described = f"newest inference {newest:%Y-%m-%d %H:%M:%S} UTC, {_human(staleness)} before the window end"
    if staleness > max_staleness:
        title = f"{described} (allowed: {_human(max_staleness)})"
        finding = Finding(id="freshness.stale", severity=spec.severity, title=title, data=metrics)
        return _result(
            check_id,
            "freshness",
            Status.FAIL,
            title,
            started=started,
            metrics=metrics,
            findings=(finding,),
            inputs=inputs,
        )
    return _result(
        check_id,
        "freshness",
        Status.PASS,
        f"{described} (≤ {_human(max_staleness)})",
        started=started,
        metrics=metrics,
        inputs=inputs,
    )


def _human(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0", "")
    return f"{seconds}s"


# --------------------------------------------------------------------------------------------------
# Error rates per subgroup
# --------------------------------------------------------------------------------------------------


def evaluate_error_rates(
    counts: OutcomeCounts,
    spec: ErrorRateSpec,
    *,
    check_id: str = "monitor.error_rate",
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Each sensitive subgroup's error metric against the ceiling, with the interval rule."""
    from release_gates.checks.fairness import rate

    started = utcnow()
    rows_total = counts.rows
    groups: list[dict[str, Any]] = []
    statuses: list[Status] = []
    findings: list[Finding] = []
    for feature in spec.sensitive_features:
        for key, cell in counts.project((feature,)).items():
            name = f"{feature}={key[0]}"
            entry: dict[str, Any] = {"group": {feature: key[0]}}
            if cell.n < spec.min_group_size:
                status, reason = (
                    Status.INCONCLUSIVE,
                    f"{cell.n} rows, below min_group_size {spec.min_group_size}",
                )
                measured = None
            else:
                measured = rate(cell, spec.metric, spec.confidence)
                status, reason = _ceiling_verdict(measured.value, measured.low, measured.high, spec.ceiling)
            shown_n: int | str = cell.n if cell.n >= spec.min_cell_size else f"<{spec.min_cell_size}"
            entry.update(n=shown_n, status=status.value, reason=reason)
            if measured is not None and measured.defined:
                entry["rate"] = {k: None if v is None else round(v, 6) for k, v in measured.to_dict().items()}
            groups.append(entry)
            statuses.append(status)
            if status is Status.FAIL:
                findings.append(
                    Finding(
                        id=f"{spec.metric}.ceiling.{feature}.{key[0]}",
                        severity=spec.severity,
                        title=f"{spec.metric} of {name} above the ceiling {spec.ceiling:g}",
                        detail=reason,
                        location=name,
                        data=entry,
                    )
                )
            elif status is Status.INCONCLUSIVE:
                findings.append(
                    Finding(
                        id=f"{spec.metric}.ceiling.{feature}.{key[0]}",
                        severity=Severity.LOW,
                        title=f"{spec.metric} of {name} undecided against the ceiling {spec.ceiling:g}",
                        detail=reason,
                        location=name,
                    )
                )
    status = Status.worst(statuses) if rows_total else Status.INCONCLUSIVE
    failed = [g for g in groups if g["status"] == Status.FAIL.value]
    if not rows_total:
        summary = "no labelled rows to evaluate"
    elif failed:
        first = failed[0]
        summary = (
            f"{len(failed)} of {len(groups)} group(s) above the {spec.metric} ceiling {spec.ceiling:g}; "
            f"first: {_group_name(first['group'])} {first['reason']}"
        )
    else:
        undecided = sum(g["status"] == Status.INCONCLUSIVE.value for g in groups)
        within = len(groups) - undecided
        summary = f"{spec.metric} within the ceiling {spec.ceiling:g} for {within} of {len(groups)} group(s)"
        if undecided:
            summary += f"; {undecided} undecided"
    metrics = {
        "rows": rows_total,
        "metric": spec.metric,
        "ceiling": spec.ceiling,
        "confidence": spec.confidence,
        "min_group_size": spec.min_group_size,
        "rule": "FAIL when the lower interval bound is above the ceiling; PASS when the upper one is within",
        "groups": groups,
    }
    return _result(
        check_id,
        "error_rate",
        status,
        summary,
        started=started,
        metrics=metrics,
        findings=tuple(findings),
        inputs=inputs,
    )


def _ceiling_verdict(
    value: float | None, low: float | None, high: float | None, ceiling: float
) -> tuple[Status, str]:
    if value is None or low is None or high is None:
        return Status.INCONCLUSIVE, "rate undefined (no cases in its denominator)"
    described = f"{value:.3f} (bounds {low:.3f}–{high:.3f})"
    if low > ceiling:
        return Status.FAIL, f"{described} is above {ceiling:g} even at the favourable end"
    if high <= ceiling:
        return Status.PASS, f"{described} is within {ceiling:g}"
    return Status.INCONCLUSIVE, f"{described}: the interval straddles {ceiling:g}"


def _group_name(group: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in group.items())


# --------------------------------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelCoverage:
    rows: int
    labelled: int
    needed: float

    @property
    def share(self) -> float | None:
        return self.labelled / self.rows if self.rows else None

    @property
    def enough(self) -> bool:
        return self.rows > 0 and self.labelled / self.rows >= self.needed

    def reason(self, window: Window) -> str:
        span = f"{window.labelled_start:%Y-%m-%d %H:%M}–{window.labelled_end:%Y-%m-%d %H:%M} UTC"
        if not self.rows:
            return f"no inferences in the labelled window {span}"
        return (
            f"labels have not arrived for the window {span}: {self.labelled} of {self.rows} rows labelled "
            f"({self.labelled / self.rows:.0%}; needs ≥ {self.needed:.0%})"
        )

    def to_dict(self) -> dict[str, Any]:
        share = self.share
        return {
            "rows": self.rows,
            "labelled": self.labelled,
            "share": None if share is None else round(share, 6),
            "needed": self.needed,
        }


# --------------------------------------------------------------------------------------------------
# One window, every check
# --------------------------------------------------------------------------------------------------


@dataclass
class WindowEvaluation:
    """What one window showed: a result per monitored check, and where the time went."""

    window: Window
    results: list[tuple[MonitoredCheck, CheckResult]]
    rows: int
    coverage: LabelCoverage | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def engine_seconds(self) -> float:
        """Time spent in the checks' engines (``timings`` also holds preparation and reading)."""
        return sum(v for k, v in self.timings.items() if k in _ENGINES)


@contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - began


def evaluate_window(
    plan: MonitoringPlan,
    window: Window,
    current: pd.DataFrame | None,
    *,
    labelled: pd.DataFrame | None = None,
    reference: pd.DataFrame | None = None,
    reference_dataset: Dataset | None = None,
    inputs: Mapping[str, Any] | None = None,
    counts: WindowCounts | None = None,
) -> WindowEvaluation:
    """Run every monitored check of ``plan`` on one window (see the module docstring).

    :param current: the window's rows (``window.start <= ts < window.end``); None with ``counts``.
    :param counts: the window's aggregates instead of its rows (:mod:`~release_gates.monitoring.
        window_counts`), for plans without drift.
    :param labelled: the label-delayed window's rows (default: ``current``, for ``label_delay: 0``).
    :param reference: the reference dataset's rows (needed when drift is monitored).
    :param reference_dataset: its policy entry, to match its score/prediction columns with the log's.
    :param inputs: fingerprints added to every result's ``inputs`` (log location, policy hash).
    """
    from release_gates.monitoring.source import newest_timestamp

    timings: dict[str, float] = {}
    log = plan.monitoring.source
    coverage: LabelCoverage | None = None
    results: list[tuple[MonitoredCheck, CheckResult]] = []
    counts_cache: dict[tuple[str, ...], OutcomeCounts] = {}
    labelled_rows = None
    with _timed(timings, "prepare"):
        if counts is not None:
            rows, newest = counts.rows, counts.newest
            window_rows, labelled_count = counts.labelled_window_rows, counts.labelled
            counts_cache.update(counts.outcomes)
        else:
            assert current is not None, "evaluate_window needs the window's rows or its counts"
            labelled_frame = current if labelled is None else labelled
            labelled_rows = _labelled_rows(labelled_frame, log)
            rows, newest = len(current), newest_timestamp(current, log.timestamp)
            window_rows, labelled_count = len(labelled_frame), len(labelled_rows)
        if any(c.labelled for c in plan.checks):
            coverage = LabelCoverage(window_rows, labelled_count, plan.monitoring.min_label_coverage)
    for check in plan.checks:
        base_inputs = {
            **(inputs or {}),
            "window": window.to_dict(),
            "rows": window_rows if check.labelled else rows,
            "monitored_check": check.name,
        }
        if check.inherits_from is not None:
            base_inputs["inherits_from"] = check.inherits_from
        if check.labelled and coverage is not None:
            base_inputs["labels"] = coverage.to_dict()
        run = _ENGINES[check.name]
        with _timed(timings, check.name):
            try:
                result = run(
                    check,
                    window=window,
                    current=current,
                    rows=rows,
                    newest=newest,
                    labelled=labelled_rows,
                    coverage=coverage,
                    reference=reference,
                    reference_dataset=reference_dataset,
                    inputs=base_inputs,
                    counts_cache=counts_cache,
                    log=log,
                    plan=plan,
                )
            except Exception as exc:  # fail closed: a crash is an ERROR result for this check only
                result = CheckResult.error(
                    check_id=check.check_id,
                    kind=check.kind,
                    message=describe_error(exc),  # never the cell values a parser quotes
                    inputs=base_inputs,
                )
        results.append((check, result))
    return WindowEvaluation(window=window, results=results, rows=rows, coverage=coverage, timings=timings)


def _labelled_rows(frame: pd.DataFrame, log: InferenceLog) -> pd.DataFrame:
    if log.label is None or log.label not in frame.columns:
        return frame.iloc[0:0]
    return frame[frame[log.label].notna()]


def _run_volume(check: MonitoredCheck, *, rows: int, inputs: dict[str, Any], **_: Any) -> CheckResult:
    return evaluate_volume(rows, check.spec, check_id=check.check_id, inputs=inputs)


def _run_freshness(
    check: MonitoredCheck, *, newest: datetime | None, window: Window, inputs: dict[str, Any], **_: Any
) -> CheckResult:
    allowed = check.spec.max_staleness or window.length / 2
    return evaluate_freshness(newest, window.end, allowed, check.spec, check_id=check.check_id, inputs=inputs)


def _counts(
    labelled: pd.DataFrame | None,
    log: InferenceLog,
    features: tuple[str, ...],
    cache: dict[tuple[str, ...], Any],
) -> OutcomeCounts:
    from release_gates.checks.fairness import count_outcomes

    if features not in cache:
        assert labelled is not None, "no labelled rows and no counts for this grouping"
        assert log.label is not None and log.prediction is not None
        cache[features] = count_outcomes(
            labelled,
            label=log.label,
            prediction=log.prediction,
            sensitive=list(features),
            positive=log.positive_label,
            negative=log.negative_label,
        )
    counts: OutcomeCounts = cache[features]
    return counts


def _not_labelled(
    check: MonitoredCheck, coverage: LabelCoverage | None, window: Window, inputs: dict[str, Any]
) -> CheckResult:
    assert coverage is not None
    return _result(
        check.check_id,
        check.kind,
        Status.INCONCLUSIVE,
        coverage.reason(window),
        started=utcnow(),
        metrics={"labels": coverage.to_dict()},
        inputs=inputs,
    )


def _run_fairness(
    check: MonitoredCheck,
    *,
    labelled: pd.DataFrame,
    coverage: LabelCoverage | None,
    window: Window,
    log: InferenceLog,
    inputs: dict[str, Any],
    counts_cache: dict[tuple[str, ...], Any],
    **_: Any,
) -> CheckResult:
    from release_gates.checks.fairness import evaluate_subgroup_fairness

    if coverage is None or not coverage.enough:
        return _not_labelled(check, coverage, window, inputs)
    counts = _counts(labelled, log, tuple(check.spec.sensitive_features), counts_cache)
    return evaluate_subgroup_fairness(counts, check.spec, check_id=check.check_id, inputs=inputs)


def _run_error_rate(
    check: MonitoredCheck,
    *,
    labelled: pd.DataFrame,
    coverage: LabelCoverage | None,
    window: Window,
    log: InferenceLog,
    inputs: dict[str, Any],
    counts_cache: dict[tuple[str, ...], Any],
    **_: Any,
) -> CheckResult:
    if coverage is None or not coverage.enough:
        return _not_labelled(check, coverage, window, inputs)
    counts = _counts(labelled, log, tuple(check.spec.sensitive_features), counts_cache)
    return evaluate_error_rates(counts, check.spec, check_id=check.check_id, inputs=inputs)


def _run_drift(
    check: MonitoredCheck,
    *,
    current: pd.DataFrame | None,
    reference: pd.DataFrame | None,
    reference_dataset: Dataset | None,
    log: InferenceLog,
    plan: MonitoringPlan,
    inputs: dict[str, Any],
    **_: Any,
) -> CheckResult:
    from release_gates.checks.drift import evaluate_drift

    if current is None:
        raise ValueError("drift compares the window's rows, which were not read (counts only)")
    if reference is None:
        raise ValueError(f"no reference data loaded for drift (dataset {plan.reference!r})")
    ref, features, predictions = drift_inputs(check, log, reference, reference_dataset, current)
    return evaluate_drift(
        ref[[*features, *predictions]],
        current[[c for c in (*features, *predictions) if c in current.columns]],
        check.spec,
        check_id=check.check_id,
        reference_name=plan.reference or "reference",
        current_name=WINDOW_DATASET,
        prediction_columns=predictions,
        inputs={**inputs, "reference": {"dataset": plan.reference, "rows": len(reference)}},
    )


def drift_inputs(
    check: MonitoredCheck,
    log: InferenceLog,
    reference: pd.DataFrame,
    reference_dataset: Dataset | None,
    current: pd.DataFrame,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The reference with the log's column names, the feature columns, and the prediction columns.

    Features: the spec's ``columns``, else the log's ``features``, else every column the reference and
    the window share except the timestamp, label, prediction, score and partition columns.
    """
    renames = {}
    if reference_dataset is not None:
        for ref_col, log_col in (
            (reference_dataset.score, log.score),
            (reference_dataset.prediction, log.prediction),
        ):
            if ref_col and log_col and ref_col != log_col:
                renames[ref_col] = log_col
    ref = reference.rename(columns=renames) if renames else reference
    predictions = [c for c in (log.score, log.prediction) if c and c in ref.columns and c in current.columns]
    predictions = predictions if check.spec.prediction_drift else []
    excluded = {log.timestamp, log.label, log.prediction, log.score}
    if log.partition is not None:
        excluded.add(log.partition.column)
    if check.spec.columns:
        features = list(check.spec.columns)
    elif log.features:
        features = list(log.features)
    else:
        features = [str(c) for c in ref.columns if c in current.columns and c not in excluded]
    return ref, features, predictions


_ENGINES: dict[str, Callable[..., CheckResult]] = {
    "drift": _run_drift,
    "fairness": _run_fairness,
    "error_rate": _run_error_rate,
    "volume": _run_volume,
    "freshness": _run_freshness,
}


def window_columns(plan: MonitoringPlan) -> list[str] | None:
    """Columns of the log a run reads; None (all) when drift compares every shared column."""
    log = plan.monitoring.source
    columns: list[str] = [log.timestamp]
    for check in plan.checks:
        if check.name == "drift":
            explicit = check.spec.columns or log.features
            if not explicit:
                return None
            columns += [*explicit, *(c for c in (log.score, log.prediction) if c)]
        elif check.labelled:
            columns += [*check.spec.sensitive_features, *(c for c in (log.label, log.prediction) if c)]
    return list(dict.fromkeys(columns))
