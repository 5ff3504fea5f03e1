"""The release DAG on the production topology, without Docker: CeleryExecutor with two workers.

PostgreSQL holds Airflow's metadata and, in its own database, the evidence store; Redis is the
broker; scheduler, dag-processor, triggerer and API server run as separate processes
(:class:`release_gates_testing.cluster.Cluster`). Humans answer through the HITL REST API.

1. A release runs on both workers, every gate writes to one chain, and the decision is right.
2. A worker dies (SIGKILL of its whole process tree) in the middle of a slow check: the scheduler
   notices the missing heartbeat, the check is retried on the other worker, and the release still
   ends correctly with exactly one result per check in an intact, gap-free chain.

The slow check is the ethics gate's fairness check reading its evaluation data from a warehouse
(a database on the same PostgreSQL server) through a view that answers only after
``SLOW_QUERY_SECONDS``. A large generated file was tried first: the fairness engine counts 40 M rows in
about 8 s, so "mid-check" would hinge on the machine's speed, and 100 M rows need gigabytes. The
waiting view makes the check's length the same on any machine and leaves the two cores to Airflow.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.evidence import EvidenceStore
from release_gates_testing.cluster import Cluster
from release_gates_testing.humans import Answer, HitlResponder

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "release_cluster"
USERS = {"admin": "admin-cluster", "aisha": "aisha-cluster", "tomas": "tomas-cluster"}
#: Triggers the runs: a user who signs nothing off (the submitter never approves their own release).
SUBMITTER = "tomas"
SLOW_CHECK = "ethics.fairness"
SLOW_QUERY_SECONDS = 15
WAREHOUSE_ROWS = 20_000
POLICY = """\
policy_version: 1
release: {{model: cluster-model}}
owners:
  ethics_reviewer: {{users: [aisha]}}
  data_steward: {{users: [tomas]}}
  release_manager: {{users: [admin]}}
datasets:
  eval:
    {{uri: "{warehouse_uri}", owner: data_steward, description: scored applications,
     legal_basis: synthetic, label: y, prediction: p, label_values: [0, 1],
     overrides: {{uri_prefixes: ["{override_dir}"]}}}}
  holdout:
    {{uri: holdout.parquet, sha256: "{holdout_sha256}", owner: data_steward, description: holdout,
     legal_basis: synthetic, label: y, prediction: p, label_values: [0, 1]}}
gates:
  - id: data
    owner: data_steward
    rationale: Every dataset is documented and pinned.
    checks:
      - {{kind: lineage, datasets: [holdout]}}
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
  - id: quality
    owner: data_steward
    rationale: Selection rates must not differ by region on the holdout.
    checks:
      - kind: fairness
        data: holdout
        sensitive_features: [h]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
approvals:
  release: {{roles: [ethics_reviewer, release_manager], timeout: 15m}}
"""
DAG_FILE = """\
# The Airflow release DAG of the cluster test (safe-mode discovery wants "airflow" and "dag" in it).
# Quick retries, so a task lost with its worker comes back soon.
from datetime import timedelta

from release_gates.dag_factory import build_release_dag

dag = build_release_dag(
    {policy!r}, dag_id="release_cluster", default_args={{"retries": 2, "retry_delay": timedelta(seconds=2)}}
)
"""
APPROVE = {
    "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def _fair_frame(rows: int, column: str, groups: list[str], seed: int) -> pd.DataFrame:
    """Binary labels and predictions independent of the group: every criterion passes."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            column: pd.Categorical(rng.choice(groups, rows)),
            "y": rng.integers(0, 2, rows, dtype=np.int8),
            "p": rng.integers(0, 2, rows, dtype=np.int8),
        }
    )


def _slow_warehouse(postgres_server: Any) -> tuple[str, str]:
    """A warehouse database with the scored rows behind a view that waits before it answers.

    Returns the database's name and the dataset URI of the view.
    """
    import uuid

    from sqlalchemy import create_engine, text

    database = f"warehouse_{uuid.uuid4().hex[:8]}"
    postgres_server.psql(f"CREATE DATABASE {database}")
    url = postgres_server.get_uri(database).replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = create_engine(url)
    try:
        _fair_frame(WAREHOUSE_ROWS, "g", ["a", "b"], seed=1).to_sql("eval_rows", engine, index=False)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE VIEW eval_slow AS WITH pause AS MATERIALIZED "
                    f"(SELECT pg_sleep({SLOW_QUERY_SECONDS})) "
                    "SELECT e.g, e.y, e.p FROM eval_rows e CROSS JOIN pause"
                )
            )
    finally:
        engine.dispose()
    return database, f"{url}&table=eval_slow"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Cluster]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs Debian's redis-server (apt-get install -y redis-server)")
    work = tmp_path_factory.mktemp("cluster")
    dags = work / "dags"
    dags.mkdir()
    _fair_frame(4000, "h", ["north", "south"], seed=2).to_parquet(work / "holdout.parquet")
    _fair_frame(4000, "g", ["a", "b"], seed=3).to_parquet(work / "eval_small.parquet")
    holdout_sha256 = hashlib.sha256((work / "holdout.parquet").read_bytes()).hexdigest()
    warehouse, warehouse_uri = _slow_warehouse(postgres_server)
    (work / "policy.yaml").write_text(
        POLICY.format(holdout_sha256=holdout_sha256, warehouse_uri=warehouse_uri, override_dir=str(work))
    )
    (dags / "release_cluster.py").write_text(DAG_FILE.format(policy=str(work / "policy.yaml")))
    server = Cluster(
        work / "airflow",
        dags,
        USERS,
        workers=2,
        worker_concurrency=2,
        postgres=postgres_server,
        # A task a dead worker had taken off the queue but not started is sent again after this.
        extra_env={"AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90"},
    )
    try:
        server.start()
        server.wait_for_dag(DAG_ID)
        yield server
    finally:
        server.stop()
        postgres_server.psql(f"DROP DATABASE IF EXISTS {warehouse} WITH (FORCE)")


def _conf(cluster: Cluster, **datasets: str) -> dict[str, Any]:
    model = cluster.home / "model.bin"
    model.write_bytes(b"model")
    return {
        "model_version": "7",
        "model_uri": str(model),
        "model_sha256": hashlib.sha256(b"model").hexdigest(),
        "image": "registry.example.org/m@sha256:" + "c" * 64,
        "datasets": datasets,
    }


def _play(cluster: Cluster, run_id: str) -> tuple[threading.Thread, HitlResponder]:
    responder = HitlResponder(cluster.client, USERS, log=lambda _: None)
    thread = threading.Thread(
        target=responder.play,
        args=(DAG_ID, APPROVE),
        kwargs={
            "done": lambda: cluster.finished(DAG_ID, run_id),
            "run_id": run_id,
            "timeout": 900,
            "poll": 1,
        },
        daemon=True,
    )
    thread.start()
    return thread, responder


def _assert_one_intact_chain(cluster: Cluster, release_id: str) -> list[Any]:
    store = EvidenceStore(cluster.evidence_url)
    records = store.records(release_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1)), "seq has gaps or repeats"
    assert store.chain(release_id).head_seq == len(records)
    assert store.verify(release_id).ok
    # One chain per run: no writer forked off into a chain of its own.
    run_chains = [c.release_id for c in store.chains(limit=1000) if c.release_id == release_id]
    assert run_chains == [release_id]
    results = Counter(r.payload["check_id"] for r in records if r.kind == "check_result")
    assert results == {"data.lineage": 1, SLOW_CHECK: 1, "quality.fairness": 1}, results
    gates = Counter(r.payload["gate"] for r in records if r.kind == "gate_decision")
    assert gates == {"data": 1, "ethics": 1, "quality": 1}, gates
    sealed = store.records(release_id, kind="release_sealed")
    assert len(sealed) == 1 and sealed[0].seq == len(records)
    assert sealed[0].payload["decision"] == "released"
    assert sealed[0].payload["gates"] == {"data": "passed", "ethics": "passed", "quality": "passed"}
    return records


def test_release_runs_on_both_workers_into_one_chain(cluster: Cluster) -> None:
    run_id = cluster.trigger(
        DAG_ID, _conf(cluster, eval=str(cluster.home.parent / "eval_small.parquet")), as_user=SUBMITTER
    )
    thread, responder = _play(cluster, run_id)
    thread.join(timeout=960)
    assert cluster.run_state(DAG_ID, run_id) == "success"
    assert {(a["user"], a["status"]) for a in responder.answered} == {("aisha", 200), ("admin", 200)}

    # EmptyOperator tasks succeed in the scheduler without a worker (no hostname); the rest ran on ours.
    ran = [ti for ti in cluster.task_instances(DAG_ID, run_id) if ti["state"] == "success" and ti["hostname"]]
    hosts = Counter(ti["hostname"] for ti in ran)
    assert set(hosts) == {"worker-1", "worker-2"}, hosts

    records = _assert_one_intact_chain(cluster, f"{DAG_ID}__{run_id}")
    assert {r.kind for r in records} >= {"release_started", "human_decision", "promotion"}


def test_a_worker_killed_mid_check_is_retried_elsewhere(cluster: Cluster) -> None:
    run_id = cluster.trigger(DAG_ID, _conf(cluster), as_user=SUBMITTER)
    thread, _ = _play(cluster, run_id)

    victim = _wait_for_slow_check_alone_on_a_worker(cluster, run_id)
    cluster.kill_worker(victim)
    survivor = next(w for w in cluster.worker_names if w != victim)
    assert [node.split("@", 1)[0] for node in cluster.celery_workers()] == [survivor]

    thread.join(timeout=960)
    assert cluster.run_state(DAG_ID, run_id) == "success"
    tries = cluster.task_tries(DAG_ID, run_id, SLOW_CHECK)
    assert tries[0]["hostname"] == victim and tries[0]["state"] == "failed", tries
    assert tries[-1]["hostname"] == survivor and tries[-1]["state"] == "success", tries

    records = _assert_one_intact_chain(cluster, f"{DAG_ID}__{run_id}")
    # The one result of the slow check is the retry's: the killed try left nothing behind.
    (result,) = [r for r in records if r.kind == "check_result" and r.payload["check_id"] == SLOW_CHECK]
    assert result.actor == f"{DAG_ID}.{SLOW_CHECK}#{tries[-1]['try_number']}"
    assert result.payload["status"] == "PASS"
    assert result.payload["inputs"]["eval"]["rows"] == WAREHOUSE_ROWS


def _wait_for_slow_check_alone_on_a_worker(cluster: Cluster, run_id: str, timeout: float = 600) -> str:
    """The worker running the slow check, once the check is under way and nothing else runs there.

    Killing a worker while a quick check is between writing its result and reporting success would
    test Airflow's at-least-once retry, not this scenario (a check dying mid-computation).
    """
    deadline = time.monotonic() + timeout
    running_since: float | None = None
    while time.monotonic() < deadline:
        instances = {ti["task_id"]: ti for ti in cluster.task_instances(DAG_ID, run_id)}
        slow = instances.get(SLOW_CHECK, {})
        if slow.get("state") == "running" and slow.get("hostname"):
            running_since = running_since or time.monotonic()
            others = [
                ti["task_id"]
                for ti in instances.values()
                if ti["hostname"] == slow["hostname"] and ti["state"] == "running" and ti is not slow
            ]
            if not others and time.monotonic() - running_since > 3:
                return str(slow["hostname"])
        elif slow.get("state") in ("success", "failed", "up_for_retry"):
            pytest.fail(f"{SLOW_CHECK} ended ({slow['state']}) before a worker could be killed mid-check")
        time.sleep(0.5)
    pytest.fail(f"{SLOW_CHECK} never ran")
