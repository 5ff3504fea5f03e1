"""MLflow Model Registry candidates and the ``mlflow_alias`` target, on a real MLflow store (SQLite in
tmp_path): two versions released through the whole release DAG (``dag.test()``; humans answer
through the REST API) — the fair one moves ``champion`` and is tagged, the biased one is held and the
alias stays — a shadow drill on the alias, and the registry URI from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from release_gates.evidence import EvidenceStore
from release_gates_testing.humans import Answer
from tests.integration.mlflow_support import (
    APPROVE,
    MODEL,
    biased_model,
    conf,
    fair_model,
    make_registry,
    release,
    setup_release,
)

pytestmark = pytest.mark.integration


def test_a_registry_version_is_released_by_moving_the_alias_and_a_held_one_leaves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, evidence_url = setup_release(tmp_path, monkeypatch)
    baseline, _ = registry.register(fair_model(seed=5))
    registry.client.set_registered_model_alias(MODEL, "champion", baseline)
    fair, fair_sha = registry.register(fair_model())
    biased, _ = registry.register(biased_model())
    store = EvidenceStore(evidence_url)

    run, release_id = release(tmp_path, "fair", conf(fair), APPROVE)
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "released", sealed
    assert registry.alias() == fair
    # The file judged was the registry's, hashed once at start and used by every later step.
    started = store.records(release_id, kind="release_started")[0].payload["inputs"]
    pin = started["candidate_registry"]
    assert pin["sha256"] == fair_sha == started["model_sha256_verified"]
    assert pin["uri"] == f"models:/{MODEL}/{fair}" and "computed" in pin["sha256_source"]
    assert store.records(release_id, kind="model_scored")[-1].payload["model"]["sha256"] == fair_sha
    # Tags on the promoted version: the decision and the evidence chain head behind the promotion.
    tags = registry.client.get_model_version(MODEL, fair).tags
    assert tags["release_gates.decision"] == "promoted" and tags["release_gates.release_id"] == release_id
    assert tags["release_gates.model_sha256"] == fair_sha
    head_seq, head_hash = tags["release_gates.evidence_head"].split(":")
    records = store.records(release_id)
    approvals = [r.seq for r in records if r.kind in ("human_decision", "signoff")]
    promotion = [r for r in records if r.kind == "promotion"][-1]
    assert promotion.payload["status"] == "done" and promotion.payload["from_version"] == baseline
    assert {r.seq: r.hash for r in records}[int(head_seq)] == head_hash
    assert int(head_seq) < promotion.seq and (not approvals or max(approvals) <= int(head_seq))
    assert store.verify(release_id).ok

    script = {"ethics.decision": Answer("aisha", "Delay release")}
    run, held_id = release(tmp_path, "biased", conf(biased), script)
    sealed = store.records(held_id, kind="release_sealed")[0].payload
    assert sealed["decision"] != "released", sealed
    assert registry.alias() == fair  # the alias stays
    assert not [
        k for k in registry.client.get_model_version(MODEL, biased).tags if k.startswith("release_gates")
    ]
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert not states["promote"].endswith("success")


def test_a_shadow_drill_on_the_alias_leaves_it_where_it_was_and_removes_its_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill
    from release_gates.operators.aws import deployment_target
    from release_gates.policy import RollbackDrillCheck
    from release_gates.results import Status

    registry = make_registry(tmp_path, monkeypatch, via="environment")
    for seed in range(3):
        registry.register(fair_model(seed=seed))
    registry.client.set_registered_model_alias(MODEL, "champion", "3")
    spec = RollbackDrillCheck(kind="rollback_drill", target={"type": "mlflow_alias", "name": MODEL,
                              "poll_interval": 0.01})  # fmt: skip
    result = run_rollback_drill(
        deployment_target(spec.target), spec, check_id="ops.drill", retry=RetryPolicy(base_delay=0.0)
    )
    assert result.status is Status.PASS, result.summary
    metrics = result.metrics
    assert metrics["mode"] == "shadow" and metrics["measured_on"] == "standin"
    assert metrics["original_version"] == "3" and metrics["previous_version"] == "2"
    assert metrics["standin"]["created"] is True and metrics["standin"]["removed"] is True
    assert metrics["standin"]["name"].startswith("rg-drill-")
    assert registry.alias() == "3" and registry.aliases() == ["champion"]  # stand-in gone, alias untouched
    assert os.environ["MLFLOW_TRACKING_URI"].startswith("sqlite:///")  # found through the environment


MONITORED = f"""\
policy_version: 1
release: {{model: {MODEL}, risk_tier: low}}
owners:
  data_steward: {{users: [tomas]}}
  ops_oncall: {{users: [marta]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l}}
gates:
  - id: data
    owner: data_steward
    rationale: Documented data only.
    checks:
      - {{kind: lineage, datasets: [eval]}}
deployment:
  target: {{type: mlflow_alias, name: {MODEL}}}
monitoring:
  schedule: "@daily"
  source: {{uri: log.parquet, timestamp: ts, prediction: pred}}
  owner: ops_oncall
  escalation: {{path: [ops_oncall]}}
"""


def test_an_alias_moved_by_hand_opens_a_p1_incident_in_monitoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    import pandas as pd

    from release_gates.monitoring import build_monitoring_dag
    from release_gates.monitoring.plan import monitor_chain_id
    from release_gates_testing.airflow import migrate_airflow_db, sync_dag

    registry, evidence_url = setup_release(tmp_path, monkeypatch, MONITORED)
    released, _ = registry.register(fair_model())
    unreleased, _ = registry.register(fair_model(seed=9))
    registry.client.set_registered_model_alias(MODEL, "champion", released)
    store = EvidenceStore(evidence_url)
    # What the release DAG leaves behind: a sealed, released chain whose promotion moved the alias.
    target = {"type": "mlflow_alias", "name": MODEL, "alias": "champion"}
    chain = f"release_{MODEL.replace('-', '_')}__manual__v{released}"
    store.append(chain, "release_started", {"model": MODEL, "inputs": {"model_version": released}})
    promotion = {"action": "promotion", "target": target, "from_version": None, "to_version": released}
    store.append(chain, "promotion", {**promotion, "status": "done", "summary": "promoted"})
    store.append(chain, "release_sealed", {"decision": "released", "model": MODEL})
    day0 = datetime(2026, 3, 1, tzinfo=UTC)
    hours = [day0 + timedelta(hours=h) for h in range(48)]
    pd.DataFrame({"ts": hours, "pred": [h % 2 for h in range(48)]}).to_parquet(tmp_path / "log.parquet")
    dag = build_monitoring_dag(
        tmp_path / "policy.yaml", dag_id="monitor_mlflow_alias", default_args={"retries": 0}
    )
    migrate_airflow_db()
    sync_dag(dag)
    monitor = monitor_chain_id(MODEL)

    assert dag.test(logical_date=day0 + timedelta(days=1)).state == "success"
    watch = [
        r.payload
        for r in store.records(monitor, kind="check_result")
        if r.payload["kind"] == "registry_alias"
    ]
    assert watch[-1]["status"] == "PASS" and watch[-1]["metrics"]["serving"] == released
    assert not store.records(monitor, kind="incident")

    registry.client.set_registered_model_alias(MODEL, "champion", unreleased)  # outside the gates
    dag.test(logical_date=day0 + timedelta(days=2))
    watch = [
        r.payload
        for r in store.records(monitor, kind="check_result")
        if r.payload["kind"] == "registry_alias"
    ]
    assert watch[-1]["status"] == "FAIL" and watch[-1]["metrics"]["serving"] == unreleased
    assert watch[-1]["findings"][0]["severity"] == "CRITICAL"
    opened = [r.payload for r in store.records(monitor, kind="incident") if r.payload["action"] == "opened"]
    assert [(i["check_id"], i["priority"]) for i in opened] == [("monitor.registry_alias", "P1")]
    assert unreleased in opened[0]["summary"]
