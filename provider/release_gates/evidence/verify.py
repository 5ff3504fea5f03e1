"""Chain verification, shared by the database path and offline bundles (no database needed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.exceptions import BundleError


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str
    sealed_at: str | None = None


@dataclass(frozen=True)
class VerifyReport:
    release_id: str
    ok: bool
    records: int
    head_hash: str
    sealed: bool
    first_bad_seq: int | None = None
    problem: str | None = None
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if self.ok:
            state = "sealed" if self.sealed else "open"
            head = self.head_hash[:16]
            return f"evidence verify: OK — {self.release_id}: {self.records} records, {state}, head {head}…"
        return f"evidence verify: FAILED — {self.release_id}: {self.problem}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "release_id": self.release_id,
            "ok": self.ok,
            "records": self.records,
            "head_hash": self.head_hash,
            "sealed": self.sealed,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "problems": self.problems,
        }


def verify_records(
    release_id: str,
    rows: Sequence[dict[str, Any]],
    head: ChainHead,
    *,
    payload_is_text: bool,
) -> VerifyReport:
    """Walk the chain in stored order and report every break, naming the first one.

    ``rows`` are ordered by ``seq``. Payloads are the stored canonical text (database) or parsed JSON
    (bundle, re-canonicalized here).
    """
    problems: list[tuple[int, str]] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for row in rows:
        seq = int(row["seq"])
        where = f"record #{seq} ({row['kind']})"
        if row.get("release_id", release_id) != release_id:
            problems.append((seq, f"{where} belongs to release {row['release_id']!r}"))
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
                problems.append((expected_seq, f"record {missing} is missing (deleted) before {where}"))
            else:
                problems.append((seq, f"{where} is out of order or duplicated (expected #{expected_seq})"))
        try:
            text = row["payload"] if payload_is_text else canonical_json(row["payload"])
        except (TypeError, ValueError) as exc:
            problems.append((seq, f"{where} payload is not valid canonical JSON: {exc}"))
            text = ""
        if payload_is_text:
            try:
                json.loads(text)
            except ValueError:
                problems.append((seq, f"{where} payload is not valid JSON (edited)"))
        if sha256_text(text) != row["payload_sha256"]:
            problems.append((seq, f"{where} payload was edited (sha256 does not match)"))
        if row["prev_hash"] != prev_hash:
            problems.append(
                (
                    seq,
                    f"{where} does not follow the previous record (prev_hash mismatch: inserted, "
                    "reordered or a record before it was removed)",
                )
            )
        computed = record_hash(
            release_id=release_id,
            seq=seq,
            kind=row["kind"],
            recorded_at=row["recorded_at"],
            actor=row["actor"],
            payload_sha256=row["payload_sha256"],
            prev_hash=row["prev_hash"],
        )
        if computed != row["hash"]:
            problems.append((seq, f"{where} hash does not match its contents (record altered or moved)"))
        prev_hash = row["hash"]
        expected_seq = seq + 1

    last_seq = int(rows[-1]["seq"]) if rows else 0
    if head.seq != last_seq or head.hash != prev_hash:
        problems.append(
            (
                min(head.seq, last_seq) + 1 if head.seq > last_seq else last_seq,
                f"chain head says #{head.seq} ({head.hash[:12]}…) but the last record is #{last_seq}"
                + (" — records at the end were deleted" if head.seq > last_seq else " — head was altered"),
            )
        )

    problems.sort(key=lambda p: p[0])
    first = problems[0] if problems else None
    return VerifyReport(
        release_id=release_id,
        ok=not problems,
        records=len(rows),
        head_hash=head.hash,
        sealed=head.sealed_at is not None,
        first_bad_seq=first[0] if first else None,
        problem=first[1] if first else None,
        problems=[p[1] for p in problems],
    )


def verify_bundle(bundle: dict[str, Any] | str | Path) -> VerifyReport:
    """Verify an exported bundle (dict, JSON text or file path) without any database."""
    if isinstance(bundle, Path) or (isinstance(bundle, str) and not bundle.lstrip().startswith("{")):
        try:
            bundle = json.loads(Path(bundle).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read evidence bundle {bundle}: {exc}") from exc
    elif isinstance(bundle, str):
        bundle = json.loads(bundle)
    assert isinstance(bundle, dict)
    if bundle.get("format") != "release-gates-evidence" or bundle.get("format_version") != 1:
        raise BundleError(
            f"not a release-gates evidence bundle (format={bundle.get('format')!r}, "
            f"format_version={bundle.get('format_version')!r})"
        )
    try:
        head = ChainHead(**bundle["head"])
        rows = sorted(bundle["records"], key=lambda r: int(r["seq"]))
        return verify_records(bundle["release_id"], rows, head, payload_is_text=False)
    except (KeyError, TypeError) as exc:
        raise BundleError(f"evidence bundle is missing a field: {exc}") from exc
