"""Inputs of ``kind: stress_safety``: the model (its own, else the release's candidate; pinned hash checked)
and the evaluation rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import DatasetError, ModelLoadError

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import StressSafetyCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class StressSafetyInputs:
    frame: pd.DataFrame
    predict: Callable[[pd.DataFrame], Any]
    label: str
    positive: int | str
    negative: int | str
    #: Columns of the data that are outputs, not model inputs (prediction, score).
    exclude: tuple[str, ...]
    inputs: dict[str, Any]


def resolve_stress_safety_inputs(spec: StressSafetyCheck, catalog: DatasetCatalog) -> StressSafetyInputs:
    from release_gates.inputs.scored import ReleaseCatalog, load_candidate
    from release_gates.scoring.loaders import load_model

    dataset = catalog.dataset(spec.data)
    if dataset.label is None:
        raise DatasetError(f"dataset {spec.data!r} declares no label column")
    if spec.model is not None:
        model = load_model(spec.model, base_dir=catalog.base_dir)
    elif isinstance(catalog, ReleaseCatalog) and catalog.candidate is not None:
        # No model of its own: the check stresses the release's candidate, the model that is judged.
        model = load_candidate(catalog.candidate, dataset, catalog.base_dir)
    else:
        raise ModelLoadError(f"{spec.kind} check on {spec.data!r} names no model and the policy no candidate")
    predict, model_info = model.predict, model.info
    location = catalog.locate(spec.data)
    frame = catalog.load(spec.data, location=location)
    return StressSafetyInputs(
        frame=frame,
        predict=predict,
        label=dataset.label,
        positive=dataset.positive_label,
        negative=dataset.negative_label,
        exclude=tuple(c for c in (dataset.prediction, dataset.score) if c),
        inputs={
            spec.data: {**catalog.fingerprint(spec.data, location), "rows": len(frame)},
            "model": model_info,
        },
    )


def run_stress_safety_check(
    spec: StressSafetyCheck, catalog: DatasetCatalog, *, check_id: str
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call.

    A model of the check's own without a sha256 pin is not judged (INCONCLUSIVE: a verdict about an
    unpinned file binds to nothing that ships) unless the policy sets ``allow_unpinned_model``.
    """
    from release_gates.checks.stress_safety import evaluate_stress_safety

    if spec.model is not None and not (spec.model.sha256 or "").strip() and not spec.allow_unpinned_model:
        return _unpinned_model(spec, check_id)
    resolved = resolve_stress_safety_inputs(spec, catalog)
    return evaluate_stress_safety(
        resolved.frame,
        resolved.predict,
        spec,
        label=resolved.label,
        positive=resolved.positive,
        negative=resolved.negative,
        exclude=resolved.exclude,
        check_id=check_id,
        inputs=resolved.inputs,
    )


def _unpinned_model(spec: StressSafetyCheck, check_id: str) -> CheckResult:
    from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

    assert spec.model is not None
    now = utcnow()
    return CheckResult(
        check_id=check_id,
        kind=spec.kind,
        status=Status.INCONCLUSIVE,
        summary=f"not judged: the model has no sha256 pin ({spec.model.format} model); pin it, or set "
        "allow_unpinned_model in the policy",
        findings=(
            Finding(
                id="model_not_pinned",
                severity=Severity.HIGH,
                title="stress-tested model is not pinned by sha256",
                detail="Without a pin nothing ties this verdict to the model file that ships.",
                location="model.sha256",
            ),
        ),
        inputs={"model": {"format": spec.model.format, "sha256": None}},
        started_at=now,
        finished_at=now,
    )
