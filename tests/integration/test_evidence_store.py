"""The evidence store on embedded SQLite and on a real PostgreSQL server.

Every test here runs twice (``evidence_url`` is parametrized over both backends).
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from release_gates.evidence import (
    EvidenceError,
    EvidenceNotFoundError,
    EvidenceSealedError,
    EvidenceStore,
    verify_bundle,
)
from release_gates.evidence.migrate import current_revision, downgrade, head_revision, upgrade
from tests.integration.evidence_support import switch_off_guards

pytestmark = pytest.mark.integration

WRITERS = 8
APPENDS_PER_WRITER = 200


def _store(url: str) -> EvidenceStore:
    store = EvidenceStore(url)
    store.migrate()
    return store


def _fill(store: EvidenceStore, release_id: str, n: int) -> None:
    for i in range(n):
        store.append(release_id, "check_result", {"check_id": f"c{i}", "status": "PASS", "n": i}, actor="t")


def _writer(url: str, release_id: str, writer: int, count: int) -> None:
    store = EvidenceStore(url)
    for i in range(count):
        store.append(release_id, "check_result", {"writer": writer, "i": i}, actor=f"writer-{writer}")
    store.dispose()


def _disable_append_only_guard(store: EvidenceStore) -> None:
    """Act as a DBA with full rights: switch off the triggers that refuse UPDATE/DELETE and records
    that do not extend the chain (more such attacks: test_evidence_tamper_matrix.py)."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            switch_off_guards(conn)
        else:  # for every later transaction too
            conn.exec_driver_sql("ALTER TABLE release_gates_evidence DISABLE TRIGGER USER")


def _sql(store: EvidenceStore, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_concurrent_writers_never_fork_or_lose_the_chain(evidence_url: str) -> None:
    store = _store(evidence_url)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_writer, args=(evidence_url, "rel-concurrent", w, APPENDS_PER_WRITER))
        for w in range(WRITERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=300)
        assert proc.exitcode == 0, f"writer process exited with {proc.exitcode}"

    records = store.records("rel-concurrent")
    assert len(records) == WRITERS * APPENDS_PER_WRITER
    assert [r.seq for r in records] == list(range(1, WRITERS * APPENDS_PER_WRITER + 1))
    # Every writer's appends all landed, in that writer's order.
    for w in range(WRITERS):
        mine = [r.payload["i"] for r in records if r.payload["writer"] == w]
        assert mine == list(range(APPENDS_PER_WRITER))
    report = store.verify("rel-concurrent")
    assert report.ok, report.problems
    assert report.records == 1600


def test_chains_are_independent_and_ordered(evidence_url: str) -> None:
    store = _store(evidence_url)
    first = store.append("rel-a", "release_started", {"model": "m"})
    store.append("rel-b", "release_started", {"model": "m"})
    second = store.append("rel-a", "check_result", {"status": "FAIL"})
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash
    assert first.prev_hash == "0" * 64
    assert [r.kind for r in store.records("rel-a")] == ["release_started", "check_result"]
    assert store.records("rel-a", kind="check_result")[0].payload == {"status": "FAIL"}
    assert {c.release_id for c in store.chains()} == {"rel-a", "rel-b"}
    assert store.verify("rel-a").ok and store.verify("rel-b").ok


def test_database_refuses_update_and_delete(evidence_url: str) -> None:
    store = _store(evidence_url)
    _fill(store, "rel-guard", 3)
    for statement in (
        "UPDATE release_gates_evidence SET payload = '{}' WHERE seq = 2",
        "DELETE FROM release_gates_evidence WHERE seq = 2",
    ):
        with pytest.raises(Exception, match="append-only"):
            _sql(store, statement)
    assert store.verify("rel-guard").ok


def test_edited_payload_is_located(evidence_url: str) -> None:
    store = _store(evidence_url)
    _fill(store, "rel-edit", 10)
    _disable_append_only_guard(store)
    _sql(
        store,
        "UPDATE release_gates_evidence SET payload = :p WHERE release_id = 'rel-edit' AND seq = 6",
        p=json.dumps({"check_id": "c5", "n": 5, "status": "FAIL"}),
    )
    report = store.verify("rel-edit")
    assert not report.ok
    assert report.first_bad_seq == 6
    assert "#6" in report.problem and "payload was edited" in report.problem


def test_edited_payload_with_recomputed_digest_still_breaks_the_chain(evidence_url: str) -> None:
    import hashlib

    store = _store(evidence_url)
    _fill(store, "rel-edit2", 5)
    _disable_append_only_guard(store)
    forged = '{"check_id":"c2","n":2,"status":"FAIL"}'
    _sql(
        store,
        "UPDATE release_gates_evidence SET payload = :p, payload_sha256 = :s WHERE seq = 3",
        p=forged,
        s=hashlib.sha256(forged.encode()).hexdigest(),
    )
    report = store.verify("rel-edit2")
    assert report.first_bad_seq == 3
    assert "hash does not match" in report.problem


def test_deleted_record_is_located(evidence_url: str) -> None:
    store = _store(evidence_url)
    _fill(store, "rel-del", 10)
    _disable_append_only_guard(store)
    _sql(store, "DELETE FROM release_gates_evidence WHERE release_id = 'rel-del' AND seq = 4")
    report = store.verify("rel-del")
    assert not report.ok
    assert report.first_bad_seq == 4
    assert "#4 is missing" in report.problem


def test_swapped_records_are_located(evidence_url: str) -> None:
    store = _store(evidence_url)
    _fill(store, "rel-swap", 8)
    _disable_append_only_guard(store)
    for old, new in ((5, -1), (6, 5), (-1, 6)):
        _sql(
            store,
            "UPDATE release_gates_evidence SET seq = :new WHERE release_id = 'rel-swap' AND seq = :old",
            old=old,
            new=new,
        )
    report = store.verify("rel-swap")
    assert not report.ok
    assert report.first_bad_seq == 5


def test_inserted_record_is_located(evidence_url: str) -> None:
    """A forger replaces #4 with a self-consistent record; the chain breaks where #5 follows it."""
    from release_gates.evidence.canonical import canonical_json, record_hash, sha256_text

    store = _store(evidence_url)
    _fill(store, "rel-ins", 6)
    third = store.records("rel-ins")[2]
    _disable_append_only_guard(store)
    _sql(store, "DELETE FROM release_gates_evidence WHERE release_id = 'rel-ins' AND seq = 4")
    payload = canonical_json({"check_id": "forged", "status": "PASS"})
    fields = {
        "release_id": "rel-ins",
        "seq": 4,
        "kind": "check_result",
        "recorded_at": third.recorded_at,
        "actor": "t",
        "payload_sha256": sha256_text(payload),
        "prev_hash": third.hash,
    }
    _sql(
        store,
        "INSERT INTO release_gates_evidence"
        " (release_id, seq, kind, recorded_at, actor, payload, payload_sha256, prev_hash, hash)"
        " VALUES (:release_id, :seq, :kind, :recorded_at, :actor, :payload, :payload_sha256,"
        " :prev_hash, :hash)",
        payload=payload,
        hash=record_hash(**fields),
        **fields,
    )
    report = store.verify("rel-ins")
    assert not report.ok
    assert report.first_bad_seq == 5
    assert "prev_hash mismatch" in report.problem


def test_export_verifies_offline_and_detects_bundle_tampering(evidence_url: str, tmp_path: Path) -> None:
    store = _store(evidence_url)
    _fill(store, "rel-export", 12)
    store.append("rel-export", "release_sealed", {"decision": "released"})
    path = store.export_to("rel-export", tmp_path / "bundle.json")
    store.dispose()

    report = verify_bundle(path)  # no database involved from here on
    assert report.ok and report.records == 13 and report.sealed

    bundle = json.loads(path.read_text())
    bundle["records"][7]["payload"]["status"] = "FAIL"
    report = verify_bundle(bundle)
    assert not report.ok and report.first_bad_seq == 8

    bundle = json.loads(path.read_text())
    del bundle["records"][2]
    report = verify_bundle(bundle)
    assert report.first_bad_seq == 3 and "missing" in report.problem


def test_sealed_chain_takes_no_more_records(evidence_url: str) -> None:
    store = _store(evidence_url)
    store.append("rel-seal", "release_started", {})
    store.append("rel-seal", "release_sealed", {"decision": "held"})
    with pytest.raises(EvidenceSealedError, match="sealed"):
        store.append("rel-seal", "check_result", {})
    assert store.count("rel-seal") == 2
    assert store.chain("rel-seal").sealed_at is not None


def test_bad_payloads_are_refused_and_nothing_is_written(evidence_url: str) -> None:
    store = _store(evidence_url)
    store.append("rel-bad", "release_started", {})
    with pytest.raises(EvidenceError, match="not JSON-safe"):
        store.append("rel-bad", "check_result", {"rate": float("nan")})
    with pytest.raises(EvidenceError, match="not JSON-safe"):
        store.append("rel-bad", "check_result", {"when": object()})
    with pytest.raises(EvidenceError, match="limit"):
        store.append("rel-bad", "check_result", {"rows": "x" * (1024 * 1024 + 1)})
    with pytest.raises(EvidenceError, match="lower_snake_case"):
        store.append("rel-bad", "Check Result", {})
    assert store.count("rel-bad") == 1
    assert store.verify("rel-bad").ok


def test_unknown_release(evidence_url: str) -> None:
    store = _store(evidence_url)
    with pytest.raises(EvidenceNotFoundError):
        store.verify("nope")


def test_migrations_run_from_empty_to_head_and_back(evidence_url: str) -> None:
    store = EvidenceStore(evidence_url)
    assert current_revision(store.engine) is None
    upgrade(store.engine)
    assert current_revision(store.engine) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"release_gates_chain", "release_gates_evidence", "release_gates_alembic_version"} <= tables
    upgrade(store.engine)  # idempotent
    downgrade(store.engine, "base")
    assert not {"release_gates_chain", "release_gates_evidence"} & set(
        inspect(store.engine).get_table_names()
    )
    upgrade(store.engine)
    store.append("rel-mig", "release_started", {})
    assert store.verify("rel-mig").ok


def test_first_append_creates_the_schema(evidence_url: str) -> None:
    store = EvidenceStore(evidence_url)
    store.append("rel-lazy", "release_started", {"x": 1})
    assert current_revision(store.engine) == head_revision()


def test_an_unflushed_append_commits_and_leaves_the_next_one_durable(evidence_url: str) -> None:
    """``durable=False`` (a drill's end) commits like any append and does not leak into later ones."""
    store = EvidenceStore(evidence_url)
    store.append("c", "note", {"n": 1})
    setting = "PRAGMA synchronous" if store.engine.dialect.name == "sqlite" else "SHOW synchronous_commit"

    def current() -> str:
        with store.engine.connect() as conn:
            return str(conn.exec_driver_sql(setting).scalar_one())

    before = current()
    written = store.append_all_if_head(
        "c",
        [("drill_finished", {"n": 2}, None), ("lease_released", {"n": 3}, None)],
        expected_seq=1,
        durable=False,
    )
    assert [r.seq for r in written] == [2, 3]
    assert current() == before and before in {"2", "3", "on"}  # FULL/EXTRA on SQLite, on in PostgreSQL
    assert [r.kind for r in store.records("c")] == ["note", "drill_finished", "lease_released"]
    assert store.verify("c").ok


def test_several_records_in_one_transaction_chain_and_stop_at_a_seal(evidence_url: str) -> None:
    """The records after the first take their head from the one just written (no re-read): each
    links to the one before, the chain verifies, and a record after a seal in the same batch is
    refused with the whole batch."""
    store = EvidenceStore(evidence_url)
    store.append("b", "note", {"n": 1})
    written = store.append_all_if_head(
        "b", [("note", {"n": 2}, None), ("note", {"n": 3}, "x"), ("note", {"n": 4}, None)], expected_seq=1
    )
    assert [r.seq for r in written] == [2, 3, 4]
    assert [r.prev_hash for r in written[1:]] == [r.hash for r in written[:-1]]
    assert store.verify("b").ok
    with pytest.raises(EvidenceSealedError):
        store.append_all_if_head(
            "b", [("release_sealed", {}, None), ("note", {"n": 5}, None)], expected_seq=4
        )
    assert [r.seq for r in store.records("b")] == [1, 2, 3, 4]  # nothing of the refused batch
