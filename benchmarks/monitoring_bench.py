"""Monitoring: run time per production window at 100k and 1M inference rows, and the engines' share.

Prints figures; asserts nothing. For each size, one window of inference rows is built from real data
(AER HMDA applications scored by the demo's "fair" model, resampled with replacement, timestamps
spread over a day, labels attached) and written to a Hive-partitioned Parquet log. Then, per size:

* **read** — :func:`release_gates.monitoring.source.load_window` of that day from the log;
* **evaluate** — :func:`release_gates.monitoring.engines.evaluate_window` (drift against the
  1,190-row reference, fairness on afam × single with intersections, per-group error rates, volume,
  freshness), timed per engine by the function itself.

The engines' share is the engines' time over the evaluate time (the rest is filtering labelled
rows) and over read + evaluate. Error rates reuse the fairness check's grouped count (same sensitive
features), so their time is the interval arithmetic alone. Imports (Evidently ≈ 6 s) are paid in a
warm-up run on a small window before the clock starts. Best of ``--repeat`` runs.

    PYTHONPATH=. .venv/bin/python benchmarks/monitoring_bench.py [--rows 100000 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from demo.prepare import BASE_FEATURES, candidate_model, hmda
from release_gates.monitoring.engines import evaluate_window, window_columns
from release_gates.monitoring.plan import monitoring_plan, window_for
from release_gates.monitoring.source import load_window
from release_gates.policy import parse_policy

DAY0 = datetime(2025, 3, 1, tzinfo=UTC)

POLICY = textwrap.dedent(
    """\
    policy_version: 1
    release: {{model: mortgage-approval}}
    owners:
      ethics_reviewer: {{users: [aisha]}}
      data_steward: {{users: [tomas]}}
      ops_oncall: {{users: [marta]}}
    datasets:
      eval: {{uri: eval.parquet, label: approved, prediction: pred, score: score, label_values: [0, 1]}}
    gates:
      - id: data
        owner: data_steward
        rationale: Inputs look like the evaluation data.
        checks:
          - {{kind: drift, reference: eval, current: eval, drift_share: 0.3, severity: MEDIUM}}
      - id: ethics
        owner: ethics_reviewer
        rationale: Groups are treated alike.
        checks:
          - kind: fairness
            data: eval
            sensitive_features: [afam, single]
            intersectional: true
            reference_group: {{afam: "no", single: "no"}}
            criteria:
              - {{metric: selection_rate, ratio_min: 0.8, severity: HIGH}}
              - {{metric: fnr, difference_max: 0.15}}
    monitoring:
      source:
        uri: {log}
        timestamp: ts
        label: approved
        prediction: pred
        score: score
        label_values: [0, 1]
        features: [{features}]
        partition: {{column: date}}
      reference: eval
      owner: data_steward
      escalation: {{path: [ops_oncall, gate_owner]}}
      checks:
        error_rate: {{ceiling: 0.3, sensitive_features: [afam, single]}}
    """
)


def scored_pool() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(HMDA scored by the fair candidate, the scored evaluation half = the reference)."""
    frame = hmda()
    train, evaluation = train_test_split(frame, test_size=0.5, random_state=7, stratify=frame["approved"])
    model = candidate_model(train, BASE_FEATURES, 0.3)

    def score(part: pd.DataFrame) -> pd.DataFrame:
        return part.assign(
            score=model.estimator_.predict_proba(part[BASE_FEATURES])[:, 1].round(6),
            pred=model.predict(part[BASE_FEATURES]).astype(int),
        )

    return score(frame), score(evaluation)


def window_rows(pool: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pool.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)
    frame = frame[[*BASE_FEATURES, "afam", "single", "approved", "pred", "score"]]
    frame["ts"] = pd.Timestamp(DAY0) + pd.to_timedelta(np.sort(rng.uniform(0, 86_399, rows)), unit="s")
    return frame


def measure(
    rows: int, pool: pd.DataFrame, reference: pd.DataFrame, workdir: Path, repeat: int
) -> dict[str, Any]:
    log = workdir / f"log_{rows}"
    (log / f"date={DAY0:%Y-%m-%d}").mkdir(parents=True)
    window_rows(pool, rows).to_parquet(log / f"date={DAY0:%Y-%m-%d}" / "part-0.parquet", index=False)
    features = ", ".join(BASE_FEATURES)
    policy = parse_policy(POLICY.format(log=log, features=features), source=str(workdir / "policy.yaml"))
    plan = monitoring_plan(policy)
    assert policy.monitoring is not None
    window = window_for(policy.monitoring, DAY0, DAY0 + timedelta(days=1))
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        began = time.perf_counter()
        current = load_window(
            policy.monitoring.source, window.start, window.end, columns=window_columns(plan)
        )
        read = time.perf_counter() - began
        began = time.perf_counter()
        evaluation = evaluate_window(
            plan, window, current, reference=reference, reference_dataset=policy.dataset("eval")
        )
        evaluate = time.perf_counter() - began
        run = {
            "read": read,
            "evaluate": evaluate,
            "engines": evaluation.engine_seconds,
            "timings": dict(evaluation.timings),
            "statuses": {r.check_id: r.status.value for _, r in evaluation.results},
            "rows": len(current),
        }
        if best is None or read + evaluate < best["read"] + best["evaluate"]:
            best = run
    assert best is not None
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pool, reference = scored_pool()
    with tempfile.TemporaryDirectory(prefix="rg-monitor-bench-") as tmp:
        workdir = Path(tmp)
        began = time.perf_counter()
        measure(5_000, pool, reference, workdir / "warmup", 1)  # imports Evidently, pyarrow, …
        print(f"warm-up (imports, first window of 5,000 rows): {time.perf_counter() - began:.1f} s")
        print(
            f"{'rows':>10}  {'read s':>7}  {'evaluate s':>10}  {'total s':>8}  {'engines s':>9}  "
            f"{'share of evaluate':>17}  {'share of total':>14}  per engine (s)"
        )
        for rows in args.rows:
            run = measure(rows, pool, reference, workdir / str(rows), args.repeat)
            total = run["read"] + run["evaluate"]
            engines = ", ".join(f"{k} {v:.3f}" for k, v in run["timings"].items() if k != "prepare")
            print(
                f"{run['rows']:>10,}  {run['read']:>7.3f}  {run['evaluate']:>10.3f}  {total:>8.3f}  "
                f"{run['engines']:>9.3f}  {run['engines'] / run['evaluate']:>17.1%}  "
                f"{run['engines'] / total:>14.1%}  {engines}; prepare {run['timings']['prepare']:.3f}",
                flush=True,
            )
            print(f"{'':>10}  verdicts: {run['statuses']}")


if __name__ == "__main__":
    main()
