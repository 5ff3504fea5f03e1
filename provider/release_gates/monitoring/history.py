"""Reading a model's evidence: its release chains and its monitoring chain, in one query each.

A release chain belongs to a model when its first record is ``release_started`` with that ``model``;
the monitoring chain is ``monitor__<model>``. Records come back as
:class:`~release_gates.evidence.EvidenceRecord`, ordered by chain creation and sequence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from release_gates.evidence import EvidenceRecord
from release_gates.monitoring.plan import MONITOR_CHAIN_PREFIX, monitor_chain_id

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceStore


@dataclass
class ModelHistory:
    """Evidence of one model (or of every model): release chains and monitoring records."""

    releases: dict[str, list[EvidenceRecord]] = field(default_factory=dict)
    monitoring: dict[str, list[EvidenceRecord]] = field(default_factory=dict)

    def models(self) -> list[str]:
        names = {release_model(records) for records in self.releases.values()}
        names |= {chain.removeprefix(MONITOR_CHAIN_PREFIX) for chain in self.monitoring}
        return sorted(n for n in names if n)

    def monitor_records(self, model: str) -> list[EvidenceRecord]:
        return self.monitoring.get(monitor_chain_id(model), [])


def release_model(records: Iterable[EvidenceRecord]) -> str | None:
    for record in records:
        if record.kind == "release_started":
            model = record.payload.get("model")
            return str(model) if model else None
        return None
    return None


def load_history(store: EvidenceStore, *, model: str | None = None) -> ModelHistory:
    """Release chains (of ``model``, or all) and monitoring chains, read in one query."""
    from sqlalchemy import select

    from release_gates.evidence.schema import chains, records

    store.ensure_schema()
    query = (
        select(records)
        .join(chains, chains.c.release_id == records.c.release_id)
        .order_by(chains.c.created_at, records.c.release_id, records.c.seq)
    )
    if model is not None:
        query = query.where(
            records.c.release_id.in_(select(records.c.release_id).where(records.c.kind == "release_started"))
            | (records.c.release_id == monitor_chain_id(model))
        )
    grouped: dict[str, list[EvidenceRecord]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            grouped.setdefault(row.release_id, []).append(
                EvidenceRecord(
                    release_id=row.release_id,
                    seq=row.seq,
                    kind=row.kind,
                    recorded_at=row.recorded_at,
                    actor=row.actor,
                    payload=json.loads(row.payload),
                    payload_sha256=row.payload_sha256,
                    prev_hash=row.prev_hash,
                    hash=row.hash,
                )
            )
    history = ModelHistory()
    for chain_id, chain_records in grouped.items():
        if chain_id.startswith(MONITOR_CHAIN_PREFIX):
            if model is None or chain_id == monitor_chain_id(model):
                history.monitoring[chain_id] = chain_records
        elif (owner := release_model(chain_records)) is not None and model in (None, owner):
            history.releases[chain_id] = chain_records
    return history
