"""The explainability check next to a direct scikit-learn ``permutation_importance`` call, same data,
same run: wall time and peak traced memory.

100k rows × 12 numeric inputs, two sensitive attributes (4 and 2 groups), 5 repeats, importance
against the model's own decisions (the check's default), a histogram gradient-boosting model. The
direct call is what the check cannot do with less: the model's decisions on the rows, then
``permutation_importance`` with accuracy against them. The check adds the subgroup figures (same
predictions, scored per group), sensitive-input and proxy detection, and the stability rankings:
one cheap pass (``stability_repeats``, default 1, on a sample of ``stability_max_rows``, default
10,000) for the baseline ranking and one per stress scenario. It is measured without scenarios and
with its default one noise scenario (target for both: ≤ 1.3× the direct call).

Everything runs with one OpenMP/BLAS thread (``threadpoolctl``): on a shared 2-core machine the
model's thread pool otherwise spins against other processes and the figures measure the neighbours.
Wall time is taken over ``--rounds`` rounds, each running the three in turn; a ratio is the median of
the rounds' paired ratios (a neighbour's burst then slows both sides of a pair, or one round only).
Peak memory comes from one separate traced run of each (tracing slows what it measures).

Prints figures and whether the check's means equal the direct call's; asserts nothing.

    .venv/bin/python benchmarks/explainability_bench.py [--rows 100000] [--repeats 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd

from release_gates.checks.explainability import evaluate_explainability
from release_gates.kinds.explainability import ExplainabilityCheck

FEATURES = [f"x{i}" for i in range(12)]


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    frame["group"] = rng.choice(["a", "b", "c", "d"], rows, p=[0.5, 0.25, 0.15, 0.1])
    frame["sex"] = rng.choice(["f", "m"], rows)
    weights = np.linspace(2.0, 0.1, len(FEATURES))
    frame["y"] = (frame[FEATURES].to_numpy() @ weights + rng.normal(0, 1.0, rows) > 0).astype(int)
    return frame


def fitted(rows: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    train = make_frame(rows, seed=1)
    return HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(train[FEATURES], train["y"])


def measure(func: Any, *, memory: bool) -> tuple[Any, float, int]:
    gc.collect()
    if memory:
        tracemalloc.start()
    began = time.perf_counter()
    value = func()
    elapsed = time.perf_counter() - began
    peak = 0
    if memory:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return value, elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from sklearn.inspection import permutation_importance
    from threadpoolctl import threadpool_limits

    frame = make_frame(args.rows)
    model = fitted(20_000)
    base = {
        "kind": "explainability",
        "data": "bench",
        "sensitive_features": ["group", "sex"],
        "n_repeats": args.repeats,
        "max_rows": args.rows,
    }
    specs = {
        "check, no scenario": ExplainabilityCheck.model_validate({**base, "scenarios": []}),
        "check, default noise scenario": ExplainabilityCheck.model_validate(base),
    }

    def direct() -> Any:
        X = frame[FEATURES]
        return permutation_importance(
            model, X, model.predict(X), scoring="accuracy", n_repeats=args.repeats, random_state=0
        )

    def check(spec: ExplainabilityCheck) -> Any:
        return lambda: evaluate_explainability(frame, model.predict, spec, label="y", features=FEATURES)

    runs = {"direct permutation_importance": direct, **{name: check(s) for name, s in specs.items()}}
    print(
        f"{args.rows:,} rows × {len(FEATURES)} inputs, {args.repeats} repeats, HistGradientBoosting, "
        f"{args.rounds} round(s)"
    )
    values: dict[str, Any] = {}
    peaks: dict[str, int] = {}
    times: dict[str, list[float]] = {name: [] for name in runs}
    with threadpool_limits(1):
        for name, func in runs.items():
            values[name], _, peaks[name] = measure(func, memory=True)
        for _ in range(args.rounds):
            for name, func in runs.items():
                _, seconds, _ = measure(func, memory=False)
                times[name].append(seconds)
    ref = "direct permutation_importance"
    for name in runs:
        line = f"  {name:32s} {statistics.median(times[name]):7.2f} s  peak {peaks[name] / 2**20:7.1f} MiB"
        if name != ref:
            ratios = [t / r for t, r in zip(times[name], times[ref], strict=True)]
            line += (
                f"   ×{statistics.median(ratios):.2f} time (rounds {min(ratios):.2f}–{max(ratios):.2f}), "
                f"×{peaks[name] / peaks[ref]:.2f} memory ({values[name].status.value})"
            )
        print(line)
    reference = values[ref]
    ranked_on = values["check, default noise scenario"].metrics["stability_baseline"]
    print(f"  stability rankings on {ranked_on['rows']:,} rows, {ranked_on['repeats']} repeat(s)")
    result = values["check, no scenario"]
    ours = {row["feature"]: row["mean"] for row in result.metrics["features"]}
    same = [ours[f] for f in FEATURES] == list(reference.importances_mean)
    print(f"  check means identical to the direct call's: {same}")


if __name__ == "__main__":
    main()
