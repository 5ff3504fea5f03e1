"""Chains, bundles and keys for the evidence-integrity attacks: what the attacker starts from.

``signed_store`` writes a release chain the way the store does with a signing key (a checkpoint of
every seal); ``rehashed`` is what someone who can edit a bundle does after changing a record — every
digest and hash after it recomputed, the signed checkpoints dropped — so the bundle verifies on its
own and only a signature can tell. The sealed release with its attestation comes from the
attestation tests (``tests/unit/test_attestation.py``), written by the real seal step.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from release_gates import cli
from release_gates.evidence import EvidenceStore
from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.evidence.signing import PublicKeys, SigningKey

RELEASE = "release_credit__run_1"


def trusted(*keys: SigningKey) -> PublicKeys:
    return PublicKeys({key.key_id: key.public_key for key in keys})


def signed_store(tmp_path: Path, signer: SigningKey | None, *, seal: str | None = None) -> EvidenceStore:
    """A release chain: started, a blocked gate, and sealed with ``seal`` as its decision (None: open)."""
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}", signer=signer)
    store.append(RELEASE, "release_started", {"model": "credit-model"}, actor="release.start")
    store.append(RELEASE, "check_result", {"check_id": "ethics.fairness", "status": "FAIL"}, actor="c")
    store.append(RELEASE, "gate_decision", {"gate": "ethics", "outcome": "blocked"}, actor="g")
    if seal is not None:
        store.append(RELEASE, "release_sealed", {"decision": seal, "reasons": []}, actor="release.seal")
    return store


def rehashed(bundle: dict[str, Any], edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """``bundle`` after ``edit`` (of the bundle), every digest and hash recomputed, checkpoints dropped."""
    forged = copy.deepcopy(bundle)
    if edit is not None:
        edit(forged)
    previous = GENESIS_HASH
    for row in sorted(forged["records"], key=lambda r: int(r["seq"])):
        row["payload_sha256"] = sha256_text(canonical_json(row["payload"]))
        row["prev_hash"] = previous
        row["hash"] = previous = record_hash(
            release_id=row["release_id"], seq=row["seq"], kind=row["kind"], recorded_at=row["recorded_at"],
            actor=row["actor"], payload_sha256=row["payload_sha256"], prev_hash=row["prev_hash"],
        )  # fmt: skip
    forged["head"]["seq"] = max((int(r["seq"]) for r in forged["records"]), default=0)
    forged["head"]["hash"] = previous
    forged["checkpoints"] = []
    return forged


def record_of(bundle: dict[str, Any], kind: str, index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = [r for r in bundle["records"] if r["kind"] == kind][index]
    return found


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()
