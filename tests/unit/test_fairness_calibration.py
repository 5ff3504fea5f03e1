"""Calibration by group: ECE per group with seeded bootstrap intervals, and ``calibration_gap_max``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from release_gates.checks.fairness import count_outcomes, evaluate_subgroup_fairness
from release_gates.checks.fairness_calibration import (
    count_calibration,
    count_calibration_sql,
)
from release_gates.exceptions import FairnessInputError
from release_gates.policy import Criterion, FairnessCheck, PolicyError, parse_policy
from release_gates.results import CheckResult, Status

GAP = {"metric": "calibration", "calibration_gap_max": 0.05}


def spec(**overrides: object) -> FairnessCheck:
    fields: dict[str, object] = {
        "kind": "fairness",
        "data": "eval",
        "sensitive_features": ["g"],
        "criteria": [GAP],
        "min_group_size": 30,
    }
    fields.update(overrides)
    return FairnessCheck.model_validate(fields)


def scored(sizes: dict[str, int], *, squash: dict[str, float] | None = None, seed: int = 0) -> pd.DataFrame:
    """Scores uniform on [0, 1]; labels drawn with probability score (calibrated), or score × squash."""
    rng = np.random.default_rng(seed)
    frames = []
    for group, n in sizes.items():
        score = rng.uniform(size=n)
        truth = score * (squash or {}).get(group, 1.0)
        label = (rng.uniform(size=n) < truth).astype(int)
        frames.append(pd.DataFrame({"g": group, "y": label, "p": (score > 0.5).astype(int), "s": score}))
    return pd.concat(frames, ignore_index=True)


def judge(frame: pd.DataFrame, check: FairnessCheck | None = None) -> CheckResult:
    check = check or spec()
    outcomes = count_outcomes(frame, label="y", prediction="p", sensitive=check.sensitive_features)
    calibration = count_calibration(
        frame, score="s", label="y", sensitive=check.sensitive_features, bins=check.calibration_bins
    )
    return evaluate_subgroup_fairness(outcomes, check, calibration=calibration)


def criterion(result: CheckResult) -> dict[str, object]:
    found: dict[str, object] = next(c for c in result.metrics["criteria"] if c["metric"] == "calibration")
    return found


def test_ece_equals_a_row_by_row_computation() -> None:
    frame = scored({"a": 700, "b": 300}, squash={"b": 0.7}, seed=3)
    result = judge(frame)
    edges = np.linspace(0, 1, 11)[1:-1]
    for group in ("a", "b"):
        rows = frame[frame.g == group]
        bins = np.digitize(rows.s, edges)  # right-open bins; a score on an edge goes up
        expected = sum(
            abs(rows.y[bins == b].sum() - rows.s[bins == b].sum()) for b in range(10) if (bins == b).any()
        ) / len(rows)
        table = next(g for g in result.metrics["groups"] if g["group"] == {"g": group})
        assert table["rates"]["calibration"]["value"] == pytest.approx(expected, abs=1e-6)
        low, high = table["rates"]["calibration"]["ci_low"], table["rates"]["calibration"]["ci_high"]
        assert 0 <= low <= high <= 1


def test_calibrated_groups_pass() -> None:
    result = judge(scored({"a": 4000, "b": 4000}))
    assert criterion(result)["status"] == "PASS", criterion(result)["reason"]
    assert result.metrics["calibration"]["reference"] == "overall"
    assert result.metrics["calibration"]["bootstrap_samples"] == 1000


def test_a_miscalibrated_group_fails_against_the_overall_ece() -> None:
    result = judge(scored({"a": 4000, "b": 4000}, squash={"b": 0.5}))
    found = criterion(result)
    assert found["status"] == "FAIL"
    assert found["groups_compared"] == ["g=b", "overall"]
    assert found["value"] > 0.05 and found["p_adjusted"] < 0.05
    assert result.status is Status.FAIL
    assert result.findings[0].id == "calibration.calibration_gap_max.g"


def test_small_groups_are_inconclusive_and_say_what_size_would_decide() -> None:
    result = judge(scored({"a": 150, "b": 150}, squash={"b": 0.8}))
    found = criterion(result)
    assert found["status"] == "INCONCLUSIVE"
    power = found["power"]
    assert isinstance(power, dict)
    assert power["needed_group_size"] is None or power["needed_group_size"] > 150
    assert "with 80% power these sizes detect" in str(found["reason"])


def test_a_group_below_min_group_size_never_passes() -> None:
    result = judge(scored({"a": 4000, "b": 20}), spec(min_group_size=30))
    assert criterion(result)["status"] == "INCONCLUSIVE"
    assert "below min_group_size 30" in str(criterion(result)["reason"])


def test_the_bootstrap_is_seeded() -> None:
    frame = scored({"a": 500, "b": 500}, squash={"b": 0.9})
    first, again = judge(frame), judge(frame)
    assert first.metrics["groups"] == again.metrics["groups"]
    assert criterion(first) == criterion(again)
    other = judge(frame, spec(seed=99))
    assert criterion(other)["ci_low"] != criterion(first)["ci_low"]


def test_without_score_statistics_calibration_is_never_passed() -> None:
    frame = scored({"a": 4000, "b": 4000})
    outcomes = count_outcomes(frame, label="y", prediction="p", sensitive=["g"])
    result = evaluate_subgroup_fairness(outcomes, spec())
    assert result.status is Status.INCONCLUSIVE
    assert "no score column was read" in result.summary


def test_calibration_joins_the_rate_criteria_in_one_family() -> None:
    both = spec(criteria=[{"metric": "selection_rate", "ratio_min": 0.8}, GAP])
    result = judge(scored({"a": 4000, "b": 4000}), both)
    rates, calibration = result.metrics["criteria"]
    assert (rates["comparisons"], calibration["comparisons"]) == (2, 2)
    assert result.metrics["comparisons"] == 4


# --------------------------------------------------------------------------------------------------
# Counting, on both paths, and bad input
# --------------------------------------------------------------------------------------------------


def test_sql_counts_equal_in_memory_counts(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    frame = scored({"a": 900, "b": 600, "c": 50}, squash={"c": 0.6})
    frame.loc[:5, "s"] = [0.0, 0.1, 0.3, 0.7, 0.9, 1.0]  # exactly on bin edges and the ends
    engine = create_engine(f"sqlite:///{tmp_path / 'scores.db'}")
    frame.to_sql("scored", engine, index=False)
    pushed = count_calibration_sql(engine, "scored", score="s", label="y", sensitive=["g"])
    in_memory = count_calibration(frame, score="s", label="y", sensitive=["g"])
    assert pushed.counts == in_memory.counts
    for key, sums in in_memory.score_sums.items():
        assert np.allclose(pushed.score_sums[key], sums)
    assert pushed.source == "sql:sqlite"


@pytest.mark.parametrize(
    ("values", "message"), [([0.2, np.nan, 0.4], "1 missing"), ([0.2, 1.5, -0.1], "2 outside")]
)
def test_scores_that_are_not_probabilities_are_refused_without_echoing_them(
    values: list[float], message: str, tmp_path: Path
) -> None:
    from sqlalchemy import create_engine

    frame = pd.DataFrame({"g": ["a", "b", "a"], "y": [1, 0, 1], "s": values})
    with pytest.raises(FairnessInputError, match=message) as caught:
        count_calibration(frame, score="s", label="y", sensitive=["g"])
    assert "score column 's'" in str(caught.value) and "1.5" not in str(caught.value)
    engine = create_engine(f"sqlite:///{tmp_path / 'bad.db'}")
    frame.to_sql("bad", engine, index=False)
    with pytest.raises(FairnessInputError, match=message):
        count_calibration_sql(engine, "bad", score="s", label="y", sensitive=["g"])


def test_missing_score_column_is_named() -> None:
    with pytest.raises(FairnessInputError, match=r"missing column.*'s'"):
        count_calibration(pd.DataFrame({"g": ["a"], "y": [1]}), score="s", label="y", sensitive=["g"])


@pytest.mark.parametrize(
    "written",
    [
        {"metric": "selection_rate", "calibration_gap_max": 0.05},
        {"metric": "calibration", "ratio_min": 0.8},
        {"metric": "calibration", "calibration_gap_max": 0.05, "difference_max": 0.1},
        {"metric": "calibration", "calibration_gap_max": 1.5},
    ],
)
def test_calibration_criteria_are_written_one_way(written: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Criterion.model_validate(written)


POLICY = """\
policy_version: 1
release: {model: calibrated}
owners:
  ethics: {users: [erin]}
datasets:
  eval: {uri: eval.parquet, label: y, prediction: p%s}
gates:
  - id: ethics
    owner: ethics
    rationale: Scores mean the same for every group.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria:
          - {metric: calibration, calibration_gap_max: 0.05}
"""


def test_policy_refuses_calibration_on_a_dataset_without_scores_naming_the_line() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(POLICY % "", source="policy.yaml")
    assert "policy.yaml:13 gates[0].checks[0].data: dataset 'eval' declares no score column" in str(
        caught.value
    )
    assert parse_policy(POLICY % ", score: s").gates[0].checks[0].required_columns() == [
        "label",
        "prediction",
        "score",
    ]


def test_the_check_reads_the_score_column_from_a_file(tmp_path: Path) -> None:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.fairness import run_fairness_check

    scored({"a": 3000, "b": 3000}, squash={"b": 0.5}).to_parquet(tmp_path / "eval.parquet")
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY % ", score: s")
    from release_gates.policy import load_policy

    policy = load_policy(policy_file)
    catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
    result = run_fairness_check(policy.gates[0].checks[0], catalog, check_id="ethics.fairness")  # type: ignore[arg-type]
    assert result.status is Status.FAIL
    assert result.metrics["calibration"]["overall"]["value"] is not None
