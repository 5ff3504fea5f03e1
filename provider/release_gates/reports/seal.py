"""The seal step's report: generated from the trail, stored as artifacts, recorded before the seal.

A sealed chain takes no further records, so the order is: record the policy the release ran under
(``policy_snapshot``: the checklist and an offline regeneration need it, and its sha256 must match
``release_started``), verify the chain, build the report from the trail with the decision the seal is
about to record, write the files, append ``report`` (each file's uri and sha256), then seal. The seal
covers the report's hashes, so a report file altered later no longer matches its evidence.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.artifacts import artifact_dir

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceStore

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
