"""Canonical JSON and the record hash — the part of the evidence trail an auditor re-implements.

A record's hash covers everything that identifies it, so editing, deleting, reordering or inserting
a record breaks the chain at that record::

    payload_sha256 = sha256(canonical_json(payload))
    hash = sha256(canonical_json({
        "release_id", "seq", "kind", "recorded_at", "actor", "payload_sha256", "prev_hash"
    }))

``canonical_json`` is JSON with sorted keys, no insignificant whitespace, UTF-8, and no NaN/Infinity.
The first record's ``prev_hash`` is 64 zeros.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from release_gates.results import _json_safe

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    _json_safe(value, "payload")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_hash(
    *,
    release_id: str,
    seq: int,
    kind: str,
    recorded_at: str,
    actor: str | None,
    payload_sha256: str,
    prev_hash: str,
) -> str:
    return sha256_text(
        canonical_json(
            {
                "release_id": release_id,
                "seq": seq,
                "kind": kind,
                "recorded_at": recorded_at,
                "actor": actor,
                "payload_sha256": payload_sha256,
                "prev_hash": prev_hash,
            }
        )
    )
