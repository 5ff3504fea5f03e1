"""Inputs of ``kind: explainability``: the release's pinned candidate (sha256 checked before it is
deserialised) and the evaluation rows — only the columns the check needs when the model names its inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ModelLoadError

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.kinds.explainability import ExplainabilityCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class ExplainabilityInputs:
    frame: pd.DataFrame
    predict: Callable[[pd.DataFrame], Any]
    label: str | None
    #: The inputs the model declares (its own, or the policy's candidate.features); None: every column.
    features: tuple[str, ...] | None
    #: Columns of the data that are outputs, not model inputs (prediction, score).
    exclude: tuple[str, ...]
    inputs: dict[str, Any]


def resolve_explainability_inputs(spec: ExplainabilityCheck, catalog: DatasetCatalog) -> ExplainabilityInputs:
    from release_gates.inputs.scored import ReleaseCatalog, load_candidate

    dataset = catalog.dataset(spec.data)
    if not isinstance(catalog, ReleaseCatalog) or catalog.candidate is None:
        # The check explains the model that ships: only the policy's pinned candidate is that model.
        raise ModelLoadError(
            f"{spec.kind} check on {spec.data!r}: the policy names no candidate: (the pinned model to "
            "explain)"
        )
    model = load_candidate(catalog.candidate, dataset, catalog.base_dir)
    label = spec.label or dataset.label
    exclude = tuple(c for c in (dataset.prediction, dataset.score) if c)
    columns = None
    if model.features is not None:
        wanted = [*model.features, *spec.sensitive_features, *([label] if label else [])]
        columns = list(dict.fromkeys(wanted))
    location = catalog.locate(spec.data)
    frame = catalog.load(spec.data, columns=columns, location=location)
    return ExplainabilityInputs(
        frame=frame,
        predict=model.predict,
        label=label,
        features=model.features,
        exclude=exclude,
        inputs={
            spec.data: {**catalog.fingerprint(spec.data, location), "rows": len(frame)},
            "model": model.info,
        },
    )


def run_explainability_check(
    spec: ExplainabilityCheck, catalog: DatasetCatalog, *, check_id: str
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.explainability import evaluate_explainability

    resolved = resolve_explainability_inputs(spec, catalog)
    return evaluate_explainability(
        resolved.frame,
        resolved.predict,
        spec,
        label=resolved.label,
        features=resolved.features,
        exclude=resolved.exclude,
        check_id=check_id,
        inputs=resolved.inputs,
    )
