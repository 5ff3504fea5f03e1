"""The evidence trail: append-only, hash-chained records of everything a release did.

The store and the offline verifier load on first use (they bring SQLAlchemy): operators, DAG
factories and the CLI import this package at module level for the connection default and the error
classes, and a DAG parse must not pay for the database layer it does not use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import BundleError, EvidenceError, EvidenceNotFoundError, EvidenceSealedError

if TYPE_CHECKING:
    from release_gates.evidence.record import EvidenceRecord
    from release_gates.evidence.store import (
        RECORD_KINDS,
        ChainInfo,
        EvidenceStore,
        default_url,
        release_model,
    )
    from release_gates.evidence.verify import VerifyReport, verify_bundle

#: The Airflow connection every operator, DAG factory, the UI and the CLI use when none is named.
#: When it does not exist the store falls back to ``$RELEASE_GATES_EVIDENCE_URL``, then SQLite.
DEFAULT_EVIDENCE_CONN_ID = "release_gates_evidence_default"

# Public name → module that defines it, imported on first access (PEP 562).
_LAZY = {
    "RECORD_KINDS": "release_gates.evidence.store",
    "ChainInfo": "release_gates.evidence.store",
    "EvidenceRecord": "release_gates.evidence.record",
    "EvidenceStore": "release_gates.evidence.store",
    "default_url": "release_gates.evidence.store",
    "release_model": "release_gates.evidence.store",
    "VerifyReport": "release_gates.evidence.verify",
    "verify_bundle": "release_gates.evidence.verify",
}

__all__ = [
    "DEFAULT_EVIDENCE_CONN_ID",
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
    "release_model",
    "verify_bundle",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # resolve once; later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
