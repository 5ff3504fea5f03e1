"""Inputs of ``kind: drift``: the reference and current datasets, fingerprinted, and their output columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import DriftCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class DriftInputs:
    reference: pd.DataFrame
    current: pd.DataFrame
    #: Score and prediction columns of the current data: tested for prediction drift.
    prediction_columns: list[str]
    inputs: dict[str, Any]


def resolve_drift_inputs(
    spec: DriftCheck, catalog: DatasetCatalog, *, prediction_columns: Sequence[str] | None = None
) -> DriftInputs:
    """Both datasets, fingerprinted; ``prediction_columns`` default to the current data's score and
    prediction columns as the policy declares them."""
    frames = {}
    inputs: dict[str, Any] = {"datasets": {}}
    for name in (spec.reference, spec.current):
        location = catalog.locate(name)
        inputs["datasets"][name] = catalog.fingerprint(name, location)
        frames[name] = catalog.load(name, location=location)
    current = catalog.dataset(spec.current)
    return DriftInputs(
        reference=frames[spec.reference],
        current=frames[spec.current],
        prediction_columns=list(prediction_columns)
        if prediction_columns is not None
        else [c for c in (current.score, current.prediction) if c],
        inputs=inputs,
    )


def run_drift_check(
    spec: DriftCheck,
    catalog: DatasetCatalog,
    *,
    check_id: str,
    artifact_dir: str | Path | None = None,
    report_rows: int | None = None,
    prediction_columns: Sequence[str] | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.drift import DEFAULT_REPORT_ROWS, evaluate_drift

    resolved = resolve_drift_inputs(spec, catalog, prediction_columns=prediction_columns)
    return evaluate_drift(
        resolved.reference,
        resolved.current,
        spec,
        check_id=check_id,
        reference_name=spec.reference,
        current_name=spec.current,
        prediction_columns=resolved.prediction_columns,
        artifact_dir=artifact_dir,
        report_rows=report_rows or DEFAULT_REPORT_ROWS,
        inputs=resolved.inputs,
    )
