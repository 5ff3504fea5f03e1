"""The monitoring chain's state, recorded every N windows, so a step folds only what came after it.

Every step of the monitoring DAG needs the chain folded
(:func:`~release_gates.monitoring.incidents.fold_monitoring`). Folding ``monitor__<model>`` from its
first record costs what the chain has grown to (months of windows); instead a step reads the chain's
latest ``monitoring_state`` record — the bounded fold
(:class:`~release_gates.monitoring.incidents.FoldLimits`) of every record up to ``source_seq`` — and
folds only the records after it. Once :data:`DEFAULT_EVERY` windows
(``$RELEASE_GATES_MONITOR_SNAPSHOT_EVERY``) have been folded on top of it, the step records a new one.
The fold onto a snapshot is exactly the bounded fold of the whole chain (the fold drops what it drops
record by record).

A snapshot is trusted only as far as the records it summarises: it names the record it was folded up
to (``source_seq`` and that record's ``source_hash``) and carries the sha256 of its state. The reader
reads the records from ``source_seq`` to the head, recomputes and links each hash, and checks that
record ``source_seq`` still has the hash the snapshot names and that the snapshot record itself is
among them unchanged. A snapshot that fails any of it — edited, or summarising a prefix that was
rewritten since — is ignored (logged) and the chain is folded from its first record, as without
snapshots: it can cost time, never a decision. Whoever may append to the chain can append any
record, a snapshot too: appending is the trust boundary of the evidence trail, as for every kind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, sha256_text
from release_gates.exceptions import EvidenceError
from release_gates.monitoring.incidents import (
    FoldLimits,
    Incident,
    MonitorState,
    fold_monitoring,
    recorded_time,
)

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore

log = logging.getLogger(__name__)

SNAPSHOT_KIND = "monitoring_state"
FORMAT = 1
ENV_EVERY = "RELEASE_GATES_MONITOR_SNAPSHOT_EVERY"
#: Windows folded on top of the latest snapshot before a step records a new one.
DEFAULT_EVERY = 50
#: What the monitoring DAG's fold keeps (a snapshot made with other limits is not used).
LIMITS = FoldLimits()


def snapshot_every() -> int:
    """:data:`DEFAULT_EVERY`, or ``$RELEASE_GATES_MONITOR_SNAPSHOT_EVERY`` (a positive integer)."""
    raw = os.environ.get(ENV_EVERY, "")
    try:
        value = int(raw) if raw else DEFAULT_EVERY
    except ValueError:
        raise ValueError(f"${ENV_EVERY} must be a positive integer, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"${ENV_EVERY} must be a positive integer, not {raw!r}")
    return value


@dataclass
class FoldedChain:
    """A monitoring chain folded now: the state, the record it reaches, and how it was read."""

    state: MonitorState
    head_seq: int
    head_hash: str
    #: ``monitoring_window`` records folded on top of the snapshot used (from the first record: all).
    windows_since_snapshot: int
    #: The ``monitoring_state`` record folded from (None: from the chain's first record).
    snapshot_seq: int | None = None
    #: Why the latest snapshot was not used, when one was found and not used.
    ignored: str | None = None
    records_read: int = 0


# --------------------------------------------------------------------------------------------------
# The state as JSON and back
# --------------------------------------------------------------------------------------------------


def _incident_to_json(incident: Incident) -> dict[str, Any]:
    data = asdict(incident)
    data["opened_at"] = incident.opened_at.isoformat()
    data["resolved_at"] = incident.resolved_at.isoformat() if incident.resolved_at else None
    data["notified"] = [[step, seq] for step, seq in incident.notified.items()]
    return data


def _incident_from_json(data: dict[str, Any]) -> Incident:
    fields = dict(data)
    fields["opened_at"] = recorded_time(fields["opened_at"])
    fields["resolved_at"] = recorded_time(fields["resolved_at"]) if fields["resolved_at"] else None
    fields["notified"] = {int(step): int(seq) for step, seq in fields["notified"]}
    return Incident(**fields)


def state_to_json(state: MonitorState) -> dict[str, Any]:
    """The state as JSON (orders kept: incidents and windows are read newest first)."""
    return {
        "incidents": [_incident_to_json(i) for i in state.incidents.values()],
        "notified": [
            [s, [[step, seq] for step, seq in steps.items()]] for s, steps in state.notified.items()
        ],
        "acknowledged": [[subject, ack] for subject, ack in state.acknowledged.items()],
        "windows": list(state.windows.values()),
        "rollbacks": state.rollbacks,
        "resolved": state.resolved,
        "last_pass": [[check_id, at] for check_id, at in state.last_pass.items()],
    }


def state_from_json(data: dict[str, Any]) -> MonitorState:
    """The state :func:`state_to_json` wrote; KeyError/TypeError/ValueError when it is not one."""
    incidents = [_incident_from_json(i) for i in data["incidents"]]
    return MonitorState(
        incidents={i.incident_id: i for i in incidents},
        notified={str(s): {int(k): int(v) for k, v in steps} for s, steps in data["notified"]},
        acknowledged={str(subject): dict(ack) for subject, ack in data["acknowledged"]},
        windows={str(w["window"]["end"]): dict(w) for w in data["windows"]},
        rollbacks=[dict(r) for r in data["rollbacks"]],
        resolved=[str(i) for i in data["resolved"]],
        last_pass={str(c): str(at) for c, at in data["last_pass"]},
    )


def snapshot_payload(folded: FoldedChain, limits: FoldLimits = LIMITS) -> dict[str, Any]:
    """The ``monitoring_state`` record of ``folded``: its state, and the record it was folded up to."""
    state = state_to_json(folded.state)
    return {
        "format": FORMAT,
        "source_seq": folded.head_seq,
        "source_hash": folded.head_hash,
        "limits": limits.to_dict(),
        "state_sha256": sha256_text(canonical_json(state)),
        "state": state,
    }


# --------------------------------------------------------------------------------------------------
# Reading: from the latest snapshot when it checks out, else from the first record
# --------------------------------------------------------------------------------------------------


def _from_snapshot(
    store: EvidenceStore, chain_id: str, snapshot: EvidenceRecord, limits: FoldLimits
) -> FoldedChain:
    """Fold onto ``snapshot``; :class:`EvidenceError` (or a malformed-payload error) when it does not
    check out against the records it summarises."""
    from release_gates.evidence.queries import verified_tail

    payload = snapshot.payload
    if payload.get("format") != FORMAT:
        raise EvidenceError(f"format {payload.get('format')!r}, not {FORMAT}")
    if payload.get("limits") != limits.to_dict():
        raise EvidenceError(f"made with other limits {payload.get('limits')!r}")
    source_seq = int(payload["source_seq"])
    if not 0 <= source_seq < snapshot.seq:
        raise EvidenceError(f"summarises up to #{source_seq}, not a record before it")
    tail = verified_tail(store, chain_id, max(source_seq, 1))
    if source_seq == 0:  # folded from nothing: the tail is the whole chain
        if payload["source_hash"] != GENESIS_HASH:
            raise EvidenceError("summarises no record but names a hash")
    else:
        tail, source = tail[1:], tail[0] if tail else None
        if source is None or source.seq != source_seq or source.hash != payload["source_hash"]:
            raise EvidenceError(f"record #{source_seq} is not the one it was folded up to (rewritten since)")
    own = next((r for r in tail if r.seq == snapshot.seq), None)
    if own is None or own.hash != snapshot.hash or own.payload != payload:
        raise EvidenceError("is not the record the verified chain holds at its seq")
    state_json = own.payload["state"]
    if sha256_text(canonical_json(state_json)) != own.payload["state_sha256"]:
        raise EvidenceError("its state does not match the state_sha256 it carries")
    state = fold_monitoring(tail, state_from_json(state_json), limits=limits)
    head = tail[-1] if tail else snapshot
    return FoldedChain(
        state=state,
        head_seq=head.seq,
        head_hash=head.hash,
        windows_since_snapshot=sum(1 for r in tail if r.kind == "monitoring_window"),
        snapshot_seq=snapshot.seq,
        records_read=len(tail) + 1,
    )


def load_state(store: EvidenceStore, chain_id: str, *, limits: FoldLimits = LIMITS) -> FoldedChain:
    """The monitoring chain folded (bounded by ``limits``) from its latest snapshot that checks out,
    else from its first record. An empty or missing chain folds to the empty state."""
    from release_gates.evidence.queries import latest_of_kind

    ignored = None
    snapshot = latest_of_kind(store, chain_id, SNAPSHOT_KIND)
    if snapshot is not None:
        try:
            return _from_snapshot(store, chain_id, snapshot, limits)
        except (EvidenceError, KeyError, TypeError, ValueError, AttributeError) as exc:
            ignored = f"snapshot {chain_id}#{snapshot.seq} not used: {exc}"
            log.warning("%s; folding the chain from its first record", ignored)
    records = store.records(chain_id)
    head = records[-1] if records else None
    return FoldedChain(
        state=fold_monitoring(records, limits=limits),
        head_seq=head.seq if head else 0,
        head_hash=head.hash if head else GENESIS_HASH,
        windows_since_snapshot=sum(1 for r in records if r.kind == "monitoring_window"),
        ignored=ignored,
        records_read=len(records),
    )


def record_snapshot_if_due(
    folded: FoldedChain, append: Callable[[str, dict[str, Any]], int], *, every: int | None = None
) -> int | None:
    """Append a snapshot of ``folded`` once ``every`` windows were folded on top of the last one;
    the new record's seq, or None. One too large to record is logged and skipped: the next step
    folds from the previous snapshot, slower, not wrong."""
    every = snapshot_every() if every is None else every
    if folded.windows_since_snapshot < every or folded.head_seq == 0:
        return None
    try:
        return append(SNAPSHOT_KIND, snapshot_payload(folded))
    except EvidenceError as exc:
        log.warning("Could not record the monitoring state at #%d: %s", folded.head_seq, exc)
        return None


def window_summary(store: EvidenceStore, chain_id: str, window_key: str) -> dict[str, Any] | None:
    """The latest ``monitoring_window`` summary of ``window_key`` in the store: for a window the
    bounded state no longer holds (a step re-run long after its window was evaluated)."""
    needle = '"end":' + canonical_json(window_key)
    found = [
        r
        for r in store.records(chain_id, kind="monitoring_window", containing=needle)
        if r.payload.get("window", {}).get("end") == window_key
    ]
    return {**found[-1].payload, "seq": found[-1].seq} if found else None


def incident_owner(store: EvidenceStore, chain_id: str, incident_id: str) -> tuple[bool, str | None]:
    """Whether the chain ever opened ``incident_id``, and its owner role: for an incident the bounded
    state has forgotten (resolved long ago) that someone acknowledges."""
    needle = '"incident_id":' + canonical_json(incident_id)
    for record in store.records(chain_id, kind="incident", containing=needle):
        payload = record.payload
        if payload.get("incident_id") == incident_id and payload.get("action") == "opened":
            owner = payload.get("owner_role")
            return True, str(owner) if owner is not None else None
    return False, None
