"""A model's history read through the store's queries, on embedded SQLite and on real PostgreSQL.

``evidence_url`` is parametrized over both backends: the release-chain filter and the literal
``monitor__`` prefix (two LIKE wildcards) must behave the same on each.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from release_gates.evidence import EvidenceError, EvidenceStore
from release_gates.evidence.canonical import record_hash, sha256_text
from release_gates.monitoring.history import load_history
from tests.integration.evidence_support import switch_off_guards

pytestmark = pytest.mark.integration


@pytest.fixture
def store(evidence_url: str) -> EvidenceStore:
    store = EvidenceStore(evidence_url)
    store.migrate()
    # Chains are created in this order, interleaving models and kinds of chain.
    store.append("rel-fraud-1", "release_started", {"model": "fraud", "version": "1"}, actor="t")
    store.append("monitor__fraud", "monitoring_window", {"window": "w1"}, actor="t")
    store.append("rel-fraud-1", "check_result", {"check_id": "g.drift", "status": "PASS"}, actor="t")
    store.append("rel-churn-1", "release_started", {"model": "churn", "version": "7"}, actor="t")
    store.append("rel-churn-1", "gate_decision", {"gate": "g", "outcome": "passed"}, actor="t")
    store.append("monitor__fraud", "incident", {"incident_id": "i1", "action": "opened"}, actor="t")
    store.append("rel-fraud-2", "release_started", {"model": "fraud", "version": "2"}, actor="t")
    store.append("rel-fraud-2", "release_sealed", {"decision": "released"}, actor="t")
    store.append("monitor__churn", "monitoring_window", {"window": "w1"}, actor="t")
    # Not releases: no model, release_started not first, and no release_started at all.
    store.append("rel-no-model", "release_started", {"version": "3"}, actor="t")
    store.append("late-start", "check_result", {"check_id": "x", "status": "PASS"}, actor="t")
    store.append("late-start", "release_started", {"model": "fraud"}, actor="t")
    store.append("adhoc", "check_result", {"check_id": "y", "status": "FAIL"}, actor="t")
    # Matches the LIKE pattern 'monitor__%' unless the prefix is escaped.
    store.append("monitorXYfraud", "monitoring_window", {"window": "w1"}, actor="t")
    return store


def _chains(store: EvidenceStore, *release_ids: str) -> dict[str, list[object]]:
    return {release_id: list(store.records(release_id)) for release_id in release_ids}


def test_history_of_one_model(store: EvidenceStore) -> None:
    history = load_history(store, model="fraud")
    assert list(history.releases) == ["rel-fraud-1", "rel-fraud-2"]  # oldest chain first
    assert history.releases == _chains(store, "rel-fraud-1", "rel-fraud-2")
    assert history.monitoring == _chains(store, "monitor__fraud")
    assert [r.kind for r in history.monitor_records("fraud")] == ["monitoring_window", "incident"]
    assert history.models() == ["fraud"]


def test_history_of_every_model(store: EvidenceStore) -> None:
    history = load_history(store)
    assert list(history.releases) == ["rel-fraud-1", "rel-churn-1", "rel-fraud-2"]
    assert history.releases == _chains(store, "rel-fraud-1", "rel-churn-1", "rel-fraud-2")
    assert list(history.monitoring) == ["monitor__fraud", "monitor__churn"]
    assert history.monitoring == _chains(store, "monitor__fraud", "monitor__churn")
    assert history.models() == ["churn", "fraud"]


def test_history_of_a_model_without_evidence(store: EvidenceStore) -> None:
    history = load_history(store, model="nobody")
    assert history.releases == {} and history.monitoring == {}
    assert history.monitor_records("nobody") == []


def _insert_unreadable(store: EvidenceStore, release_id: str) -> None:
    """Act as a database writer with full rights (the store's triggers off, the seal no obstacle): a
    record whose payload is not JSON, at the chain's next seq."""
    head = store.chain(release_id)
    payload = "{not json"
    fields = {
        "release_id": release_id,
        "seq": head.head_seq + 1,
        "kind": "check_result",
        "recorded_at": "2026-01-01T00:00:00.000000+00:00",
        "actor": "intruder",
        "payload_sha256": sha256_text(payload),
        "prev_hash": head.head_hash,
    }
    with store.engine.begin() as conn:
        switch_off_guards(conn)
        conn.execute(
            text(
                "INSERT INTO release_gates_evidence"
                " (release_id, seq, kind, recorded_at, actor, payload, payload_sha256, prev_hash, hash)"
                " VALUES (:release_id, :seq, :kind, :recorded_at, :actor, :payload, :payload_sha256,"
                " :prev_hash, :hash)"
            ),
            {**fields, "payload": payload, "hash": record_hash(**fields)},
        )


@pytest.mark.parametrize(
    ("chain", "model"),
    [("rel-fraud-2", "fraud"), ("rel-fraud-2", None), ("monitor__fraud", "fraud"), ("monitor__churn", None)],
)
def test_unreadable_payload_is_reported_as_the_store_reports_it(
    store: EvidenceStore, chain: str, model: str | None
) -> None:
    _insert_unreadable(store, chain)
    with pytest.raises(EvidenceError) as from_records:
        store.records(chain)
    with pytest.raises(EvidenceError) as from_history:
        load_history(store, model=model)
    assert str(from_history.value) == str(from_records.value)
    assert f"record {chain}#" in str(from_history.value) and "unreadable payload" in str(from_history.value)


def test_unreadable_payload_of_another_model_does_not_stop_this_one(store: EvidenceStore) -> None:
    _insert_unreadable(store, "rel-fraud-2")
    history = load_history(store, model="churn")
    assert list(history.releases) == ["rel-churn-1"]
    assert list(history.monitoring) == ["monitor__churn"]
