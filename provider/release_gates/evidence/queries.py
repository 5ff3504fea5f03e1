"""Reading many chains at once without reading every record: summaries, pages, bulk reads, verified tails.

The store's own readers (:class:`~release_gates.evidence.store.EvidenceStore`) read one chain, or
every record of many; at ten thousand releases a page of the UI or of ``release-gates evidence list``
must not. The queries here read per chain only what a list needs:

* :func:`chain_summaries` — one page of chains, newest first (``created_at``, then id, descending):
  id, created_at, head seq and hash, when it was sealed, and — for release chains — the
  ``release_started`` payload (seq 1) and the ``release_sealed`` payload, the only payloads parsed.
  Paged by ``offset`` or by a cursor (:func:`cursor_of`, ``before=``) that stays put while new
  chains are added.
* :func:`records_of` — the records of several chains (narrowed to some kinds) in one query.
* :func:`latest_of_kind` — a chain's last record of a kind, read backwards from the head (cost: the
  distance from the head, not the chain's length).
* :func:`verified_tail` — a chain's records from a seq on, each hash recomputed and linked to the one
  before: what a reader that starts from a recorded summary (a monitoring snapshot) reads and checks.

The store does not import this module (its readers of whole chains stay in the store).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, and_, case, or_, select

from release_gates.evidence.canonical import sha256_text
from release_gates.evidence.schema import chains, records
from release_gates.exceptions import EvidenceError

if TYPE_CHECKING:
    from sqlalchemy import Row

    from release_gates.evidence.record import EvidenceRecord
    from release_gates.evidence.store import EvidenceStore

#: A page is at most this long, whatever is asked (the UI and the CLI cap their ``limit`` here).
MAX_PAGE = 500
_CURSOR_SEPARATOR = "|"


@dataclass(frozen=True)
class ChainSummary:
    """What a list of chains shows of one: its head, and the payloads that open and seal a release."""

    release_id: str
    created_at: str
    head_seq: int
    head_hash: str
    sealed_at: str | None
    #: The ``release_started`` payload when the chain's first record is one (None: not a release).
    started: dict[str, Any] | None = None
    #: The ``release_sealed`` payload, once sealed.
    sealed: dict[str, Any] | None = None

    @property
    def model(self) -> str | None:
        model = (self.started or {}).get("model")
        return str(model) if model else None

    @property
    def run_id(self) -> str | None:
        run_id = (self.started or {}).get("run_id")
        return str(run_id) if run_id is not None else None

    @property
    def decision(self) -> str | None:
        decision = (self.sealed or {}).get("decision")
        return str(decision) if decision is not None else None

    @property
    def cursor(self) -> str:
        return cursor_of(self.created_at, self.release_id)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``release-gates evidence list`` prints for one chain."""
        return {
            "release_id": self.release_id,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "created_at": self.created_at,
            "sealed_at": self.sealed_at,
            "model": self.model,
            "decision": self.decision,
        }


def cursor_of(created_at: str, release_id: str) -> str:
    """The cursor after which (older than which) the next page starts: ``<created_at>|<release_id>``."""
    return f"{created_at}{_CURSOR_SEPARATOR}{release_id}"


def parse_cursor(cursor: str) -> tuple[str, str]:
    """``(created_at, release_id)`` of a cursor; ValueError naming the cursor when it is not one."""
    created_at, sep, release_id = cursor.partition(_CURSOR_SEPARATOR)
    if not sep or not created_at or not release_id:
        raise ValueError(f"not a page cursor: {cursor!r} (expected <created_at>|<release_id>)")
    return created_at, release_id


def _page_query(
    *, limit: int, offset: int, before: str | None, releases_only: bool, created_before: str | None
) -> Select[Any]:
    """The ids of one page of chains, newest first — a subquery, so that the per-chain columns below are
    computed for the page's rows only, not for every chain the sort looks at."""
    query = select(chains.c.release_id, chains.c.created_at)
    if releases_only:
        # Correlated, so each chain is one lookup in the (release_id, seq) index, not a scan of records.
        opened = select(records.c.id).where(
            records.c.release_id == chains.c.release_id,
            records.c.seq == 1,
            records.c.kind == "release_started",
        )
        query = query.where(opened.exists())
    if before is not None:
        created_at, release_id = parse_cursor(before)
        query = query.where(
            or_(
                chains.c.created_at < created_at,
                and_(chains.c.created_at == created_at, chains.c.release_id < release_id),
            )
        )
    if created_before is not None:
        query = query.where(chains.c.created_at < created_before)
    return (
        query.order_by(chains.c.created_at.desc(), chains.c.release_id.desc())
        .limit(max(0, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
    )


def chain_summaries(
    store: EvidenceStore,
    *,
    limit: int = 50,
    offset: int = 0,
    before: str | None = None,
    releases_only: bool = False,
    created_before: str | None = None,
) -> list[ChainSummary]:
    """One page of chains, newest first; one query (see the module docstring).

    ``releases_only``: only chains opened by ``release_started`` (not monitoring or target chains).
    ``before``: a cursor from :attr:`ChainSummary.cursor` (the page after the one it ended).
    ``created_before``: only chains created before this ISO time. An unreadable payload of a listed
    chain is an :class:`EvidenceError` naming the record, as everywhere else.
    """
    page = _page_query(
        limit=limit, offset=offset, before=before, releases_only=releases_only, created_before=created_before
    ).subquery("page")
    # The head: the last record, one probe of the (release_id, seq) index from the end. A sealed chain
    # takes no record after its seal (the store refuses it), so its head is its seal.
    last = (
        select(records.c.seq)
        .where(records.c.release_id == page.c.release_id)
        .order_by(records.c.seq.desc())
        .limit(1)
    )

    def head(column: Any) -> Any:
        return last.with_only_columns(column).scalar_subquery()

    started = select(records.c.payload).where(
        records.c.release_id == page.c.release_id, records.c.seq == 1, records.c.kind == "release_started"
    )
    query = select(
        page.c.release_id,
        page.c.created_at,
        head(records.c.seq).label("head_seq"),
        head(records.c.hash).label("head_hash"),
        head(records.c.kind).label("head_kind"),
        head(records.c.recorded_at).label("head_recorded_at"),
        head(case((records.c.kind == "release_sealed", records.c.payload), else_=None)).label(
            "sealed_payload"
        ),
        started.scalar_subquery().label("started_payload"),
    ).order_by(page.c.created_at.desc(), page.c.release_id.desc())
    with store._read() as conn:  # the store's read connection (no write lock on SQLite)
        rows = conn.execute(query).all()
    return [_summary(row) for row in rows]


def _summary(row: Any) -> ChainSummary:  # a Row of the summary query
    from release_gates.evidence.canonical import GENESIS_HASH

    return ChainSummary(
        release_id=row.release_id,
        created_at=row.created_at,
        head_seq=int(row.head_seq or 0),
        head_hash=row.head_hash or GENESIS_HASH,
        sealed_at=row.head_recorded_at if row.head_kind == "release_sealed" else None,
        started=_payload(row.release_id, "release_started", row.started_payload),
        sealed=_payload(row.release_id, "release_sealed", row.sealed_payload),
    )


def _payload(release_id: str, kind: str, text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise EvidenceError(
            f"the {kind} record of {release_id} has an unreadable payload; run `release-gates evidence "
            f"verify {release_id}`"
        ) from exc
    return payload if isinstance(payload, dict) else None


def records_of(
    store: EvidenceStore, release_ids: Sequence[str], *, kinds: Iterable[str] | None = None
) -> dict[str, list[EvidenceRecord]]:
    """The records of each chain in ``release_ids`` (only ``kinds``, when given), in order; one query."""
    from release_gates.evidence.store import record_from_row

    found: dict[str, list[EvidenceRecord]] = {release_id: [] for release_id in release_ids}
    if not found:
        return found
    query = select(records).where(records.c.release_id.in_(list(found)))
    if kinds is not None:
        query = query.where(records.c.kind.in_(list(kinds)))
    with store._read() as conn:
        rows = conn.execute(query.order_by(records.c.release_id, records.c.seq)).all()
    for row in rows:
        found[row.release_id].append(record_from_row(row))
    return found


def head_of(store: EvidenceStore, release_id: str) -> tuple[int, str] | None:
    """The chain's head (seq, hash) — its last record, one index probe — or None when it has none."""
    query = (
        select(records.c.seq, records.c.hash)
        .where(records.c.release_id == release_id)
        .order_by(records.c.seq.desc())
        .limit(1)
    )
    with store._read() as conn:
        row = conn.execute(query).first()
    return None if row is None else (int(row.seq), str(row.hash))


def latest_of_kind(store: EvidenceStore, release_id: str, kind: str) -> EvidenceRecord | None:
    """The chain's last ``kind`` record: the (release_id, seq) index walked back from the head, so the
    cost is the distance to that record, not the chain's length."""
    from release_gates.evidence.store import record_from_row

    query = (
        select(records)
        .where(records.c.release_id == release_id, records.c.kind == kind)
        .order_by(records.c.seq.desc())
        .limit(1)
    )
    with store._read() as conn:
        row = conn.execute(query).first()
    return None if row is None else record_from_row(row)


def verified_tail(store: EvidenceStore, release_id: str, from_seq: int) -> list[EvidenceRecord]:
    """The chain's records from ``from_seq`` on, each checked: stored payload against its sha256, the
    hash recomputed, each linked to the one before, no seq missing. :class:`EvidenceError` names the
    first that is not — whoever reads from a summary of the records before must not build on an edit.
    """
    from release_gates.evidence.store import record_from_row

    query = (
        select(records)
        .where(records.c.release_id == release_id, records.c.seq >= from_seq)
        .order_by(records.c.seq)
    )
    with store._read() as conn:
        rows = conn.execute(query).all()
    previous: Row[Any] | None = None
    for row in rows:
        where = f"{release_id}#{row.seq}"
        expected_seq = from_seq if previous is None else previous.seq + 1
        if row.seq != expected_seq:
            raise EvidenceError(f"{release_id}: record #{expected_seq} is missing (next is #{row.seq})")
        if sha256_text(row.payload) != row.payload_sha256:
            raise EvidenceError(f"{where}: the payload does not match its sha256 (edited)")
        if _row_hash(row) != row.hash:
            raise EvidenceError(f"{where}: the hash does not match the record (edited)")
        if previous is not None and row.prev_hash != previous.hash:
            raise EvidenceError(f"{where} does not link to #{previous.seq} (edited, inserted or removed)")
        previous = row
    return [record_from_row(row) for row in rows]


def _row_hash(row: Any) -> str:
    """:func:`~release_gates.evidence.canonical.record_hash` of a stored row, without its JSON-safety
    walk (every field is text, an integer or None): a tail of hundreds of records is checked on each
    monitoring step. ``tests/unit/test_trail_queries.py`` holds the two equal."""
    fields = {
        "actor": row.actor,
        "kind": row.kind,
        "payload_sha256": row.payload_sha256,
        "prev_hash": row.prev_hash,
        "recorded_at": row.recorded_at,
        "release_id": row.release_id,
        "seq": int(row.seq),
    }
    return sha256_text(json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
