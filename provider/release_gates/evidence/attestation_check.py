"""A release attestation held against an exported evidence bundle: every statement must match the records.

The bundle is verified first (:func:`release_gates.evidence.verify.verify_bundle`). Then the Statement
is rebuilt from the bundle's records before the seal — :func:`~release_gates.evidence.attestation.
build_statement` is deterministic — with the policy sha256 the release started with and the decision
the seal recorded, and compared part by part: release, policy, subjects, gate verdicts, check digests,
human answers, decision. The attested chain head must be a record of the chain (same hash) before the
seal, and the seal must name this envelope's sha256 and signing key. Each part reports its first
mismatch, in that order.

A bundle's hashes are not keyed: whoever edits a record can recompute the whole chain, and the bundle
still verifies. The signed chain head and digests are what such a rewrite cannot match — up to the
attested head. The records after it (the policy snapshot, the report's file hashes, the seal itself)
are signed only by the seal's checkpoint, which the store makes with the key that signs the
attestation; a bundle without it is refused, whatever else matches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.evidence.record import EvidenceRecord
from release_gates.evidence.statement import AttestationError, build_statement, release_subjects
from release_gates.evidence.verify import verify_bundle
from release_gates.exceptions import BundleError

if TYPE_CHECKING:
    from release_gates.evidence.signing import PublicKeys


def load_bundle(bundle: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """A bundle given as a dict, JSON text or a file path, as a dict (:class:`BundleError` if not)."""
    if isinstance(bundle, Mapping):
        return dict(bundle)
    try:
        if isinstance(bundle, Path) or not bundle.lstrip().startswith("{"):
            data = json.loads(Path(bundle).read_text("utf-8"))
        else:
            data = json.loads(bundle)
    except (OSError, ValueError) as exc:
        raise BundleError(f"cannot read the evidence bundle: {exc}") from None
    if not isinstance(data, dict):
        raise BundleError("the evidence bundle is not a JSON object")
    return data


def _records(bundle: Mapping[str, Any]) -> list[EvidenceRecord]:
    try:
        return [
            EvidenceRecord(**{k: row[k] for k in EvidenceRecord.__dataclass_fields__})
            for row in sorted(bundle["records"], key=lambda r: int(r["seq"]))
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"the evidence bundle has a malformed record: {exc}") from None


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


def difference(attested: Any, expected: Any, path: str = "") -> str | None:
    """The first place two JSON values differ, as ``path is X in the attestation, Y in the evidence``."""
    where = path.rstrip(".") or "the value"
    if isinstance(attested, Mapping) and isinstance(expected, Mapping):
        for key in dict.fromkeys([*expected, *attested]):
            if key not in attested:
                return f"{path}{key} is missing from the attestation"
            if key not in expected:
                return f"{path}{key} is in the attestation but not in the evidence"
            if found := difference(attested[key], expected[key], f"{path}{key}."):
                return found
        return None
    if isinstance(attested, list) and isinstance(expected, list):
        if len(attested) != len(expected):
            return f"{where} has {len(attested)} entries in the attestation, {len(expected)} in the evidence"
        for index, (a, e) in enumerate(zip(attested, expected, strict=True)):
            if found := difference(a, e, f"{path}{index}."):
                return found
        return None
    if json.dumps(attested, sort_keys=True) != json.dumps(expected, sort_keys=True):  # True is not 1
        return f"{where} is {_show(attested)} in the attestation, {_show(expected)} in the evidence"
    return None


def _keyed(
    attested: Any,
    expected: Sequence[Mapping[str, Any]],
    key: Callable[[Mapping[str, Any]], Any],
    label: Callable[[Mapping[str, Any]], str],
    section: str,
) -> str | None:
    """Entries matched by ``key``: the first one missing on either side, or differing."""
    if not isinstance(attested, list) or not all(isinstance(x, Mapping) for x in attested):
        return f"{section}: not a list of objects in the attestation"
    ours = {json.dumps(key(x), sort_keys=True): x for x in attested}
    theirs = {json.dumps(key(x), sort_keys=True): x for x in expected}
    if len(ours) != len(attested):
        return f"{section}: the attestation lists an entry twice"
    for k, entry in ours.items():
        if k not in theirs:
            return f"{label(entry)} is in the attestation but not in the evidence"
        if found := difference(entry, theirs[k]):
            return f"{label(entry)}: {found}"
    for k, entry in theirs.items():
        if k not in ours:
            return f"{label(entry)} is in the evidence but missing from the attestation"
    return None


def _subjects(attested: Any, expected: Sequence[Mapping[str, Any]]) -> str | None:
    def digest(entry: Mapping[str, Any]) -> Any:
        found = entry.get("digest")
        return found.get("sha256") if isinstance(found, Mapping) else None

    if isinstance(attested, list):
        evidence_digests = {e["name"]: digest(e) for e in expected}
        for entry in attested:
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if name in evidence_digests and not any(
                e["name"] == name and digest(e) == digest(entry) for e in expected
            ):
                return (
                    f"subject {name}: sha256 {str(digest(entry))[:16]}… in the attestation, "
                    f"{str(evidence_digests[name])[:16]}… in the evidence"
                )
    return _keyed(
        attested,
        expected,
        key=lambda e: [e.get("name"), digest(e)],
        label=lambda e: f"subject {e.get('name')} (sha256 {str(digest(e))[:16]}…)",
        section="subjects",
    )


def _seq(entry: Mapping[str, Any]) -> Any:
    ref = entry.get("evidence")
    return ref.get("seq") if isinstance(ref, Mapping) else None


def _head(
    predicate: Mapping[str, Any], records: Sequence[EvidenceRecord], seal: EvidenceRecord
) -> str | None:
    evidence = predicate.get("evidence")
    if not isinstance(evidence, Mapping):
        return "the attestation names no chain head"
    head = evidence.get("head")
    if not isinstance(head, Mapping):
        return "the attestation names no chain head"
    if evidence.get("chain") != seal.release_id:
        return f"the attestation is of chain {evidence.get('chain')!r}, the bundle of {seal.release_id!r}"
    record = next((r for r in records if r.seq == head.get("seq")), None)
    if record is None or record.seq >= seal.seq:
        return f"the attested chain head #{head.get('seq')} is not a record before the seal (#{seal.seq})"
    if (record.hash, record.recorded_at) != (head.get("hash"), head.get("recorded_at")):
        return (
            f"chain head #{record.seq}: hash {str(head.get('hash'))[:16]}… in the attestation, "
            f"{record.hash[:16]}… in the evidence (the chain was rewritten)"
        )
    return None


def _seal(seal: EvidenceRecord, envelope_sha256: str, signed_by: Sequence[str]) -> str | None:
    entry = seal.payload.get("attestation")
    if not isinstance(entry, Mapping) or entry.get("status") != "signed":
        return f"the seal (#{seal.seq}) names no signed attestation"
    if entry.get("sha256") != envelope_sha256:
        return (
            f"the seal (#{seal.seq}) names attestation sha256 {str(entry.get('sha256'))[:16]}…, this file "
            f"is {envelope_sha256[:16]}…"
        )
    if entry.get("key_id") not in signed_by:
        return f"the seal (#{seal.seq}) names key {entry.get('key_id')!r}, which did not sign this envelope"
    return None


def compare_with_bundle(
    statement: Mapping[str, Any],
    bundle: Mapping[str, Any] | str | Path,
    *,
    envelope_sha256: str,
    signed_by: Sequence[str],
    keys: PublicKeys | None = None,
) -> list[str]:
    """Every mismatch between ``statement`` and ``bundle``, one per part, in reading order.

    With ``keys``, the bundle's signed checkpoints must verify and its seal must carry one: the
    attestation signs the chain only up to its head, the seal's checkpoint the rest. A bundle whose
    checkpoints were dropped is still compared part by part, and that problem is named last.
    """
    data = load_bundle(bundle)
    verified = verify_bundle(data, keys=keys if data.get("checkpoints") else None)
    if not verified.ok:
        return [f"the evidence bundle does not verify: {verified.problem}"]
    records = _records(data)
    seal = next((r for r in records if r.kind == "release_sealed"), None)
    if seal is None:
        return [f"the bundle's chain {data.get('release_id')!r} is not sealed (no release_sealed record)"]
    before = [r for r in records if r.seq < seal.seq]
    started = next((r for r in before if r.kind == "release_started"), None)
    policy_sha256 = str(((started.payload.get("policy") or {}) if started else {}).get("sha256"))
    try:
        expected = build_statement(
            before,
            policy_sha256,
            decision=str(seal.payload.get("decision")),
            reasons=list(seal.payload.get("reasons") or []),
        )["predicate"]
    except AttestationError as exc:
        return [f"the evidence holds no attestable release: {exc}"]
    predicate = statement["predicate"]
    found = [
        ("release", difference(predicate.get("release"), expected["release"], "release.")),
        ("policy", difference(predicate.get("policy"), expected["policy"], "policy.")),
        ("subjects", _subjects(statement.get("subject"), release_subjects(before))),
        ("gates", _keyed(predicate.get("gates"), expected["gates"], key=lambda e: e.get("gate"),
                         label=lambda e: f"gate {e.get('gate')}", section="gates")),
        ("checks", _keyed(predicate.get("checks"), expected["checks"], key=lambda e: e.get("check_id"),
                          label=lambda e: f"check {e.get('check_id')}", section="checks")),
        ("approvals", _keyed(predicate.get("approvals"), expected["approvals"], key=_seq,
                             label=lambda e: f"human answer #{_seq(e)} ({e.get('task_id')})",
                             section="approvals")),
        ("decision", difference(predicate.get("decision"), expected["decision"], "decision.")),
        ("chain head", _head(predicate, records, seal)),
        ("seal", _seal(seal, envelope_sha256, signed_by)),
        ("signed seal", _signed_seal(data, keys)),
    ]  # fmt: skip
    return [problem for _, problem in found if problem]


def _signed_seal(bundle: Mapping[str, Any], keys: PublicKeys | None) -> str | None:
    """Whether a checkpoint by a trusted key signs the seal (a bundle with checkpoints was checked
    in full before the comparison; this is the bundle that carries none)."""
    if keys is None or bundle.get("checkpoints"):
        return None
    signed = verify_bundle(dict(bundle), keys=keys)
    if signed.ok:
        return None
    return (
        f"the bundle carries no signed checkpoint: the records after the attested head, the seal among "
        f"them, are signed by nobody and could have been rewritten ({signed.problem})"
    )
