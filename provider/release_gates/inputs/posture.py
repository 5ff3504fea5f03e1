"""Inputs of ``kind: posture``: an S3 client for the buckets, and the sample of outputs scanned for PII."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.deploy import ClientSource
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import PostureCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class PostureInputs:
    s3: Any
    outputs: pd.DataFrame | None
    inputs: dict[str, Any] = field(default_factory=dict)


def resolve_posture_inputs(
    spec: PostureCheck, catalog: DatasetCatalog, clients: ClientSource | None
) -> PostureInputs:
    s3 = clients("s3") if spec.buckets and clients is not None else None
    outputs, inputs = None, {}
    if spec.outputs_sample:
        location = catalog.locate(spec.outputs_sample)
        outputs = catalog.load(spec.outputs_sample, location=location)
        inputs[spec.outputs_sample] = {
            **catalog.fingerprint(spec.outputs_sample, location),
            "rows": len(outputs),
        }
    return PostureInputs(s3=s3, outputs=outputs, inputs=inputs)


def run_posture_check(
    spec: PostureCheck, catalog: DatasetCatalog, clients: ClientSource | None, *, check_id: str
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.posture import evaluate_security_posture

    resolved = resolve_posture_inputs(spec, catalog, clients)
    return evaluate_security_posture(
        resolved.s3, spec, outputs=resolved.outputs, check_id=check_id, inputs=resolved.inputs
    )
