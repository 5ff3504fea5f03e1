"""The seal step's report and signed attestation: generated from the trail, stored as artifacts,
recorded before the seal.

A sealed chain takes no further records, so the order is: record the policy the release ran under
(``policy_snapshot``: the checklist and an offline regeneration need it, and its sha256 must match
``release_started``), verify the chain, build the report from the trail with the decision the seal is
about to record, write the files (the model card ``MODEL_CARD.md`` among them), append ``report`` (each
file's uri and sha256), then seal. The seal covers the report's hashes, so a report file altered later
no longer matches its evidence.

Before all of that, :func:`attest_release` signs the release attestation (in-toto, DSSE) from the
chain the decision was computed from and writes it next to the report; the seal summary names its
uri, sha256 and key, and the report lists it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.artifacts import artifact_dir
from release_gates.exceptions import ReleaseGatesError

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore
    from release_gates.evidence.signing import SigningKey
    from release_gates.policy.sections import Signing

log = logging.getLogger(__name__)


def artifacts_dir(release_id: str) -> Path:
    """``report/`` in the run's artifact folder, next to the check operators' artifacts."""
    return artifact_dir(release_id, "report")


def record_policy_snapshot(
    store: EvidenceStore, release_id: str, policy_path: str | Path, *, actor: str
) -> None:
    """Append the policy text as ``policy_snapshot`` unless the chain already holds the same one.

    The text is recorded with its credentials redacted (URL passwords, ``password:``/``token:``/
    ``secret:`` values; see :func:`release_gates.credentials.redact_credentials`): the trail is read
    by auditors and exported. ``sha256`` stays the file's own, the one ``release_started`` names.
    """
    from release_gates.credentials import redact_credentials

    raw = Path(policy_path).read_bytes()
    sha256 = hashlib.sha256(raw).hexdigest()
    if any(r.payload.get("sha256") == sha256 for r in store.records(release_id, kind="policy_snapshot")):
        return
    started = store.records(release_id, kind="release_started")
    recorded = ((started[0].payload.get("policy") or {}).get("sha256")) if started else None
    text, redacted = redact_credentials(raw.decode("utf-8"))
    payload = {
        "source": str(policy_path),
        "sha256": sha256,
        "matches_release_started": recorded == sha256 if recorded else None,
        "text": text,
        "credentials_redacted": redacted,
    }
    store.append(release_id, "policy_snapshot", payload, actor=actor)


def record_release_report(
    store: EvidenceStore,
    release_id: str,
    *,
    policy_path: str | Path,
    pending_seal: Mapping[str, Any],
    actor: str,
    out_dir: Path | None = None,
    logger: Any = None,
) -> list[str]:
    """Generate, store and record the release report; returns the files' paths.

    Never raises: a report failure is logged and recorded as a ``report`` record with status
    ``error`` — the release decision stands either way.
    """
    logger = logger or log
    try:
        from release_gates.reports import generate_report, load_from_store

        record_policy_snapshot(store, release_id, policy_path, actor=actor)
        verified = store.verify(release_id)
        if not verified.ok:
            raise RuntimeError(f"the chain does not verify before sealing: {verified.problem}")
        trail = load_from_store(store, release_id)
        charts = importlib.util.find_spec("matplotlib") is not None
        report, files = generate_report(
            trail, out_dir or artifacts_dir(release_id), pending_seal=pending_seal, charts=charts
        )
        payload: dict[str, Any] = {
            "status": "ok",
            "decision": report.decision,
            "built_from": {"records": len(trail.records), "head_hash": report.head_hash},
            "files": [f.to_evidence() for f in files],
        }
        if not charts:
            payload["note"] = "matplotlib is not installed: figures skipped (pip install the [ui] extra)"
        store.append(release_id, "report", payload, actor=actor)
        logger.info("Release report of %s: %d files in %s", release_id, len(files), files[0].path.parent)
        return [str(f.path) for f in files]
    except Exception as exc:
        logger.exception("Release report of %s could not be generated; the decision stands", release_id)
        try:
            store.append(
                release_id,
                "report",
                {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000]},
                actor=actor,
            )
        except Exception:
            logger.exception("Could not record the report failure of %s", release_id)
        return []


# --------------------------------------------------------------------------------------------------
# The signed release attestation (release_gates.evidence.attestation)
# --------------------------------------------------------------------------------------------------


class AttestationRequiredError(ReleaseGatesError):
    """``evidence.signing.required`` is true and no attestation could be signed: do not seal."""


def attest_release(
    store: EvidenceStore,
    release_id: str,
    records: Sequence[EvidenceRecord],
    *,
    signing: Signing,
    policy_sha256: str,
    decision: str,
    reasons: Sequence[str],
    out_dir: Path | None = None,
    logger: Any = None,
) -> dict[str, Any] | None:
    """Sign the release attestation and write it next to the report; the seal summary's entry.

    Built from ``records`` — the chain the decision was computed from — before the report and the
    seal are appended, so the report lists it and the seal names its sha256 and key. Returns
    ``{"status": "signed", "uri", "sha256", "key_id", …}``; None when the policy turns attestations
    off. Without a usable key (no connection, an unreadable key, the ``signing`` extra missing), or
    when signing fails: :class:`AttestationRequiredError` if the policy requires signing, else a
    warning and ``{"status": "skipped" | "error", …}`` — the seal then says why there is none.
    """
    logger = logger or log
    if not signing.attestation:
        return None
    from release_gates.evidence.signing import SigningKeyError, load_signing_key

    try:
        key = load_signing_key(signing.conn_id)
        problem = None if key else f"no Airflow connection {signing.conn_id!r} holds a signing key"
    except (SigningKeyError, ImportError) as exc:  # the message names the connection, never the key
        key, problem = None, f"{type(exc).__name__}: {exc}"
    if key is None:
        return _unattested(signing, "skipped", f"no signing key: {problem}", release_id, logger)
    try:
        from release_gates.evidence.attestation import build_statement

        statement = build_statement(records, policy_sha256, decision=decision, reasons=reasons)
        return _sign_and_write(store, records, statement, key, out_dir or artifacts_dir(release_id))
    except Exception as exc:
        logger.exception("Release attestation of %s failed", release_id)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:1000]
        return _unattested(signing, "error", f"signing the attestation failed: {reason}", release_id, logger)


def _unattested(signing: Signing, status: str, reason: str, release_id: str, logger: Any) -> dict[str, Any]:
    if signing.required:
        raise AttestationRequiredError(
            f"evidence.signing.required is true, but {reason}; the release is NOT sealed (create a key "
            f"with `release-gates evidence keygen` and the Airflow connection {signing.conn_id!r})"
        )
    logger.warning("Release %s is sealed WITHOUT a signed attestation: %s", release_id, reason)
    return {"status": status, "reason": reason}


def _sign_and_write(
    store: EvidenceStore,
    records: Sequence[EvidenceRecord],
    statement: Mapping[str, Any],
    key: SigningKey,
    folder: Path,
) -> dict[str, Any]:
    from release_gates.artifacts import file_artifact, write_atomic
    from release_gates.evidence.attestation import (
        FILE_NAME,
        PREDICATE_TYPE,
        envelope_bytes,
        sign_statement,
        verify_attestation,
    )
    from release_gates.evidence.signing import PublicKeys

    head = records[-1]
    verified = store.verify(head.release_id)  # never sign a head the chain does not lead to
    if not verified.ok or verified.head_hash != head.hash:
        raise RuntimeError(f"the chain does not verify up to the head the decision was made at: {verified}")
    data = envelope_bytes(sign_statement(statement, key))
    check = verify_attestation(data, PublicKeys({key.key_id: key.public_key}))
    if not check.ok:  # what we write must verify with the key it names
        raise RuntimeError(f"the signed attestation does not verify: {check.problem}")
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / FILE_NAME, data)
    artifact = file_artifact(folder / FILE_NAME, FILE_NAME, "application/json")
    return {
        "status": "signed",
        "name": FILE_NAME,
        "uri": artifact.uri,
        "sha256": artifact.sha256,
        "key_id": key.key_id,
        "predicate_type": PREDICATE_TYPE,
        "subjects": len(statement["subject"]),
        "head": {"seq": head.seq, "hash": head.hash},
    }


@contextmanager
def attestation_until_sealed(entry: Mapping[str, Any] | None) -> Iterator[None]:
    """Remove the attestation file when the seal that names it is not recorded (the block raises):
    no attestation outlives a seal that failed, so none speaks for a release that was not sealed."""
    try:
        yield
    except BaseException:
        if entry and entry.get("status") == "signed":
            from urllib.parse import unquote, urlparse

            Path(unquote(urlparse(str(entry["uri"])).path)).unlink(missing_ok=True)
        raise
