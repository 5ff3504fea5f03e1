"""Inputs of ``kind: drift``: the reference and current datasets, fingerprinted, and their output columns.

With a candidate in the policy, scored datasets carry the candidate's own predictions (see
:mod:`release_gates.inputs.scored`), so prediction drift measures the model being released.
"""

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
    from release_gates.inputs.scored import with_prediction_origin

    frames = {}
    inputs: dict[str, Any] = {"datasets": {}}
    for name in (spec.reference, spec.current):
        location = catalog.locate(name)
        inputs["datasets"][name] = catalog.fingerprint(name, location)
        frames[name] = catalog.load(name, location=location)
    current = catalog.dataset(spec.current)
    inputs["datasets"] = with_prediction_origin(inputs["datasets"], catalog)
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
    from release_gates.inputs.scored import merge_verification, verify_declared_predictions

    names = [spec.current, spec.reference] if spec.prediction_drift else []
    refused, verified = verify_declared_predictions(catalog, names, check_id=check_id, kind=spec.kind)
    if refused is not None:
        return refused
    resolved = resolve_drift_inputs(spec, catalog, prediction_columns=prediction_columns)
    resolved_inputs = {
        **resolved.inputs,
        "datasets": merge_verification(resolved.inputs["datasets"], verified),
    }
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
        inputs=resolved_inputs,
    )
