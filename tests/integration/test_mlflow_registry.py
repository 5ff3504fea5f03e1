"""MLflow Model Registry candidates and the ``mlflow_alias`` target, on a real MLflow store (SQLite in
tmp_path): two versions released through the whole release DAG (``dag.test()``; humans answer
through the REST API) — the fair one moves ``champion`` and is tagged, the biased one is held and the
alias stays — a shadow drill on the alias, and the registry URI from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.integration.mlflow_support import (
    MODEL,
    Registry,
    biased_model,
    evaluation_frame,
    fair_model,
    make_registry,
)

pytestmark = pytest.mark.integration

POLICY = f"""\
policy_version: 1
release: {{model: {MODEL}, risk_tier: low}}
owners:
  ethics_reviewer: {{users: [aisha]}}
  release_manager: {{users: [admin]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: pred,
         label_values: [0, 1]}}
candidate:
  uri: "{{{{ params.model_uri }}}}"
  trusted_types: [numpy.dtype]
  features: [x1, gb]
scoring: {{datasets: [eval]}}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
approvals:
  release: {{roles: [release_manager], timeout: 1h}}
deployment:
  target: {{type: mlflow_alias, name: {MODEL}, poll_interval: 0.05}}
  version: "{{{{ params.model_version }}}}"
  stable_timeout: 1m
"""

APPROVE = {"signoff.release_release_manager": Answer("admin", "Approve")}


def setup_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str = POLICY
) -> tuple[Registry, str]:
    registry = make_registry(tmp_path, monkeypatch)
    evaluation_frame().to_parquet(tmp_path / "eval.parquet", index=False)
    (tmp_path / "policy.yaml").write_text(policy)
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    return registry, evidence_url


def conf(version: str, sha256: str = "") -> dict[str, Any]:
    return {"model_version": version, "model_uri": f"models:/{MODEL}/{version}", "model_sha256": sha256,
            "image": "unused"}  # fmt: skip


def release(
    tmp_path: Path, name: str, run_conf: dict[str, Any], script: dict[str, Answer]
) -> tuple[Any, str]:
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id=f"release_mlflow_{name}", default_args={"retries": 0}
    )
    run, _ = run_release(dag, run_conf, script, passwords=TEST_USERS)
    return run, f"{dag.dag_id}__{run.run_id}"


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
