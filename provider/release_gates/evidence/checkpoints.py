"""Signed checkpoints: a key held outside the database vouches for a chain's head.

The hash chain proves a trail was not edited *between* its records, but whoever can write the
database can rewrite every record with recomputed hashes, cut the tail, or remove a seal and go on
appending. A checkpoint closes that: the Ed25519 signature of ``(chain, seq, record hash)``
(:func:`release_gates.evidence.signing.checkpoint_message`) by a key the database never sees. The
store signs one with every seal and every ``checkpoint_every`` records of a long (monitoring) chain.

What :func:`checkpoint_problems` reports, each naming the checkpoint and the record:

* the record a checkpoint vouches for is gone — the tail was cut;
* it is there with another hash — the chain was rewritten from that point back;
* the signature does not verify, or its key is not trusted;
* a sealed chain without a valid checkpoint of its seal (with trusted keys given): a seal whose
  signature was removed, or a chain unsealed and extended;
* records after the seal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from release_gates.evidence.signing import checkpoint_message

if TYPE_CHECKING:
    from release_gates.evidence.signing import PublicKeys, SigningKey


@dataclass(frozen=True)
class Checkpoint:
    release_id: str
    seq: int
    record_hash: str
    record_kind: str
    key_id: str
    signature: str
    signed_at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Checkpoint:
        return cls(
            release_id=str(row["release_id"]),
            seq=int(row["seq"]),
            record_hash=str(row["record_hash"]),
            record_kind=str(row["record_kind"]),
            key_id=str(row["key_id"]),
            signature=str(row["signature"]),
            signed_at=str(row["signed_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_row(self) -> dict[str, Any]:
        return self.to_dict()

    def message(self) -> bytes:
        return checkpoint_message(self.release_id, self.seq, self.record_hash, self.record_kind)


def sign_checkpoint(
    release_id: str, seq: int, record_hash: str, record_kind: str, signer: SigningKey, *, signed_at: str
) -> Checkpoint:
    signature = signer.sign(checkpoint_message(release_id, seq, record_hash, record_kind))
    return Checkpoint(release_id, seq, record_hash, record_kind, signer.key_id, signature, signed_at)


def checkpoint_problems(
    release_id: str,
    hashes: Mapping[int, str],
    checkpoints: Sequence[Checkpoint],
    *,
    seal_seq: int | None,
    keys: PublicKeys | None,
) -> list[tuple[int, str]]:
    """``(seq, problem)`` for every checkpoint that does not hold, and for an unsigned seal.

    ``hashes``: each stored record's seq → hash. Without ``keys`` only the links are checked (a
    signature cannot be judged without the public key), and an unsigned seal is not a problem.
    """
    problems: list[tuple[int, str]] = []
    last_seq = max(hashes, default=0)
    signed_seal = False
    for checkpoint in checkpoints:
        where = f"checkpoint of #{checkpoint.seq} (key {checkpoint.key_id})"
        if checkpoint.release_id != release_id:
            problems.append((checkpoint.seq, f"{where} belongs to release {checkpoint.release_id!r}"))
            continue
        stored = hashes.get(checkpoint.seq)
        if stored is None:
            problems.append(
                (
                    min(checkpoint.seq, last_seq + 1),
                    f"{where} vouches for a record that is gone: the chain ends at #{last_seq} — "
                    "records at the end were deleted (truncated)",
                )
            )
            continue
        if stored != checkpoint.record_hash:
            what = (
                "the sealed chain was unsealed and extended, or rewritten"
                if checkpoint.record_kind == "release_sealed"
                else "the chain was rewritten"
            )
            problems.append(
                (
                    checkpoint.seq,
                    f"{where} signed {checkpoint.record_kind} {checkpoint.record_hash[:12]}… but record "
                    f"#{checkpoint.seq} now has {stored[:12]}… — {what}",
                )
            )
            continue
        if keys is not None:
            wrong = keys.problem(checkpoint.key_id, checkpoint.signature, checkpoint.message())
            if wrong is not None:
                problems.append((checkpoint.seq, f"{where}: {wrong}"))
                continue
            if checkpoint.seq == seal_seq:
                signed_seal = True
    if keys is not None and seal_seq is not None and not signed_seal:
        problems.append(
            (
                seal_seq,
                f"the seal (#{seal_seq}) carries no valid signed checkpoint: its signature was removed, "
                "or the chain was unsealed and extended, or it was sealed without a signing key",
            )
        )
    return problems
