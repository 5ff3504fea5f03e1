"""A biased model must not pass the ethics gate on the fair model's predictions file.

The attack: release the biased candidate, and give its run an evaluation file whose ``pred``/``score``
columns were written by the fair model. Before, fairness judged whatever the file said, and passed.
Now the release scores the file with the pinned candidate itself (``predictions: scored``) and judges
those outputs — FAIL; and where the policy accepts the file's own predictions (``predictions:
declared``), a re-scored sample exposes them: FAIL, "predictions do not come from this model".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.fairness import run_fairness_check
from release_gates.policy import load_policy
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FEATURES = ["x1", "x2"]


def policy(predictions: str) -> str:
    return f"""\
policy_version: 1
release: {{model: swapped-model, risk_tier: high}}
owners:
  ethics_reviewer: {{users: [aisha], email: ethics@example.org}}
  release_manager: {{users: [admin]}}
remediation_sla: {{high: 3d, low: 30d}}
datasets:
  eval:
    uri: eval.parquet
    owner: data team
    description: evaluation set, scored by the fair model
    legal_basis: synthetic
    label: y
    prediction: pred
    score: score
    label_values: [0, 1]
    predictions: {predictions}
candidate:
  uri: "{{{{ params.model_uri }}}}"
  sha256: "{{{{ params.model_sha256 }}}}"
  trusted_types: [numpy.dtype]
scoring:
  datasets: [eval]
  chunk_rows: 500
  verify_rows: 200
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        min_group_size: 30
        criteria: [{{metric: selection_rate, ratio_min: 0.8, severity: HIGH}}]
approvals:
  release: {{roles: [ethics_reviewer, release_manager], timeout: 1h}}
"""


def applications(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g_b = (rng.random(n) < 0.5).astype(int)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"g": np.where(g_b == 1, "b", "a"), "g_b": g_b, "x1": x1, "x2": x2})


def models(tmp_path: Path) -> dict[str, tuple[Any, Path, str]]:
    """The fair candidate (credit features only) and the biased one (learned to deny group b)."""
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    train = applications(3000, 1)
    noise = np.random.default_rng(2).normal(scale=0.5, size=len(train))
    fair = LogisticRegression().fit(train[FEATURES], (train["x1"] + noise > 0).astype(int))
    biased_features = [*FEATURES, "g_b"]
    biased_labels = (train["x1"] + noise - 2.5 * train["g_b"] > 0).astype(int)
    biased = LogisticRegression().fit(train[biased_features], biased_labels)
    out = {}
    for name, model in (("fair", fair), ("biased", biased)):
        path = tmp_path / f"{name}.skops"
        sio.dump(model, path)
        out[name] = (model, path, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def fair_model_eval_file(root: Path, fair: Any) -> pd.DataFrame:
    """The evaluation file the attacker hands in: the fair model's decisions and scores."""
    evaluation = applications(2000, 3)
    evaluation["y"] = (evaluation["x1"] > 0).astype(int)
    evaluation["pred"] = fair.predict(evaluation[FEATURES])
    evaluation["score"] = fair.predict_proba(evaluation[FEATURES])[:, 1].round(6)
    evaluation.to_parquet(root / "eval.parquet", index=False)
    return evaluation


def release_biased_with_fair_file(tmp_path: Path, predictions: str) -> tuple[EvidenceStore, str, Any]:
    root = tmp_path / predictions
    root.mkdir()
    candidates = models(root)
    fair_model_eval_file(root, candidates["fair"][0])
    (root / "policy.yaml").write_text(policy(predictions))

    # Control: the file's own predictions pass the four-fifths rule; the attack depends on it.
    plain = load_policy(root / "policy.yaml")
    spec = plain.gate("ethics").checks[0]
    own = run_fairness_check(spec, DatasetCatalog.build(plain.datasets, base_dir=root), check_id="control")
    assert own.status.value == "PASS", own.summary

    _model, path, digest = candidates["biased"]
    evidence_url = f"sqlite:///{root / 'evidence.db'}"
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = evidence_url
    dag = build_release_dag(
        root / "policy.yaml", dag_id=f"release_swapped_{predictions}", default_args={"retries": 0}
    )
    conf = {
        "model_version": "9",
        "model_uri": str(path),
        "model_sha256": digest,
        "image": "registry.example.org/model@sha256:" + "a" * 64,
    }
    script = {"ethics.decision": Answer("aisha", "Delay release", "The candidate fails four-fifths.")}
    run, _ = run_release(dag, conf, script, passwords=TEST_USERS)
    return EvidenceStore(evidence_url), f"{dag.dag_id}__{run.run_id}", (run, digest)


def test_scored_predictions_judge_the_biased_candidate_not_the_file_it_was_given(tmp_path: Path) -> None:
    store, release_id, (run, digest) = release_biased_with_fair_file(tmp_path, "scored")
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["score"] == "success"

    scored = store.records(release_id, kind="model_scored")[-1].payload
    assert scored["model"]["sha256"] == digest and scored["model"]["format"] == "skops"
    entry = scored["datasets"]["eval"]
    assert entry["rows"] == 2000 and len(entry["artifact"]["sha256"]) == 64
    assert (
        entry["source"]["sha256"]
        == hashlib.sha256((tmp_path / "scored" / "eval.parquet").read_bytes()).hexdigest()
    )

    result = store.records(release_id, kind="check_result")[0].payload
    assert result["check_id"] == "ethics.fairness" and result["status"] == "FAIL", result["summary"]
    judged = result["inputs"]["eval"]
    assert judged["predictions"] == "scored"
    assert judged["model_sha256"] == digest and judged["artifact_sha256"] == entry["artifact"]["sha256"]
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held" and sealed["gates"] == {"ethics": "remediate"}


def test_declared_predictions_from_another_model_fail_the_re_scored_sample(tmp_path: Path) -> None:
    store, release_id, _ = release_biased_with_fair_file(tmp_path, "declared")

    result = store.records(release_id, kind="check_result")[0].payload
    assert result["status"] == "FAIL"
    assert "predictions do not come from this model" in result["summary"]
    finding = result["findings"][0]
    assert finding["severity"] == "CRITICAL" and finding["data"]["compared"] == 200
    assert finding["data"]["mismatched"] > 0
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held"
    assert not store.records(release_id, kind="promotion")
