"""The release decision as the DAG run's note, through whole release runs (``dag.test()``, humans
answering through REST): a held run's note says HELD with its reason, a released one says RELEASED,
and a note a person wrote when triggering stays below ours."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates.run_notes import note_with, run_note
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.adversarial import release_support

pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {model: notes-model}
owners:
  ethics_reviewer: {users: [aisha]}
  release_manager: {users: [admin]}
datasets:
  eval: {uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
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
  release: {roles: [ethics_reviewer, release_manager], timeout: 1h}
"""


def _release(tmp_path: Path, name: str, reviewer: str) -> tuple[Any, dict[str, Any]]:
    n = 1000
    pd.DataFrame({"g": ["a"] * n + ["b"] * n, "y": [0, 1] * n, "p": [1, 0] * n}).to_parquet(
        tmp_path / "eval.parquet"
    )
    (tmp_path / "policy.yaml").write_text(POLICY)
    model = tmp_path / "model.bin"
    model.write_bytes(b"candidate model bytes")
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = url
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id=f"release_notes_{name}", default_args={"retries": 0}
    )
    conf = {"model_version": "7", "model_uri": str(model), "model_sha256": release_support.sha256_of(model)}
    script = {
        "signoff.release_ethics_reviewer": Answer("aisha", reviewer),
        "signoff.release_release_manager": Answer("admin", "Approve"),
    }
    run, answered = run_release(dag, conf, script, passwords=TEST_USERS)
    assert not [a for a in answered if a.get("unscripted")], answered
    sealed = EvidenceStore(url).records(f"{dag.dag_id}__{run.run_id}", kind="release_sealed")[0].payload
    return run, sealed


def _note(run: Any) -> str:
    """The note as the metadata database holds it (what the grid and the runs list show)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        stored = session.query(DagRun).filter_by(dag_id=run.dag_id, run_id=run.run_id).one()
        return str(stored.note or "")


def test_a_held_run_is_noted_held_with_its_reason(tmp_path: Path) -> None:
    run, sealed = _release(tmp_path, "held", "Reject")
    assert str(run.state).endswith("success")  # green in the grid: that is why the note matters
    assert sealed["decision"] == "held"
    note = _note(run)
    first = note.splitlines()[0]
    assert first.startswith("HELD: ") and sealed["reasons"][0] in first, note
    assert f"{run.dag_id}__{run.run_id}" in note


def test_a_released_run_is_noted_released(tmp_path: Path) -> None:
    run, sealed = _release(tmp_path, "released", "Approve")
    assert sealed["decision"] == "released", sealed
    assert _note(run).startswith("RELEASED: ")


def test_the_note_keeps_one_line_and_a_persons_note() -> None:
    ours = run_note({"decision": "held", "reasons": ["gate 'ethics': FAIL\nselection rate 0.5", "x"]}, "r1")
    first = ours.splitlines()[0]
    assert first == "HELD: gate 'ethics': FAIL selection rate 0.5 (+1 more)"
    assert note_with("rerun after the data fix", ours).endswith("\n\nrerun after the data fix")
    assert note_with(ours, ours) == ours  # an earlier note of ours is replaced, not stacked
    released = run_note({"decision": "released", "reasons": [], "waived": {}}, "r1")
    assert released.startswith("RELEASED: every gate cleared, signed off and promoted")
    assert len(run_note({"decision": "held", "reasons": ["x" * 5000]}, "r1")) <= 1000


def test_airflow_stores_the_release_deadline_alert_for_the_scheduler(tmp_path: Path) -> None:
    """The opt-in deadline alert as the scheduler will read it: serialized with the DAG into the
    metadata database, with the policy's shortest remediation SLA and the callback's import path."""
    from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    from release_gates_testing.airflow import migrate_airflow_db, sync_dag

    (tmp_path / "policy.yaml").write_text(POLICY + "remediation_sla: {critical: 6h}\n")
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id="release_notes_deadline", remediation_deadline=True
    )
    migrate_airflow_db()
    sync_dag(dag)
    with create_session() as session:
        serialized = SerializedDagModel.get(dag.dag_id, session=session)
        assert serialized is not None
        alerts = session.query(DeadlineAlertModel).filter_by(serialized_dag_id=serialized.id).all()
        assert len(alerts) == 1
        [alert] = alerts
        text = str((alert.reference, alert.interval, alert.callback_def))
    assert "DagRunQueuedAtDeadline" in text and "21600" in text, text
    assert "release_gates.release_deadline.release_deadline_missed" in text
