"""Subgroup fairness engine: counts, Wilson intervals, the decision rule, privacy and bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release_gates.checks.fairness import (
    Cell,
    FairnessInputError,
    OutcomeCounts,
    count_outcomes,
    evaluate_subgroup_fairness,
    wilson_interval,
)
from release_gates.policy import FairnessCheck
from release_gates.results import CheckResult, Status


def spec(**overrides: object) -> FairnessCheck:
    fields: dict[str, object] = {
        "kind": "fairness",
        "data": "eval",
        "sensitive_features": ["g"],
        "criteria": [{"metric": "selection_rate", "ratio_min": 0.8}],
        "min_group_size": 30,
    }
    fields.update(overrides)
    return FairnessCheck.model_validate(fields)


def counts(cells: dict[str, Cell], feature: str = "g") -> OutcomeCounts:
    return OutcomeCounts(features=(feature,), cells={(k,): c for k, c in cells.items()}, source="test")


def selected(n: int, k: int) -> Cell:
    """A group of n where k are selected (all correctly: selection = base rate)."""
    return Cell(tp=k, fp=0, tn=n - k, fn=0)


# --------------------------------------------------------------------------------------------------
# Wilson intervals (reference values: statsmodels proportion_confint(method="wilson"), alpha 0.05)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (5, 10, 0.236593, 0.763407),
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (1, 100, 0.001767, 0.054486),
        (81, 263, 0.255289, 0.366210),
    ],
)
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n, 0.95)
    assert got is not None
    assert got == pytest.approx((low, high), abs=1e-6)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.99])
def test_wilson_interval_matches_statsmodels(confidence: float) -> None:
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 7), (3, 7), (7, 7), (17, 400), (250, 251)]:
        expected = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
        assert wilson_interval(k, n, confidence) == pytest.approx(expected, abs=1e-12)


def test_wilson_interval_undefined_for_empty_denominator() -> None:
    assert wilson_interval(0, 0) is None


def test_wilson_interval_narrows_with_confidence() -> None:
    wide, narrow = wilson_interval(30, 100, 0.99), wilson_interval(30, 100, 0.80)
    assert wide is not None and narrow is not None
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


# --------------------------------------------------------------------------------------------------
# The decision rule at its edges
# --------------------------------------------------------------------------------------------------


def criterion_status(result: CheckResult, grouping: list[str] | None = None) -> list[str]:
    return [c["status"] for c in result.metrics["criteria"] if grouping is None or c["grouping"] == grouping]


def test_clear_parity_passes() -> None:
    result = evaluate_subgroup_fairness(
        counts({"a": selected(4000, 2000), "b": selected(4000, 1980)}), spec()
    )
    assert result.status is Status.PASS
    assert result.findings == ()


def test_clear_disparity_fails_even_at_the_favourable_end() -> None:
    result = evaluate_subgroup_fairness(counts({"a": selected(2000, 1000), "b": selected(2000, 500)}), spec())
    assert result.status is Status.FAIL
    criterion = result.metrics["criteria"][0]
    assert criterion["value"] == pytest.approx(0.5)
    assert criterion["ci_high"] < 0.8  # favourable end still breaches
    assert criterion["groups_compared"] == ["g=b", "g=a"]
    assert result.findings[0].severity.value == "HIGH"


def test_point_estimate_breach_within_uncertainty_is_inconclusive() -> None:
    # 0.75 ratio, but with 60 per group the interval straddles 0.8.
    result = evaluate_subgroup_fairness(counts({"a": selected(60, 40), "b": selected(60, 30)}), spec())
    criterion = result.metrics["criteria"][0]
    assert criterion["value"] == pytest.approx(0.75)
    assert criterion["ci_low"] < 0.8 < criterion["ci_high"]
    assert result.status is Status.INCONCLUSIVE
    assert "straddles" in criterion["reason"]


def test_point_estimate_mode_decides_on_the_point() -> None:
    data = counts({"a": selected(60, 40), "b": selected(60, 30)})
    assert evaluate_subgroup_fairness(data, spec(decision="point_estimate")).status is Status.FAIL
    data = counts({"a": selected(60, 40), "b": selected(60, 34)})
    assert evaluate_subgroup_fairness(data, spec(decision="point_estimate")).status is Status.PASS


def test_tiny_group_is_inconclusive_never_perfectly_fair() -> None:
    # The tiny group's point estimate is identical to the big group's: it must not pass.
    result = evaluate_subgroup_fairness(counts({"a": selected(5000, 2500), "b": selected(12, 6)}), spec())
    assert result.status is Status.INCONCLUSIVE
    assert "below min_group_size 30" in result.metrics["criteria"][0]["reason"]


def test_a_fail_among_large_groups_stands_despite_a_tiny_group() -> None:
    cells = {"a": selected(3000, 1500), "b": selected(3000, 600), "c": selected(5, 1)}
    result = evaluate_subgroup_fairness(counts(cells), spec())
    assert result.status is Status.FAIL


def test_undefined_rate_is_inconclusive_with_reason() -> None:
    # Group b has no actual positives: its TPR is undefined, not 0.
    cells = {"a": Cell(tp=400, fp=100, tn=400, fn=100), "b": Cell(tp=0, fp=100, tn=900, fn=0)}
    result = evaluate_subgroup_fairness(
        counts(cells), spec(criteria=[{"metric": "tpr", "difference_max": 0.1}])
    )
    assert result.status is Status.INCONCLUSIVE
    assert "tpr undefined" in result.metrics["criteria"][0]["reason"]
    group_b = next(g for g in result.metrics["groups"] if g["group"] == {"g": "b"})
    assert group_b["rates"]["tpr"] == {"value": None, "ci_low": None, "ci_high": None}


def test_difference_rule_edges() -> None:
    diff = spec(criteria=[{"metric": "selection_rate", "difference_max": 0.1}])
    assert evaluate_subgroup_fairness(
        counts({"a": selected(5000, 2500), "b": selected(5000, 2400)}), diff
    ).status is (Status.PASS)
    assert evaluate_subgroup_fairness(
        counts({"a": selected(5000, 2500), "b": selected(5000, 1500)}), diff
    ).status is (Status.FAIL)
    assert evaluate_subgroup_fairness(
        counts({"a": selected(100, 50), "b": selected(100, 40)}), diff
    ).status is (Status.INCONCLUSIVE)


def test_reference_group_compares_each_group_with_it() -> None:
    cells = {"ref": selected(3000, 1500), "x": selected(3000, 1450), "y": selected(3000, 1700)}
    # y is favoured over the reference: the ratio y/ref > 1 does not breach ratio_min.
    result = evaluate_subgroup_fairness(counts(cells), spec(reference_group={"g": "ref"}))
    assert result.status is Status.PASS
    # Without a reference every pair counts: x vs y is 1450/1700 = 0.853, breaching 0.95 for sure.
    harsh = spec(criteria=[{"metric": "selection_rate", "ratio_min": 0.95}])
    result = evaluate_subgroup_fairness(counts(cells), harsh)
    assert result.status is Status.FAIL
    assert result.metrics["criteria"][0]["groups_compared"] == ["g=x", "g=y"]
    missing_ref = evaluate_subgroup_fairness(counts(cells), spec(reference_group={"g": "nobody"}))
    assert missing_ref.status is Status.INCONCLUSIVE
    assert "reference group g=nobody is missing" in missing_ref.summary


def test_one_group_only_is_inconclusive() -> None:
    result = evaluate_subgroup_fairness(counts({"a": selected(1000, 500)}), spec())
    assert result.status is Status.INCONCLUSIVE
    assert "fewer than two groups" in result.metrics["criteria"][0]["reason"]


def test_empty_table_is_inconclusive() -> None:
    result = evaluate_subgroup_fairness(counts({}), spec())
    assert result.status is Status.INCONCLUSIVE
    assert "empty" in result.summary


# --------------------------------------------------------------------------------------------------
# Privacy and result shape
# --------------------------------------------------------------------------------------------------


def test_small_groups_are_suppressed_and_result_is_json_safe() -> None:
    result = evaluate_subgroup_fairness(
        counts({"a": selected(500, 250), "b": selected(7, 3)}), spec(min_group_size=5, min_cell_size=10)
    )
    small = next(g for g in result.metrics["groups"] if g["group"] == {"g": "b"})
    assert small == {"group": {"g": "b"}, "n": "<10", "suppressed": True, "rates": {}}
    text = result.to_json()
    assert '"n":7' not in text.replace(" ", "")
    big = next(g for g in result.metrics["groups"] if g["group"] == {"g": "a"})
    assert set(big["rates"]) == {
        "selection_rate",
        "base_rate",
        "tpr",
        "fpr",
        "fnr",
        "precision",
        "error_rate",
    }
    assert set(big["rates"]["selection_rate"]) == {"value", "ci_low", "ci_high"}
    assert set(result.metrics["criteria"][0]) >= {"metric", "rule", "value", "ci_low", "ci_high", "status"}
    json.loads(text)


# --------------------------------------------------------------------------------------------------
# Counting and bad input
# --------------------------------------------------------------------------------------------------


def frame(**columns: list[object]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_counts_from_a_frame_and_intersections_are_sums() -> None:
    df = frame(
        a=["x", "x", "y", "y", "y", "x"],
        b=["p", "q", "p", "q", "q", "p"],
        y=[1, 0, 1, 1, 0, 0],
        p=[1, 1, 0, 1, 0, 0],
    )
    c = count_outcomes(df, label="y", prediction="p", sensitive=["a", "b"])
    assert c.rows == 6
    assert c.project(("a",)) == {("x",): Cell(tp=1, fp=1, tn=1, fn=0), ("y",): Cell(tp=1, fp=0, tn=1, fn=1)}
    assert sum(c.project(("b",)).values(), Cell()) == sum(c.cells.values(), Cell())


def test_string_labels_with_declared_positive_class() -> None:
    df = frame(g=["a", "b", "a"], y=["no", "yes", "yes"], p=["yes", "yes", "no"])
    c = count_outcomes(df, label="y", prediction="p", sensitive=["g"], positive="yes", negative="no")
    assert c.cells[("a",)] == Cell(tp=0, fp=1, tn=0, fn=1)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([1, 0, None], "column 'y' has 1 value"),
        ([1, 0, 2], "column 'y' has 1 value(s) in 1 distinct value(s)"),
        ([1.0, float("nan"), 0.0], "(1 missing)"),
    ],
)
def test_nan_or_non_binary_labels_are_refused_naming_the_column(labels: list[object], message: str) -> None:
    df = frame(g=["a", "b", "a"], y=labels, p=[1, 0, 1])
    with pytest.raises(FairnessInputError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        count_outcomes(df, label="y", prediction="p", sensitive=["g"])
    assert "'2'" not in str(caught.value)  # counts only: the offending cells are never echoed


def test_non_binary_prediction_is_refused() -> None:
    df = frame(g=["a", "b"], y=[1, 0], p=[0.7, 0.2])
    with pytest.raises(FairnessInputError, match="column 'p'"):
        count_outcomes(df, label="y", prediction="p", sensitive=["g"])


def test_missing_sensitive_column_is_named() -> None:
    with pytest.raises(FairnessInputError, match=r"missing column.*'race'"):
        count_outcomes(frame(g=["a"], y=[1], p=[1]), label="y", prediction="p", sensitive=["race"])


def test_missing_sensitive_values_form_their_own_group() -> None:
    df = frame(g=["a", None, "a"], y=[1, 0, 1], p=[1, 0, 0])
    c = count_outcomes(df, label="y", prediction="p", sensitive=["g"])
    assert set(c.cells) == {("a",), ("(missing)",)}


def test_single_class_group_leaves_dependent_rates_undefined() -> None:
    rng = np.random.default_rng(1)
    n = 400
    df = frame(
        g=["a"] * n + ["b"] * n,
        y=list(rng.integers(0, 2, n)) + [0] * n,  # group b has no positives at all
        p=list(rng.integers(0, 2, 2 * n)),
    )
    result = evaluate_subgroup_fairness(
        count_outcomes(df, label="y", prediction="p", sensitive=["g"]),
        spec(criteria=[{"metric": "fnr", "difference_max": 0.2}, {"metric": "fpr", "difference_max": 0.2}]),
    )
    statuses = {c["metric"]: c["status"] for c in result.metrics["criteria"]}
    assert statuses["fnr"] == "INCONCLUSIVE"
    assert statuses["fpr"] in {"PASS", "INCONCLUSIVE"}
    assert result.status is not Status.PASS


# --------------------------------------------------------------------------------------------------
# Cross-check with fairlearn on random group structures
# --------------------------------------------------------------------------------------------------

RATE_FUNCS = {
    "selection_rate": lambda y, p: p.mean(),
    "tpr": lambda y, p: p[y == 1].mean(),
    "fpr": lambda y, p: p[y == 0].mean(),
    "fnr": lambda y, p: 1 - p[y == 1].mean(),
    "precision": lambda y, p: y[p == 1].mean(),
    "error_rate": lambda y, p: (y != p).mean(),
}


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=20, max_value=400),
    n_groups=st.integers(min_value=1, max_value=6),
    n_groups_b=st.integers(min_value=1, max_value=3),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_every_group_rate_matches_fairlearn(n: int, n_groups: int, n_groups_b: int, seed: int) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score, zero_one_loss

    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(n_groups))
    df = pd.DataFrame(
        {
            "a": rng.choice([f"a{i}" for i in range(n_groups)], size=n, p=weights),
            "b": rng.choice([f"b{i}" for i in range(n_groups_b)], size=n),
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
        }
    )
    ours = count_outcomes(df, label="y", prediction="p", sensitive=["a", "b"])
    frame_ = MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "precision": lambda y, p: precision_score(y, p, zero_division=np.nan),
            "error_rate": zero_one_loss,
        },
        y_true=df["y"],
        y_pred=df["p"],
        sensitive_features=df[["a", "b"]],
    )
    for (a, b), row in frame_.by_group.iterrows():
        if (a, b) not in ours.cells:  # fairlearn lists every combination, empty ones as all-NaN
            assert row.isna().all()
            continue
        cell = ours.cells[(a, b)]
        for metric, expected in row.items():
            num, den = cell.fraction(str(metric))
            if den == 0:
                assert np.isnan(expected) or metric != "precision", (metric, a, b)
                continue
            assert num / den == pytest.approx(float(expected), abs=1e-9), (metric, a, b)
