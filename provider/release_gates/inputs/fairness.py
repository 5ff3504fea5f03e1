"""Inputs of ``kind: fairness``: outcome counts per subgroup, counted where the data lives.

The counts are one ``GROUP BY`` through the aggregate engine (:mod:`release_gates.aggregates.engine`):
a SQL table or query is counted in its own database, files, Parquet folders and objects by DuckDB,
out-of-core; only the grouped counts come back, so worker memory stays flat whatever the row count. A
small local Parquet file (``pandas_max_rows``, 100,000 rows by default) is read for the sensitive,
label and prediction columns only and counted with pandas, the same counts at less start-up cost.
With a candidate in the policy, the predictions are the candidate's own (see
:mod:`release_gates.inputs.scored`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import DatasetError

if TYPE_CHECKING:
    from release_gates.checks.fairness import OutcomeCounts
    from release_gates.checks.fairness_calibration import CalibrationCounts
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import FairnessCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class FairnessInputs:
    counts: OutcomeCounts
    #: Fingerprint of the dataset with its row count, for ``CheckResult.inputs``.
    inputs: dict[str, Any]
    #: Score statistics per group for ``metric: calibration`` criteria (counted from the same rows).
    calibration: CalibrationCounts | None = None


def resolve_fairness_inputs(spec: FairnessCheck, catalog: DatasetCatalog) -> FairnessInputs:
    from release_gates.aggregates.config import configured_settings
    from release_gates.aggregates.engine import open_source, prefers_pandas
    from release_gates.checks.fairness import count_outcomes
    from release_gates.checks.fairness_calibration import count_calibration, count_calibration_source
    from release_gates.checks.fairness_counts import count_outcomes_source
    from release_gates.inputs.scored import with_prediction_origin

    dataset = catalog.dataset(spec.data)
    if dataset.label is None or dataset.prediction is None:
        raise DatasetError(f"dataset {spec.data!r} declares no label/prediction column")
    if spec.judges_calibration and dataset.score is None:
        raise DatasetError(f"dataset {spec.data!r} declares no score column, which calibration needs")
    calibration = None
    scored: dict[str, Any] = {
        "score": dataset.score,
        "label": dataset.label,
        "sensitive": spec.sensitive_features,
        "positive": dataset.positive_label,
        "negative": dataset.negative_label,
        "bins": spec.calibration_bins,
    }
    options: dict[str, Any] = {
        "label": dataset.label,
        "prediction": dataset.prediction,
        "sensitive": spec.sensitive_features,
        "positive": dataset.positive_label,
        "negative": dataset.negative_label,
    }
    location = catalog.locate(spec.data)
    settings = configured_settings()
    if prefers_pandas(location, settings):
        wanted = [*spec.sensitive_features, dataset.label, dataset.prediction]
        if spec.judges_calibration:
            wanted.append(str(dataset.score))
        frame = catalog.load(spec.data, columns=list(dict.fromkeys(wanted)), location=location)
        counts = count_outcomes(frame, **options)
        if spec.judges_calibration:
            calibration = count_calibration(frame, **scored)
    else:
        with open_source(location, settings=settings) as source:
            counts = count_outcomes_source(source, **options)
            if spec.judges_calibration:
                calibration = count_calibration_source(source, **scored)
    inputs = {spec.data: {**catalog.fingerprint(spec.data, location), "rows": counts.rows}}
    return FairnessInputs(
        counts=counts, inputs=with_prediction_origin(inputs, catalog), calibration=calibration
    )


def run_fairness_check(spec: FairnessCheck, catalog: DatasetCatalog, *, check_id: str) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.fairness import evaluate_subgroup_fairness
    from release_gates.inputs.scored import merge_verification, verify_declared_predictions

    # Declared predictions are judged only once a re-scored sample shows they are the candidate's.
    refused, verified = verify_declared_predictions(catalog, [spec.data], check_id=check_id, kind=spec.kind)
    if refused is not None:
        return refused
    resolved = resolve_fairness_inputs(spec, catalog)
    inputs = merge_verification(resolved.inputs, verified)
    return evaluate_subgroup_fairness(
        resolved.counts, spec, check_id=check_id, inputs=inputs, calibration=resolved.calibration
    )
