"""The release DAG's Airflow deadline alert and its callback: who is told what when a release run is
still open past the first remediation due date."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk.definitions.deadline import DeadlineReference

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates.release_deadline import release_deadline_missed
from tests.minimal_policy import MINIMAL_POLICY

SLA = "remediation_sla: {critical: 6h, high: 3d, medium: 10d, low: 30d, info: 90d}\n"


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(MINIMAL_POLICY + SLA)
    return path


def test_the_release_dag_alerts_when_a_run_is_open_past_the_shortest_remediation_sla(tmp_path: Path) -> None:
    assert not build_release_dag(_policy(tmp_path), dag_id="release_no_deadline").deadline  # opt-in
    dag = build_release_dag(_policy(tmp_path), dag_id="release_deadline_shape", remediation_deadline=True)
    [alert] = dag.deadline
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == timedelta(hours=6)
    assert alert.callback.path == "release_gates.release_deadline.release_deadline_missed"
    assert alert.callback.kwargs["policy_path"] == str(tmp_path / "policy.yaml")


def _item(title: str, deadline: datetime, role: str) -> dict[str, object]:
    return {
        "gate": "ethics", "check_id": "ethics.fairness", "finding_id": title, "title": title,
        "severity": "HIGH", "owner_role": role, "owners": ["aisha"], "deadline": deadline.isoformat(),
    }  # fmt: skip


def test_the_callback_names_only_the_overdue_items_to_their_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)
    store = EvidenceStore(url)
    now = datetime.now(UTC)
    release_id = "release_m__manual__1"
    store.append(release_id, "release_started", {"model": "m"}, actor="t")
    store.append(
        release_id, "remediation_item", _item("rate gap", now - timedelta(hours=1), "steward"), actor="t"
    )
    store.append(
        release_id, "remediation_item", _item("not yet due", now + timedelta(days=2), "steward"), actor="t"
    )
    # What Airflow passes a deadline callback: the run in its REST form, and the deadline.
    context = {"dag_run": {"dag_id": "release_m", "dag_run_id": "manual__1"}, "deadline": {"id": "d1"}}
    with caplog.at_level(logging.WARNING):
        subject = asyncio.run(release_deadline_missed(str(_policy(tmp_path)), context=context))
    assert subject.endswith(f"release {release_id}: 1 remediation item(s) overdue")
    text = caplog.text
    assert "rate gap" in text and "not yet due" not in text


def test_an_undecided_release_without_overdue_items_is_reported_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", f"sqlite:///{tmp_path / 'evidence.db'}")
    context = {"dag_run": {"dag_id": "release_m", "dag_run_id": "manual__2"}}
    subject = asyncio.run(release_deadline_missed(str(_policy(tmp_path)), context=context))
    assert subject.endswith("is still undecided past its deadline")
