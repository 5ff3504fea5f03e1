"""The release DAG's score step fails closed: when the candidate cannot score the evaluation data,
the failure is recorded, the checks still run, the ones judging scored data end as ERROR and block
their gate, and the release is held."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import TEST_USERS, run_release

pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {model: scoring-model, risk_tier: low}
owners:
  ethics_reviewer: {users: [aisha], email: ethics@example.org}
  data_steward: {users: [tomas]}
datasets:
  eval:
    uri: eval.parquet
    owner: data team
    description: evaluation set
    legal_basis: synthetic
    label: y
    prediction: pred
    label_values: [0, 1]
candidate:
  uri: "{{ params.model_uri }}"
  sha256: "{{ params.model_sha256 }}"
  trusted_types: [numpy.dtype]
scoring: {datasets: [eval]}
gates:
  - id: data
    owner: data_steward
    rationale: Documented data only.
    checks:
      - {kind: lineage, datasets: [eval]}
  - id: ethics
    owner: ethics_reviewer
    rationale: Four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
"""


def test_a_candidate_that_cannot_score_blocks_the_gates_that_judge_its_predictions(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x1": rng.normal(size=400), "x2": rng.normal(size=400)})
    model = LogisticRegression().fit(train, (train["x1"] > 0).astype(int))
    sio.dump(model, tmp_path / "model.skops")
    digest = hashlib.sha256((tmp_path / "model.skops").read_bytes()).hexdigest()
    # The evaluation data lacks the model's input x2: the candidate cannot score it.
    evaluation = pd.DataFrame({"g": ["a", "b"] * 200, "x1": rng.normal(size=400), "y": 1, "pred": 1})
    evaluation.to_parquet(tmp_path / "eval.parquet", index=False)
    (tmp_path / "policy.yaml").write_text(POLICY)
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = evidence_url

    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id="release_scoring_fails", default_args={"retries": 0}
    )
    assert dag.get_task("score").upstream_task_ids == {"start"}
    assert dag.get_task("ethics.fairness").upstream_task_ids == {"start", "score"}
    conf = {
        "model_version": "1",
        "model_uri": str(tmp_path / "model.skops"),
        "model_sha256": digest,
        "image": "registry.example.org/model@sha256:" + "a" * 64,
    }
    run, answered = run_release(dag, conf, {}, passwords=TEST_USERS)
    store = EvidenceStore(evidence_url)
    release_id = f"{dag.dag_id}__{run.run_id}"

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["score"] == "failed"
    scored = store.records(release_id, kind="model_scored")[-1].payload
    assert scored["status"] == "ERROR" and "x2" in scored["error"]
    results = {r.payload["check_id"]: r.payload for r in store.records(release_id, kind="check_result")}
    assert results["ethics.fairness"]["status"] == "ERROR"
    assert "no scored artifact" in results["ethics.fairness"]["summary"]
    assert results["data.lineage"]["status"] != "ERROR"  # checks that need no scores still decide
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["gates"]["ethics"] == "blocked" and sealed["decision"] == "held"
    assert answered == []
