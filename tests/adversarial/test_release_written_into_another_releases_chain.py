"""A DAG author picks ``release_id``: starting a release must never append to another release's chain."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from release_gates.evidence import EvidenceStore
from release_gates.operators.release import StartReleaseOperator
from tests.minimal_policy import MINIMAL_POLICY


def _context(dag_id: str, run_id: str) -> dict[str, object]:
    dag_run = SimpleNamespace(dag_id=dag_id, run_id=run_id, triggering_user_name="admin")
    return {"dag_run": dag_run, "run_id": run_id}


POLICY: dict[str, Path] = {}


def _start(release_id: str) -> StartReleaseOperator:
    return StartReleaseOperator(
        task_id="start", policy_path=str(POLICY["path"]), release_id=release_id, release_inputs={}
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EvidenceStore:
    import pandas as pd

    pd.DataFrame({"y": [0, 1] * 20, "p": [1, 0] * 20, "g": ["a", "b"] * 20}).to_parquet(
        tmp_path / "eval.parquet"
    )
    (tmp_path / "policy.yaml").write_text(MINIMAL_POLICY)
    POLICY["path"] = tmp_path / "policy.yaml"
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)
    return EvidenceStore(url)


def test_another_dag_cannot_start_a_release_in_an_existing_chain(store: EvidenceStore) -> None:
    _start("release_a__r1").execute(_context("release_a", "r1"))  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match="another release"):
        _start("release_a__r1").execute(_context("release_b", "r1"))  # type: ignore[arg-type]
    with pytest.raises(AirflowFailException, match="another release"):
        _start("release_a__r1").execute(_context("release_a", "r2"))  # type: ignore[arg-type]
    (started,) = store.records("release_a__r1")
    assert started.payload["dag_id"] == "release_a" and started.payload["run_id"] == "r1"


def test_a_retried_start_finds_its_own_record_and_appends_nothing(store: EvidenceStore) -> None:
    first = _start("release_a__r1").execute(_context("release_a", "r1"))  # type: ignore[arg-type]
    again = _start("release_a__r1").execute(_context("release_a", "r1"))  # type: ignore[arg-type]
    assert again["evidence_seq"] == first["evidence_seq"] == 1
    assert [r.kind for r in store.records("release_a__r1")] == ["release_started"]
    assert store.verify("release_a__r1").ok
