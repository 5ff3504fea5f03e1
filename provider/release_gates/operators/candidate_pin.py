"""The pin of a registry candidate, as ``release_started`` recorded it, and the candidate it gives.

A leaf of the operators (no operator imports it back): :func:`release_gates.operators.base.render_candidate`
asks it for the release's pin, and :mod:`release_gates.operators.mlflow_registry` writes the pin at start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

    from release_gates.policy import Candidate

#: Where ``release_started`` records a registry candidate's pin (inside ``inputs``).
REGISTRY_PIN = "candidate_registry"


def registry_client(conn_id: str | None) -> Any:
    from release_gates.hooks.mlflow import MlflowRegistryHook

    return MlflowRegistryHook(conn_id).get_conn()


def registry_pin(records: Iterable[Any]) -> dict[str, Any] | None:
    """The registry candidate pin ``release_started`` recorded, if any."""
    for record in records:
        if record.kind == "release_started":
            pin = (record.payload.get("inputs") or {}).get(REGISTRY_PIN)
            return dict(pin) if isinstance(pin, Mapping) else None
    return None


def release_registry_pin(operator: BaseOperator) -> dict[str, Any] | None:
    """The registry pin of the release ``operator`` writes to (None outside a release or for a file)."""
    from release_gates.exceptions import EvidenceNotFoundError

    store, release_id = getattr(operator, "evidence_store", None), getattr(operator, "release_id", None)
    if store is None or not release_id:
        return None
    try:
        return registry_pin(store.records(str(release_id), kind="release_started"))
    except EvidenceNotFoundError:
        return None


def pinned_candidate(candidate: Candidate, pin: Mapping[str, Any], release_id: str) -> Candidate:
    """``candidate`` pointing at the pinned file (downloaded again when missing), sha256 = the pin."""
    from pathlib import Path

    from release_gates.artifacts import artifact_dir
    from release_gates.scoring.registry import resolve_registry_model

    path = Path(str(pin["file"]))
    if not path.is_file():  # another worker resolved it: fetch the same version, refuse other bytes
        resolved = resolve_registry_model(
            registry_client(str(pin.get("mlflow_conn_id") or "mlflow_default")),
            str(pin["uri"]),
            model_format=str(pin.get("format") or candidate.format),
            dest_dir=artifact_dir(release_id, "candidate"),
            expected_sha256=str(pin["sha256"]),
        )
        path = resolved.path
    return candidate.model_copy(update={"uri": str(path), "sha256": str(pin["sha256"])})
