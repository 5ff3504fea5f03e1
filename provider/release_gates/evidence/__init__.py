"""The evidence trail: append-only, hash-chained records of everything a release did."""

from __future__ import annotations

from release_gates.evidence.store import RECORD_KINDS, ChainInfo, EvidenceRecord, EvidenceStore, default_url
from release_gates.evidence.verify import VerifyReport, verify_bundle
from release_gates.exceptions import BundleError, EvidenceError, EvidenceNotFoundError, EvidenceSealedError

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
