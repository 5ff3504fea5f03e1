"""Canary judge vs ``scipy.stats.mannwhitneyu`` alone on the same data: time per judgement.

Prints figures; asserts nothing about time. Target (issue 20): judging 20 metrics × 10,000 samples
per side — Mann–Whitney U, the exact Hodges–Lehmann shift (the median of 10^8 pairwise differences
per metric, never materialised), the tolerance band, the weighted score and the CheckResult — takes
at most 1.5× the time of calling ``scipy.stats.mannwhitneyu`` once per metric on the same arrays.

Both are measured side by side in one process, alternating, over several rounds; the figure is the
median of the per-round ratios (the machine's load changes between rounds, rarely within one). The
data: lognormal latencies; the canary side of every fifth metric shifted by 5 %.

    .venv/bin/python benchmarks/canary_judge_bench.py [--metrics 20] [--samples 10000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any


def _data(metrics: int, samples: int) -> dict[str, tuple[Any, Any]]:
    import numpy as np

    rng = np.random.default_rng(20)
    data = {}
    for i in range(metrics):
        baseline = rng.lognormal(mean=3.0, sigma=0.4, size=samples)
        canary = rng.lognormal(mean=3.0, sigma=0.4, size=samples) * (1.05 if i % 5 == 0 else 1.0)
        data[f"m{i:02d}"] = (canary, baseline)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from scipy.stats import mannwhitneyu

    from release_gates.checks.canary_judge import judge_canary
    from release_gates.policy.canary import CanaryMetric, CanaryThresholds

    data = _data(args.metrics, args.samples)
    specs = [CanaryMetric(name=name, tolerance=0.02) for name in data]
    thresholds = CanaryThresholds()

    def judge() -> Any:
        return judge_canary(data, specs, confidence=0.95, thresholds=thresholds, check_id="bench.canary")

    def scipy_alone() -> list[float]:
        return [float(mannwhitneyu(c, b, alternative="greater").pvalue) for c, b in data.values()]

    judge(), scipy_alone()  # warm-up: imports and first-call costs are not measured
    ratios, ours, theirs = [], [], []
    for _ in range(args.rounds):
        began = time.perf_counter()
        result = judge()
        t_ours = time.perf_counter() - began
        began = time.perf_counter()
        scipy_alone()
        t_scipy = time.perf_counter() - began
        ours.append(t_ours)
        theirs.append(t_scipy)
        ratios.append(t_ours / t_scipy)
    failed = [m["name"] for m in result.metrics["metrics"] if m["outcome"] != "pass"]
    print(f"{args.metrics} metrics × {args.samples:,} samples per side, {args.rounds} rounds")
    print(f"canary judge              median {statistics.median(ours) * 1e3:8.1f} ms")
    print(f"scipy mannwhitneyu alone  median {statistics.median(theirs) * 1e3:8.1f} ms")
    print(
        f"ratio (median of rounds)  {statistics.median(ratios):.2f}×  (target ≤ 1.5×; "
        f"rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"verdict {result.status.value} ({result.metrics['classification']}); flagged: {', '.join(failed)}")


if __name__ == "__main__":
    main()
