"""Dropping the drifted columns from the current data must not turn a drift check into a pass.

The attack: the features (or the candidate's score) that would show drift are left out of the
evaluation extract. Unmeasured is not "no drift": INCONCLUSIVE, or ERROR when the policy named the
columns itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.checks.drift import evaluate_drift
from release_gates.policy import DriftCheck
from release_gates.results import CheckResult, Status

COLUMNS = [f"x{i}" for i in range(6)]


def _spec(**fields: Any) -> DriftCheck:
    drift_check = {"kind": "drift", "reference": "train", "current": "eval", "drift_share": 0.3}
    return DriftCheck.model_validate({**drift_check, **fields})


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(15)
    reference = pd.DataFrame({c: rng.normal(size=800) for c in COLUMNS})
    # x0 and x1 drift hard; the attacker drops exactly those from the current data.
    current = pd.DataFrame({c: rng.normal(loc=3.0 if c in {"x0", "x1"} else 0.0, size=800) for c in COLUMNS})
    return reference, current


def _drift(reference: pd.DataFrame, current: pd.DataFrame, spec: DriftCheck, **kwargs: Any) -> CheckResult:
    return evaluate_drift(
        reference, current, spec, check_id="data.drift", reference_name="train", current_name="eval", **kwargs
    )


def test_reference_features_missing_from_current_are_inconclusive() -> None:
    reference, current = _frames()
    assert _drift(reference, current, _spec()).status is Status.FAIL  # with them, drift is found

    result = _drift(reference, current.drop(columns=["x0", "x1"]), _spec())
    assert result.status is Status.INCONCLUSIVE
    assert not result.status.is_passing
    missing = {f.location for f in result.findings if f.id.startswith("unmatched_column:")}
    assert missing == {"x0", "x1"}
    assert "missing from the current data: x0, x1" in result.summary


def test_a_column_only_in_the_current_data_stays_a_warning() -> None:
    reference, current = _frames()
    result = _drift(reference, current.assign(x0=reference["x0"], x1=reference["x1"], extra=1.0), _spec())
    assert result.status is Status.WARN
    assert [f.id for f in result.findings] == ["unmatched_column:extra"]


def test_columns_listed_in_the_policy_and_missing_are_an_error() -> None:
    reference, current = _frames()
    result = _drift(reference, current.drop(columns=["x0"]), _spec(columns=["x0", "x2"]))
    assert result.status is Status.ERROR
    assert "'eval'" in result.summary and "'x0'" in result.summary


@pytest.mark.parametrize(
    ("dropped", "expected"),
    # without the drifting score nothing else fails: INCONCLUSIVE; without pred the score still FAILs
    [("score", Status.INCONCLUSIVE), ("pred", Status.FAIL)],
)
def test_declared_prediction_column_missing_from_current_is_inconclusive(
    dropped: str, expected: Status
) -> None:
    reference, current = _frames()
    current = current.assign(x0=reference["x0"], x1=reference["x1"])  # features stable
    rng = np.random.default_rng(3)
    reference = reference.assign(score=rng.beta(2, 5, size=800), pred=rng.integers(0, 2, size=800))
    current = current.assign(score=rng.beta(5, 2, size=800), pred=rng.integers(0, 2, size=800))
    both = ["score", "pred"]
    assert _drift(reference, current, _spec(), prediction_columns=both).status is Status.FAIL

    result = _drift(reference, current.drop(columns=[dropped]), _spec(), prediction_columns=both)
    assert result.status is expected
    unmeasured = [f for f in result.findings if f.id.startswith("prediction_not_measured:")]
    assert [f.location for f in unmeasured] == [dropped] and "'eval' (current)" in unmeasured[0].title
    assert unmeasured[0].severity is _spec().severity

    # with the only drifting output gone, nothing is left that could pass it
    gone = current.drop(columns=["score"])
    result = _drift(reference, gone, _spec(), prediction_columns=["score"])
    assert result.status is Status.INCONCLUSIVE


def test_a_reference_never_scored_is_a_recorded_warning() -> None:
    reference, current = _frames()
    current = current.assign(x0=reference["x0"], x1=reference["x1"], score=0.5)
    result = _drift(reference, current, _spec(), prediction_columns=["score"])
    assert result.status is Status.WARN
    assert [f.id for f in result.findings] == ["prediction_not_measured:score"]
