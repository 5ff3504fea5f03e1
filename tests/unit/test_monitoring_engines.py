"""Monitoring engines and the inference-log reader: volume, freshness, error rates, late labels."""

from __future__ import annotations

import sqlite3
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release_gates.checks.fairness import count_outcomes
from release_gates.monitoring.engines import (
    drift_inputs,
    evaluate_error_rates,
    evaluate_freshness,
    evaluate_volume,
    evaluate_window,
    window_columns,
)
from release_gates.monitoring.plan import ErrorRateSpec, MonitoringPlan, monitoring_plan, window_for
from release_gates.monitoring.source import InferenceLogError, load_window, partition_values
from release_gates.policy import FreshnessMonitor, InferenceLog, VolumeMonitor, parse_policy
from release_gates.results import Status

D0 = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)

POLICY = textwrap.dedent(
    """\
    policy_version: 1
    release: {model: scorer}
    owners:
      owner: {users: [ann]}
    datasets:
      eval: {uri: eval.parquet, label: y, prediction: p, score: s}
    gates:
      - id: ethics
        owner: owner
        rationale: Groups are treated alike.
        checks:
          - kind: fairness
            data: eval
            sensitive_features: [g]
            min_group_size: 30
            criteria: [{metric: fnr, difference_max: 0.1, severity: HIGH}]
    monitoring:
      source: {uri: logs, timestamp: ts, label: y, prediction: p, score: s}
      owner: owner
      escalation: {path: [owner]}
      checks:
        drift: {enabled: false}
        error_rate: {ceiling: 0.3, sensitive_features: [g]}
        volume: {min_rows: 10}
    """
)


def plan_of(text: str = POLICY) -> MonitoringPlan:
    return monitoring_plan(parse_policy(text, source="policy.yaml"))


def traffic(
    n: dict[str, int], error: dict[str, float], *, start: datetime = D0, seed: int = 0, labelled: float = 1.0
) -> pd.DataFrame:
    """Rows per group ``g`` with the given share of wrong predictions, spread over one day."""
    rng = np.random.default_rng(seed)
    frames = []
    for group, rows in n.items():
        y = rng.integers(0, 2, rows)
        wrong = rng.random(rows) < error[group]
        frames.append(pd.DataFrame({"g": group, "y": y.astype(float), "p": np.where(wrong, 1 - y, y)}))
    frame = pd.concat(frames, ignore_index=True)
    frame["s"] = rng.random(len(frame))
    frame["ts"] = start + pd.to_timedelta(np.sort(rng.uniform(0, 86_000, len(frame))), unit="s")
    frame.loc[rng.random(len(frame)) >= labelled, "y"] = np.nan  # labels not arrived yet
    return frame


def statuses(frame: pd.DataFrame, plan: MonitoringPlan | None = None) -> dict[str, Status]:
    plan = plan or plan_of()
    window = window_for(plan.monitoring, D0, D0 + DAY)
    evaluation = evaluate_window(plan, window, frame)
    return {result.check_id: result.status for _, result in evaluation.results}


# --------------------------------------------------------------------------------------------------
# Volume and freshness
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "status", "finding"),
    [
        (0, Status.FAIL, "volume.no_data"),
        (9, Status.FAIL, "volume.low"),
        (10, Status.PASS, None),
        (1001, Status.FAIL, "volume.high"),
    ],
)
def test_volume(rows: int, status: Status, finding: str | None) -> None:
    result = evaluate_volume(rows, VolumeMonitor(min_rows=10, max_rows=1000))
    assert result.status is status
    assert [f.id for f in result.findings] == ([finding] if finding else [])
    assert result.metrics["rows"] == rows


def test_an_empty_window_is_an_alert_even_with_the_default_minimum() -> None:
    result = evaluate_volume(0, VolumeMonitor())
    assert result.status is Status.FAIL and "no inferences in the window" in result.summary


def test_freshness() -> None:
    spec = FreshnessMonitor()
    end = D0 + DAY
    fresh = evaluate_freshness(end - timedelta(minutes=5), end, timedelta(hours=1), spec)
    stale = evaluate_freshness(end - timedelta(hours=3), end, timedelta(hours=1), spec)
    empty = evaluate_freshness(None, end, timedelta(hours=1), spec)
    assert fresh.status is Status.PASS and "5m before the window end" in fresh.summary
    assert stale.status is Status.FAIL and stale.findings[0].id == "freshness.stale"
    assert stale.metrics["staleness_s"] == 3 * 3600
    assert empty.status is Status.FAIL and empty.findings[0].id == "freshness.no_data"


def test_freshness_defaults_to_half_the_window() -> None:
    frame = traffic({"a": 100, "b": 100}, {"a": 0.1, "b": 0.1})
    frame = frame[frame["ts"] < D0 + timedelta(hours=11)]  # nothing in the last 13 hours
    assert statuses(frame)["monitor.freshness"] is Status.FAIL
    frame = traffic({"a": 100, "b": 100}, {"a": 0.1, "b": 0.1})
    frame = frame[frame["ts"] < D0 + timedelta(hours=13)]
    assert statuses(frame)["monitor.freshness"] is Status.PASS


# --------------------------------------------------------------------------------------------------
# Error rates: the interval rule
# --------------------------------------------------------------------------------------------------

SPEC = ErrorRateSpec(metric="error_rate", ceiling=0.3, sensitive_features=("g",), min_group_size=30)


def error_result(n: dict[str, int], error: dict[str, float]) -> tuple[Status, dict[str, str]]:
    counts = count_outcomes(traffic(n, error), label="y", prediction="p", sensitive=["g"])
    result = evaluate_error_rates(counts, SPEC)
    return result.status, {g["group"]["g"]: g["status"] for g in result.metrics["groups"]}


def test_error_rate_fails_only_when_breached_even_at_the_favourable_end() -> None:
    assert error_result({"a": 2000, "b": 2000}, {"a": 0.1, "b": 0.6}) == (
        Status.FAIL,
        {"a": "PASS", "b": "FAIL"},
    )


def test_error_rate_passes_when_within_at_the_unfavourable_end() -> None:
    assert error_result({"a": 2000, "b": 2000}, {"a": 0.1, "b": 0.15})[0] is Status.PASS


def test_thin_windows_are_inconclusive_not_alarms() -> None:
    # 40 rows with an observed error near the ceiling: the interval straddles it.
    status, groups = error_result({"a": 2000, "b": 40}, {"a": 0.1, "b": 0.35})
    assert (status, groups["b"]) == (Status.INCONCLUSIVE, "INCONCLUSIVE")
    # Below min_group_size: never judged, whatever its rate.
    status, groups = error_result({"a": 2000, "b": 12}, {"a": 0.1, "b": 0.9})
    assert (status, groups["b"]) == (Status.INCONCLUSIVE, "INCONCLUSIVE")


def test_a_clear_breach_stands_next_to_a_thin_group() -> None:
    status, groups = error_result({"a": 2000, "b": 2000, "c": 12}, {"a": 0.1, "b": 0.7, "c": 0.1})
    assert status is Status.FAIL and groups == {"a": "PASS", "b": "FAIL", "c": "INCONCLUSIVE"}


def test_small_groups_are_suppressed_in_the_metrics() -> None:
    counts = count_outcomes(
        traffic({"a": 2000, "b": 6}, {"a": 0.1, "b": 0.1}), label="y", prediction="p", sensitive=["g"]
    )
    groups = {g["group"]["g"]: g for g in evaluate_error_rates(counts, SPEC).metrics["groups"]}
    assert groups["b"]["n"] == "<10" and "rate" not in groups["b"]


# --------------------------------------------------------------------------------------------------
# One window, every check — and labels that arrive late
# --------------------------------------------------------------------------------------------------


def test_a_healthy_labelled_window_passes_every_check() -> None:
    assert statuses(traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.12})) == {
        "ethics.fairness": Status.PASS,
        "monitor.error_rate": Status.PASS,
        "monitor.volume": Status.PASS,
        "monitor.freshness": Status.PASS,
    }


def test_one_subgroups_error_rising_fails_fairness_and_error_rate() -> None:
    found = statuses(traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.5}))
    assert found["ethics.fairness"] is Status.FAIL and found["monitor.error_rate"] is Status.FAIL
    assert found["monitor.volume"] is Status.PASS


def test_windows_without_labels_are_inconclusive_not_pass_and_not_an_alert() -> None:
    plan = plan_of()
    window = window_for(plan.monitoring, D0, D0 + DAY)
    frame = traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.5}, labelled=0.0)
    evaluation = evaluate_window(plan, window, frame)
    results = {result.check_id: result for _, result in evaluation.results}
    for check_id in ("ethics.fairness", "monitor.error_rate"):
        assert results[check_id].status is Status.INCONCLUSIVE
        assert "labels have not arrived" in results[check_id].summary
        assert "0 of 3000 rows labelled (0%; needs ≥ 90%)" in results[check_id].summary
    assert evaluation.coverage is not None and evaluation.coverage.to_dict()["labelled"] == 0


def test_a_partly_labelled_window_waits_for_the_coverage_the_policy_asks() -> None:
    frame = traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.1}, labelled=0.5)
    assert statuses(frame)["ethics.fairness"] is Status.INCONCLUSIVE
    relaxed = plan_of(
        POLICY.replace(
            "  owner: owner\n  escalation", "  owner: owner\n  min_label_coverage: 0.4\n  escalation"
        )
    )
    assert statuses(frame, relaxed)["ethics.fairness"] is Status.PASS


def test_the_label_delayed_window_is_judged_for_fairness() -> None:
    plan = plan_of(
        POLICY.replace("  owner: owner\n  escalation", "  owner: owner\n  label_delay: 7d\n  escalation")
    )
    window = window_for(plan.monitoring, D0, D0 + DAY)
    today = traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.1}, labelled=0.0)
    week_ago = traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.5}, start=D0 - 7 * DAY)
    evaluation = evaluate_window(plan, window, today, labelled=week_ago)
    results = {result.check_id: result for _, result in evaluation.results}
    assert results["ethics.fairness"].status is Status.FAIL  # last week's labels show the breach
    assert results["monitor.volume"].status is Status.PASS  # volume is about today
    assert results["ethics.fairness"].inputs["window"]["labelled_start"] == (D0 - 7 * DAY).isoformat()


def test_an_engine_that_crashes_is_an_error_for_that_check_only() -> None:
    frame = traffic({"a": 1500, "b": 1500}, {"a": 0.1, "b": 0.1}).rename(columns={"g": "group"})
    found = statuses(frame)
    assert found["ethics.fairness"] is Status.ERROR and found["monitor.error_rate"] is Status.ERROR
    assert found["monitor.volume"] is Status.PASS


def test_results_carry_the_window_and_what_they_inherit() -> None:
    plan = plan_of()
    window = window_for(plan.monitoring, D0, D0 + DAY)
    evaluation = evaluate_window(plan, window, traffic({"a": 100, "b": 100}, {"a": 0.1, "b": 0.1}))
    fairness = next(r for c, r in evaluation.results if c.name == "fairness")
    assert fairness.inputs["window"]["end"] == (D0 + DAY).isoformat()
    assert fairness.inputs["inherits_from"] == "ethics.fairness" and fairness.inputs["rows"] == 200
    assert set(evaluation.timings) == {"prepare", "fairness", "error_rate", "volume", "freshness"}


def test_columns_read_per_window() -> None:
    plan = plan_of()
    assert window_columns(plan) == ["ts", "g", "y", "p"]
    assert plan.labelled_columns() == ["ts", "y", "p", "g"]
    with_drift = plan_of(
        POLICY.replace("    drift: {enabled: false}\n", "").replace(
            "  owner: owner\n  escalation", "  owner: owner\n  reference: eval\n  escalation"
        )
    )
    assert window_columns(with_drift) is None  # drift compares every column the reference shares


def test_drift_compares_shared_features_and_the_logs_prediction_columns() -> None:
    plan = plan_of(
        POLICY.replace("    drift: {enabled: false}\n", "").replace(
            "  owner: owner\n  escalation", "  owner: owner\n  reference: eval\n  escalation"
        )
    )
    check = plan.check("drift")
    assert check is not None
    reference = pd.DataFrame({"x": [1.0], "g": ["a"], "y": [1], "score": [0.5], "p": [1], "extra": [0]})
    current = pd.DataFrame({"ts": [D0], "x": [1.0], "g": ["a"], "y": [1], "s": [0.5], "p": [1]})
    dataset = parse_policy(POLICY, source="p.yaml").dataset("eval").model_copy(update={"score": "score"})
    ref, features, predictions = drift_inputs(check, plan.monitoring.source, reference, dataset, current)
    assert features == ["x", "g"] and predictions == ["s", "p"]
    assert "s" in ref.columns  # the reference's score column goes by the log's name


# --------------------------------------------------------------------------------------------------
# Reading the inference log
# --------------------------------------------------------------------------------------------------


def write_days(directory: Path, days: int, *, tz: bool = True) -> None:
    for day in range(days):
        start = D0 + day * DAY
        frame = traffic({"a": 20, "b": 20}, {"a": 0.1, "b": 0.1}, start=start, seed=day)
        if not tz:
            frame["ts"] = frame["ts"].dt.tz_localize(None)
        path = directory / f"date={start:%Y-%m-%d}"
        path.mkdir(parents=True)
        frame.to_parquet(path / "part-0.parquet", index=False)


@pytest.mark.parametrize("tz", [True, False])
def test_parquet_log_window_with_hive_partitions(tmp_path: Path, tz: bool) -> None:
    write_days(tmp_path / "logs", 3, tz=tz)
    log = InferenceLog.model_validate(
        {"uri": "logs", "timestamp": "ts", "label": "y", "prediction": "p", "partition": {"column": "date"}}
    )
    frame = load_window(log, D0 + DAY, D0 + 2 * DAY, columns=["g", "y", "p"], base_dir=tmp_path)
    assert len(frame) == 40 and list(frame.columns) == ["ts", "g", "y", "p"]
    assert str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].min() >= D0 + DAY and frame["ts"].max() < D0 + 2 * DAY
    whole = load_window(log, D0, D0 + 3 * DAY, columns=None, base_dir=tmp_path)
    assert len(whole) == 120


def test_partition_values_cover_the_window() -> None:
    assert partition_values("%Y-%m-%d", D0 + timedelta(hours=12), D0 + timedelta(days=2)) == [
        "2025-03-01",
        "2025-03-02",
    ]
    assert len(partition_values("%Y-%m-%dT%H", D0, D0 + timedelta(hours=3))) == 3


def test_an_empty_log_directory_is_an_empty_window_and_a_missing_one_an_error(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    log = InferenceLog(uri="logs", timestamp="ts")
    assert load_window(log, D0, D0 + DAY, columns=["g"], base_dir=tmp_path).empty
    with pytest.raises(InferenceLogError, match="no such file or directory"):
        load_window(InferenceLog(uri="nowhere", timestamp="ts"), D0, D0 + DAY, base_dir=tmp_path)


def test_missing_columns_and_non_timestamp_columns_are_named(tmp_path: Path) -> None:
    write_days(tmp_path / "logs", 1)
    log = InferenceLog(uri="logs", timestamp="ts")
    with pytest.raises(InferenceLogError, match=r"missing column.*'nope'"):
        load_window(log, D0, D0 + DAY, columns=["nope"], base_dir=tmp_path)
    with pytest.raises(InferenceLogError, match="timestamp column 'g' is string, not a timestamp"):
        load_window(InferenceLog(uri="logs", timestamp="g"), D0, D0 + DAY, base_dir=tmp_path)


def test_sql_log_window_is_pushed_down_with_exclusive_end(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(
                [
                    "2025-02-28 23:59:59.999",
                    "2025-03-01 00:00:00",
                    "2025-03-01 12:00:00.5",
                    "2025-03-02 00:00:00",
                ],
                utc=True,
                format="ISO8601",
            ),
            "g": ["a", "b", "c", "d"],
        }
    )
    with sqlite3.connect(tmp_path / "log.db") as conn:  # pandas' own sqlite3 form: "…+00:00"
        frame.to_sql("log", conn, index=False)
    log = InferenceLog(uri=f"sqlite:///{tmp_path / 'log.db'}?table=log", timestamp="ts")
    window = load_window(log, D0, D0 + DAY, columns=["g"])
    assert window["g"].tolist() == ["b", "c"]
    assert str(window["ts"].dt.tz) == "UTC"
    with pytest.raises(InferenceLogError, match="table does not exist"):
        load_window(
            InferenceLog(uri=f"sqlite:///{tmp_path / 'log.db'}?table=nope", timestamp="ts"), D0, D0 + DAY
        )
