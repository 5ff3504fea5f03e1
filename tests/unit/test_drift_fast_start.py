"""The large-data drift path imports neither Evidently nor pandas nor scipy (a fresh interpreter proves it);
a small-sample test on the same path does import Evidently, as it must."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("duckdb")

CHILD = """
import json, sys
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.drift import run_drift_check
from release_gates.policy import DriftCheck

catalog = DatasetCatalog.build({"train": {"uri": sys.argv[1]}, "eval": {"uri": sys.argv[2]}})
spec = DriftCheck(kind="drift", reference="train", current="eval", large_sample_rows=int(sys.argv[3]))
result = run_drift_check(spec, catalog, check_id="data.drift")
heavy = ("evidently", "pandas", "scipy", "sklearn")
print(json.dumps({"status": result.status.value, "methods": sorted({c["method"] for c in
    result.metrics["columns"].values()}), "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _run(tmp_path: Path, large_sample_rows: int) -> dict[str, object]:
    rng = np.random.default_rng(2)
    for name in ("train", "eval"):
        frame = pd.DataFrame({f"x{i}": rng.normal(size=3000) for i in range(3)})
        frame["grade"] = rng.choice(list("abc"), size=3000)
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    env = {**os.environ, "RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS": "0"}  # these small files go to DuckDB
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "train.parquet"), str(tmp_path / "eval.parquet"),
         str(large_sample_rows)],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_large_data_drift_imports_no_evidently_pandas_or_scipy(tmp_path: Path) -> None:
    result = _run(tmp_path, large_sample_rows=1000)
    assert result["status"] == "PASS"
    assert result["methods"] == ["jensenshannon", "wasserstein"]
    assert result["loaded"] == []


def test_a_small_sample_test_still_runs_evidently(tmp_path: Path) -> None:
    result = _run(tmp_path, large_sample_rows=10_000)
    assert result["methods"] == ["chisquare", "ks"]
    assert "evidently" in result["loaded"]  # the in-memory engine's own p-value tests
