"""Every way someone with database access could rewrite the trail, on SQLite and PostgreSQL.

Each attack runs on a sealed release chain whose seal carries a checkpoint signed by a key the
database never sees. The attacker has full rights over the database — on SQLite the file, on
PostgreSQL a superuser with triggers switched off (``session_replication_role = replica``) — but not
the signing key. ``verify`` with the trusted public key must fail and name what happened.

Without full rights — the runtime role on PostgreSQL, or any plain connection on SQLite — the
database itself refuses: records after a seal, records that do not extend the chain, changes to
chains and checkpoints; on PostgreSQL the runtime role may only INSERT and SELECT.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text

from release_gates.evidence import EvidenceStore, verify_bundle
from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.evidence.checkpoints import sign_checkpoint
from release_gates.evidence.migrate import OWNER_ROLE, lock_down_postgres
from release_gates.evidence.signing import PublicKeys, SigningKey
from release_gates.exceptions import EvidenceSealedError
from tests.integration.evidence_support import switch_off_guards

pytestmark = pytest.mark.integration

RELEASE = "rel-tamper"
SIGNER = SigningKey.generate()
TRUSTED = PublicKeys({SIGNER.key_id: SIGNER.public_key})


def _sealed_chain(url: str) -> EvidenceStore:
    store = EvidenceStore(url, signer=SIGNER)
    store.migrate()
    store.append(RELEASE, "release_started", {"model": "m"}, actor="t")
    for i in range(5):
        store.append(RELEASE, "check_result", {"check_id": f"c{i}", "status": "PASS"}, actor="t")
    store.append(RELEASE, "release_sealed", {"decision": "released"}, actor="t")
    report = store.verify(RELEASE, keys=TRUSTED)
    assert report.ok and report.sealed and report.signatures == "verified", report
    return store


@contextmanager
def _superuser(store: EvidenceStore) -> Iterator[Connection]:
    """Full rights: the file's owner (SQLite: triggers dropped) or a superuser with triggers off."""
    with store.engine.begin() as conn:
        switch_off_guards(conn)
        yield conn


def _rows(conn: Connection) -> list[dict[str, Any]]:
    result = conn.execute(
        text("SELECT * FROM release_gates_evidence WHERE release_id = :r ORDER BY seq"), {"r": RELEASE}
    )
    return [dict(row._mapping) for row in result]


def _rewrite(conn: Connection, edit: Callable[[int, dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite every record with recomputed digests and hashes: a chain consistent in itself."""
    prev = GENESIS_HASH
    for row in _rows(conn):
        payload = edit(row["seq"], json.loads(row["payload"]))
        text_ = canonical_json(payload)
        fields = {
            "release_id": RELEASE,
            "seq": row["seq"],
            "kind": row["kind"],
            "recorded_at": row["recorded_at"],
            "actor": row["actor"],
            "payload_sha256": sha256_text(text_),
            "prev_hash": prev,
        }
        digest = record_hash(**fields)
        conn.execute(
            text(
                "UPDATE release_gates_evidence SET payload = :p, payload_sha256 = :s, prev_hash = :prev, "
                "hash = :h WHERE release_id = :r AND seq = :seq"
            ),
            {
                "p": text_,
                "s": fields["payload_sha256"],
                "prev": prev,
                "h": digest,
                "r": RELEASE,
                "seq": row["seq"],
            },
        )
        prev = digest


def _failing(decision: str) -> Callable[[int, dict[str, Any]], dict[str, Any]]:
    return lambda seq, payload: {**payload, "status": "PASS"} if seq != 3 else {**payload, "status": decision}


def _edit(conn: Connection) -> None:
    forged = canonical_json({"check_id": "c1", "status": "FAIL"})
    conn.execute(
        text("UPDATE release_gates_evidence SET payload = :p WHERE release_id = :r AND seq = 3"),
        {"p": forged, "r": RELEASE},
    )


def _delete(conn: Connection) -> None:
    conn.execute(text("DELETE FROM release_gates_evidence WHERE release_id = :r AND seq = 3"), {"r": RELEASE})


def _reorder(conn: Connection) -> None:
    for old, new in ((4, -1), (5, 4), (-1, 5)):
        conn.execute(
            text("UPDATE release_gates_evidence SET seq = :new WHERE release_id = :r AND seq = :old"),
            {"r": RELEASE, "old": old, "new": new},
        )


def _insert(conn: Connection) -> None:
    third = _rows(conn)[2]
    conn.execute(text("DELETE FROM release_gates_evidence WHERE release_id = :r AND seq = 4"), {"r": RELEASE})
    payload = canonical_json({"check_id": "forged", "status": "PASS"})
    fields = {"release_id": RELEASE, "seq": 4, "kind": "check_result", "recorded_at": third["recorded_at"],
              "actor": "t", "payload_sha256": sha256_text(payload), "prev_hash": third["hash"]}  # fmt: skip
    conn.execute(
        text(
            "INSERT INTO release_gates_evidence (release_id, seq, kind, recorded_at, actor, payload, "
            "payload_sha256, prev_hash, hash) VALUES (:release_id, :seq, :kind, :recorded_at, :actor, "
            ":payload, :payload_sha256, :prev_hash, :hash)"
        ),
        {**fields, "payload": payload, "hash": record_hash(**fields)},
    )


def _truncate_tail(conn: Connection) -> None:
    """Cut the last records, the seal with them: the head is simply the last record left."""
    conn.execute(
        text("DELETE FROM release_gates_evidence WHERE release_id = :r AND seq >= 6"), {"r": RELEASE}
    )


def _rewrite_all(conn: Connection) -> None:
    _rewrite(conn, _failing("FAIL"))


def _rewrite_and_drop_checkpoints(conn: Connection) -> None:
    _rewrite(conn, _failing("FAIL"))
    conn.execute(text("DELETE FROM release_gates_checkpoint WHERE release_id = :r"), {"r": RELEASE})


def _rewrite_and_sign_with_own_key(conn: Connection) -> None:
    _rewrite(conn, _failing("FAIL"))
    conn.execute(text("DELETE FROM release_gates_checkpoint WHERE release_id = :r"), {"r": RELEASE})
    seal = _rows(conn)[-1]
    forged = sign_checkpoint(
        RELEASE, seal["seq"], seal["hash"], seal["kind"], SigningKey.generate(), signed_at="x"
    )
    conn.execute(
        text(
            "INSERT INTO release_gates_checkpoint (release_id, seq, record_hash, record_kind, key_id, "
            "signature, signed_at) VALUES (:release_id, :seq, :record_hash, :record_kind, :key_id, "
            ":signature, :signed_at)"
        ),
        forged.to_row(),
    )


ATTACKS: dict[str, tuple[Callable[[Connection], None], str]] = {
    "edit": (_edit, "#3 (check_result) payload was edited"),
    "delete": (_delete, "record #3 is missing"),
    "reorder": (_reorder, "record #4"),
    "insert": (_insert, "prev_hash mismatch"),
    "truncate_tail_and_rewind_head": (_truncate_tail, "records at the end were deleted (truncated)"),
    "full_rewrite_with_recomputed_hashes": (
        _rewrite_all,
        "the sealed chain was unsealed and extended, or rewritten",
    ),
    "full_rewrite_and_checkpoints_dropped": (
        _rewrite_and_drop_checkpoints,
        "the seal (#7) carries no valid signed",
    ),
    "full_rewrite_signed_with_another_key": (_rewrite_and_sign_with_own_key, "not among the trusted keys"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attacker_with_full_database_rights_is_caught_by_verify(evidence_url: str, attack: str) -> None:
    store = _sealed_chain(evidence_url)
    tamper, named = ATTACKS[attack]
    with _superuser(store) as conn:
        tamper(conn)
    report = store.verify(RELEASE, keys=TRUSTED)
    assert not report.ok, f"{attack} verified OK"
    assert any(named in problem for problem in report.problems), report.problems


def test_a_sealed_chain_unsealed_and_extended_fails_verify(evidence_url: str) -> None:
    store = _sealed_chain(evidence_url)
    with _superuser(store) as conn:
        conn.execute(text("DELETE FROM release_gates_evidence WHERE kind = 'release_sealed'"))
    store.signer = None  # the insider has no key: the store appends, it cannot sign
    store.append(RELEASE, "check_result", {"check_id": "late", "status": "PASS"}, actor="insider")
    report = store.verify(RELEASE, keys=TRUSTED)
    assert not report.ok
    assert "checkpoint of #7" in report.problem and "unsealed and extended" in report.problem


def test_without_the_public_key_the_links_are_still_checked_and_the_report_says_so(evidence_url: str) -> None:
    store = _sealed_chain(evidence_url)
    assert store.verify(RELEASE).signatures == "unchecked"
    assert "NOT checked" in str(store.verify(RELEASE))
    with _superuser(store) as conn:
        _truncate_tail(conn)
    assert not store.verify(RELEASE).ok  # a cut tail shows even without the key


def test_the_database_refuses_records_after_the_seal_and_records_that_do_not_extend_the_chain(
    evidence_url: str,
) -> None:
    store = _sealed_chain(evidence_url)
    with pytest.raises(EvidenceSealedError):
        store.append(RELEASE, "check_result", {"late": True})
    last = store.records(RELEASE)[-1]
    insert = (
        "INSERT INTO release_gates_evidence (release_id, seq, kind, recorded_at, actor, payload, "
        "payload_sha256, prev_hash, hash) VALUES (:r, :seq, 'check_result', 'x', 'x', '{}', 'x', :prev, 'x')"
    )
    with pytest.raises(Exception, match="sealed"), store.engine.begin() as conn:  # SQL around the store
        conn.execute(text(insert), {"r": RELEASE, "seq": last.seq + 1, "prev": last.hash})
    store.append("rel-open", "release_started", {"model": "m"})
    head = store.records("rel-open")[-1]
    for seq, prev in ((head.seq + 2, head.hash), (head.seq + 1, "0" * 64), (head.seq, head.hash)):
        with pytest.raises(Exception, match=r"extend its chain|UNIQUE|unique"), store.engine.begin() as conn:
            conn.execute(text(insert), {"r": "rel-open", "seq": seq, "prev": prev})
    for statement in (
        "UPDATE release_gates_chain SET created_at = 'x'",
        "DELETE FROM release_gates_chain WHERE release_id = 'rel-open'",
        "UPDATE release_gates_checkpoint SET signature = 'x'",
        "DELETE FROM release_gates_checkpoint",
    ):
        with pytest.raises(Exception, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
    assert store.verify(RELEASE, keys=TRUSTED).ok


def test_a_signed_bundle_verifies_offline_and_any_change_fails(evidence_url: str, tmp_path: Path) -> None:
    store = _sealed_chain(evidence_url)
    path = store.export_to(RELEASE, tmp_path / "bundle.json")
    assert verify_bundle(path, keys=TRUSTED).ok
    bundle = json.loads(path.read_text())
    bundle["records"][2]["payload"]["status"] = "FAIL"
    assert not verify_bundle(bundle, keys=TRUSTED).ok
    unsigned = {**json.loads(path.read_text()), "checkpoints": []}
    report = verify_bundle(unsigned, keys=TRUSTED)
    assert not report.ok and "carries no valid signed checkpoint" in report.problem
    other = PublicKeys({SigningKey.generate().key_id: SigningKey.generate().public_key})
    assert not verify_bundle(path, keys=other).ok


def test_long_chains_are_checkpointed_every_n_records(sqlite_url: str) -> None:
    store = EvidenceStore(sqlite_url, signer=SIGNER, checkpoint_every=10)
    for i in range(35):
        store.append("monitor__m", "monitoring_window", {"i": i})
    assert [c.seq for c in store.checkpoints("monitor__m")] == [10, 20, 30]
    assert store.verify("monitor__m", keys=TRUSTED).ok
    with _superuser(store) as conn:
        conn.execute(text("DELETE FROM release_gates_evidence WHERE release_id = 'monitor__m' AND seq > 25"))
    report = store.verify("monitor__m", keys=TRUSTED)
    assert not report.ok and "checkpoint of #30" in report.problem


# -- PostgreSQL: the runtime role may only INSERT and SELECT -----------------------------------------


@pytest.fixture
def runtime_url(postgres_url: str) -> Iterator[str]:
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rg_runtime') "
            "THEN CREATE ROLE rg_runtime LOGIN PASSWORD 'runtime-pw'; END IF; END $$"
        )
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {admin.url.database} TO rg_runtime")
    store = _sealed_chain(postgres_url)
    lock_down_postgres(store.engine, "rg_runtime")
    store.dispose()
    admin.dispose()
    yield postgres_url.replace("postgres:@", "rg_runtime:runtime-pw@", 1)


def test_the_runtime_role_appends_and_reads_but_can_change_nothing(runtime_url: str) -> None:
    store = EvidenceStore(runtime_url, signer=SIGNER)
    store.append("rel-runtime", "release_started", {"model": "m"})
    store.append("rel-runtime", "release_sealed", {"decision": "held"})
    assert store.verify("rel-runtime", keys=TRUSTED).ok
    assert store.verify(RELEASE, keys=TRUSTED).ok
    refused = {
        "UPDATE": "UPDATE release_gates_evidence SET payload = '{}'",
        "DELETE": "DELETE FROM release_gates_evidence",
        "TRUNCATE": "TRUNCATE release_gates_evidence",
        "UPDATE chain": "UPDATE release_gates_chain SET created_at = 'x'",
        "DELETE checkpoint": "DELETE FROM release_gates_checkpoint",
        "ALTER": "ALTER TABLE release_gates_evidence ADD COLUMN x int",
        "DROP TRIGGER": "DROP TRIGGER release_gates_evidence_extends ON release_gates_evidence",
        "DISABLE TRIGGER": "ALTER TABLE release_gates_evidence DISABLE TRIGGER ALL",
        "DROP TABLE": "DROP TABLE release_gates_checkpoint",
        "become owner": f"SET ROLE {OWNER_ROLE}",
    }
    for what, statement in refused.items():
        denied = r"permission denied|must be owner|must be member"
        with pytest.raises(Exception, match=denied), store.engine.begin() as conn:
            conn.execute(text(statement))
        assert store.verify(RELEASE, keys=TRUSTED).ok, what
    store.dispose()


def test_lock_down_refuses_a_superuser_as_the_runtime_role(postgres_url: str) -> None:
    store = _sealed_chain(postgres_url)
    with pytest.raises(ValueError, match="superuser"):
        lock_down_postgres(store.engine, "postgres")
    with pytest.raises(ValueError, match="does not exist"):
        lock_down_postgres(store.engine, "nobody_here")
