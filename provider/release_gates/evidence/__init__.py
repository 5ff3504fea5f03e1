"""The evidence trail: append-only, hash-chained records of everything a release did."""

from __future__ import annotations

from release_gates.evidence.store import (
    RECORD_KINDS,
    ChainInfo,
    EvidenceError,
    EvidenceNotFoundError,
    EvidenceRecord,
    EvidenceSealedError,
    EvidenceStore,
    default_url,
)
from release_gates.evidence.verify import BundleError, VerifyReport, verify_bundle

__all__ = [
    "RECORD_KINDS",
    "BundleError",
    "ChainInfo",
    "EvidenceError",
    "EvidenceNotFoundError",
    "EvidenceRecord",
    "EvidenceSealedError",
    "EvidenceStore",
    "VerifyReport",
    "default_url",
    "verify_bundle",
]
