"""The canary judge: the exact Hodges–Lehmann selection, per-metric verdicts, the step's score.

Hodges–Lehmann is checked against the brute-force median of every pairwise difference (small
samples, hypothesis) and on inputs large enough to take the selection path (ties, integers,
uneven sizes); the verdicts on seeded simulations: identical distributions pass at least as often
as the configured confidence, shifts beyond the band are caught, a thin canary never passes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release_gates.checks import canary_judge
from release_gates.checks.canary_judge import hodges_lehmann, judge_canary, judge_metric
from release_gates.policy.canary import Canary, CanaryMetric, CanaryThresholds
from release_gates.results import CheckResult, Status

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def brute_force(canary: np.ndarray, baseline: np.ndarray) -> float:
    return float(
        np.median((np.asarray(canary, float)[:, None] - np.asarray(baseline, float)[None, :]).ravel())
    )


# --------------------------------------------------------------------------------------------------
# Hodges–Lehmann
# --------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(FINITE, min_size=1, max_size=60), st.lists(FINITE, min_size=1, max_size=60))
def test_hodges_lehmann_equals_the_brute_force_median(canary: list[float], baseline: list[float]) -> None:
    assert hodges_lehmann(canary, baseline) == brute_force(np.array(canary), np.array(baseline))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=150, max_value=700),
    st.integers(min_value=150, max_value=700),
    st.sampled_from(["normal", "integers", "lognormal", "rounded"]),
)
def test_selection_path_equals_the_brute_force_median(seed: int, n: int, m: int, shape: str) -> None:
    """Sizes above the enumeration cut-off take the sampling selection; ties and rounding included."""
    rng = np.random.default_rng(seed)
    draw = {
        "normal": lambda size: rng.normal(size=size),
        "integers": lambda size: rng.integers(0, 4, size=size).astype(float),
        "lognormal": lambda size: rng.lognormal(size=size) * 1e3,
        "rounded": lambda size: np.round(rng.normal(size=size), 1),
    }[shape]
    canary, baseline = draw(n), draw(m)
    assert n * m > 4 * (n + m)  # the selection path, not the small-input enumeration
    assert hodges_lehmann(canary, baseline) == brute_force(canary, baseline)


@pytest.mark.parametrize("shape", ["normal", "integers"])
def test_selection_with_tiny_samples_walks_every_branch(monkeypatch: pytest.MonkeyPatch, shape: str) -> None:
    """With 16-pair samples and no early enumeration, pivots land on the target ranks themselves,
    on runs of ties and on the wrong side of the target: the answer is still exact."""
    monkeypatch.setattr(canary_judge, "_SAMPLE", 16)
    monkeypatch.setattr(canary_judge, "_FIRST_SAMPLE", 16)
    monkeypatch.setattr(canary_judge, "_MARGIN_Z", 0.5)
    monkeypatch.setattr(canary_judge, "_ENUMERATE_PER_VALUE", 0)
    monkeypatch.setattr(canary_judge, "_SMALL", 0)
    for seed in range(150):
        rng = np.random.default_rng(seed)
        n, m = (int(v) for v in rng.integers(40, 90, size=2))
        values = rng.normal(size=n + m) if shape == "normal" else rng.integers(0, 5, size=n + m) * 1.0
        canary, baseline = values[:n], values[n:]
        assert hodges_lehmann(canary, baseline) == brute_force(canary, baseline), seed


def test_selection_never_holds_the_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 × 10,000 pairs (800 MB as float64) are never materialised: every array the selection
    builds stays within the enumeration limit, and the value agrees with a bounded-memory check."""
    rng = np.random.default_rng(7)
    canary, baseline = rng.lognormal(size=10_000), rng.lognormal(size=10_000) * 1.03
    largest: list[int] = []
    real_partition = np.partition

    def watched(a: np.ndarray, kth: object) -> np.ndarray:
        largest.append(a.size)
        return real_partition(a, kth)

    monkeypatch.setattr(np, "partition", watched)  # the engine imports numpy inside its functions
    shift = hodges_lehmann(canary, baseline)
    assert largest and max(largest) <= canary_judge.ENUMERATE_LIMIT
    # Independent check of the rank, in chunks of 500 rows (bounded memory): the shift is the
    # median, so at least half of the differences are ≤ it and at least half are ≥ it.
    total = canary.size * baseline.size
    le = sum(
        int((canary[i : i + 500, None] - baseline[None, :] <= shift).sum()) for i in range(0, 10_000, 500)
    )
    ge = sum(
        int((canary[i : i + 500, None] - baseline[None, :] >= shift).sum()) for i in range(0, 10_000, 500)
    )
    assert le >= total / 2 and ge >= total / 2


def test_hodges_lehmann_refuses_empty_and_nan() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        hodges_lehmann([], [1.0])
    with pytest.raises(ValueError, match="finite"):
        hodges_lehmann([1.0, float("nan")], [1.0])


# --------------------------------------------------------------------------------------------------
# One metric
# --------------------------------------------------------------------------------------------------

LATENCY = CanaryMetric(name="latency", direction="increase", tolerance=0.1)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from([0.9, 0.95, 0.99]), st.integers(min_value=0, max_value=10_000))
def test_identical_distributions_pass_at_least_at_the_confidence(confidence: float, start: int) -> None:
    """No tolerance at all: only the test protects against false alarms, and over 300 seeds the
    share of passes is at least the confidence (less three binomial standard errors)."""
    strict = CanaryMetric(name="latency", direction="either", tolerance=0.0, tolerance_type="absolute")
    runs = 300
    passes = 0
    for seed in range(start, start + runs):
        rng = np.random.default_rng(seed)
        canary, baseline = rng.lognormal(3, 0.5, size=40), rng.lognormal(3, 0.5, size=40)
        passes += judge_metric(strict, canary, baseline, confidence=confidence).outcome == "pass"
    slack = 3 * np.sqrt(confidence * (1 - confidence) / runs)
    assert passes / runs >= confidence - slack


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.floats(min_value=0.25, max_value=2.0))
def test_a_shift_beyond_the_band_is_caught(seed: int, extra: float) -> None:
    """Canary latency higher by more than the 10 % band (plus ``extra`` of it): caught as ``high``."""
    rng = np.random.default_rng(seed)
    baseline = rng.normal(100, 5, size=200)
    canary = rng.normal(100 * (1 + 0.1 * (1 + extra)), 5, size=200)
    verdict = judge_metric(LATENCY, canary, baseline, confidence=0.95)
    assert verdict.outcome == "high", verdict
    assert verdict.shift is not None and verdict.allowed_shift is not None
    assert verdict.shift > verdict.allowed_shift


def test_a_significant_shift_inside_the_band_passes() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.normal(100, 1, size=2000)
    verdict = judge_metric(LATENCY, baseline + 3, baseline, confidence=0.95)  # +3 %, band 10 %
    assert verdict.p_value is not None and verdict.p_value < 0.001
    assert verdict.outcome == "pass"


def test_direction_decides_which_change_is_bad() -> None:
    rng = np.random.default_rng(4)
    baseline = rng.normal(100, 5, size=300)
    lower = baseline - 50
    assert judge_metric(LATENCY, lower, baseline, confidence=0.95).outcome == "pass"
    drop = CanaryMetric(name="invocations", direction="decrease")
    assert judge_metric(drop, lower, baseline, confidence=0.95).outcome == "low"
    either = CanaryMetric(name="x", direction="either")
    assert judge_metric(either, lower, baseline, confidence=0.95).outcome == "low"
    assert judge_metric(either, baseline + 50, baseline, confidence=0.95).outcome == "high"


def test_absolute_band_for_error_counts() -> None:
    errors = CanaryMetric(name="errors", tolerance=0.0, tolerance_type="absolute")
    zeros = np.zeros(60)
    assert judge_metric(errors, zeros, zeros, confidence=0.95).outcome == "pass"
    canary = np.concatenate([np.ones(40) * 3, np.zeros(20)])
    verdict = judge_metric(errors, canary, zeros, confidence=0.95)
    assert verdict.outcome == "high"


def test_too_few_samples_is_inconclusive_never_pass() -> None:
    verdict = judge_metric(LATENCY, [1.0] * 9, [1.0] * 50, confidence=0.95)
    assert verdict.outcome == "inconclusive"
    assert "too few samples" in verdict.reason
    # NaN and infinities are not samples.
    nan_padded = [float("nan")] * 50 + [1.0] * 5
    assert judge_metric(LATENCY, nan_padded, [1.0] * 50, confidence=0.95).outcome == "inconclusive"


# --------------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------------

THRESHOLDS = CanaryThresholds()


def steady(seed: int, size: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(100, 5, size=size), rng.normal(100, 5, size=size)


def test_no_shift_passes_with_score_100() -> None:
    metrics = Canary().metrics
    samples = {"latency": steady(1), "errors": (np.zeros(60), np.zeros(60))}
    result = judge_canary(samples, metrics, confidence=0.95, thresholds=THRESHOLDS, step={"weight": 5})
    assert result.status is Status.PASS, result.summary
    assert result.metrics["score"] == 100.0 and result.metrics["classification"] == "pass"
    CheckResult.from_json(result.to_json())  # JSON-safe


def test_critical_failure_fails_whatever_the_score() -> None:
    metrics = [CanaryMetric(name=f"m{i}", weight=10) for i in range(9)] + [
        CanaryMetric(name="errors", critical=True, tolerance=0.0, tolerance_type="absolute")
    ]
    samples = {m.name: steady(i) for i, m in enumerate(metrics)}
    samples["errors"] = (np.ones(60) * 2, np.zeros(60))
    result = judge_canary(samples, metrics, confidence=0.95, thresholds=THRESHOLDS)
    assert result.metrics["score"] > 95  # 90 of 91 weight passes
    assert result.status is Status.FAIL and result.metrics["critical_failed"] == ["errors"]
    assert any(f.id == "metric_high:errors" for f in result.findings)


def test_weighted_score_classifies_pass_marginal_fail() -> None:
    metrics = [CanaryMetric(name="a", weight=8), CanaryMetric(name="b", weight=2)]
    bad = (steady(1)[0] * 2, steady(1)[1])
    marginal = judge_canary({"a": steady(2), "b": bad}, metrics, confidence=0.95, thresholds=THRESHOLDS)
    assert marginal.metrics["score"] == 80.0 and marginal.metrics["classification"] == "marginal"
    assert marginal.status is Status.INCONCLUSIVE  # a human decides
    fail = judge_canary({"a": bad, "b": steady(3)}, metrics, confidence=0.95, thresholds=THRESHOLDS)
    assert fail.metrics["score"] == 20.0 and fail.status is Status.FAIL


def test_a_canary_with_no_metric_data_never_passes() -> None:
    result = judge_canary({}, Canary().metrics, confidence=0.95, thresholds=THRESHOLDS)
    assert result.status is Status.INCONCLUSIVE
    assert result.metrics["score"] is None and sorted(result.metrics["unmeasured"]) == ["errors", "latency"]
    # One measured, passing metric does not outvote an unmeasured one.
    partial = judge_canary({"latency": steady(5)}, Canary().metrics, confidence=0.95, thresholds=THRESHOLDS)
    assert partial.metrics["score"] == 100.0 and partial.status is Status.INCONCLUSIVE


def test_unreadable_metric_is_an_error() -> None:
    result = judge_canary(
        {"latency": steady(1)},
        Canary().metrics,
        confidence=0.95,
        thresholds=THRESHOLDS,
        errors={"errors": "GetMetricData AccessDenied"},
    )
    assert result.status is Status.ERROR and "roll back" in result.summary


def test_model_results_join_the_step() -> None:
    failed_drift = CheckResult(
        check_id="canary.prediction_drift", kind="drift", status=Status.FAIL, summary="drifted",
        started_at=canary_judge.utcnow(), finished_at=canary_judge.utcnow(),
    )  # fmt: skip
    samples = {"latency": steady(1), "errors": (np.zeros(60), np.zeros(60))}
    result = judge_canary(
        samples, Canary().metrics, confidence=0.95, thresholds=THRESHOLDS, model_results=[failed_drift]
    )
    assert result.status is Status.FAIL and "prediction_drift" in result.metrics["critical_failed"]


def test_policy_section_validates() -> None:
    with pytest.raises(ValueError, match="increase"):
        Canary(steps=[25, 5])
    with pytest.raises(ValueError, match="marginal_score"):
        CanaryThresholds.model_validate({"pass_score": 70, "marginal_score": 80})
    assert CanaryThresholds.model_validate({"pass_score": 90}).pass_score == 90
    with pytest.raises(ValueError, match="cpu need a cloudwatch section"):
        Canary.model_validate({"metrics": [{"name": "cpu"}]})
    with pytest.raises(ValueError, match="unique"):
        Canary.model_validate({"metrics": [{"name": "latency"}, {"name": "latency"}]})
