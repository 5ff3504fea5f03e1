"""The in-toto Statement of a release: what was decided, about which artifacts, from which evidence.

Subjects are the artifacts the release judged, by sha256: the model, the container image, each dataset
and each predictions artifact — only those the evidence holds a verified digest of; a digest is never
guessed. The predicate (:data:`PREDICATE_TYPE`) holds every gate's verdict, every check result's status
and the ``payload_sha256`` of its evidence record, every human answer (who, when, role, choice), the
decision and its reasons, the policy's sha256 and the head of the evidence chain the decision was
computed from. :func:`build_statement` is deterministic, so a verifier rebuilds it from a bundle and
compares (:mod:`release_gates.evidence.attestation_check`). Signed by
:mod:`release_gates.evidence.attestation`.

The Statement is built as a plain dict and validated by parsing it into in_toto_attestation's
Statement proto: that library's builder keeps the predicate as a protobuf ``Struct``, which would turn
every integer (record seqs) into a float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from release_gates.evidence.record import EvidenceRecord

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://release-gates.dev/attestation/release/v1"
PREDICATE_FIELDS = ("release", "policy", "gates", "checks", "approvals", "decision", "evidence")
_SUBJECT_KINDS = ("model", "image", "dataset", "predictions")
#: Keys of a check result's ``inputs`` that hold no dataset fingerprint, whatever their shape.
_NOT_DATASETS = frozenset({"datasets", "model", "image", "suites", "release_artifacts"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttestationError(ReleaseGatesError, ValueError):
    """No attestation can be made from this evidence (the message says what is missing)."""


# --------------------------------------------------------------------------------------------------
# The Statement
# --------------------------------------------------------------------------------------------------


def _sha256(value: Any) -> str | None:
    """A lower-case hex sha256 (a ``sha256:`` prefix allowed), else None: a digest is never guessed."""
    if not isinstance(value, str):
        return None
    text = value.strip().removeprefix("sha256:")
    return text if _SHA256.match(text) else None


class _Subjects:
    """Subjects by (name, digest), first seen first; what has no valid sha256 is left out."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, kind: str, name: Any, sha256: Any, uri: Any = None, **notes: Any) -> None:
        digest = _sha256(sha256)
        if digest is None or not name:
            return
        key = (f"{kind}:{name}", digest)
        if key in self._items:
            return
        entry: dict[str, Any] = {"name": key[0], "digest": {"sha256": digest}}
        if isinstance(uri, str) and uri:
            entry["uri"] = uri
        entry["annotations"] = {"kind": kind, **{k: v for k, v in notes.items() if v is not None}}
        self._items[key] = entry

    def sorted(self) -> list[dict[str, Any]]:
        def order(entry: dict[str, Any]) -> tuple[int, str, str]:
            kind = _SUBJECT_KINDS.index(entry["annotations"]["kind"])
            return (kind, entry["name"], entry["digest"]["sha256"])

        return sorted(self._items.values(), key=order)


def _first(records: Iterable[EvidenceRecord], kind: str) -> EvidenceRecord | None:
    return next((r for r in records if r.kind == kind), None)


def _latest_checks(records: Iterable[EvidenceRecord]) -> dict[str, EvidenceRecord]:
    """The last ``check_result`` record per check id (as :func:`release_gates.gates.latest_results`)."""
    latest: dict[str, EvidenceRecord] = {}
    for record in records:
        if record.kind == "check_result" and "check_id" in record.payload:
            latest[str(record.payload["check_id"])] = record
    return latest


def _dataset_entries(inputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Dataset fingerprints in a check result's inputs (``{uri, sha256, …}``, as
    :func:`release_gates.datasets.fingerprint` records them), keyed by dataset name at the top of the
    inputs or under ``inputs.datasets``."""
    nested = inputs.get("datasets")
    entries = list(nested.items()) if isinstance(nested, Mapping) else []
    entries += [(k, v) for k, v in inputs.items() if k not in _NOT_DATASETS]
    return [(str(name), facts) for name, facts in entries if isinstance(facts, Mapping) and "uri" in facts]


def release_subjects(records: Sequence[EvidenceRecord]) -> list[dict[str, Any]]:
    """The artifacts the release judged, each ``{"name", "digest": {"sha256"}, "uri"?, "annotations"}``.

    The model: the sha256 the start step verified against the file, or the one the score step
    verified before loading it (a pin nobody checked is not a subject). The image: the digest the
    image scan resolved, or the one the release's image reference is pinned by. Datasets and
    predictions: the fingerprints the checks and the score step recorded.
    """
    subjects = _Subjects()
    started = _first(records, "release_started")
    inputs = (started.payload.get("inputs") or {}) if started else {}
    model = (started.payload.get("model") if started else None) or "model"
    subjects.add("model", model, inputs.get("model_sha256_verified"), inputs.get("model_uri"))
    for record in records:
        if record.kind != "model_scored" or record.payload.get("status") == "ERROR":
            continue
        scored_model = record.payload.get("model") or {}
        subjects.add("model", model, scored_model.get("sha256"), scored_model.get("uri"))
        for name, entry in (record.payload.get("datasets") or {}).items():
            source, artifact = entry.get("source") or {}, entry.get("artifact") or {}
            subjects.add("dataset", name, source.get("sha256"), source.get("uri"))
            subjects.add("predictions", name, artifact.get("sha256"), artifact.get("uri"))
    image = inputs.get("image") if isinstance(inputs.get("image"), str) else None
    for record in _latest_checks(records).values():
        facts = record.payload.get("inputs") or {}
        if record.payload.get("kind") == "image_scan":
            reference = facts.get("reference") or image or facts.get("artifact_name")
            subjects.add("image", str(reference or "image").split("@", 1)[0], facts.get("image_digest"),
                         digest_source=facts.get("image_digest_source"))  # fmt: skip
        for name, entry in _dataset_entries(facts):
            if entry.get("predictions") == "scored":  # read through the candidate's scored artifact
                source = entry.get("source") or {}
                subjects.add("dataset", name, source.get("sha256"), source.get("uri"))
                subjects.add("predictions", name, entry.get("artifact_sha256"), entry.get("uri"))
            else:
                subjects.add("dataset", name, entry.get("sha256"), entry.get("uri"))
    if image and "@" in image:
        subjects.add("image", image.split("@", 1)[0], image.rsplit("@", 1)[1], digest_source="reference")
    return subjects.sorted()


def _ref(record: EvidenceRecord) -> dict[str, Any]:
    return {"seq": record.seq, "payload_sha256": record.payload_sha256}


def _gates(records: Sequence[EvidenceRecord], declared: Sequence[str]) -> list[dict[str, Any]]:
    from release_gates.gates import fold

    latest: dict[str, EvidenceRecord] = {}
    for record in records:
        if record.kind == "gate_decision" and record.payload.get("gate"):
            latest[str(record.payload["gate"])] = record
    cleared = fold(records).cleared_by
    out = []
    for gate in dict.fromkeys([*map(str, declared), *latest]):
        decided = latest.get(gate)
        by = cleared.get(gate)
        out.append(
            {
                "gate": gate,
                "outcome": decided.payload.get("outcome") if decided else None,
                "evidence": _ref(decided) if decided else None,
                "cleared_by": (
                    {"user": by.get("user"), "choice": by.get("choice"), "task_id": by.get("task_id")}
                    if by
                    else None
                ),
            }
        )
    return out


def _check(check_id: str, record: EvidenceRecord) -> dict[str, Any]:
    kind, status = record.payload.get("kind"), record.payload.get("status")
    return {"check_id": check_id, "kind": kind, "status": status, "evidence": _ref(record)}


def _approvals(records: Sequence[EvidenceRecord]) -> list[dict[str, Any]]:
    """Every human answer: sign-off approvals (with their role) and answers at gates."""
    keys = ("task_id", "gate", "role", "approval", "user", "responded_at", "choice", "authorized")
    return [
        {**{k: r.payload.get(k) for k in keys}, "evidence": _ref(r)}
        for r in records
        if r.kind == "human_decision"
    ]


def build_statement(
    records: Sequence[EvidenceRecord],
    policy_sha256: str,
    *,
    decision: str,
    reasons: Sequence[str],
) -> dict[str, Any]:
    """The in-toto Statement of a release, from its records up to the head the decision was made at.

    ``decision`` and ``reasons`` are what the seal records. Deterministic: the same records give the
    same Statement, which is how :func:`verify_attestation` checks one against a bundle.
    """
    records = list(records)
    started = _first(records, "release_started")
    if started is None:
        raise AttestationError("the evidence holds no release_started record: it is not a release")
    subjects = release_subjects(records)
    if not subjects:
        raise AttestationError(
            "the release recorded no artifact with a verified sha256 (model, image, dataset or "
            "predictions): an attestation needs at least one subject"
        )
    payload, head = started.payload, records[-1]
    inputs = payload.get("inputs") or {}
    predicate = {
        "release": {
            "id": head.release_id,
            "model": payload.get("model"),
            "model_version": inputs.get("model_version"),
            "risk_tier": payload.get("risk_tier"),
            "dag_id": payload.get("dag_id"),
            "run_id": payload.get("run_id"),
            "triggered_by": payload.get("triggered_by"),
            "started_at": started.recorded_at,
        },
        "policy": {"sha256": policy_sha256},
        "gates": _gates(records, payload.get("gates") or []),
        "checks": [_check(cid, r) for cid, r in sorted(_latest_checks(records).items())],
        "approvals": _approvals(records),
        "decision": {"outcome": decision, "reasons": [str(r) for r in reasons]},
        "evidence": {
            "chain": head.release_id,
            "head": {"seq": head.seq, "hash": head.hash, "recorded_at": head.recorded_at},
            "hash_rule": "sha256 over canonical JSON; see release_gates.evidence.canonical",
        },
    }
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
    validate_statement(statement)
    return statement


def validate_statement(statement: Any) -> None:
    """Raise :class:`AttestationError` unless ``statement`` is an in-toto Statement v1 of ours."""
    if not isinstance(statement, Mapping):
        raise AttestationError("the payload is not a JSON object")
    # Neither ships type information (no py.typed, no stubs installed).
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from in_toto_attestation.v1 import statement_pb2  # type: ignore[import-untyped]
    from in_toto_attestation.v1.statement import Statement  # type: ignore[import-untyped]

    try:
        proto = json_format.ParseDict(dict(statement), statement_pb2.Statement())
        Statement.copy_from_pb(proto).validate()
    except (json_format.ParseError, ValueError) as exc:
        raise AttestationError(f"not an in-toto Statement v1: {exc}") from None
    if statement.get("_type") != STATEMENT_TYPE:
        raise AttestationError(f"_type is {statement.get('_type')!r}, not {STATEMENT_TYPE}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise AttestationError(f"predicateType is {statement.get('predicateType')!r}, not {PREDICATE_TYPE}")
    for subject in statement["subject"]:
        if _sha256(subject.get("digest", {}).get("sha256")) != subject.get("digest", {}).get("sha256"):
            raise AttestationError(f"subject {subject.get('name')!r} has no sha256 digest")
    predicate = statement.get("predicate")
    missing = [k for k in PREDICATE_FIELDS if not isinstance(predicate, Mapping) or k not in predicate]
    if missing:
        raise AttestationError(f"the predicate lacks {', '.join(missing)}")
