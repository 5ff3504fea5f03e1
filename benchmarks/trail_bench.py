"""The evidence trail at scale: the Releases page and the run tab over 10,000 sealed releases, and one
monitoring step's fold of a monitoring chain of 1,000 and of 50,000 windows, on SQLite.

Targets: the Releases page and the run tab answer in p95 < 200 ms with 10,000 sealed releases (~33
records each) and a 50,000-window monitoring chain of the same model in the store; one monitoring
step's fold of ``monitor__m`` costs at 50,000 windows at most 1.2 × what it costs at 1,000 (it folds
from the latest ``monitoring_state`` snapshot, recorded every 50 windows; the chains end 25 windows
after their last snapshot, the middle of the cycle). Prints figures side by side; asserts nothing.

The chains are written through the store's own append path (``EvidenceStore.append_locked``, many
records per transaction), not through Airflow; the snapshots are made as the monitoring steps make
them (the bounded fold of everything before, recorded every 50 windows).

    .venv/bin/python benchmarks/trail_bench.py [--releases 10000] [--windows 1000 50000] [--requests 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # release_gates_testing/ sits next to the package, outside the wheel
    sys.path.insert(0, str(REPO))

MODEL, DAG_ID = "m", "release_m"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
GATES = ("ethics", "data", "security", "operations", "quality")
CHECKS = ("fairness", "drift", "image_scan", "rollback_drill")
MONITORED = ("data.drift", "quality.volume", "quality.freshness", "quality.error_rate")


def _airflow_env(home: Path) -> None:
    """Airflow reads its configuration at first import: a throwaway home, one admin user."""
    (home / "dags").mkdir(parents=True)
    (home / "passwords.json").write_text(json.dumps({"admin": "bench"}))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": "release-gates-bench-" + "x" * 48,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )


# --------------------------------------------------------------------------------------------------
# Writing: many records per transaction through the store's append path
# --------------------------------------------------------------------------------------------------


class Writer:
    """Appends through ``EvidenceStore.append_locked`` (hashes, links, seal rules: the store's own
    code), committing every ``batch`` records instead of once per record."""

    def __init__(self, store: Any, batch: int = 2000) -> None:
        self.store, self.batch, self.pending = store, batch, 0
        self.conn: Any = None

    def append(self, chain: str, kind: str, payload: dict[str, Any], actor: str = "bench") -> Any:
        if self.conn is None:
            self._tx = self.store.engine.begin()
            self.conn = self._tx.__enter__()
        record = self.store.append_locked(
            self.conn, chain, kind, self.store.payload_text(chain, kind, payload), actor
        )
        self.pending += 1
        if self.pending >= self.batch:
            self.commit()
        return record

    def commit(self) -> None:
        if self.conn is not None:
            self._tx.__exit__(None, None, None)
            self.conn, self.pending = None, 0


def _metrics(kind: str) -> dict[str, Any]:
    if kind != "drift":
        return {"score": 0.91, "threshold": 0.8, "rows": 14_000}
    column = {"score": 0.03, "threshold": 0.1, "method": "wasserstein", "method_kind": "distance"}
    return {"columns": {name: {**column, "drifted": False} for name in ("income", "age", "ltv")}}


def _check_results() -> list[dict[str, Any]]:
    """One release's 20 CheckResults (payloads as the check operators record them)."""
    from release_gates.results import CheckResult, Finding, Severity, Status

    out = []
    for g, gate in enumerate(GATES):
        for c, check in enumerate(CHECKS):
            failing = g == 2 and c == 2  # the image scan of the security gate finds two HIGH CVEs
            findings = tuple(
                Finding(id=f"CVE-2025-{n:04d}", severity=Severity.HIGH, title=f"package {n}: fixed upstream")
                for n in range(2 if failing else 0)
            )
            out.append(
                CheckResult(
                    check_id=f"{gate}.{check}",
                    kind=check,
                    status=Status.FAIL if failing else Status.PASS,
                    summary=f"{check} of {gate}: {'2 HIGH over the limit 0' if failing else 'within policy'}",
                    metrics=_metrics(check),
                    findings=findings,
                    started_at=T0,
                    finished_at=T0,
                ).to_dict()
            )
    return out


def write_releases(store: Any, count: int) -> str:
    """``count`` sealed releases of model m in DAG release_m (~33 records each); the middle one's id."""
    from release_gates.gates import decide_gate

    results = _check_results()
    by_check = {r["check_id"]: r for r in results}
    writer = Writer(store)
    for i in range(1, count + 1):
        rid = f"{DAG_ID}__run-{i}"
        now = T0 + timedelta(hours=i)
        writer.append(
            rid,
            "release_started",
            {
                "model": MODEL,
                "dag_id": DAG_ID,
                "run_id": f"run-{i}",
                "risk_tier": "high",
                "policy": {"source": "include/release_policy.yaml", "sha256": "p" * 64},
                "inputs": {
                    "model_version": str(i),
                    "model_sha256": f"{i:064d}",
                    "image": f"img@sha256:{i:064d}",
                },
                "gates": list(GATES),
                "checks": list(by_check),
                "triggered_by": "ci-bot",
            },
        )
        writer.append(rid, "model_scored", {"rows": 14_000, "sha256": f"{i:064d}", "seconds": 3.2})
        for result in results:
            writer.append(
                rid, "check_result", {**result, "finished_at": now.isoformat()}, f"dag.{result['check_id']}"
            )
        for gate in GATES:
            verdict = decide_gate(gate, [f"{gate}.{c}" for c in CHECKS], by_check)
            writer.append(rid, "gate_decision", verdict.to_payload())
        for n in range(2):
            writer.append(
                rid,
                "remediation_item",
                {
                    "gate": "security",
                    "check_id": "security.image_scan",
                    "finding_id": f"CVE-2025-{n:04d}",
                    "title": f"package {n}: fixed upstream",
                    "severity": "HIGH",
                    "owner_role": "security_engineer",
                    "owners": ["li"],
                    "contact": None,
                    "found_at": now.isoformat(),
                    "deadline": (now + timedelta(days=3)).isoformat(),
                    "rationale": "No known vulnerabilities over the limit may ship.",
                    "mitigations": ["rebuild with fixed packages"],
                    "detail": "",
                },
            )
        writer.append(rid, "notification", {"role": "security_engineer", "subject": "remediate", "ok": True})
        writer.append(rid, "report", {"status": "ok", "files": []})
        writer.append(
            rid,
            "release_sealed",
            {"decision": "held", "reasons": ["security: remediate"], "model": MODEL, "gates": {}},
            "dag.seal",
        )
    writer.commit()
    return f"{DAG_ID}__run-{count // 2}"


def write_monitoring(store: Any, windows: int, every: int = 50) -> int:
    """``monitor__m`` of ``windows`` hourly windows: four checks each, a drift incident every 40
    windows (open three windows, escalated, resolved); a snapshot every ``every`` windows, the last
    ``every // 2`` windows before the head. Returns the chain's record count."""
    from release_gates.monitoring.incidents import fold_monitoring
    from release_gates.monitoring.snapshot import LIMITS, FoldedChain, snapshot_payload

    chain = "monitor__m"
    writer = Writer(store)
    state, since = None, 0
    head = None
    for w in range(1, windows + 1):
        end = T0 + timedelta(hours=w)
        window = {
            "start": (end - timedelta(hours=1)).isoformat(),
            "end": end.isoformat(),
            "labelled_start": (end - timedelta(hours=1)).isoformat(),
            "labelled_end": end.isoformat(),
        }
        breach = w % 40 in (1, 2, 3)
        written = []
        verdicts = []
        for check_id in MONITORED:
            status = "FAIL" if breach and check_id == "data.drift" else "PASS"
            result = {
                "check_id": check_id,
                "kind": check_id.split(".")[1],
                "status": status,
                "summary": f"{check_id} on the window: {status}",
                "metrics": {"rows": 1500, "score": 0.04},
                "findings": [],
                "inputs": {"window": window, "log": "s3://logs/m/"},
                "started_at": end.isoformat(),
                "finished_at": end.isoformat(),
            }
            record = writer.append(chain, "check_result", result)
            written.append(record)
            verdicts.append(
                {"check_id": check_id, "status": status, "breach": status == "FAIL", "result_seq": record.seq}
            )
        written.append(
            writer.append(chain, "monitoring_window", {"window": window, "rows": 1500, "verdicts": verdicts})
        )
        if w % 40 in (1, 2, 3, 4):
            action = {1: "opened", 2: "updated", 3: "updated", 4: "resolved"}[w % 40]
            opened_at = T0 + timedelta(hours=w - (w % 40) + 1)
            incident = {
                "action": action,
                "incident_id": f"data.drift@{opened_at:%Y%m%dT%H%MZ}",
                "check_id": "data.drift",
                "monitored_check": "drift",
                "kind": "drift",
                "priority": "P2",
                "severity": "MEDIUM",
                "traffic_share": 1.0,
                "summary": "1 of 12 columns drifted",
                "owner_role": "data_steward",
                "gate": "data",
                "window": window,
                "status": "PASS" if action == "resolved" else "FAIL",
            }
            written.append(writer.append(chain, "incident", incident))
            if action == "opened":
                note = {"subject_id": incident["incident_id"], "purpose": "escalation", "step": 0, "ok": True}
                written.append(writer.append(chain, "notification", note))
        state = fold_monitoring(written, state, limits=LIMITS)
        head, since = written[-1], since + 1
        if (windows - w) % every == every // 2:  # every 50 windows, the last 25 before the head
            folded = FoldedChain(state, head.seq, head.hash, since)
            writer.append(chain, "monitoring_state", snapshot_payload(folded))
            since = 0
    writer.commit()
    return head.seq if head else 0


# --------------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any], n: int) -> tuple[list[float], Any]:
    samples, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return sorted(samples), out


def p(samples: list[float], q: float) -> float:
    return samples[min(len(samples) - 1, max(0, round(q * len(samples)) - 1))]


def bench_fold(stores: dict[int, Any], rounds: int) -> None:
    from release_gates.monitoring.incidents import fold_monitoring
    from release_gates.monitoring.snapshot import LIMITS, load_state

    print(f"\nmonitoring step: fold of monitor__m ({rounds} rounds; records read per fold)")
    head = ("windows", "records", "from snapshot p50", "p95", "read", "whole chain")
    print("  {:>8}  {:>8}  {:>18}  {:>8}  {:>5}  {:>12}".format(*head))
    p50s = {}
    for windows, store in stores.items():
        timed(lambda s=store: load_state(s, "monitor__m"), 3)  # warm: connection, schema check, caches
        samples, folded = timed(lambda s=store: load_state(s, "monitor__m"), rounds)
        t0 = time.perf_counter()
        fold_monitoring(store.records("monitor__m"), limits=LIMITS)
        whole = (time.perf_counter() - t0) * 1000
        p50s[windows] = statistics.median(samples)
        count, p95 = store.count("monitor__m"), p(samples, 0.95)
        print(
            f"  {windows:>8}  {count:>8}  {p50s[windows]:>15.1f} ms  {p95:>5.1f} ms"
            f"  {folded.records_read:>5}  {whole:>9.0f} ms"
        )
    small, large = min(p50s), max(p50s)
    print(f"  ratio {large:,} / {small:,} windows (p50, from snapshot): {p50s[large] / p50s[small]:.2f}")


def bench_ui(store: Any, middle: str, requests: int) -> None:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.sdk import DAG
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from release_gates.ui.app import EVIDENCE, create_app
    from release_gates_testing.airflow import migrate_airflow_db, sync_dag

    migrate_airflow_db()
    sync_dag(DAG(dag_id=DAG_ID, schedule=None))  # read access to its runs needs the DAG to exist
    app = FastAPI()
    init_auth_manager(app)
    app.mount("/release-gates", create_app())
    EVIDENCE.reset(store)
    newest = store.chains(limit=1)[0].release_id.split("__", 1)[1]
    old = middle.split("__", 1)[1]
    with TestClient(app) as client:
        token = client.post("/auth/token", json={"username": "admin", "password": "bench"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        cursor = client.get("/release-gates/api/releases", headers=headers).json()["next_before"]
        endpoints = {
            "Releases page (HTML, 50)": "/release-gates/releases",
            "Releases (JSON, 50)": "/release-gates/api/releases",
            "Releases page 100 (?page=)": "/release-gates/releases?page=100",
            "Releases next (?before=)": f"/release-gates/api/releases?before={cursor}",
            "run tab, newest release": f"/release-gates/runs/{DAG_ID}/{newest}",
            "run tab, release 5,000": f"/release-gates/runs/{DAG_ID}/{old}",
            "run (JSON), release 5,000": f"/release-gates/api/runs/{DAG_ID}/{old}",
        }
        print(f"\nUI — FastAPI TestClient, Airflow's auth manager; {requests} requests each after the first")
        print(f"  {'':<28}  {'first':>9}  {'p50':>9}  {'p95':>9}")
        for label, path in endpoints.items():
            t0 = time.perf_counter()
            first = client.get(path, headers=headers)
            cold = (time.perf_counter() - t0) * 1000
            assert first.status_code == 200, (path, first.status_code, first.text[:300])
            samples, _ = timed(lambda path=path: client.get(path, headers=headers), requests)
            p50, p95 = statistics.median(samples), p(samples, 0.95)
            print(f"  {label:<28}  {cold:6.0f} ms  {p50:6.1f} ms  {p95:6.1f} ms")
    EVIDENCE.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=10_000)
    parser.add_argument("--windows", type=int, nargs="+", default=[1_000, 50_000])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rg-trail-bench-") as tmp:
        work = Path(tmp)
        _airflow_env(work / "airflow")
        from release_gates.evidence import EvidenceStore

        stores: dict[int, Any] = {}
        for windows in sorted(args.windows):
            store = EvidenceStore(f"sqlite:///{work / f'evidence-{windows}.db'}")
            store.migrate()
            t0 = time.perf_counter()
            middle = ""
            if windows == max(args.windows):  # the scale store: every release and the longest chain
                middle = write_releases(store, args.releases)
                print(f"wrote {args.releases:,} sealed releases in {time.perf_counter() - t0:.0f} s")
                t0 = time.perf_counter()
            records = write_monitoring(store, windows)
            took = time.perf_counter() - t0
            print(f"wrote monitor__m: {windows:,} windows, {records:,} records in {took:.0f} s")
            stores[windows] = store
        bench_fold(stores, args.rounds)
        bench_ui(stores[max(args.windows)], middle, args.requests)


if __name__ == "__main__":
    main()
