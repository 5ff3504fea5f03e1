"""Model metrics of a canary step: subgroup selection rates with the interval rule, prediction drift,
and the split of the inference log rows by serving version."""

from __future__ import annotations

import pandas as pd
import pytest

from release_gates.checks.canary_model import prediction_drift, selection_rates, split_rows
from release_gates.policy.canary import CanaryModelMetrics
from release_gates.results import Status


def rows(version: str, group: str, n: int, selected: int) -> list[dict[str, object]]:
    return [{"v": version, "g": group, "p": int(i < selected), "score": (i % 10) / 10} for i in range(n)]


def frame(canary_b: int, *, n: int = 400) -> pd.DataFrame:
    data = rows("1", "a", n, n // 2) + rows("1", "b", n, n // 2)
    data += rows("2", "a", n, n // 2) + rows("2", "b", n, canary_b)
    return pd.DataFrame(data)


SPEC = CanaryModelMetrics(sensitive_features=["g"], selection_rate_difference_max=0.1, min_group_size=30)


def judge(data: pd.DataFrame, spec: CanaryModelMetrics = SPEC) -> tuple[Status, dict[str, dict[str, object]]]:
    canary, baseline = split_rows(data, "v", canary="2", baseline="1")
    result = selection_rates(canary, baseline, spec, prediction="p", positive=1, check_id="canary.sr")
    return result.status, {str(g["group"]): g for g in result.metrics["groups"]}


def test_same_rates_pass() -> None:
    status, groups = judge(frame(canary_b=200, n=400))
    assert status is Status.PASS, groups
    assert groups["b"]["canary_rate"] == groups["b"]["baseline_rate"] == 0.5


def test_a_group_selected_far_less_on_the_canary_fails() -> None:
    status, groups = judge(frame(canary_b=80, n=400))  # 20 % against 50 %
    assert status is Status.FAIL
    assert groups["b"]["status"] == "FAIL" and groups["a"]["status"] == "PASS"


def test_a_gap_inside_the_intervals_is_inconclusive() -> None:
    status, groups = judge(frame(canary_b=23, n=60))  # 38 % against 50 %: undecided at n=60
    assert status is Status.INCONCLUSIVE and groups["b"]["status"] == "INCONCLUSIVE"


def test_a_thin_group_is_inconclusive_never_pass() -> None:
    status, groups = judge(frame(canary_b=10, n=20))  # the same 50 % … on 20 rows
    assert status is Status.INCONCLUSIVE
    assert all(g["status"] == "INCONCLUSIVE" for g in groups.values())


def test_no_canary_rows_is_not_a_pass() -> None:
    data = frame(canary_b=200)
    status, _ = judge(data[data["v"] == "1"])
    assert status is Status.INCONCLUSIVE


def test_missing_version_column_names_it() -> None:
    with pytest.raises(ValueError, match="version column 'model_version'"):
        split_rows(frame(200), "model_version", canary="2", baseline="1")


def test_prediction_drift_of_the_canary() -> None:
    pytest.importorskip("evidently")
    data = frame(canary_b=200, n=400)
    shifted = data.copy()
    shifted.loc[shifted["v"] == "2", "score"] = 0.95
    spec = CanaryModelMetrics(prediction_drift=True)
    for source, expected in ((data, Status.PASS), (shifted, Status.FAIL)):
        canary, baseline = split_rows(source, "v", canary="2", baseline="1")
        result = prediction_drift(canary, baseline, spec, columns=["score"], check_id="canary.drift")
        assert result.status is expected, result.summary
        assert result.metrics["canary_rows"] == 800
