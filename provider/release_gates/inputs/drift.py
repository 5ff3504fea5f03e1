"""Inputs of ``kind: drift``: the reference and current datasets, fingerprinted, and their output columns.

With a candidate in the policy, scored datasets carry the candidate's own predictions (see
:mod:`release_gates.inputs.scored`), so prediction drift measures the model being released. With a
``prediction_reference``, that dataset's declared prediction/score columns (the live version's outputs)
are the baseline of prediction drift, renamed to the current data's column names; it is fingerprinted
like the others and is never replaced by, or verified against, the candidate: it is what the candidate
is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    #: The baseline of prediction drift (``prediction_columns`` under the current data's names), or
    #: None to compare with ``reference``.
    prediction_reference: pd.DataFrame | None = None


def resolve_drift_inputs(
    spec: DriftCheck, catalog: DatasetCatalog, *, prediction_columns: Sequence[str] | None = None
) -> DriftInputs:
    """Both datasets, fingerprinted; ``prediction_columns`` default to the current data's score and
    prediction columns as the policy declares them."""
    from release_gates.inputs.scored import with_prediction_origin

    frames = {}
    inputs: dict[str, Any] = {"datasets": {}}
    names = [spec.reference, spec.current]
    if spec.prediction_reference is not None and spec.prediction_drift:
        names.append(spec.prediction_reference)
    for name in dict.fromkeys(names):
        location = catalog.locate(name)
        inputs["datasets"][name] = catalog.fingerprint(name, location)
        frames[name] = catalog.load(name, location=location)
    current = catalog.dataset(spec.current)
    inputs["datasets"] = with_prediction_origin(inputs["datasets"], catalog)
    columns = (
        list(prediction_columns)
        if prediction_columns is not None
        else [c for c in (current.score, current.prediction) if c]
    )
    baseline = None
    if spec.prediction_reference is not None and spec.prediction_drift:
        inputs["prediction_reference"] = spec.prediction_reference
        baseline = _prediction_baseline(
            frames[spec.prediction_reference], catalog, spec.prediction_reference, spec.current, columns
        )
    return DriftInputs(
        reference=frames[spec.reference],
        current=frames[spec.current],
        prediction_columns=columns,
        inputs=inputs,
        prediction_reference=baseline,
    )


def _prediction_baseline(
    frame: pd.DataFrame, catalog: DatasetCatalog, name: str, current_name: str, columns: Sequence[str]
) -> pd.DataFrame:
    """The prediction reference's outputs under the current data's column names: its declared score
    answers the current score column, its prediction the current prediction column; any other
    column is looked up by its own name. A column it lacks is left out (the engine: INCONCLUSIVE)."""
    import pandas as pd

    declared, current = catalog.dataset(name), catalog.dataset(current_name)
    source_of = {current.score: declared.score, current.prediction: declared.prediction}
    renamed = {}
    for column in columns:
        source = source_of.get(column) or column
        if source in frame.columns:
            renamed[column] = frame[source]
    return pd.DataFrame(renamed, index=frame.index)


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
    if uses_aggregates(spec, catalog):
        return _run_on_sources(
            spec,
            catalog,
            check_id=check_id,
            artifact_dir=artifact_dir,
            report_rows=report_rows or DEFAULT_REPORT_ROWS,
            prediction_columns=prediction_columns,
            verified=verified,
        )
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
        prediction_reference=resolved.prediction_reference,
        prediction_reference_name=spec.prediction_reference or "prediction_reference",
        artifact_dir=artifact_dir,
        report_rows=report_rows or DEFAULT_REPORT_ROWS,
        inputs=resolved_inputs,
    )


def uses_aggregates(spec: DriftCheck, catalog: DatasetCatalog) -> bool:
    """Whether the datasets are compared where they live (DuckDB, the warehouse) rather than in pandas.

    Yes when the aggregate engine is installed, the policy asks for no row sample (``sample_rows``
    draws pandas' seeded sample, which only the in-memory path reproduces) and not every dataset is a
    local Parquet file small enough for pandas (``aggregate_pandas_max_rows``).
    """
    from importlib.util import find_spec

    if spec.sample_rows is not None or find_spec("duckdb") is None:
        return False
    from release_gates.aggregates.config import configured_settings
    from release_gates.aggregates.engine import prefers_pandas

    settings = configured_settings()
    names = [spec.reference, spec.current]
    if spec.prediction_reference is not None and spec.prediction_drift:
        names.append(spec.prediction_reference)
    return not all(prefers_pandas(catalog.locate(name), settings) for name in names)


def _run_on_sources(
    spec: DriftCheck,
    catalog: DatasetCatalog,
    *,
    check_id: str,
    artifact_dir: str | Path | None,
    report_rows: int,
    prediction_columns: Sequence[str] | None,
    verified: Mapping[str, Any],
) -> CheckResult:
    """The drift check on aggregate sources: only aggregates (and small samples) leave the data."""
    from contextlib import ExitStack

    from release_gates.aggregates.config import configured_settings
    from release_gates.aggregates.engine import open_source
    from release_gates.checks.drift_sources import evaluate_drift_sources
    from release_gates.inputs.scored import merge_verification, with_prediction_origin

    settings = configured_settings()
    names = [spec.reference, spec.current]
    explicit = spec.prediction_reference is not None and spec.prediction_drift
    if explicit:
        names.append(str(spec.prediction_reference))
    current = catalog.dataset(spec.current)
    columns = (
        list(prediction_columns)
        if prediction_columns is not None
        else [c for c in (current.score, current.prediction) if c]
    )
    datasets: dict[str, Any] = {}
    with ExitStack() as stack:
        sources = {}
        for name in dict.fromkeys(names):
            location = catalog.locate(name)
            datasets[name] = catalog.fingerprint(name, location)
            sources[name] = stack.enter_context(open_source(location, settings=settings))
        inputs: dict[str, Any] = {"datasets": with_prediction_origin(datasets, catalog)}
        inputs["datasets"] = merge_verification(inputs["datasets"], verified)
        renamed = None
        if explicit:
            inputs["prediction_reference"] = spec.prediction_reference
            declared = catalog.dataset(str(spec.prediction_reference))
            source_of = {current.score: declared.score, current.prediction: declared.prediction}
            renamed = {c: source_of.get(c) or c for c in columns}
        return evaluate_drift_sources(
            sources[spec.reference],
            sources[spec.current],
            spec,
            check_id=check_id,
            reference_name=spec.reference,
            current_name=spec.current,
            prediction_columns=columns,
            prediction_reference=sources[str(spec.prediction_reference)] if explicit else None,
            prediction_reference_columns=renamed,
            prediction_reference_name=spec.prediction_reference or "prediction_reference",
            artifact_dir=artifact_dir,
            report_rows=report_rows,
            inputs=inputs,
        )
