"""The release DAG on a real `airflow standalone`: scheduler, LocalExecutor workers, API server.

Humans answer through the HITL REST API as themselves. Two runs of one release DAG:
one approver rejects → not promoted; one approver never answers → the timeout rejects.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pandas as pd
import pytest

from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import Standalone
from release_gates_testing.humans import Answer, HitlResponder

pytestmark = pytest.mark.integration

USERS = {"admin": "admin-e2e", "aisha": "aisha-e2e"}
POLICY = """\
policy_version: 1
release: {model: e2e-model}
owners:
  ethics_reviewer: {users: [aisha]}
  release_manager: {users: [admin]}
datasets:
  eval:
    {uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
     label_values: [0, 1]}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
approvals:
  release: {roles: [ethics_reviewer, release_manager], timeout: 60s}
"""
DAG_FILE = """\
# The Airflow release DAG of the end-to-end test.
from release_gates.dag_factory import build_release_dag

dag = build_release_dag({policy!r}, dag_id="release_e2e", default_args={{"retries": 0}})
"""


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> tuple[Standalone, str, dict[str, str]]:
    work = tmp_path_factory.mktemp("e2e")
    dags = work / "dags"
    dags.mkdir()
    (work / "policy.yaml").write_text(POLICY)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"g": ["a"] * 1000 + ["b"] * 1000, "y": rng.integers(0, 2, 2000), "p": [1, 0] * 1000}
    )
    frame.to_parquet(work / "eval.parquet")
    (dags / "release_e2e.py").write_text(DAG_FILE.format(policy=str(work / "policy.yaml")))
    model = work / "model.bin"
    model.write_bytes(b"model")
    evidence_url = f"sqlite:///{work / 'evidence.db'}"
    conf = {
        "model_version": "1",
        "model_uri": str(model),
        "model_sha256": hashlib.sha256(b"model").hexdigest(),
        "image": "registry.example.org/m@sha256:" + "b" * 64,
    }
    server = Standalone(work / "airflow", dags, USERS, extra_env={"RELEASE_GATES_EVIDENCE_URL": evidence_url})
    server.start()
    try:
        server.wait_for_dag("release_e2e")
        yield server, evidence_url, conf  # type: ignore[misc]
    finally:
        server.stop()


def release(server: Standalone, conf: dict[str, str], script: dict[str, Answer]) -> tuple[str, list[dict]]:
    run_id = server.trigger("release_e2e", conf)
    responder = HitlResponder(server.client, USERS, log=lambda _: None)
    worker = threading.Thread(
        target=responder.play,
        args=("release_e2e", script),
        kwargs={
            "done": lambda: server.finished("release_e2e", run_id),
            "run_id": run_id,
            "timeout": 600,
            "poll": 1,
        },
    )
    worker.start()
    worker.join(timeout=660)
    assert server.finished("release_e2e", run_id), "the run did not finish"
    return f"release_e2e__{run_id}", responder.answered


def test_one_approver_rejects_and_nothing_is_promoted(
    airflow: tuple[Standalone, str, dict[str, str]],
) -> None:
    server, evidence_url, conf = airflow
    release_id, answered = release(
        server,
        conf,
        {
            "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
            "signoff.release_release_manager": Answer("admin", "Reject"),
        },
    )
    assert {(a["user"], a["option"], a["status"]) for a in answered} == {
        ("aisha", "Approve", 200),
        ("admin", "Reject", 200),
    }
    store = EvidenceStore(evidence_url)
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held"
    assert sealed["gates"] == {"ethics": "passed"}
    decisions = {r.payload["task_id"]: r.payload for r in store.records(release_id, kind="human_decision")}
    assert decisions["signoff.release_release_manager"]["choice"] == "reject", decisions
    assert decisions["signoff.release_release_manager"]["user"] == "admin"
    assert decisions["signoff.release_ethics_reviewer"]["choice"] == "approve"
    assert not store.records(release_id, kind="promotion")
    states = {
        ti["task_id"]: ti["state"]
        for ti in server.task_instances("release_e2e", release_id.split("__", 1)[1])
    }
    assert states["promote"] == "skipped" and states["hold"] == "success" and states["seal"] == "success"
    assert store.verify(release_id).ok


def test_no_answer_before_the_timeout_is_a_rejection(airflow: tuple[Standalone, str, dict[str, str]]) -> None:
    server, evidence_url, conf = airflow
    release_id, answered = release(
        server, conf, {"signoff.release_ethics_reviewer": Answer("aisha", "Approve")}
    )
    assert [a["user"] for a in answered] == ["aisha"]  # admin never answers
    store = EvidenceStore(evidence_url)
    assert store.records(release_id, kind="release_sealed")[0].payload["decision"] == "held"
    manager = next(
        r.payload
        for r in store.records(release_id, kind="human_decision")
        if r.payload["task_id"] == "signoff.release_release_manager"
    )
    assert manager["choice"] == "reject" and manager["user"] is None
    assert not store.records(release_id, kind="promotion")
    assert store.verify(release_id).ok
