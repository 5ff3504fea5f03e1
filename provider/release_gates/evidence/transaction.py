"""Reading and appending to one chain under its lock, in one transaction.

:meth:`EvidenceStore.locked` yields a :class:`ChainTransaction`: whatever it reads, nobody appends to
the chain until it ends, so a decision taken on what it read holds when it appends (how a target's
lease is taken in one round trip: read the state, decide, append). The queries are shared with the
store's own readers (:func:`records_query`, :func:`tail_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, func, or_, select

from release_gates.evidence.schema import records

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row

    from release_gates.evidence.record import EvidenceRecord


def records_query(
    release_id: str,
    *,
    kind: str | Iterable[str] | None = None,
    after_seq: int = 0,
    seqs: Iterable[int] | None = None,
    containing: str | Iterable[str] | None = None,
) -> Select[Any]:
    """A chain's records in order, narrowed as :meth:`EvidenceStore.records` documents."""
    query = select(records).where(records.c.release_id == release_id).order_by(records.c.seq)
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        query = query.where(records.c.kind.in_(kinds))
    if after_seq:
        query = query.where(records.c.seq > after_seq)
    if seqs is not None:
        query = query.where(records.c.seq.in_(list(seqs)))
    if containing is not None:
        needles = [containing] if isinstance(containing, str) else list(containing)
        query = query.where(or_(*(records.c.payload.contains(n, autoescape=True) for n in needles)))
    return query


def _tail_statement() -> Select[Any]:
    last = (
        select(func.max(records.c.seq))
        .where(records.c.release_id == bindparam("rid"), records.c.kind == bindparam("kind"))
        .scalar_subquery()
    )
    return (
        select(records)
        .where(records.c.release_id == bindparam("rid"), records.c.seq >= last)
        .order_by(records.c.seq)
    )


#: Built once and run with parameters (:func:`tail_rows`): a drill reads its target's tail on every
#: try, and building the statement cost more than running it.
_TAIL = _tail_statement()


def tail_rows(conn: Connection, release_id: str, kind: str) -> Sequence[Row[Any]]:
    """A chain's rows from its last ``kind`` record on (none when it has none)."""
    return conn.execute(_TAIL, {"rid": release_id, "kind": kind}).all()


class ChainTransaction:
    """One chain, locked for the length of a transaction: the readers of :class:`EvidenceStore`
    (same names and arguments, so code that reads the store can read through this instead) and an
    append that needs no further lock. The store hands in how a row becomes a record and how one is
    appended (this module does not import the store)."""

    def __init__(
        self,
        conn: Connection,
        release_id: str,
        *,
        to_record: Callable[[Row[Any]], EvidenceRecord],
        append: Callable[[str, Mapping[str, Any], str | None], EvidenceRecord],
    ) -> None:
        self._conn = conn
        self.release_id = release_id
        self._to_record = to_record
        self._append = append

    def _own(self, release_id: str) -> None:
        if release_id != self.release_id:
            raise ValueError(f"this transaction holds {self.release_id!r}, not {release_id!r}")

    def records(self, release_id: str, **narrow: Any) -> list[EvidenceRecord]:
        self._own(release_id)
        return [self._to_record(row) for row in self._conn.execute(records_query(release_id, **narrow)).all()]

    def tail_from_last(self, release_id: str, kind: str) -> list[EvidenceRecord]:
        self._own(release_id)
        return [self._to_record(row) for row in tail_rows(self._conn, release_id, kind)]

    def append(self, kind: str, payload: Mapping[str, Any], *, actor: str | None = None) -> EvidenceRecord:
        return self._append(kind, payload, actor)
