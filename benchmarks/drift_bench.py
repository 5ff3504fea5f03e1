"""Drift engine vs Evidently's raw DataDriftPreset on the same data: time, peak memory, verdicts.

Prints figures; asserts nothing. Target (issue 3): at 1M rows × 10 numeric columns the engine is at
least 5× faster than the preset, with the same per-column drift verdicts.

Each measurement runs in its own interpreter, so peak memory (max RSS) belongs to that run alone;
Evidently is imported and the data generated before the clock starts. The data: 10 standard-normal
columns, the current side shifted by 0.3 σ in x0 and x1 and by 0.02 σ in x2 (a shift too small to
matter, which p-value tests at this size would still flag).

    .venv/bin/python benchmarks/drift_bench.py [--rows 100000 1000000] [--columns 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _data(rows: int, columns: int) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    shift = {0: 0.3, 1: 0.3, 2: 0.02}
    reference = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(columns)})
    current = pd.DataFrame({f"x{i}": rng.normal(loc=shift.get(i, 0.0), size=rows) for i in range(columns)})
    return reference, current


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _run_engine(reference: Any, current: Any) -> dict[str, dict[str, Any]]:
    from release_gates.checks.drift import evaluate_drift
    from release_gates.policy import DriftCheck

    spec = DriftCheck(kind="drift", reference="reference", current="current")
    with tempfile.TemporaryDirectory() as artifacts:
        result = evaluate_drift(reference, current, spec, check_id="bench.drift", artifact_dir=artifacts)
    return {
        column: {"method": facts["method"], "score": facts["score"], "drifted": facts["drifted"]}
        for column, facts in result.metrics["columns"].items()
    }


def _run_preset(reference: Any, current: Any) -> dict[str, dict[str, Any]]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        score, threshold, method = float(metric["value"]), float(config["threshold"]), config["method"]
        p_value = "p_value" in method.lower()
        drifted = score < threshold if p_value else score >= threshold
        verdicts[config["column"]] = {"method": method, "score": round(score, 6), "drifted": drifted}
    return verdicts


def child(which: str, rows: int, columns: int) -> None:
    import evidently  # noqa: F401 - import cost is not what is measured

    reference, current = _data(rows, columns)
    baseline = _rss_mb()
    runner = _run_engine if which == "engine" else _run_preset
    began = time.perf_counter()
    verdicts = runner(reference, current)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "baseline_mb": baseline, "verdicts": verdicts}))


def measure(which: str, rows: int, columns: int) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            which,
            "--rows",
            str(rows),
            "--columns",
            str(columns),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{which} at {rows} rows failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--child", choices=["engine", "preset"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows[0], args.columns)
        return
    print(f"drift: {args.columns} numeric columns, x0/x1 shifted 0.3σ, x2 0.02σ; 2 cores, one run each")
    header = f"{'rows':>9}  {'run':<7} {'seconds':>8} {'peak MB':>8} {'over data':>10}  drifted columns"
    print(header)
    for rows in args.rows:
        runs = {which: measure(which, rows, args.columns) for which in ("engine", "preset")}
        for which, run in runs.items():
            drifted = sorted(c for c, v in run["verdicts"].items() if v["drifted"])
            print(
                f"{rows:>9}  {which:<7} {run['seconds']:>8.2f} {run['peak_mb']:>8.0f} "
                f"{run['peak_mb'] - run['baseline_mb']:>10.0f}  {', '.join(drifted) or '-'}"
            )
        engine, preset = runs["engine"]["verdicts"], runs["preset"]["verdicts"]
        same = {c: engine[c]["drifted"] == preset[c]["drifted"] for c in preset}
        max_diff = max(abs(engine[c]["score"] - preset[c]["score"]) for c in preset)
        methods = sorted({v["method"] for v in engine.values()})
        print(
            f"{rows:>9}  speed-up {runs['preset']['seconds'] / runs['engine']['seconds']:.1f}×, "
            f"peak memory {runs['preset']['peak_mb'] / runs['engine']['peak_mb']:.1f}× lower; "
            f"same verdicts in {sum(same.values())}/{len(same)} columns; "
            f"max score difference {max_diff:.2g}; engine methods: {', '.join(methods)}"
        )


if __name__ == "__main__":
    main()
