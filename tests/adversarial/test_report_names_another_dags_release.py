"""A report is served to readers of one DAG: it must not carry another DAG's releases of the same model."""

from __future__ import annotations

from pathlib import Path

from release_gates.evidence import EvidenceStore
from release_gates.reports.trail import load_from_store


def _release(store: EvidenceStore, release_id: str, dag_id: str | None, *, sealed: bool = True) -> None:
    payload = {"model": "credit", "inputs": {"model_version": release_id[-1]}, "run_id": release_id[-2:]}
    if dag_id is not None:
        payload["dag_id"] = dag_id
    store.append(release_id, "release_started", payload)
    if sealed:
        store.append(release_id, "release_sealed", {"decision": "released"})


def test_history_holds_only_releases_of_the_same_dag(tmp_path: Path) -> None:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    _release(store, "release_b__r1", "release_b")  # another team's DAG, same model name
    _release(store, "release_a__r2", "release_a")
    _release(store, "release_b__r3", "release_b")
    _release(store, "release_a__r4", "release_a", sealed=False)

    trail = load_from_store(store, "release_a__r4")
    assert [d.release_id for d in trail.history] == ["release_a__r2"]
    assert trail.previous_id == "release_a__r2"


def test_older_chains_without_a_recorded_dag_see_only_each_other(tmp_path: Path) -> None:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    _release(store, "old__r1", None)
    _release(store, "release_a__r2", "release_a")
    _release(store, "old__r3", None, sealed=False)
    assert [d.release_id for d in load_from_store(store, "old__r3").history] == ["old__r1"]
