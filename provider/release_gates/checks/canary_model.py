"""Model metrics of a canary step, on the inference log rows of the step's interval.

The rows are split by the version that served them (``version_column``): the canary's against the
baseline's, same interval, same traffic mix. Two results, each a :class:`CheckResult` the canary
judge counts as a metric (:func:`release_gates.checks.canary_judge.judge_canary`):

* **prediction drift** — the drift engine (:func:`release_gates.checks.drift.evaluate_drift`) on the
  score and prediction columns, the baseline's predictions as reference; any of them drifting FAILs;
* **selection rates** — per group of each sensitive feature, the canary's selection rate against
  the baseline's on the same group, with the fairness check's interval rule (Wilson intervals at
  ``confidence``): FAIL when even the favourable end of the gap exceeds
  ``selection_rate_difference_max``, PASS when the unfavourable end is within it, INCONCLUSIVE in
  between or for a group below ``min_group_size`` on either side — a thin canary is never a pass.

This module imports no Airflow; pandas loads inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy.canary import CanaryModelMetrics


def split_rows(
    frame: pd.DataFrame, column: str, *, canary: str, baseline: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canary's and the baseline's rows (versions compared as text)."""
    if column not in frame.columns:
        raise ValueError(
            f"the inference log has no version column {column!r} (has: {', '.join(frame.columns)})"
        )
    served = frame[column].astype(str).str.strip()
    return frame[served == str(canary)], frame[served == str(baseline)]


def prediction_drift(
    canary: pd.DataFrame,
    baseline: pd.DataFrame,
    spec: CanaryModelMetrics,
    *,
    columns: list[str],
    check_id: str,
) -> CheckResult:
    """The canary's predictions against the baseline's (drift engine, prediction columns only)."""
    from release_gates.checks.drift import evaluate_drift
    from release_gates.policy import DriftCheck

    started = utcnow()
    present = [c for c in columns if c in canary.columns and c in baseline.columns]
    counts = {"canary_rows": len(canary), "baseline_rows": len(baseline)}
    if not present:
        return _result(check_id, "drift", Status.INCONCLUSIVE, "no prediction or score column in the log",
                       started, counts)  # fmt: skip
    # The prediction columns are the columns tested, and any of them drifting is drift of the canary
    # (drift_share of one column): the baseline's predictions are the reference.
    drift = DriftCheck(
        kind="drift",
        reference="baseline",
        current="canary",
        columns=present,
        method=spec.drift_method,
        threshold=spec.drift_threshold,
        drift_share=1 / len(present),
        prediction_drift=False,
    )
    result = evaluate_drift(
        baseline[present].reset_index(drop=True),
        canary[present].reset_index(drop=True),
        drift,
        check_id=check_id,
        reference_name="baseline predictions",
        current_name="canary predictions",
    )
    return result.model_copy(update={"metrics": {**result.metrics, **counts}})


def selection_rates(
    canary: pd.DataFrame,
    baseline: pd.DataFrame,
    spec: CanaryModelMetrics,
    *,
    prediction: str,
    positive: Any,
    check_id: str,
) -> CheckResult:
    """Per group, the canary's selection rate against the baseline's (see the module docstring)."""
    from release_gates.checks.fairness_counts import wilson_interval

    started = utcnow()
    counts = {"canary_rows": len(canary), "baseline_rows": len(baseline)}
    if prediction not in canary.columns or prediction not in baseline.columns:
        return _result(check_id, "selection_rate", Status.INCONCLUSIVE,
                       f"no prediction column {prediction!r} in the log", started, counts)  # fmt: skip
    limit = spec.selection_rate_difference_max
    groups: list[dict[str, Any]] = []
    findings: list[Finding] = []
    statuses: list[Status] = []
    for feature in spec.sensitive_features:
        if feature not in canary.columns or feature not in baseline.columns:
            statuses.append(Status.INCONCLUSIVE)
            title = f"sensitive feature {feature!r} is not in the log"
            findings.append(
                Finding(
                    id=f"feature_missing:{feature}", severity=Severity.MEDIUM, title=title, location=feature
                )
            )
            continue
        values = sorted(set(canary[feature].astype(str)) | set(baseline[feature].astype(str)))
        for value in values:
            sides = {}
            for side, frame in (("canary", canary), ("baseline", baseline)):
                rows = frame[frame[feature].astype(str) == value]
                selected = int((rows[prediction] == positive).sum())
                sides[side] = (selected, len(rows))
            (k_c, n_c), (k_b, n_b) = sides["canary"], sides["baseline"]
            group = {"feature": feature, "group": value, "canary_rows": n_c, "baseline_rows": n_b}
            where = f"{feature}={value}"
            if min(n_c, n_b) < spec.min_group_size:
                status, reason = Status.INCONCLUSIVE, f"fewer than {spec.min_group_size} rows on a side"
            else:
                ci_c = wilson_interval(k_c, n_c, spec.confidence)
                ci_b = wilson_interval(k_b, n_b, spec.confidence)
                assert ci_c is not None and ci_b is not None  # n > 0 here
                favourable = max(ci_c[0] - ci_b[1], ci_b[0] - ci_c[1], 0.0)
                unfavourable = max(ci_c[1] - ci_b[0], ci_b[1] - ci_c[0])
                group.update(
                    canary_rate=round(k_c / n_c, 6),
                    baseline_rate=round(k_b / n_b, 6),
                    gap_favourable=round(favourable, 6),
                    gap_unfavourable=round(unfavourable, 6),
                )
                if favourable > limit:
                    status, reason = Status.FAIL, f"gap at least {favourable:.3f} > {limit:g}"
                elif unfavourable <= limit:
                    status, reason = Status.PASS, f"gap at most {unfavourable:.3f} ≤ {limit:g}"
                else:
                    status, reason = (
                        Status.INCONCLUSIVE,
                        f"gap between {favourable:.3f} and {unfavourable:.3f}",
                    )
            group["status"], group["reason"] = status.value, reason
            groups.append(group)
            statuses.append(status)
            if status is not Status.PASS:
                findings.append(
                    Finding(
                        id=f"selection_rate:{where}",
                        severity=Severity.HIGH if status is Status.FAIL else Severity.MEDIUM,
                        title=f"selection rate of {where}, canary vs baseline: {reason}",
                        location=where,
                        data={k: v for k, v in group.items() if k.endswith(("rate", "rows"))},
                    )
                )
    status = Status.worst(statuses)
    failed = [f.location for f in findings if f.severity is Severity.HIGH]
    summary = {
        Status.PASS: f"canary selection rates match the baseline's in {len(groups)} group(s)",
        Status.FAIL: f"canary selection rate differs from the baseline's: {', '.join(map(str, failed))}",
    }.get(status, f"selection rates undecided in {sum(s is not Status.PASS for s in statuses)} group(s)")
    return _result(check_id, "selection_rate", status, summary, started,
                   {**counts, "groups": groups, "difference_max": limit, "confidence": spec.confidence},
                   findings)  # fmt: skip


def _result(  # noqa: PLR0917 - the result's fields, in CheckResult's order
    check_id: str,
    kind: str,
    status: Status,
    summary: str,
    started: Any,
    metrics: Mapping[str, Any],
    findings: list[Finding] | None = None,
) -> CheckResult:
    return CheckResult(
        check_id=check_id,
        kind=kind,
        status=status,
        summary=summary,
        metrics=dict(metrics),
        findings=tuple(findings or ()),
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=utcnow(),
    )
