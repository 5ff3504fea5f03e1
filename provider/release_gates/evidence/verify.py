"""Chain verification, shared by the database path and offline bundles (no database needed)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.exceptions import BundleError

if TYPE_CHECKING:
    from release_gates.evidence.checkpoints import Checkpoint
    from release_gates.evidence.signing import PublicKeys, SigningKey


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
    #: How many checkpoints the chain carries, and what was checked of them: ``verified`` (every
    #: signature, with the trusted keys), ``unchecked`` (links only: no public keys given), ``none``.
    checkpoints: int = 0
    signatures: str = "none"

    def __str__(self) -> str:
        if self.ok:
            state = "sealed" if self.sealed else "open"
            head = self.head_hash[:16]
            signed = {
                "verified": f", {self.checkpoints} signed checkpoint(s) verified",
                "unchecked": f", {self.checkpoints} checkpoint(s) NOT checked: pass the public key(s)",
                "none": ", no signed checkpoints",
            }[self.signatures]
            what = f"{self.records} records, {state}, head {head}…{signed}"
            return f"evidence verify: OK — {self.release_id}: {what}"
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
            "checkpoints": self.checkpoints,
            "signatures": self.signatures,
        }


def _payload_problems(row: dict[str, Any], payload_is_text: bool) -> list[str]:
    """What is wrong with one record's payload against its stored digest."""
    problems = []
    try:
        text = row["payload"] if payload_is_text else canonical_json(row["payload"])
    except (TypeError, ValueError) as exc:
        problems.append(f"payload is not valid canonical JSON: {exc}")
        text = ""
    if payload_is_text:
        try:
            json.loads(text)
        except ValueError:
            problems.append("payload is not valid JSON (edited)")
    if sha256_text(text) != row["payload_sha256"]:
        problems.append("payload was edited (sha256 does not match)")
    return problems


def verify_records(
    release_id: str,
    rows: Sequence[dict[str, Any]],
    head: ChainHead | None,
    *,
    payload_is_text: bool,
    checkpoints: Sequence[Checkpoint] = (),
    keys: PublicKeys | None = None,
) -> VerifyReport:
    """Walk the chain in stored order and report every break, naming the first one.

    ``rows`` are ordered by ``seq``. Payloads are the stored canonical text (database) or parsed JSON
    (bundle, re-canonicalized here). ``head``: what a bundle says its head is (the database derives
    the head from the records: None). ``checkpoints`` and ``keys``: see
    :func:`release_gates.evidence.checkpoints.checkpoint_problems`.
    """
    from release_gates.evidence.checkpoints import checkpoint_problems

    problems: list[tuple[int, str]] = []
    seal_seq: int | None = None
    sealed_at: str | None = None
    prev_hash = GENESIS_HASH
    expected_seq = 1
    for row in rows:
        seq = int(row["seq"])
        where = f"record #{seq} ({row['kind']})"
        if row.get("release_id", release_id) != release_id:
            problems.append((seq, f"{where} belongs to release {row['release_id']!r}"))
        if seal_seq is not None:
            problems.append((seq, f"{where} comes after the seal (#{seal_seq}): appended to a sealed chain"))
        elif row["kind"] == "release_sealed":
            seal_seq, sealed_at = seq, str(row["recorded_at"])
        if seq != expected_seq:
            if seq > expected_seq:
                missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
                problems.append((expected_seq, f"record {missing} is missing (deleted) before {where}"))
            else:
                problems.append((seq, f"{where} is out of order or duplicated (expected #{expected_seq})"))
        problems += [(seq, f"{where} {problem}") for problem in _payload_problems(row, payload_is_text)]
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
    if head is not None and (head.seq != last_seq or head.hash != prev_hash):
        problems.append(
            (
                min(head.seq, last_seq) + 1 if head.seq > last_seq else last_seq,
                f"chain head says #{head.seq} ({head.hash[:12]}…) but the last record is #{last_seq}"
                + (" — records at the end were deleted" if head.seq > last_seq else " — head was altered"),
            )
        )

    # The seal is a record, as in the store: a head that says "sealed" without one (or "open" with
    # one, or another time) was edited — a held release's bundle must not read as sealed.
    if head is not None and head.sealed_at != sealed_at:
        said = f"sealed at {head.sealed_at}" if head.sealed_at is not None else "open"
        found = f"#{seal_seq} seals it at {sealed_at}" if seal_seq is not None else "no record seals it"
        problems.append((seal_seq or last_seq, f"chain head says {said} but {found} — head was altered"))

    hashes = {int(row["seq"]): str(row["hash"]) for row in rows}
    problems += checkpoint_problems(release_id, hashes, checkpoints, seal_seq=seal_seq, keys=keys)
    problems.sort(key=lambda p: p[0])
    first = problems[0] if problems else None
    return VerifyReport(
        release_id=release_id,
        ok=not problems,
        records=len(rows),
        head_hash=head.hash if head is not None else prev_hash,
        sealed=seal_seq is not None,
        first_bad_seq=first[0] if first else None,
        problem=first[1] if first else None,
        problems=[p[1] for p in problems],
        checkpoints=len(checkpoints),
        signatures="none" if not checkpoints else ("verified" if keys is not None else "unchecked"),
    )


def verify_bundle(bundle: dict[str, Any] | str | Path, *, keys: PublicKeys | None = None) -> VerifyReport:
    """Verify an exported bundle (dict, JSON text or file path) without any database; with ``keys``,
    its signed checkpoints too."""
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
        from release_gates.evidence.checkpoints import Checkpoint

        head = ChainHead(**bundle["head"])
        rows = sorted(bundle["records"], key=lambda r: int(r["seq"]))
        signed = [Checkpoint.from_row(c) for c in bundle.get("checkpoints") or []]
        return verify_records(
            bundle["release_id"], rows, head, payload_is_text=False, checkpoints=signed, keys=keys
        )
    except (KeyError, TypeError) as exc:
        raise BundleError(f"evidence bundle is missing a field: {exc}") from exc


def already_signed(
    verified: VerifyReport, head: tuple[int, str], existing: Sequence[Checkpoint], signer: SigningKey
) -> Checkpoint | None:
    """Before ``signer`` signs ``head`` (seq, hash) of the chain ``verified`` read: the checkpoint it
    already made of it, or None (sign now).

    A signature vouches for every record before the head, so a chain that does not verify — or moved
    on since — is refused, and a row under the signer's key id for this head that is not its
    signature (written into the table by someone else) is reported, never returned as its own; both
    :class:`~release_gates.exceptions.EvidenceError`.
    """
    from release_gates.evidence.signing import PublicKeys
    from release_gates.exceptions import EvidenceError

    release_id = verified.release_id
    if not verified.ok:
        raise EvidenceError(
            f"{release_id} does not verify, so its head is not signed: {verified.problem} "
            f"(see `release-gates evidence verify {release_id}`)"
        )
    if head != (verified.records, verified.head_hash):
        raise EvidenceError(f"{release_id} moved on while it was verified; sign it again")
    own = PublicKeys({signer.key_id: signer.public_key})
    for checkpoint in existing:
        if checkpoint.seq == head[0] and checkpoint.key_id == signer.key_id:
            if (
                checkpoint.record_hash == head[1]
                and own.problem(checkpoint.key_id, checkpoint.signature, checkpoint.message()) is None
            ):
                return checkpoint
            raise EvidenceError(
                f"{release_id} #{head[0]} already holds a checkpoint under key {signer.key_id!r} that this "
                f"key did not make — someone wrote it into the checkpoint table; see `release-gates evidence "
                f"verify {release_id}`"
            )
    return None
