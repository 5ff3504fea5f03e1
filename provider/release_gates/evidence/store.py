"""Append-only, hash-chained evidence store on SQLAlchemy 2 (SQLite embedded, PostgreSQL in production).

One chain per release run. Appends to a chain are serialized so that concurrent writers (parallel
check tasks on several workers) never fork it or lose a record:

* PostgreSQL: a transaction-scoped advisory lock keyed by the chain;
* SQLite: every write transaction starts with ``BEGIN IMMEDIATE`` (one writer at a time, readers
  unaffected in WAL mode; see :mod:`.engine`).

A unique ``(release_id, seq)`` makes a writer that bypassed the lock fail instead of forking a chain.

:meth:`EvidenceStore.verify` recomputes the chain and names the first bad record; an exported bundle
verifies offline with :func:`release_gates.evidence.verify.verify_bundle`.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, OperationalError

from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.evidence.engine import make_engine
from release_gates.evidence.record import EvidenceRecord
from release_gates.evidence.schema import chains, checkpoints, records
from release_gates.evidence.verify import VerifyReport, verify_records
from release_gates.exceptions import EvidenceError, EvidenceNotFoundError, EvidenceSealedError

if TYPE_CHECKING:
    from release_gates.evidence.checkpoints import Checkpoint
    from release_gates.evidence.signing import PublicKeys, SigningKey
    from release_gates.evidence.transaction import ChainTransaction

log = logging.getLogger(__name__)

ENV_URL = "RELEASE_GATES_EVIDENCE_URL"
MAX_PAYLOAD_BYTES = 1024 * 1024
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

#: Record kinds written by the provider. Other lower_snake_case kinds are accepted for extensions.
RECORD_KINDS = (
    "release_started",
    "model_scored",
    "check_result",
    "gate_decision",
    "remediation_item",
    "notification",
    "human_decision",
    "waiver_applied",
    "promotion",
    "rollback",
    "report",
    # The policy's text (credentials masked) as the seal's report read it; the start step records it
    # inside release_started (release_gates.evidence.snapshot).
    "policy_snapshot",
    "release_sealed",
    # One chain per monitored model, ``monitor__<model>`` (release_gates.monitoring).
    "monitoring_window",
    "incident",
    "acknowledgement",
    "monitoring_state",  # the chain folded up to a record (release_gates.monitoring.snapshot)
    # One chain per deployment target, ``target__<key>`` (release_gates.deploy.target_journal):
    # who holds the target, and every rollback drill's intent and end.
    "lease_acquired",
    "lease_released",
    "drill_started",
    "drill_finished",
    "drill_recovered",
)


class EvidenceHeadMovedError(EvidenceError):
    """A conditional append found the chain's head past the seq it was told to expect."""


def default_url() -> str:
    """``$RELEASE_GATES_EVIDENCE_URL``, else a SQLite file under ``$AIRFLOW_HOME`` (``~/airflow``)."""
    if url := os.environ.get(ENV_URL):
        return url
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow")
    return f"sqlite:///{home / 'release_gates_evidence.db'}"


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def record_from_row(row: Row[Any]) -> EvidenceRecord:
    """A stored row as a record; an unreadable payload is an EvidenceError naming the record."""
    try:
        payload = json.loads(row.payload)
    except ValueError as exc:
        raise EvidenceError(
            f"record {row.release_id}#{row.seq} has an unreadable payload; run `release-gates evidence "
            f"verify {row.release_id}`"
        ) from exc
    return EvidenceRecord(
        release_id=row.release_id,
        seq=row.seq,
        kind=row.kind,
        recorded_at=row.recorded_at,
        actor=row.actor,
        payload=payload,
        payload_sha256=row.payload_sha256,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def release_model(chain: Iterable[EvidenceRecord]) -> str | None:
    """The model a release chain is of: ``model`` of its first record, when that is ``release_started``."""
    for record in chain:
        if record.kind == "release_started":
            model = record.payload.get("model")
            return str(model) if model else None
        return None
    return None


@dataclass(frozen=True)
class ChainInfo:
    release_id: str
    head_seq: int
    head_hash: str
    created_at: str
    sealed_at: str | None


# Built once: constructing statements per append costs more CPU than executing them.
_LAST_RECORD = (
    select(records.c.seq, records.c.hash, records.c.kind, records.c.recorded_at)
    .where(records.c.release_id == bindparam("rid"))
    .order_by(records.c.seq.desc())
    .limit(1)
)
_INSERT_CHAIN = insert(chains)
_INSERT_RECORD = insert(records)
_INSERT_CHECKPOINT = insert(checkpoints)
# PostgreSQL: appends to one chain queue on a transaction-scoped advisory lock keyed by the chain
# (a row lock would need UPDATE, which the runtime role does not have).
_PG_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:rid, 7203114551))")


def _head_columns() -> tuple[Any, ...]:
    """A chain's head, derived: its last record's seq and hash, and when it was sealed."""
    last = (
        select(records.c.seq, records.c.hash)
        .where(records.c.release_id == chains.c.release_id)
        .order_by(records.c.seq.desc())
        .limit(1)
    )
    sealed = (
        select(records.c.recorded_at)
        .where(records.c.release_id == chains.c.release_id, records.c.kind == "release_sealed")
        .order_by(records.c.seq)
        .limit(1)
    )
    return (
        chains.c.release_id,
        func.coalesce(last.with_only_columns(records.c.seq).scalar_subquery(), 0).label("head_seq"),
        func.coalesce(last.with_only_columns(records.c.hash).scalar_subquery(), GENESIS_HASH).label(
            "head_hash"
        ),
        chains.c.created_at,
        sealed.scalar_subquery().label("sealed_at"),
    )


class EvidenceStore:
    """Append-only evidence trail. Thread- and process-safe; one instance per process is enough.

    >>> store = EvidenceStore("sqlite:///evidence.db")   # doctest: +SKIP
    >>> store.migrate()                                    # doctest: +SKIP
    >>> store.append("rel-1", "release_started", {"model": "m", "version": "3"})  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: Engine | None = None,
        signer: SigningKey | None = None,
        checkpoint_every: int = 100,
    ) -> None:
        self.url = url or default_url()
        self.engine = engine or make_engine(self.url)
        self._migrated = False
        #: Signs a checkpoint of the head with every seal and every ``checkpoint_every`` records (in
        #: the append's transaction); None: no checkpoints (``verify`` with keys then fails a seal).
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        #: Called before the first append, until it succeeds, to set ``signer`` and ``checkpoint_every``
        #: (the operators' key lookup: a task that only reads never looks the key up).
        self.signing_setup: Callable[[EvidenceStore], None] | None = None

    def __repr__(self) -> str:
        # repr() reaches logs, CLI output and report sources: the password and password-like query
        # parameters (sslpassword, token …) are masked by the one rule for URLs.
        from release_gates.datasets import mask_password

        return f"EvidenceStore({mask_password(self.engine.url.render_as_string(hide_password=False))!r})"

    # -- schema -------------------------------------------------------------------------------------

    def migrate(self, revision: str = "head") -> None:
        """Create or upgrade the schema (Alembic). Idempotent and safe to call from many processes."""
        from release_gates.evidence.migrate import upgrade

        upgrade(self.engine, revision)
        self._migrated = True

    def ensure_schema(self) -> None:
        if not self._migrated:
            from release_gates.evidence.migrate import is_at_head

            if not is_at_head(self.engine):
                self.migrate()
            self._migrated = True

    # -- writing ------------------------------------------------------------------------------------

    @staticmethod
    def payload_text(release_id: str, kind: str, payload: Mapping[str, Any]) -> str:
        """The canonical JSON a record of ``kind`` stores; :class:`EvidenceError` naming what is wrong."""
        if not release_id or len(release_id) > 250:
            raise EvidenceError("release_id must be 1–250 characters")
        if not _KIND.match(kind):
            raise EvidenceError(f"record kind {kind!r} must be lower_snake_case")
        try:
            text_ = canonical_json(dict(payload))
        except (TypeError, ValueError) as exc:
            raise EvidenceError(f"{kind} payload for {release_id} is not JSON-safe: {exc}") from exc
        if len(text_.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise EvidenceError(
                f"{kind} payload for {release_id} is {len(text_)} bytes (limit {MAX_PAYLOAD_BYTES}); "
                "store large outputs as artifacts and record their uri and sha256"
            )
        return text_

    @contextmanager
    def locked(self, release_id: str) -> Iterator[ChainTransaction]:
        """Read and append to ``release_id``'s chain with nobody else appending until the block ends
        (:mod:`release_gates.evidence.transaction`); everything it appended commits together."""
        from release_gates.evidence.transaction import ChainTransaction

        self.ensure_schema()
        self._set_up_signing()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_PG_CHAIN_LOCK, {"rid": release_id})
            yield ChainTransaction(
                conn,
                release_id,
                to_record=record_from_row,
                append=lambda kind, payload, actor: self.append_locked(
                    conn, release_id, kind, self.payload_text(release_id, kind, payload), actor
                ),
            )

    def append(
        self,
        release_id: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        actor: str | None = None,
        retries: int = 5,
    ) -> EvidenceRecord:
        """Append one record to ``release_id``'s chain (created on first append); returns it.

        Raises :class:`EvidenceSealedError` after ``release_sealed`` and :class:`EvidenceError` when
        the payload is not JSON-safe or too large. Transient lock/connection errors are retried.
        """
        payload_text = self.payload_text(release_id, kind, payload)
        self.ensure_schema()
        self._set_up_signing()
        for attempt in range(retries + 1):
            try:
                with self.engine.begin() as conn:
                    return self.append_locked(conn, release_id, kind, payload_text, actor)
            except (OperationalError, IntegrityError) as exc:
                # IntegrityError: two writers created the same new chain at once; OperationalError:
                # lock timeout or a dropped connection. Both leave nothing written: retry.
                if attempt == retries:
                    raise EvidenceError(
                        f"could not append {kind} to {release_id} after {retries + 1} attempts: {exc}"
                    ) from exc
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def append_if_head(
        self,
        release_id: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        expected_seq: int,
        actor: str | None = None,
    ) -> EvidenceRecord:
        """Append only if the chain's head is still at ``expected_seq`` (0: no chain yet).

        The check and the write happen under the chain's lock, so of two writers that read the same
        head only one succeeds; the other gets :class:`EvidenceHeadMovedError`, reads again and decides
        again (how a lease on a deployment target is taken).
        """
        return self.append_all_if_head(release_id, [(kind, payload, actor)], expected_seq=expected_seq)[0]

    def append_all_if_head(
        self,
        release_id: str,
        entries: Sequence[tuple[str, Mapping[str, Any], str | None]],
        *,
        expected_seq: int,
        durable: bool = True,
    ) -> list[EvidenceRecord]:
        """:meth:`append_if_head` for several records ``(kind, payload, actor)``, in one transaction:
        all of them follow ``expected_seq`` in order, or none is written.

        ``durable=False`` commits without waiting for this transaction's own flush to disk (SQLite
        ``synchronous=NORMAL`` in WAL mode, PostgreSQL ``synchronous_commit=off``): a killed process
        loses nothing; a power cut may lose it — but never a later durable commit to this database,
        which flushes it along (both logs are sequential). Only for records whose loss is safe.
        """
        texts = [self.payload_text(release_id, kind, payload) for kind, payload, _actor in entries]
        self.ensure_schema()
        self._set_up_signing()
        for attempt in range(6):
            try:
                with self._begin(durable) as conn:
                    written: list[EvidenceRecord] = []
                    for (kind, _payload, actor), text_ in zip(entries, texts, strict=True):
                        if not written:
                            record = self.append_locked(
                                conn, release_id, kind, text_, actor, expected_seq=expected_seq
                            )
                        else:  # the head is the record just written, in this transaction
                            head = written[-1]
                            record = self.append_locked(
                                conn,
                                release_id,
                                kind,
                                text_,
                                actor,
                                head=(head.seq, head.hash, head.kind, head.recorded_at),
                            )
                        written.append(record)
                    return written
            except IntegrityError:
                # Two writers created the same new chain: the head moved from 0.
                raise EvidenceHeadMovedError(f"{release_id}: another writer created the chain") from None
            except OperationalError as exc:
                if attempt == 5:
                    raise EvidenceError(f"could not append to {release_id}: {exc}") from exc
                time.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    @contextmanager
    def _begin(self, durable: bool) -> Iterator[Connection]:
        if durable:
            with self.engine.begin() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
            if raw is not None:  # outside a transaction: the pragma is the connection's, reset below
                synchronous = raw.execute("PRAGMA synchronous").fetchone()[0]
                raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with conn.begin():
                    if raw is None and conn.dialect.name == "postgresql":
                        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                    yield conn
            finally:
                if raw is not None:
                    raw.execute(f"PRAGMA synchronous={int(synchronous)}")

    def append_locked(
        self,
        conn: Connection,
        release_id: str,
        kind: str,
        payload_text: str,
        actor: str | None,
        *,
        expected_seq: int | None = None,
        head: tuple[int, str, str, str] | None = None,
    ) -> EvidenceRecord:
        """Append one record in ``conn``'s transaction. ``head`` — (seq, hash, kind, recorded_at) of
        the chain's last record — only when this transaction itself just wrote it (it holds the lock)."""
        last: Any
        if head is not None:
            last = head
        else:
            if conn.dialect.name == "postgresql":
                conn.execute(_PG_CHAIN_LOCK, {"rid": release_id})
            last = conn.execute(_LAST_RECORD, {"rid": release_id}).first()
        head_seq, head_hash = (last[0], last[1]) if last is not None else (0, GENESIS_HASH)
        if expected_seq is not None and head_seq != expected_seq:
            raise EvidenceHeadMovedError(f"{release_id}: head is at #{head_seq}, not #{expected_seq}")
        if last is None:
            conn.execute(_INSERT_CHAIN, {"release_id": release_id, "created_at": _now_iso()})
        elif last[2] == "release_sealed":
            raise EvidenceSealedError(
                f"release {release_id} was sealed at {last[3]} (record #{head_seq}); it takes no records"
            )

        record = EvidenceRecord(
            release_id=release_id,
            seq=head_seq + 1,
            kind=kind,
            recorded_at=_now_iso(),
            actor=actor,
            payload={},
            payload_sha256=sha256_text(payload_text),
            prev_hash=head_hash,
            hash="",
        )
        digest = record_hash(
            release_id=release_id,
            seq=record.seq,
            kind=kind,
            recorded_at=record.recorded_at,
            actor=actor,
            payload_sha256=record.payload_sha256,
            prev_hash=head_hash,
        )
        row = {**record.to_dict(), "payload": payload_text, "hash": digest}
        conn.execute(_INSERT_RECORD, row)
        if self.signer is not None and (kind == "release_sealed" or record.seq % self.checkpoint_every == 0):
            self._insert_checkpoint(conn, release_id, (record.seq, digest, kind), self.signer)
        return replace(record, payload=json.loads(payload_text), hash=digest)

    def _set_up_signing(self) -> None:
        # Disarmed only once it succeeded: a setup that raised (a connection holding no usable key, a
        # secrets backend that did not answer) fails every later append too. A caller that logs the
        # first failure and appends again (the seal step's report) must not go on unsigned — up to
        # an unsigned seal that `evidence.signing.required` forbids.
        if self.signing_setup is not None:
            self.signing_setup(self)
            self.signing_setup = None

    @staticmethod
    def _insert_checkpoint(
        conn: Connection, release_id: str, head: tuple[int, str, str], signer: SigningKey
    ) -> Checkpoint:
        """Sign ``head`` — the (seq, hash, kind) of a record — in the caller's transaction."""
        from release_gates.evidence.checkpoints import sign_checkpoint

        seq, record_hash, kind = head
        checkpoint = sign_checkpoint(release_id, seq, record_hash, kind, signer, signed_at=_now_iso())
        conn.execute(_INSERT_CHECKPOINT, checkpoint.to_row())
        return checkpoint

    def checkpoint(self, release_id: str, signer: SigningKey | None = None) -> Checkpoint:
        """Sign the chain's current head now (a seal made without a key, a long open chain).

        Idempotent per key. Only a chain that verifies is signed, and a row under this key's id that
        it did not make is reported (:func:`release_gates.evidence.verify.already_signed`).
        """
        from release_gates.evidence.verify import already_signed

        signer = signer or self.signer
        if signer is None:
            raise EvidenceError("no signing key: pass one or configure the store's signer")
        verified = self.verify(release_id)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(_PG_CHAIN_LOCK, {"rid": release_id})
            last = conn.execute(_LAST_RECORD, {"rid": release_id}).first()
            if last is None:
                raise EvidenceNotFoundError(f"no evidence chain for release {release_id!r}")
            made = already_signed(verified, (last[0], last[1]), self._checkpoints(conn, release_id), signer)
            return made or self._insert_checkpoint(conn, release_id, (last[0], last[1], last[2]), signer)

    def checkpoints(self, release_id: str) -> list[Checkpoint]:
        with self._read() as conn:
            return self._checkpoints(conn, release_id)

    @staticmethod
    def _checkpoints(conn: Connection, release_id: str) -> list[Checkpoint]:
        from release_gates.evidence.checkpoints import Checkpoint

        rows = conn.execute(
            select(checkpoints).where(checkpoints.c.release_id == release_id).order_by(checkpoints.c.seq)
        ).all()
        return [Checkpoint.from_row(row._asdict()) for row in rows]

    # -- reading ------------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        self.ensure_schema()
        with self.engine.connect().execution_options(rg_read=True) as conn:
            yield conn

    def chain(self, release_id: str) -> ChainInfo:
        with self._read() as conn:
            row = conn.execute(select(*_head_columns()).where(chains.c.release_id == release_id)).first()
        if row is None:
            raise EvidenceNotFoundError(f"no evidence chain for release {release_id!r}")
        return ChainInfo(**row._asdict())

    def chains(self, *, limit: int = 100) -> list[ChainInfo]:
        """Most recently created chains first."""
        with self._read() as conn:
            query = select(*_head_columns()).order_by(chains.c.created_at.desc()).limit(limit)
            rows = conn.execute(query).all()
        return [ChainInfo(**row._asdict()) for row in rows]

    def records(
        self,
        release_id: str,
        *,
        kind: str | Iterable[str] | None = None,
        after_seq: int = 0,
        seqs: Iterable[int] | None = None,
        containing: str | Iterable[str] | None = None,
    ) -> list[EvidenceRecord]:
        """The chain's records in order; payloads parsed (a corrupt payload raises EvidenceError).

        Narrowed, when given, to ``kind`` (one or several), to those after ``after_seq`` (the tail a
        reader has not seen yet), to the given ``seqs``, and to payloads whose canonical JSON text
        contains ``containing`` (any of several; taken literally: the database filters, a caller
        checks the parsed payload).
        """
        from release_gates.evidence.transaction import records_query

        query = records_query(release_id, kind=kind, after_seq=after_seq, seqs=seqs, containing=containing)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [record_from_row(row) for row in rows]

    def tail_from_last(self, release_id: str, kind: str) -> list[EvidenceRecord]:
        """The chain's records from its last ``kind`` record on (empty when it has none); one query."""
        from release_gates.evidence.transaction import tail_rows

        with self._read() as conn:
            rows = tail_rows(conn, release_id, kind)
        return [record_from_row(row) for row in rows]

    def release_chains(self, model: str | None = None) -> dict[str, list[EvidenceRecord]]:
        """Chains opened by ``release_started`` (of ``model``, or of any model), oldest chain first.

        One query. A chain belongs to the model its first record names; of another model's chain
        only that first payload is parsed.
        """
        opened = select(records.c.release_id).where(records.c.seq == 1, records.c.kind == "release_started")
        query = (
            select(records)
            .join(chains, chains.c.release_id == records.c.release_id)
            .where(records.c.release_id.in_(opened))
            .order_by(chains.c.created_at, records.c.release_id, records.c.seq)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        grouped: dict[str, list[Row[Any]]] = {}
        for row in rows:
            grouped.setdefault(row.release_id, []).append(row)
        found: dict[str, list[EvidenceRecord]] = {}
        for release_id, chain_rows in grouped.items():
            first = record_from_row(chain_rows[0])
            owner = release_model([first])
            if owner is not None and model in (None, owner):
                found[release_id] = [first, *(record_from_row(row) for row in chain_rows[1:])]
        return found

    def chains_with_prefix(self, prefix: str) -> dict[str, list[EvidenceRecord]]:
        """Every chain whose id starts with ``prefix`` (taken literally), oldest chain first; one query."""
        query = (
            select(records)
            .join(chains, chains.c.release_id == records.c.release_id)
            # autoescape: the prefix is text, not a LIKE pattern (``monitor__`` holds two wildcards).
            .where(records.c.release_id.startswith(prefix, autoescape=True))
            .order_by(chains.c.created_at, records.c.release_id, records.c.seq)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        found: dict[str, list[EvidenceRecord]] = {}
        for row in rows:
            found.setdefault(row.release_id, []).append(record_from_row(row))
        return found

    def count(self, release_id: str) -> int:
        with self._read() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(records).where(records.c.release_id == release_id)
                ).scalar_one()
            )

    # -- integrity ----------------------------------------------------------------------------------

    def verify(self, release_id: str, *, keys: PublicKeys | None = None) -> VerifyReport:
        """Recompute the chain from the stored rows and name the first bad record, if any.

        Every checkpoint must vouch for the record now at its seq; with ``keys`` (the trusted public
        keys) each signature is checked and a sealed chain must carry a signed checkpoint of its seal.
        """
        with self._read() as conn:
            chain_row = conn.execute(select(chains).where(chains.c.release_id == release_id)).first()
            rows = conn.execute(
                select(records)
                .where(records.c.release_id == release_id)
                .order_by(records.c.seq, records.c.id)
            ).all()
            signed = self._checkpoints(conn, release_id)
        if chain_row is None:
            raise EvidenceNotFoundError(f"no evidence chain for release {release_id!r}")
        return verify_records(
            release_id,
            [row._asdict() for row in rows],
            None,
            payload_is_text=True,
            checkpoints=signed,
            keys=keys,
        )

    def export(self, release_id: str) -> dict[str, Any]:
        """A self-contained JSON bundle of the chain that :func:`verify_bundle` checks offline."""
        info = self.chain(release_id)
        return {
            "format": "release-gates-evidence",
            "format_version": 1,
            "release_id": release_id,
            "exported_at": _now_iso(),
            "hash_algorithm": "sha256 over canonical JSON; see release_gates.evidence.canonical",
            "head": {"seq": info.head_seq, "hash": info.head_hash, "sealed_at": info.sealed_at},
            "records": [r.to_dict() for r in self.records(release_id)],
            "checkpoints": [c.to_dict() for c in self.checkpoints(release_id)],
        }

    def export_to(self, release_id: str, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.export(release_id), indent=2, ensure_ascii=False) + "\n", "utf-8")
        tmp.replace(path)
        return path

    def dispose(self) -> None:
        self.engine.dispose()
