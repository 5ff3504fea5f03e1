"""One change at a time per deployment target, and every drill's intent written before it acts.

Each target has an evidence chain of its own, ``target__<key>`` (``key``: 16 hex digits of the sha256
of the target's canonical identity), whatever release, DAG or CLI touches it:

================  =================================================================================
kind              payload
================  =================================================================================
lease_acquired    ``lease_id``, ``holder``, ``purpose``, ``release_id``, ``acquired_at``,
                  ``expires_at``; ``unfinished`` (the drills that still needed a restore: their
                  ``drill_id``, ``started_seq``, ``end_seq``); ``takes_over`` (the lease it
                  replaced: the holder's own from an earlier try, or one that expired)
lease_released    ``lease_id``, ``holder``
drill_started     ``drill_id``, ``lease_id``, ``holder``, ``release_id``, ``check_id``, ``target``,
                  ``mode`` (``live`` / ``shadow``), ``original_version``, ``drill_version``;
                  a shadow drill's ``standin`` (``name``, ``kind``, ``target``) — appended
                  *before* the drill changes anything or creates its stand-in
drill_finished    ``drill_id``, ``restored``, ``final_version``, ``outcome`` — the drill ended in
                  its own process (restored, or its restore failed and said so); a shadow drill:
                  ``outcome`` ``standin_removed`` / ``standin_left``, ``standin_removed``
drill_recovered   ``drill_id``, ``outcome`` (``restored`` / ``already_original`` /
                  ``changed_by_other``; a shadow drill: ``standin_removed`` /
                  ``standin_already_gone``), ``serving_before``, ``by`` — someone else ended it:
                  the killed task's ``on_kill`` or a later try
================  =================================================================================

A lease is taken by a conditional append (:meth:`EvidenceStore.append_if_head`): of two takers that
read the same head only one writes, the other reads again. A holder — ``<release id>:<task>``, the
same on every try of a task — may take over its own lease (a killed try's retry); anyone may take
over an expired one. Airflow pools serialize the tasks of the provider's DAGs; the lease makes every
other writer (another DAG, the CLI, a notebook) wait its turn too.

This module imports no Airflow.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore
    from release_gates.evidence.transaction import ChainTransaction

#: Prefix of every target chain's id.
TARGET_CHAIN_PREFIX = "target__"
#: Records that end a ``drill_started``.
DRILL_END_KINDS = frozenset({"drill_finished", "drill_recovered"})


class TargetLeaseBusyError(ReleaseGatesError, RuntimeError):
    """Another holder kept the target's lease for longer than this taker would wait (retryable)."""


def target_key(identity: Mapping[str, Any]) -> str:
    """16 hex digits naming a target: the sha256 of its identity as sorted, compact JSON."""
    text = json.dumps(dict(identity), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def target_chain_id(identity: Mapping[str, Any]) -> str:
    return TARGET_CHAIN_PREFIX + target_key(identity)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Lease:
    lease_id: str
    holder: str
    purpose: str
    release_id: str | None
    acquired_at: str
    expires_at: str
    seq: int

    @classmethod
    def from_record(cls, record: EvidenceRecord) -> Lease:
        p = record.payload
        return cls(
            lease_id=str(p["lease_id"]),
            holder=str(p["holder"]),
            purpose=str(p.get("purpose") or ""),
            release_id=p.get("release_id"),
            acquired_at=str(p["acquired_at"]),
            expires_at=str(p["expires_at"]),
            seq=record.seq,
        )

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.expires_at) <= now

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "holder": self.holder,
            "purpose": self.purpose,
            "release_id": self.release_id,
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
            "seq": self.seq,
        }


@dataclass(frozen=True)
class DeferredLease:
    """A lease decided on from the chain's state at ``expected_seq`` and not yet written
    (:meth:`TargetJournal.defer`): it exists only once :meth:`TargetJournal.write_with_lease` wrote it."""

    lease_id: str
    holder: str
    purpose: str
    release_id: str | None
    ttl: float
    actor: str
    expected_seq: int
    takes_over: Lease | None = None


@dataclass(frozen=True)
class StartedDrill:
    """A ``drill_started`` record and what ended it (None: nothing yet — the drill is unfinished)."""

    seq: int
    payload: dict[str, Any]
    end_kind: str | None
    end: dict[str, Any] | None
    end_seq: int | None = None

    @property
    def drill_id(self) -> str:
        return str(self.payload["drill_id"])

    @property
    def needs_restore(self) -> bool:
        """Unfinished, or finished by its own process with a failed restore (still off its original)
        or — a shadow drill — with its stand-in not removed."""
        if self.end is None:
            return True
        if self.payload.get("mode") == "shadow":
            return self.end_kind == "drill_finished" and not self.end.get("standin_removed")
        return self.end_kind == "drill_finished" and self.end.get("outcome") == "restore_failed"


def active_lease(records: list[EvidenceRecord]) -> Lease | None:
    """The last lease taken and not released (expired or not), from a target chain's records."""
    lease: Lease | None = None
    for record in records:
        if record.kind == "lease_acquired":
            lease = Lease.from_record(record)
        elif (
            record.kind == "lease_released"
            and lease is not None
            and record.payload.get("lease_id") == lease.lease_id
        ):
            lease = None
    return lease


def started_drills(records: list[EvidenceRecord]) -> list[StartedDrill]:
    """Every ``drill_started`` with the record that ended it, oldest first."""
    ends = {str(r.payload.get("drill_id")): r for r in records if r.kind in DRILL_END_KINDS}
    drills = []
    for record in records:
        if record.kind == "drill_started":
            end = ends.get(str(record.payload.get("drill_id")))
            if end is None:
                drills.append(StartedDrill(record.seq, record.payload, None, None))
            else:
                drills.append(StartedDrill(record.seq, record.payload, end.kind, end.payload, end.seq))
    return drills


class TargetJournal:
    """The chain of one deployment target: its lease and the drills started on it."""

    def __init__(
        self,
        store: EvidenceStore,
        identity: Mapping[str, Any],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.identity = dict(identity)
        self.chain_id = target_chain_id(identity)
        self._now = now
        self._sleep = sleep
        self._seen: list[EvidenceRecord] = []
        self._loaded = False
        #: The first seq from which ``_seen`` holds every record (earlier ones: only those listed).
        self._whole_from = 1

    def records(self) -> list[EvidenceRecord]:
        """The whole chain, oldest first, read from the store (empty for an unknown chain: it starts
        with its first lease)."""
        return self.store.records(self.chain_id)

    def state(self) -> list[EvidenceRecord]:
        """The records that decide the target's state, oldest first (empty for an unknown chain).

        A target chain grows with every drill and promotion, so it is not read whole: each
        ``lease_acquired`` lists the drills that still needed a restore when it was taken
        (``unfinished``: their start and end seqs), and that record, the records after it and the
        drills it lists are all the lease and the recovery need. Records are append-only, so later
        calls read only the tail this journal has not seen. Tampering is for ``verify`` to find.
        """
        return self._read_state(self.store)

    def _read_state(self, reader: EvidenceStore | ChainTransaction) -> list[EvidenceRecord]:
        """:meth:`state`, read through the store or through a transaction holding the chain."""
        if not self._loaded:
            tail = reader.tail_from_last(self.chain_id, "lease_acquired")
            listed = tail[0].payload.get("unfinished") if tail else None
            if not tail or not isinstance(listed, list):
                self._seen = reader.records(self.chain_id)  # no lease yet: short
            else:
                seqs = {
                    int(seq)
                    for drill in listed
                    for seq in (drill["started_seq"], drill.get("end_seq"))
                    if seq
                }
                self._seen = [*(reader.records(self.chain_id, seqs=seqs) if seqs else []), *tail]
                self._whole_from = tail[0].seq
            self._loaded = True
        else:
            after = self._seen[-1].seq if self._seen else 0
            self._seen.extend(reader.records(self.chain_id, after_seq=after))
        return list(self._seen)

    def known(self) -> list[EvidenceRecord]:
        """What this journal has read and written so far, without asking the store: exactly the
        chain up to the last record it appended when nobody else wrote since (a lease taken by a
        conditional append guarantees that much at the moment it is taken)."""
        return list(self._seen) if self._loaded else self.state()

    def _note(self, record: EvidenceRecord) -> EvidenceRecord:
        """Remember a record this journal appended, when it directly follows what it has seen (a
        gap is read on the next :meth:`state`)."""
        if self._loaded and record.seq == (self._seen[-1].seq if self._seen else 0) + 1:
            self._seen.append(record)
        return record

    def records_after(self, seq: int) -> list[EvidenceRecord]:
        """Every record after ``seq``, read whole from the store when this journal skipped some."""
        if seq + 1 >= self._whole_from:
            return [r for r in self.state() if r.seq > seq]
        return self.store.records(self.chain_id, after_seq=seq)

    def drills_of_release(self, release_id: str | None) -> list[StartedDrill]:
        """Every drill a release started on this target, with what ended it, oldest first.

        At most two narrow queries (the database matches the canonical payload text; the parsed payload is
        checked here), so a long chain costs a scan in SQL, not a parse of every record.
        """
        needle = '"release_id":' + json.dumps(release_id, ensure_ascii=False)
        started = [
            record
            for record in self.store.records(self.chain_id, kind="drill_started", containing=needle)
            if record.payload.get("release_id") == release_id
        ]
        ends = (
            self.store.records(
                self.chain_id,
                kind=DRILL_END_KINDS,
                after_seq=started[0].seq,
                containing=['"drill_id":' + json.dumps(str(r.payload.get("drill_id"))) for r in started],
            )
            if started
            else []
        )
        return started_drills(sorted([*started, *ends], key=lambda r: r.seq))

    # -- the lease --------------------------------------------------------------------------------

    def acquire(
        self,
        holder: str,
        *,
        purpose: str,
        release_id: str | None = None,
        ttl: float = 3600.0,
        wait: float = 1800.0,
        poll: float = 2.0,
        actor: str | None = None,
    ) -> Lease:
        """Take the target's lease, waiting up to ``wait`` seconds while someone else holds it.

        Raises :class:`TargetLeaseBusyError` when the holder keeps it past ``wait``.
        """
        from sqlalchemy.exc import OperationalError

        deadline = time.monotonic() + wait
        busy = 0
        while True:
            # Read the state and append the lease in one transaction holding the chain: what was
            # decided on is still the state when the lease is written.
            try:
                record, current = self._try_acquire(holder, purpose, release_id, ttl, actor)
            except OperationalError:
                # The database was busy or the connection dropped: nothing was written (one
                # transaction); read and decide again, a few times, as appends do.
                busy += 1
                if busy > 5:
                    raise
                self._loaded = False
                self._sleep(min(2.0, 0.05 * 2**busy))
                continue
            if record is not None:
                self._note(record)  # committed
                return Lease.from_record(record)
            assert current is not None
            if time.monotonic() >= deadline:
                raise TargetLeaseBusyError(
                    f"target {self.identity} is held by {current.holder} ({current.purpose}) until "
                    f"{current.expires_at}; waited {wait:g} s (evidence {self.chain_id} #{current.seq})"
                )
            self._sleep(max(0.0, min(poll, deadline - time.monotonic())))

    def _try_acquire(
        self, holder: str, purpose: str, release_id: str | None, ttl: float, actor: str | None
    ) -> tuple[EvidenceRecord | None, Lease | None]:
        """One look at the chain under its lock: the lease record written, or who holds it."""
        with self.store.locked(self.chain_id) as txn:
            records = self._read_state(txn)
            now = self._now()
            current = active_lease(records)
            record = None
            if current is None or current.holder == holder or current.expired(now):
                payload: dict[str, Any] = {
                    "lease_id": uuid.uuid4().hex,
                    "holder": holder,
                    "purpose": purpose,
                    "release_id": release_id,
                    "target": self.identity,
                    "acquired_at": _iso(now),
                    "expires_at": _iso(now + timedelta(seconds=ttl)),
                    "unfinished": [
                        {"drill_id": d.drill_id, "started_seq": d.seq, "end_seq": d.end_seq}
                        for d in self.unfinished_drills(records)
                    ],
                }
                if current is not None:
                    payload["takes_over"] = {
                        **current.to_dict(),
                        "why": "same holder" if current.holder == holder else "expired",
                    }
                record = txn.append("lease_acquired", payload, actor=actor or holder)
        return record, current

    def release(self, lease: Lease, *, actor: str | None = None) -> None:
        """Give the lease back (a no-op when it was already released or taken over).

        A conditional append on the head this journal last saw: when anyone wrote since (a
        takeover, say), it reads the tail and decides again.
        """
        from release_gates.evidence.store import EvidenceHeadMovedError

        records = self.known()
        while active_lease(records) == lease:
            payload = {"lease_id": lease.lease_id, "holder": lease.holder, "released_at": _iso(self._now())}
            try:
                record = self.store.append_if_head(
                    self.chain_id,
                    "lease_released",
                    payload,
                    expected_seq=records[-1].seq,
                    actor=actor or lease.holder,
                )
            except EvidenceHeadMovedError:
                records = self.state()
                continue
            self._note(record)
            return

    def defer(
        self,
        holder: str,
        *,
        purpose: str,
        release_id: str | None = None,
        ttl: float = 3600.0,
        actor: str | None = None,
    ) -> DeferredLease | None:
        """Decide on the lease now and write it with the first record that needs it — one commit for
        both (:meth:`write_with_lease`). None when the lease cannot be taken without waiting, or when
        a drill on the target is unfinished: then take it the usual way (:meth:`acquire`), restore,
        and go on.

        Between now and that write nobody else can have changed the target through the journal
        unnoticed: anyone who changes it takes the lease first, which moves the chain's head, and the
        write happens only if the head is still where it was read here.
        """
        records = self.state()
        current = active_lease(records)
        if current is not None and current.holder != holder:
            # Held by someone else — expired too: its holder may still be at work on the target, and
            # taking it over is for acquire(), which reads the target only after the takeover.
            return None
        if self.unfinished_drills(records):
            return None
        return DeferredLease(
            lease_id=uuid.uuid4().hex,
            holder=holder,
            purpose=purpose,
            release_id=release_id,
            ttl=ttl,
            actor=actor or holder,
            expected_seq=records[-1].seq if records else 0,
            takes_over=current,
        )

    def write_with_lease(
        self, deferred: DeferredLease, kind: str, payload: Mapping[str, Any], *, actor: str | None = None
    ) -> tuple[Lease, EvidenceRecord]:
        """``lease_acquired`` for ``deferred`` and one record after it, in one transaction, only if the
        chain's head has not moved since :meth:`defer` read it.

        Raises :class:`~release_gates.evidence.store.EvidenceHeadMovedError` when it has: somebody
        wrote to the target's chain meanwhile (took the lease, say); nothing is written, and the
        taker must :meth:`acquire` the lease and check the target again.
        """
        now = self._now()
        lease_payload: dict[str, Any] = {
            "lease_id": deferred.lease_id,
            "holder": deferred.holder,
            "purpose": deferred.purpose,
            "release_id": deferred.release_id,
            "target": self.identity,
            "acquired_at": _iso(now),
            "expires_at": _iso(now + timedelta(seconds=deferred.ttl)),
            "unfinished": [],  # defer() found none
        }
        if deferred.takes_over is not None:
            current = deferred.takes_over
            lease_payload["takes_over"] = {
                **current.to_dict(),
                "why": "same holder" if current.holder == deferred.holder else "expired",
            }
        lease_record, record = self.store.append_all_if_head(
            self.chain_id,
            [
                ("lease_acquired", lease_payload, deferred.actor),
                (kind, {**payload, "target": self.identity}, actor),
            ],
            expected_seq=deferred.expected_seq,
        )
        self._note(lease_record)
        self._note(record)
        return Lease.from_record(lease_record), record

    @contextmanager
    def hold(self, holder: str, *, purpose: str, **options: Any) -> Iterator[Lease]:
        lease = self.acquire(holder, purpose=purpose, **options)
        try:
            yield lease
        finally:
            self.release(lease)

    # -- drills -----------------------------------------------------------------------------------

    def drill_started(self, payload: Mapping[str, Any], *, actor: str | None = None) -> EvidenceRecord:
        record = self.store.append(
            self.chain_id, "drill_started", {**payload, "target": self.identity}, actor=actor
        )
        return self._note(record)

    def drill_ended(
        self, kind: str, drill_id: str, payload: Mapping[str, Any], *, actor: str | None = None
    ) -> EvidenceRecord:
        assert kind in DRILL_END_KINDS
        record = self.store.append(
            self.chain_id, kind, {**payload, "drill_id": drill_id, "at": _iso(self._now())}, actor=actor
        )
        return self._note(record)

    def drill_ended_and_released(
        self, drill_id: str, payload: Mapping[str, Any], lease: Lease, *, actor: str | None = None
    ) -> EvidenceRecord:
        """``drill_finished`` and ``lease_released`` in one transaction: the drill's last act on the
        target is its end, so it gives the target back with it. When anyone wrote since this journal
        last looked (a takeover), the two are written as :meth:`drill_ended` and :meth:`release`."""
        from release_gates.evidence.store import EvidenceHeadMovedError

        records = self.known()
        if records and active_lease(records) == lease:
            end = {**payload, "drill_id": drill_id, "at": _iso(self._now())}
            released = {"lease_id": lease.lease_id, "holder": lease.holder, "released_at": end["at"]}
            try:
                # Not flushed on its own: losing it to a power cut is safe (the drill looks
                # unfinished, and its recovery finds the target on its original), and the check's
                # result, the next durable commit to this database, carries it to disk.
                written = self.store.append_all_if_head(
                    self.chain_id,
                    [("drill_finished", end, actor), ("lease_released", released, lease.holder)],
                    expected_seq=records[-1].seq,
                    durable=False,
                )
            except EvidenceHeadMovedError:
                pass
            else:
                for record in written:
                    self._note(record)
                return written[0]
        record = self.drill_ended("drill_finished", drill_id, payload, actor=actor)
        self.release(lease)
        return record

    def unfinished_drills(self, records: list[EvidenceRecord] | None = None) -> list[StartedDrill]:
        chain = self.state() if records is None else records
        return [drill for drill in started_drills(chain) if drill.needs_restore]

    def others_since(self, seq: int, lease_ids: set[str]) -> list[Lease]:
        """Leases taken after record ``seq`` by anyone but ``lease_ids`` and their holders' takeovers:
        who may have changed the target since then."""
        mine = set(lease_ids)
        found = []
        for record in self.records_after(seq):
            if record.kind != "lease_acquired":
                continue
            lease = Lease.from_record(record)
            takes_over = record.payload.get("takes_over") or {}
            if lease.lease_id in mine or (
                takes_over.get("lease_id") in mine and takes_over.get("why") == "same holder"
            ):
                mine.add(lease.lease_id)
                continue
            found.append(lease)
        return found
