"""Monitoring windows from aggregates: the same results as from the window's rows, without the rows."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from release_gates.monitoring.engines import evaluate_window, window_columns
from release_gates.monitoring.plan import MonitoringPlan, window_for
from release_gates.monitoring.source import InferenceLogError, load_window
from release_gates.monitoring.window_counts import count_window, counts_apply
from tests.unit.test_monitoring_engines import D0, DAY, POLICY, plan_of, traffic

LOGGED = POLICY.replace(
    "source: {uri: logs, timestamp: ts, label: y, prediction: p, score: s}",
    "source: {uri: logs, timestamp: ts, label: y, prediction: p, score: s, partition: {column: date}}",
)


def write_log(folder: Path, days: int, *, tz: bool, error_b: float = 0.1, labelled: float = 1.0) -> None:
    for day in range(-8, days):
        start = D0 + day * DAY
        frame = traffic(
            {"a": 400, "b": 300},
            {"a": 0.1, "b": error_b},
            start=start,
            seed=day + 10,
            labelled=labelled if day >= 0 else 1.0,  # last week's labels have all arrived
        )
        frame["g"] = frame["g"].where(np.arange(len(frame)) % 97 != 0, None)  # a missing group
        if not tz:
            frame["ts"] = frame["ts"].dt.tz_localize(None)
        path = folder / f"date={start:%Y-%m-%d}"
        path.mkdir(parents=True)
        frame.to_parquet(path / "part-0.parquet", index=False)


def _comparable(plan: MonitoringPlan, evaluation: Any) -> dict[str, Any]:
    out = {}
    for _, result in evaluation.results:
        data = result.to_dict()
        for key in ("started_at", "finished_at", "engine"):
            data.pop(key)
        # Where the counts came from ("pandas" for rows, "duckdb" for aggregates), if the check says.
        data["metrics"].pop("source", None)
        out[result.check_id] = data
    return out


def _by_rows(plan: MonitoringPlan, base: Path) -> Any:
    window = window_for(plan.monitoring, D0 + DAY, D0 + 2 * DAY)
    log = plan.monitoring.source
    current = load_window(log, window.start, window.end, columns=window_columns(plan), base_dir=base)
    labelled = None
    if plan.monitoring.label_delay:
        start, end = window.labelled_start, window.labelled_end
        labelled = load_window(log, start, end, columns=plan.labelled_columns(), base_dir=base)
    return evaluate_window(plan, window, current, labelled=labelled)


def _by_counts(plan: MonitoringPlan, base: Path) -> Any:
    window = window_for(plan.monitoring, D0 + DAY, D0 + 2 * DAY)
    return evaluate_window(plan, window, None, counts=count_window(plan, window, base_dir=base))


@pytest.mark.parametrize("tz", [True, False])
@pytest.mark.parametrize(
    ("error_b", "labelled", "delay"),
    [(0.1, 1.0, ""), (0.5, 1.0, ""), (0.1, 0.5, ""), (0.5, 0.0, "  label_delay: 7d\n")],
)
def test_counts_give_the_results_the_rows_give(
    tmp_path: Path, tz: bool, error_b: float, labelled: float, delay: str
) -> None:
    write_log(tmp_path / "logs", 3, tz=tz, error_b=error_b, labelled=labelled)
    plan = plan_of(LOGGED.replace("  owner: owner\n  escalation", f"  owner: owner\n{delay}  escalation"))
    assert counts_apply(plan)
    by_rows, by_counts = _by_rows(plan, tmp_path), _by_counts(plan, tmp_path)
    assert by_counts.rows == by_rows.rows == 700
    assert by_counts.coverage == by_rows.coverage
    assert _comparable(plan, by_counts) == _comparable(plan, by_rows)
    fairness = {r.check_id: r for _, r in by_counts.results}["ethics.fairness"]
    assert fairness.metrics.get("source", "duckdb") == "duckdb"
    statuses = {r.check_id: r.status.value for _, r in by_counts.results}
    if error_b == 0.5 and labelled == 1.0:
        assert statuses["monitor.error_rate"] == "FAIL"  # the counts path still sees a breach
    if delay:  # today is unlabelled, last week's labels judge fairness (and show the breach)
        assert statuses["ethics.fairness"] == "FAIL"


def test_an_empty_log_folder_is_an_empty_window_and_broken_logs_are_named(tmp_path: Path) -> None:
    plan = plan_of(LOGGED)
    window = window_for(plan.monitoring, D0, D0 + DAY)
    (tmp_path / "logs").mkdir()
    empty = evaluate_window(plan, window, None, counts=count_window(plan, window, base_dir=tmp_path))
    assert {r.check_id: r.status.value for _, r in empty.results}["monitor.volume"] == "FAIL"
    with pytest.raises(InferenceLogError, match="file not found"):
        count_window(plan, window, base_dir=tmp_path / "elsewhere")
    write_log(tmp_path / "other" / "logs", 1, tz=True)
    other = tmp_path / "other"
    with pytest.raises(InferenceLogError, match=r"missing column\(s\) 'region'"):
        count_window(
            plan_of(LOGGED.replace("sensitive_features: [g]}", "sensitive_features: [region]}")),
            window,
            base_dir=other,
        )
    with pytest.raises(InferenceLogError, match="timestamp column 'g' is VARCHAR, not a timestamp"):
        count_window(plan_of(LOGGED.replace("timestamp: ts", "timestamp: g")), window, base_dir=other)


def test_plans_with_drift_or_a_sql_log_keep_reading_rows() -> None:
    plan = plan_of(LOGGED)
    drift = dataclasses.replace(plan.checks[0], name="drift", check_id="monitor.drift")
    assert counts_apply(plan)
    assert not counts_apply(dataclasses.replace(plan, checks=(*plan.checks, drift)))
    assert not counts_apply(plan_of(POLICY.replace("uri: logs,", "uri: 'sql://logs_db/inferences',")))


def test_the_window_bounds_are_exclusive_at_the_end(tmp_path: Path) -> None:
    write_log(tmp_path / "logs", 2, tz=True)
    plan = plan_of(LOGGED)
    window = window_for(plan.monitoring, D0 + DAY, D0 + DAY + timedelta(hours=1))
    counts = count_window(plan, window, base_dir=tmp_path)
    frame = load_window(plan.monitoring.source, window.start, window.end, columns=[], base_dir=tmp_path)
    assert counts.rows == len(frame)
    assert counts.newest is None or counts.newest < window.end
