"""Reading a model's evidence: its release chains and its monitoring chain, in one query each.

A release chain belongs to a model when its first record is ``release_started`` with that ``model``;
the monitoring chain is ``monitor__<model>``. Records come back as
:class:`~release_gates.evidence.EvidenceRecord`, ordered by chain creation and sequence. The queries
are the store's (:meth:`~release_gates.evidence.EvidenceStore.release_chains`,
:meth:`~release_gates.evidence.EvidenceStore.chains_with_prefix`), so an unreadable payload is
reported here as everywhere else: an ``EvidenceError`` naming the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from release_gates.evidence import EvidenceRecord, release_model
from release_gates.monitoring.plan import MONITOR_CHAIN_PREFIX, monitor_chain_id

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceStore

__all__ = ["ModelHistory", "load_history", "release_model"]


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


def load_history(store: EvidenceStore, *, model: str | None = None, monitoring: bool = True) -> ModelHistory:
    """Release chains (of ``model``, or all) and monitoring chains (of ``model``, or all; none without
    ``monitoring``: a monitoring step reads its own chain from its snapshot instead)."""
    releases = store.release_chains(model)
    if not monitoring:
        monitoring_chains: dict[str, list[EvidenceRecord]] = {}
    elif model is None:
        monitoring_chains = store.chains_with_prefix(MONITOR_CHAIN_PREFIX)
    else:
        chain_id = monitor_chain_id(model)
        own = store.records(chain_id)
        monitoring_chains = {chain_id: own} if own else {}
    return ModelHistory(
        # A monitoring chain is never a release, whatever its first record says.
        releases={k: v for k, v in releases.items() if not k.startswith(MONITOR_CHAIN_PREFIX)},
        monitoring=monitoring_chains,
    )
