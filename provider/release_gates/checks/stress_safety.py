"""Error ceilings under stress: does the model stay safe for every sensitive subgroup when inputs degrade?

The candidate model is loaded safely (:mod:`release_gates.scoring.loaders`: a pinned sha256 is
checked *before* loading, and a ``skops`` file may contain only trusted types) — then scored on the
evaluation features under each stress scenario of the policy (a seeded, reproducible perturbation):

* ``baseline``: unchanged inputs;
* ``gaussian_noise``: numeric columns + N(0, (relative_std × column std)²);
* ``missing_values``: a ``rate`` share of the values in the columns set to missing;
* ``category_swap``: a ``rate`` share of the values replaced by another observed category.

Per scenario and subgroup, the error metric (error rate, FNR or FPR) comes with a Wilson interval
from the same count engine as the fairness check. A group FAILS when the upper end of its interval
exceeds the ceiling (the ceiling must hold with confidence); a group below ``min_group_size`` or
with an undefined rate is INCONCLUSIVE; a model that crashes under a scenario FAILS it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.checks.fairness import count_outcomes, rate
from release_gates.datasets import describe_error
from release_gates.exceptions import FairnessInputError, ModelLoadError  # noqa: F401 (re-exported)
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import ModelRef, StressSafetyCheck, StressScenario

Predict = Callable[["pd.DataFrame"], Any]


def load_model(ref: ModelRef, *, base_dir: str | Path | None = None) -> tuple[Predict, dict[str, Any]]:
    """A predict function and the model's fingerprint. Checks the pinned sha256 before loading.

    The loading itself is :func:`release_gates.scoring.loaders.load_model` (one loader per format).
    """
    from release_gates.scoring.loaders import load_model as load_scoring_model

    model = load_scoring_model(ref, base_dir=base_dir)
    return model.predict, model.info


def apply_scenario(frame: pd.DataFrame, scenario: StressScenario, *, seed: int) -> pd.DataFrame:
    """A perturbed copy of the feature frame (the input is never modified)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    out = frame.copy()
    if scenario.kind == "baseline":
        return out
    columns = scenario.columns or (
        list(frame.select_dtypes("number").columns)
        if scenario.kind == "gaussian_noise"
        else list(frame.select_dtypes(exclude="number").columns)
    )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FairnessInputError(
            f"scenario {scenario.name!r}: missing column(s) {', '.join(map(repr, missing))}"
        )
    for column in columns:
        series = out[column]
        if scenario.kind == "gaussian_noise":
            if not pd.api.types.is_numeric_dtype(series):
                raise FairnessInputError(f"scenario {scenario.name!r}: column {column!r} is not numeric")
            std = float(series.std()) if len(series) > 1 else 0.0
            out[column] = series + rng.normal(0.0, (scenario.relative_std or 0.1) * std, len(series))
        elif scenario.kind == "missing_values":
            mask = rng.random(len(series)) < (scenario.rate if scenario.rate is not None else 0.1)
            out[column] = series.astype(
                "float64" if pd.api.types.is_numeric_dtype(series) else "object"
            ).mask(mask)
        elif scenario.kind == "category_swap":
            categories = series.dropna().unique()
            if len(categories) < 2:
                continue
            mask = rng.random(len(series)) < (scenario.rate if scenario.rate is not None else 0.1)
            choices = rng.integers(0, len(categories) - 1, len(series))
            current = series.to_numpy()
            index = {value: i for i, value in enumerate(categories)}
            swapped = [
                categories[c + (c >= index.get(v, -1))] if m and v in index else v
                for v, c, m in zip(current, choices, mask, strict=True)
            ]
            out[column] = pd.Series(swapped, index=series.index, dtype=series.dtype)
    return out


def evaluate_stress_safety(
    frame: pd.DataFrame,
    predict: Predict,
    spec: StressSafetyCheck,
    *,
    label: str,
    positive: Any,
    negative: Any,
    exclude: tuple[str, ...] = (),
    check_id: str = "stress_safety",
    inputs: dict[str, Any] | None = None,
) -> CheckResult:
    """Score each scenario and decide the ceiling per subgroup (see the module docstring)."""
    import pandas as pd

    started = utcnow()
    engine = {"release-gates": __version__, "pandas": pd.__version__}
    needed = [label, *spec.sensitive_features]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise FairnessInputError(f"missing column(s) {', '.join(map(repr, missing))}")
    if frame.empty:
        return CheckResult(
            check_id=check_id,
            kind="stress_safety",
            status=Status.INCONCLUSIVE,
            summary="no rows to evaluate",
            inputs=inputs or {},
            engine=engine,
            started_at=started,
            finished_at=utcnow(),
        )
    features = frame.drop(columns=[label, *[c for c in exclude if c in frame.columns]])

    rows: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for index, scenario in enumerate(spec.scenarios):
        stressed = apply_scenario(features, scenario, seed=spec.seed + index)
        try:
            predictions = predict(stressed)
        except Exception as exc:  # the model itself failing under stress is a safety finding
            findings.append(
                Finding(
                    id=f"stress.{scenario.name}.crash",
                    severity=Severity.CRITICAL,
                    title=f"model failed to score under scenario {scenario.name!r}",
                    detail=describe_error(exc),  # a model error may quote the row it choked on
                    location=scenario.name,
                )
            )
            rows.append({"scenario": scenario.name, "status": Status.FAIL.value, "error": type(exc).__name__})
            continue
        scored = frame[[label, *spec.sensitive_features]].assign(_prediction=list(predictions))
        counts = count_outcomes(
            scored,
            label=label,
            prediction="_prediction",
            sensitive=spec.sensitive_features,
            positive=positive,
            negative=negative,
        )
        for key, cell in counts.project(tuple(spec.sensitive_features)).items():
            group = dict(zip(spec.sensitive_features, key, strict=True))
            name = ", ".join(f"{k}={v}" for k, v in group.items())
            r = rate(cell, spec.metric, spec.confidence)
            if cell.n < spec.min_group_size or not r.defined:
                why = (
                    f"n below {spec.min_group_size}"
                    if cell.n < spec.min_group_size
                    else f"{spec.metric} undefined"
                )
                status, reason = Status.INCONCLUSIVE, why
            elif r.high is not None and r.high > spec.ceiling:
                status = Status.FAIL
                reason = (
                    f"{spec.metric} {r.value:.3f} (upper bound {r.high:.3f}) exceeds ceiling {spec.ceiling:g}"
                )
            else:
                status, reason = Status.PASS, f"upper bound {r.high:.3f} within ceiling {spec.ceiling:g}"
            small = cell.n < spec.min_cell_size
            rows.append(
                {
                    "scenario": scenario.name,
                    "group": group,
                    "n": f"<{spec.min_cell_size}" if small else cell.n,
                    spec.metric: {} if small else {k: _r(v) for k, v in r.to_dict().items()},
                    "status": status.value,
                    "reason": reason,
                }
            )
            if status is not Status.PASS:
                findings.append(
                    Finding(
                        id=f"stress.{scenario.name}.{spec.metric}.{'.'.join(key)}",
                        severity=spec.severity if status is Status.FAIL else Severity.LOW,
                        title=f"{spec.metric} for {name} under {scenario.name}: {reason}",
                        location=f"{scenario.name} / {name}",
                    )
                )

    status = Status.worst(Status(row["status"]) for row in rows)
    failed = [r for r in rows if r["status"] == "FAIL"]
    summary = (
        f"{len(failed)} of {len(rows)} scenario × group cells exceed the {spec.metric} ceiling "
        f"{spec.ceiling:g}"
        if failed
        else f"{spec.metric} within ceiling {spec.ceiling:g} in all {len(spec.scenarios)} scenarios"
        + ("" if status is Status.PASS else " where decidable; some groups are too small or undefined")
    )
    return CheckResult(
        check_id=check_id,
        kind="stress_safety",
        status=status,
        summary=summary,
        metrics={
            "metric": spec.metric,
            "ceiling": spec.ceiling,
            "confidence": spec.confidence,
            "rule": "FAIL when the upper interval bound exceeds the ceiling",
            "scenarios": [s.model_dump(mode="json", exclude_none=True) for s in spec.scenarios],
            "cells": rows,
        },
        findings=findings,
        inputs=inputs or {},
        engine=engine,
        started_at=started,
        finished_at=utcnow(),
    )


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
