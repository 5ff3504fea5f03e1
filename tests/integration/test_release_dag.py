"""The release DAG run for real with dag.test(); humans answer through Airflow's REST API."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer

pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {model: test-model, risk_tier: high}
owners:
  ethics_reviewer: {users: [aisha], email: ethics@example.org}
  release_manager: {users: [admin]}
remediation_sla: {high: 3d, low: 30d}
datasets:
  eval:
    uri: eval.parquet
    owner: data team
    description: evaluation set
    legal_basis: synthetic
    label: y
    prediction: p
    label_values: [0, 1]
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    mitigations: [reweight, adjust the threshold]
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        min_group_size: 30
        criteria: [{metric: selection_rate, ratio_min: 0.8, severity: HIGH}]
approvals:
  release: {roles: [ethics_reviewer, release_manager], timeout: 1h}
"""

APPROVE_ALL = {
    "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def eval_frame(n_a: int, n_b: int, rate_a: float, rate_b: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for group, n, rate in (("a", n_a, rate_a), ("b", n_b, rate_b)):
        selected = np.zeros(n, dtype=int)
        selected[: round(n * rate)] = 1
        labels = rng.integers(0, 2, n)
        rows.append(pd.DataFrame({"g": group, "y": labels, "p": selected}))
    return pd.concat(rows, ignore_index=True)


def release(
    tmp_path: Path, name: str, frame: pd.DataFrame | None, script: dict[str, Answer]
) -> tuple[Any, Any, Any]:
    workdir = tmp_path / name
    workdir.mkdir()
    policy = workdir / "policy.yaml"
    policy.write_text(POLICY)
    if frame is not None:
        frame.to_parquet(workdir / "eval.parquet")
    model = workdir / "model.bin"
    model.write_bytes(b"candidate model bytes")
    evidence_url = f"sqlite:///{workdir / 'evidence.db'}"
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = evidence_url
    dag = build_release_dag(policy, dag_id=f"release_test_{name}", default_args={"retries": 0})
    conf = {
        "model_version": "7",
        "model_uri": str(model),
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "image": "registry.example.org/model@sha256:" + "a" * 64,
    }
    run, answered = run_release(dag, conf, script, passwords=TEST_USERS)
    store = EvidenceStore(evidence_url)
    release_id = f"{dag.dag_id}__{run.run_id}"
    return run, store, (release_id, answered)


def sealed(store: EvidenceStore, release_id: str) -> dict[str, Any]:
    return store.records(release_id, kind="release_sealed")[0].payload


def test_all_gates_pass_and_two_approvals_release(tmp_path: Path) -> None:
    _run, store, (release_id, answered) = release(
        tmp_path, "pass", eval_frame(2000, 2000, 0.5, 0.49), APPROVE_ALL
    )
    assert not [a for a in answered if a.get("unscripted")]
    summary = sealed(store, release_id)
    assert summary["decision"] == "released", summary
    assert summary["gates"] == {"ethics": "passed"}
    assert store.verify(release_id).ok
    kinds = [r.kind for r in store.records(release_id)]
    assert kinds[0] == "release_started" and kinds[-1] == "release_sealed"
    decisions = [r.payload for r in store.records(release_id, kind="human_decision")]
    assert {(d["user"], d["choice"]) for d in decisions} == {("aisha", "approve"), ("admin", "approve")}


def items_of(store: EvidenceStore, release_id: str) -> list[dict[str, Any]]:
    return [r.payload for r in store.records(release_id, kind="remediation_item")]


def test_failed_gate_opens_remediation_items_and_a_delay_holds_the_release(tmp_path: Path) -> None:
    script = {"ethics.decision": Answer("aisha", "Delay release", "Retrain with reweighting first.")}
    _run, store, (release_id, answered) = release(tmp_path, "fail", eval_frame(2000, 2000, 0.5, 0.25), script)
    assert not [a for a in answered if a.get("unscripted")]
    summary = sealed(store, release_id)
    assert summary["decision"] == "held"
    assert summary["gates"] == {"ethics": "remediate"}
    items = items_of(store, release_id)
    assert items, "a failed gate must open remediation items"
    item = items[0]
    assert item["owner_role"] == "ethics_reviewer" and item["owners"] == ["aisha"]
    assert item["severity"] == "HIGH" and item["contact"] == "ethics@example.org"
    found, deadline = datetime.fromisoformat(item["found_at"]), datetime.fromisoformat(item["deadline"])
    assert deadline - found == timedelta(days=3)  # the policy's SLA for HIGH
    assert item["mitigations"] == ["reweight", "adjust the threshold"]
    assert "four-fifths" in item["rationale"]
    notices = [r.payload for r in store.records(release_id, kind="notification")]
    assert any(n["role"] == "ethics_reviewer" and n["ok"] for n in notices)
    decision = store.records(release_id, kind="human_decision")[0].payload
    assert (decision["user"], decision["choice"], decision["authorized"]) == ("aisha", "delay", True)
    assert not store.records(release_id, kind="promotion")
    assert store.verify(release_id).ok


def test_waiver_with_rationale_by_the_owner_releases(tmp_path: Path) -> None:
    script = {
        "ethics.decision": Answer(
            "aisha", "Release with waiver", "Disparity is explained by a data error fixed upstream."
        ),
        **APPROVE_ALL,
    }
    _run, store, (release_id, _) = release(tmp_path, "waive", eval_frame(2000, 2000, 0.5, 0.25), script)
    summary = sealed(store, release_id)
    assert summary["decision"] == "released"
    assert summary["waived"]["ethics"]["by"] == "aisha"
    assert "data error" in summary["waived"]["ethics"]["rationale"]


def test_waiver_without_rationale_clears_nothing(tmp_path: Path) -> None:
    # The form was left empty (no rationale sent): recorded as NOT accepted, and the step is red.
    script = {"ethics.decision": Answer("aisha", "Release with waiver")}
    run, store, (release_id, answered) = release(
        tmp_path, "waive_bare", eval_frame(2000, 2000, 0.5, 0.25), script
    )
    assert sealed(store, release_id)["decision"] == "held"
    decision = store.records(release_id, kind="human_decision")[0].payload
    assert decision["authorized"] is False and "rationale" in decision["problem"]
    assert not any(a["task_id"].startswith("signoff") for a in answered)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert str(states["ethics.waive"]).endswith("failed")


def test_waiver_with_a_too_short_rationale_is_refused_by_the_form(tmp_path: Path) -> None:
    # Sent past the form (the API): the step validates its own params and fails; nothing is cleared.
    script = {"ethics.decision": Answer("aisha", "Release with waiver", "ok")}
    run, store, (release_id, _answered) = release(
        tmp_path, "waive_short", eval_frame(2000, 2000, 0.5, 0.25), script
    )
    assert sealed(store, release_id)["decision"] == "held"
    assert not any(r.payload.get("authorized") for r in store.records(release_id, kind="human_decision"))
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert str(states["ethics.decision"]).endswith("failed")


def test_inconclusive_gate_goes_to_review_and_accepted_risk_is_recorded(tmp_path: Path) -> None:
    script = {
        "ethics.review": Answer("aisha", "Accept risk", "Group b is tiny; monitored after release."),
        **APPROVE_ALL,
    }
    _run, store, (release_id, _) = release(tmp_path, "review", eval_frame(2000, 12, 0.5, 0.5), script)
    summary = sealed(store, release_id)
    assert summary["gates"] == {"ethics": "review"}
    assert summary["checks"] == {"ethics.fairness": "INCONCLUSIVE"}
    assert summary["decision"] == "released"
    accepted = [
        r.payload
        for r in store.records(release_id, kind="human_decision")
        if r.payload["choice"] == "accept_risk"
    ]
    assert accepted and accepted[0]["user"] == "aisha" and accepted[0]["authorized"]


def test_a_check_that_errors_blocks_the_gate_and_nothing_is_released(tmp_path: Path) -> None:
    # Labels outside the declared set: the fairness check cannot run. (A missing evaluation file is
    # now refused at start, before any check: tests/adversarial/test_missing_input_refused_at_start.py.)
    frame = eval_frame(200, 200, 0.5, 0.5).assign(y=lambda f: f["y"] + 5)
    _run, store, (release_id, answered) = release(tmp_path, "error", frame, APPROVE_ALL)
    summary = sealed(store, release_id)
    assert summary["checks"] == {"ethics.fairness": "ERROR"}
    assert summary["gates"] == {"ethics": "blocked"}
    assert summary["decision"] == "held"
    assert answered == []  # nobody was even asked to sign off
    error = store.records(release_id, kind="check_result")[0].payload
    assert "FairnessInputError" in error["summary"] and "column 'y'" in error["summary"]


def test_one_rejection_of_the_two_person_sign_off_holds(tmp_path: Path) -> None:
    script = {
        "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
        "signoff.release_release_manager": Answer("admin", "Reject"),
    }
    _run, store, (release_id, _) = release(tmp_path, "reject", eval_frame(2000, 2000, 0.5, 0.49), script)
    summary = sealed(store, release_id)
    assert summary["decision"] == "held"
    assert any("reject by admin" in reason for reason in summary["reasons"]), summary["reasons"]
    assert not store.records(release_id, kind="promotion")


def test_only_assigned_users_can_answer(tmp_path: Path) -> None:
    # li is not an ethics reviewer: Airflow refuses the answer; the step then times out to its default.
    script = {"ethics.review": Answer("li", "Accept risk", "I think it is fine, honestly.")}
    _run, store, (release_id, answered) = release(
        tmp_path, "intruder", eval_frame(2000, 12, 0.5, 0.5), script
    )
    refused = [a for a in answered if a["user"] == "li"]
    assert refused and refused[0]["status"] == 403
    assert sealed(store, release_id)["decision"] == "held"
    assert not [r for r in store.records(release_id, kind="human_decision") if r.payload["user"] == "li"]
