"""The signed release attestation: an in-toto Statement v1 in a DSSE envelope, verifiable offline.

At the seal, the release's Statement (:mod:`release_gates.evidence.statement`: the artifacts it judged
by sha256, and every verdict, check digest, human answer and the decision) is signed as a DSSE
envelope with the evidence signing key (:mod:`release_gates.evidence.signing`); the envelope's
signature ``keyid`` is the key's ``key_id``. The seal record names the envelope file's sha256, so the
seal — and any checkpoint signing it — covers it.

An auditor needs the envelope and the public key; with an exported evidence bundle,
:func:`verify_attestation` also proves every statement against the records — no database, no Airflow.

securesystemslib's ``dsse.Envelope`` computes DSSE's pre-authentication encoding and signs with
``CryptoSigner`` (Ed25519, offline); ``SSlibKey`` verifies each signature, so the DSSE rules are
nobody's hand-written copy here.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.evidence.canonical import canonical_json
from release_gates.evidence.statement import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    AttestationError,
    build_statement,
    release_subjects,
    validate_statement,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from release_gates.evidence.signing import PublicKeys, SigningKey

#: DSSE ``payloadType`` of an in-toto Statement.
PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: The file the seal step writes next to the release report.
FILE_NAME = "attestation.intoto.json"


# --------------------------------------------------------------------------------------------------
# The DSSE envelope
# --------------------------------------------------------------------------------------------------


def sign_statement(statement: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """A DSSE envelope of ``statement`` (canonical JSON), signed by ``key`` under its ``key_id``."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]  # no __all__

    validate_statement(statement)
    public = SSlibKey.from_crypto(key.public_key, keyid=key.key_id)
    envelope = Envelope(canonical_json(dict(statement)).encode("utf-8"), PAYLOAD_TYPE, {})
    envelope.sign(CryptoSigner(key.private_key, public))
    signed: dict[str, Any] = envelope.to_dict()
    return signed


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """The envelope as written: compact JSON, sorted keys, one line."""
    return (json.dumps(envelope, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttestationReport:
    """What :func:`verify_attestation` found; ``problem`` names the first thing wrong."""

    ok: bool
    sha256: str
    signed_by: list[str] = field(default_factory=list)
    release_id: str | None = None
    decision: str | None = None
    subjects: list[dict[str, Any]] = field(default_factory=list)
    evidence_checked: bool = False
    problem: str | None = None
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        if not self.ok:
            return f"attest verify: FAILED — {self.problem}"
        checked = (
            "every statement matches the evidence bundle"
            if self.evidence_checked
            else "not compared with the evidence (give --bundle)"
        )
        return (
            f"attest verify: OK — release {self.release_id}: {self.decision}, {len(self.subjects)} "
            f"subject(s), signed by {', '.join(self.signed_by)}; {checked}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sha256": self.sha256,
            "signed_by": self.signed_by,
            "release_id": self.release_id,
            "decision": self.decision,
            "subjects": self.subjects,
            "evidence_checked": self.evidence_checked,
            "problem": self.problem,
            "problems": self.problems,
        }


def _strict_b64(text: Any, what: str) -> bytes:
    """Base64 that re-encodes to itself: a changed character never decodes to the same bytes."""
    if not isinstance(text, str):
        raise AttestationError(f"{what} is not a string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError(f"{what} is not base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise AttestationError(f"{what} is not canonical base64 (altered)")
    return data


def _open_envelope(
    raw: bytes, public_keys: Mapping[str, Ed25519PublicKey], problems: list[str]
) -> tuple[dict[str, Any] | None, list[str]]:
    """The Statement and the key ids whose signature verified; problems appended in order."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import FormatError, UnverifiedSignatureError, VerificationError
    from securesystemslib.signer import SSlibKey  # type: ignore[attr-defined]  # no __all__

    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        problems.append(f"the attestation is not a JSON DSSE envelope: {exc}")
        return None, []
    if not isinstance(data, dict) or set(data) != {"payload", "payloadType", "signatures"}:
        problems.append("the attestation is not a DSSE envelope (payload, payloadType, signatures)")
        return None, []
    signatures = data["signatures"]
    if (
        not isinstance(signatures, list)
        or not signatures
        or not all(
            isinstance(s, dict) and set(s) == {"keyid", "sig"} and isinstance(s["keyid"], str)
            for s in signatures
        )
    ):
        problems.append("the envelope's signatures are missing or malformed (each needs keyid and sig)")
        return None, []
    if data["payloadType"] != PAYLOAD_TYPE:
        problems.append(f"payloadType is {data['payloadType']!r}, not {PAYLOAD_TYPE}")
    try:
        payload = _strict_b64(data["payload"], "the payload")
        for signature in signatures:
            _strict_b64(signature["sig"], f"the signature by {signature['keyid']!r}")
        envelope = Envelope.from_dict(copy.deepcopy(data))
    except (AttestationError, FormatError, ValueError) as exc:
        problems.append(str(exc))
        return None, []
    signed_by: list[str] = []
    for key_id, signature in envelope.signatures.items():
        public = public_keys.get(key_id)
        if public is None:
            known = ", ".join(sorted(public_keys)) or "none"
            problems.append(f"signed by key {key_id!r}, which is not among the trusted keys ({known})")
            continue
        try:
            SSlibKey.from_crypto(public, keyid=key_id).verify_signature(signature, envelope.pae())
        except (UnverifiedSignatureError, VerificationError):
            problems.append(f"the signature by {key_id!r} does not match (the envelope was altered or signed "
                            "by another key)")  # fmt: skip
            continue
        signed_by.append(key_id)
    try:
        statement = json.loads(payload.decode("utf-8"))
        validate_statement(statement)
    except (UnicodeDecodeError, ValueError) as exc:
        problems.append(f"the payload is not a release attestation: {exc}")
        return None, signed_by
    return statement, signed_by


def _as_public_keys(keys: Mapping[str, Ed25519PublicKey]) -> PublicKeys:
    from release_gates.evidence.signing import PublicKeys

    return keys if isinstance(keys, PublicKeys) else PublicKeys(keys)


def verify_attestation(
    envelope_json: str | bytes | Mapping[str, Any],
    public_keys: Mapping[str, Ed25519PublicKey],
    bundle: Mapping[str, Any] | str | Path | None = None,
) -> AttestationReport:
    """Verify a release attestation: every signature by a trusted key (``public_keys``, by key id).

    With ``bundle`` (an exported evidence bundle: a dict, JSON text or a file path) also: the bundle
    verifies, the release is sealed and its seal names this envelope's sha256 and key, and every
    subject, gate verdict, check digest, human answer and the decision match the records.

    Raises :class:`~release_gates.exceptions.BundleError` when ``bundle`` is not a readable bundle.
    """
    if isinstance(envelope_json, Mapping):
        raw = envelope_bytes(envelope_json)
    else:
        raw = envelope_json.encode("utf-8") if isinstance(envelope_json, str) else bytes(envelope_json)
    sha256 = hashlib.sha256(raw).hexdigest()
    problems: list[str] = []
    statement, signed_by = _open_envelope(raw, public_keys, problems)
    predicate: Mapping[str, Any] = (statement or {}).get("predicate") or {}
    release = predicate.get("release") if isinstance(predicate.get("release"), Mapping) else {}
    decision = predicate.get("decision") if isinstance(predicate.get("decision"), Mapping) else {}
    if bundle is not None and statement is not None:
        from release_gates.evidence.attestation_check import compare_with_bundle

        problems += compare_with_bundle(
            statement, bundle, envelope_sha256=sha256, signed_by=signed_by, keys=_as_public_keys(public_keys)
        )
    return AttestationReport(
        ok=not problems and bool(signed_by),
        sha256=sha256,
        signed_by=signed_by,
        release_id=release.get("id") if release else None,
        decision=decision.get("outcome") if decision else None,
        subjects=list((statement or {}).get("subject") or []),
        evidence_checked=bundle is not None and statement is not None,
        problem=problems[0] if problems else (None if signed_by else "no signature verified"),
        problems=problems,
    )


__all__ = [
    "FILE_NAME",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "AttestationError",
    "AttestationReport",
    "build_statement",
    "envelope_bytes",
    "release_subjects",
    "sign_statement",
    "validate_statement",
    "verify_attestation",
]
