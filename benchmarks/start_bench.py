"""Process start to engine start, per check kind: what a check task imports before its engine runs.

Each row is the median of ``--runs`` fresh interpreters that import the kind's operator, input
resolver and engine (the registry's dotted paths) and stop there: the fixed cost every task of that
kind pays before it reads any data. Drift gets two more rows, for the libraries its engine loads when
called: the in-memory path (pandas and Evidently, which ``evaluate_drift`` imports on its first call)
and the large-data path (DuckDB, the aggregate engine and the drift queries; no pandas, no Evidently).

Prints figures; asserts nothing (tests/unit/test_drift_fast_start.py asserts the imports).

    .venv/bin/python benchmarks/start_bench.py [--runs 5] [--kinds drift fairness]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

DRIFT_PATHS = {
    "drift (in memory: pandas + Evidently)": [
        "release_gates.inputs.drift",
        "release_gates.checks.drift",
        "pandas",
        "evidently",
        "evidently.legacy.calculations.stattests",
    ],
    "drift (large data: aggregates)": [
        "release_gates.inputs.drift",
        "release_gates.checks.drift_sources",
        "release_gates.aggregates.engine",
        "release_gates.aggregates.drift_queries",
        "duckdb",
        "numpy",
    ],
}


def _kind_modules(kind: str) -> list[str]:
    from release_gates.kinds import CHECK_KINDS

    (declared,) = [k for k in CHECK_KINDS if k.name == kind]
    return [path.split(":")[0] for path in (declared.operator, declared.resolver, declared.engine)]


def _seconds(modules: list[str]) -> float:
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - began


def main() -> None:
    from release_gates.kinds import KIND_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kinds", nargs="+", default=list(KIND_NAMES))
    args = parser.parse_args()
    rows = {kind: _kind_modules(kind) for kind in args.kinds}
    if "drift" in args.kinds:
        rows |= {name: [*rows["drift"], *modules] for name, modules in DRIFT_PATHS.items()}
    empty = statistics.median(_seconds([]) for _ in range(args.runs))
    print(f"process start to engine start, median of {args.runs} fresh interpreters (bare: {empty:.2f} s)")
    print(f"{'check kind / path':<42} {'seconds':>8}")
    for name, modules in rows.items():
        print(f"{name:<42} {statistics.median(_seconds(modules) for _ in range(args.runs)):>8.2f}")


if __name__ == "__main__":
    main()
