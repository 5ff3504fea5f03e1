"""Release report and UI benchmark: prints figures (not a timed test).

1. Report generation for a release with 5 gates and 1,000 findings: building the report data from the
   evidence store, and writing every file (HTML, Markdown, CSV, JSON, heat map PNG/SVG, charts).
2. UI endpoint latency, p50/p95 over 200 requests each, against the release-gates app served by
   uvicorn on 127.0.0.1 behind Airflow's real auth manager (simple auth manager, JWT) and metadata DB.

    .venv/bin/python benchmarks/report_bench.py
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GATES = ("ethics", "data", "security", "operations", "privacy")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO")
POLICY = """\
policy_version: 1
release: {model: bench-model}
owners:
  owner: {users: [admin]}
datasets:
  train: {uri: t.parquet, owner: o, description: d, legal_basis: l}
  eval: {uri: e.parquet, owner: o, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: ethics
    owner: owner
    rationale: Four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
  - id: data
    owner: owner
    rationale: Data must not drift.
    checks: [{kind: drift, reference: train, current: eval}]
  - id: security
    owner: owner
    rationale: No critical vulnerabilities.
    checks: [{kind: image_scan, image: img}]
  - id: operations
    owner: owner
    rationale: Reversible.
    checks: [{kind: rollback_drill, target: {type: lambda, name: f, alias: live}}]
  - id: privacy
    owner: owner
    rationale: No PII.
    checks: [{kind: posture, buckets: [b]}]
approvals:
  release: {roles: [owner], timeout: 1h}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record_big_release(work: Path) -> tuple[str, str]:
    """A sealed release of 5 gates with 1,000 findings in all; returns (store url, release id)."""
    from release_gates.checks.fairness import Cell, OutcomeCounts, evaluate_subgroup_fairness
    from release_gates.evidence import EvidenceStore
    from release_gates.gates import decide_gate, fold, latest_results, remediation_items
    from release_gates.policy import load_policy
    from release_gates.reports.seal import record_policy_snapshot
    from release_gates.results import CheckResult, Finding, Severity, Status

    policy_path = work / "policy.yaml"
    policy_path.write_text(POLICY)
    policy = load_policy(policy_path)
    url = f"sqlite:///{work / 'evidence.db'}"
    store = EvidenceStore(url)
    release_id = "release_bench__run-1"
    now = datetime.now(UTC)
    store.append(
        release_id,
        "release_started",
        {
            "model": "bench-model",
            "policy": {"source": str(policy_path), "sha256": policy.sha256},
            "inputs": {"model_version": "9"},
            "gates": list(GATES),
            "checks": [cid for _, _, cid in policy.iter_checks()],
            "run_id": "run-1",
        },
    )
    cells = {(k,): Cell(tp=100 + 10 * i, fp=100, tn=200, fn=50) for i, k in enumerate("abcdefgh")}
    fairness = evaluate_subgroup_fairness(
        OutcomeCounts(("g",), cells, "bench"), policy.gate("ethics").checks[0], check_id="ethics.fairness"
    )
    per_check = {
        "data.drift": 100,
        "security.image_scan": 700,
        "operations.rollback_drill": 50,
        "privacy.posture": 1000 - 850 - len(fairness.findings),
    }
    results = [fairness]
    for check_id, count in per_check.items():
        findings = tuple(
            Finding(
                id=f"{check_id}-{i}",
                severity=Severity(SEVERITIES[i % 5]),
                title=f"finding {i} of {check_id}",
                location=f"component-{i % 37}",
            )
            for i in range(count)
        )
        metrics: dict[str, object] = {}
        if check_id == "data.drift":
            metrics["columns"] = {
                f"col{i}": {
                    "score": 0.01 * i,
                    "threshold": 0.1,
                    "method": "wasserstein",
                    "method_kind": "distance",
                    "drifted": i >= 10,
                }
                for i in range(40)
            }
        results.append(
            CheckResult(
                check_id=check_id,
                kind=check_id.split(".")[1],
                status=Status.FAIL,
                summary=f"{count} findings",
                metrics=metrics,
                findings=findings,
                started_at=now,
                finished_at=now,
            )
        )
    assert sum(len(r.findings) for r in results) == 1000
    for result in results:
        store.append(release_id, "check_result", result.to_dict())
    recorded = latest_results(store.records(release_id))
    for gate in policy.gates:
        verdict = decide_gate(gate.id, [c for g, _, c in policy.iter_checks() if g.id == gate.id], recorded)
        store.append(release_id, "gate_decision", verdict.to_payload())
        for item in remediation_items(policy, gate, recorded, now=now - timedelta(days=40))[:50]:
            store.append(release_id, "remediation_item", item.to_payload())
    record_policy_snapshot(store, release_id, policy_path, actor="bench")
    state = fold(store.records(release_id))
    store.append(
        release_id, "release_sealed", {"decision": "held", "reasons": ["gates failed"], "gates": state.gates}
    )
    return url, release_id


def bench_report(url: str, release_id: str, work: Path, rounds: int = 5) -> None:
    from release_gates.evidence import EvidenceStore
    from release_gates.reports.build import build_report
    from release_gates.reports.render import write_report_files
    from release_gates.reports.trail import load_from_store

    store = EvidenceStore(url)
    timings: dict[str, list[float]] = {"load trail + verify": [], "build report data": [], "write files": []}
    for i in range(rounds):
        t0 = time.perf_counter()
        trail = load_from_store(store, release_id)
        t1 = time.perf_counter()
        report = build_report(trail)
        t2 = time.perf_counter()
        files = write_report_files(report, work / f"report-{i}")
        t3 = time.perf_counter()
        for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            value_ms = value * 1000
            timings[key].append(value_ms)
    findings = sum(
        sum(row) + sum(w) for row, w in zip(report.heatmap.counts, report.heatmap.waived, strict=True)
    )
    print(
        f"report generation — 5 gates, {findings} findings, {len(report.remediation)} remediation items, "
        f"{len(files)} files, {rounds} rounds (first round includes matplotlib import):"
    )
    for key, values in timings.items():
        print(f"  {key:<22} median {statistics.median(values):8.1f} ms   first {values[0]:8.1f} ms")
    total = [sum(v) for v in zip(*timings.values(), strict=True)]
    print(f"  {'total':<22} median {statistics.median(total):8.1f} ms   first {total[0]:8.1f} ms")


def serve(port: int, url: str) -> None:
    """Child process: the release-gates app behind Airflow's auth manager, on 127.0.0.1:port."""
    import uvicorn
    from airflow.api_fastapi.app import init_auth_manager
    from fastapi import FastAPI

    from release_gates.evidence import EvidenceStore
    from release_gates.ui.app import EVIDENCE, create_app

    app = FastAPI()
    init_auth_manager(app)
    app.mount("/release-gates", create_app())
    EVIDENCE.reset(EvidenceStore(url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def airflow_env(home: Path) -> dict[str, str]:
    (home / "passwords.json").write_text(json.dumps({"admin": "bench"}))
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "release-gates-bench-" + "x" * 48,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def bench_ui(url: str, release_id: str, work: Path, requests: int = 200) -> None:
    import httpx

    home = work / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "bench.py").write_text(
        "from airflow.sdk import DAG\ndag = DAG(dag_id='release_bench', schedule=None)\n"
    )
    env = airflow_env(home)
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    # The DAG must exist in the metadata DB for read access to its runs to be granted.
    subprocess.run([airflow, "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=600)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), url], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    token = client.post("/auth/token", json={"username": "admin", "password": "bench"})
                    if token.status_code in (200, 201):
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the benchmark server did not come up")
                time.sleep(0.5)
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            endpoints = {
                "run tab (HTML)": "/release-gates/runs/release_bench/run-1",
                "run (JSON)": "/release-gates/api/runs/release_bench/run-1",
                "releases page (HTML)": "/release-gates/releases",
                "releases (JSON)": "/release-gates/api/releases",
                "unauthenticated (401)": "/release-gates/releases",
            }
            print(
                f"UI latency — uvicorn on 127.0.0.1, {requests} sequential requests per endpoint "
                "after 5 warm-up:"
            )
            for label, path in endpoints.items():
                auth = {} if "401" in label else headers
                expected = 401 if "401" in label else 200
                for _ in range(5):
                    client.get(path, headers=auth)
                samples = []
                for _ in range(requests):
                    t0 = time.perf_counter()
                    response = client.get(path, headers=auth)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert response.status_code == expected, (path, response.status_code)
                samples.sort()
                p50 = statistics.median(samples)
                p95 = samples[int(0.95 * len(samples)) - 1]
                print(
                    f"  {label:<24} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   "
                    f"({len(response.content) // 1024} KiB)"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
        return
    with tempfile.TemporaryDirectory(prefix="rg-report-bench-") as tmp:
        work = Path(tmp)
        os.environ["AIRFLOW_HOME"] = str(work / "airflow-report")
        url, release_id = record_big_release(work)
        bench_report(url, release_id, work)
        bench_ui(url, release_id, work)


if __name__ == "__main__":
    main()
