"""One change at a time per deployment target, and every drill's intent written before it acts.

Each target has an evidence chain of its own, ``target__<key>`` (``key``: 16 hex digits of the sha256
of the target's canonical identity), whatever release, DAG or CLI touches it:

================  =================================================================================
kind              payload
================  =================================================================================
lease_acquired    ``lease_id``, ``holder``, ``purpose``, ``release_id``, ``acquired_at``,
                  ``expires_at``; ``takes_over`` (the lease it replaced: the holder's own from an
                  earlier try, or one that expired)
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
class StartedDrill:
    """A ``drill_started`` record and what ended it (None: nothing yet — the drill is unfinished)."""

    seq: int
    payload: dict[str, Any]
    end_kind: str | None
    end: dict[str, Any] | None

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
    ends = {str(r.payload.get("drill_id")): (r.kind, r.payload) for r in records if r.kind in DRILL_END_KINDS}
    drills = []
    for record in records:
        if record.kind == "drill_started":
            kind, payload = ends.get(str(record.payload.get("drill_id")), (None, None))
            drills.append(StartedDrill(record.seq, record.payload, kind, payload))
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

    def records(self) -> list[EvidenceRecord]:
        # records() of an unknown chain is empty: the chain starts with its first lease.
        return self.store.records(self.chain_id)

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
        from release_gates.evidence.store import EvidenceHeadMovedError

        deadline = time.monotonic() + wait
        while True:
            records = self.records()
            head = records[-1].seq if records else 0
            now = self._now()
            current = active_lease(records)
            if current is None or current.holder == holder or current.expired(now):
                payload: dict[str, Any] = {
                    "lease_id": uuid.uuid4().hex,
                    "holder": holder,
                    "purpose": purpose,
                    "release_id": release_id,
                    "target": self.identity,
                    "acquired_at": _iso(now),
                    "expires_at": _iso(now + timedelta(seconds=ttl)),
                }
                if current is not None:
                    payload["takes_over"] = {
                        **current.to_dict(),
                        "why": "same holder" if current.holder == holder else "expired",
                    }
                try:
                    record = self.store.append_if_head(
                        self.chain_id, "lease_acquired", payload, expected_seq=head, actor=actor or holder
                    )
                except EvidenceHeadMovedError:
                    continue  # someone wrote first: read again and decide again
                return Lease.from_record(record)
            if time.monotonic() >= deadline:
                raise TargetLeaseBusyError(
                    f"target {self.identity} is held by {current.holder} ({current.purpose}) until "
                    f"{current.expires_at}; waited {wait:g} s (evidence {self.chain_id} #{current.seq})"
                )
            self._sleep(max(0.0, min(poll, deadline - time.monotonic())))

    def release(self, lease: Lease, *, actor: str | None = None) -> None:
        """Give the lease back (a no-op when it was already released or taken over)."""
        if active_lease(self.records()) != lease:
            return
        self.store.append(
            self.chain_id,
            "lease_released",
            {"lease_id": lease.lease_id, "holder": lease.holder, "released_at": _iso(self._now())},
            actor=actor or lease.holder,
        )

    @contextmanager
    def hold(self, holder: str, *, purpose: str, **options: Any) -> Iterator[Lease]:
        lease = self.acquire(holder, purpose=purpose, **options)
        try:
            yield lease
        finally:
            self.release(lease)

    # -- drills -----------------------------------------------------------------------------------

    def drill_started(self, payload: Mapping[str, Any], *, actor: str | None = None) -> EvidenceRecord:
        return self.store.append(
            self.chain_id, "drill_started", {**payload, "target": self.identity}, actor=actor
        )

    def drill_ended(
        self, kind: str, drill_id: str, payload: Mapping[str, Any], *, actor: str | None = None
    ) -> EvidenceRecord:
        assert kind in DRILL_END_KINDS
        return self.store.append(
            self.chain_id, kind, {**payload, "drill_id": drill_id, "at": _iso(self._now())}, actor=actor
        )

    def unfinished_drills(self, records: list[EvidenceRecord] | None = None) -> list[StartedDrill]:
        chain = self.records() if records is None else records
        return [drill for drill in started_drills(chain) if drill.needs_restore]

    def others_since(self, seq: int, lease_ids: set[str], records: list[EvidenceRecord]) -> list[Lease]:
        """Leases taken after record ``seq`` by anyone but ``lease_ids`` and their holders' takeovers:
        who may have changed the target since then."""
        mine = set(lease_ids)
        found = []
        for record in records:
            if record.seq <= seq or record.kind != "lease_acquired":
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
