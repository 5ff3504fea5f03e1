"""One record of an evidence chain, as read back (a leaf module: the store and its readers share it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EvidenceRecord:
    release_id: str
    seq: int
    kind: str
    recorded_at: str
    actor: str | None
    payload: dict[str, Any]
    payload_sha256: str
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "seq": self.seq,
            "kind": self.kind,
            "recorded_at": self.recorded_at,
            "actor": self.actor,
            "payload": self.payload,
            "payload_sha256": self.payload_sha256,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
