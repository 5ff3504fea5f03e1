"""DAG file parse time: the release DAG against an empty DAG file, each in fresh interpreters.

Target (issue "The release DAG"): ≤ 1.10× the empty DAG file, median of 10. Prints figures only.

    .venv/bin/python benchmarks/dag_parse_bench.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EMPTY = '''"""An empty Airflow DAG file: the baseline every DAG file pays (airflow.sdk and its config)."""
from airflow.sdk import DAG

dag = DAG(dag_id="empty", schedule=None)
'''


def parse_seconds(path: Path) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import runpy, sys; runpy.run_path(sys.argv[1])", str(path)],
                   check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty_dag.py"
        empty.write_text(EMPTY)
        release = REPO / "dags" / "release_model.py"
        parse_seconds(release)  # warm the OS file cache and .pyc files for both
        parse_seconds(empty)
        times: dict[str, list[float]] = {"empty": [], "release": []}
        for _ in range(args.runs):  # interleaved, so machine noise hits both alike
            times["empty"].append(parse_seconds(empty))
            times["release"].append(parse_seconds(release))
    base, ours = statistics.median(times["empty"]), statistics.median(times["release"])
    print(f"empty DAG file     median {base:.3f} s  (min {min(times['empty']):.3f})")
    print(f"release DAG file   median {ours:.3f} s  (min {min(times['release']):.3f})")
    print(f"ratio {ours / base:.2f}×  (target ≤ 1.10×)")


if __name__ == "__main__":
    main()
