"""Inputs of ``kind: model_signature``: the pinned model, its signature bundle and the trust root.

The model is the release's candidate — ``candidate.uri`` and ``candidate.sha256`` as rendered for the
run (``{{ params.model_uri }}``), the same pin the start step verified against the file — or, from
the CLI, the ``--model``/``--model-sha256`` given. Every path (model, signature, public key, CA
chain) resolves against the policy file's directory, like datasets and models; the signature
defaults to the model's path with ``.sig`` appended.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ModelLoadError
from release_gates.kinds.fields import is_templated

if TYPE_CHECKING:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.kinds.model_signature import ModelSignatureCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class ModelSignatureInputs:
    model: Path
    signature: Path
    pinned_sha256: str | None
    public_key: Path | None
    certificate_chain: tuple[Path, ...]
    #: What ``CheckResult.inputs`` records about where each part came from.
    inputs: dict[str, Any]


def _local(value: str, what: str, base_dir: Path | None) -> Path:
    from release_gates.scoring.loaders import model_path

    if is_templated(value):
        raise ModelLoadError(f"the {what} is still a template ({value}): render it or give it directly")
    try:
        return model_path(value, base_dir)
    except ModelLoadError:
        raise ModelLoadError(f"the {what} {value!r} is not a local path (only files are verified)") from None


def resolve_model_signature_inputs(
    spec: ModelSignatureCheck,
    catalog: DatasetCatalog,
    *,
    model_uri: str | None = None,
    model_sha256: str | None = None,
) -> ModelSignatureInputs:
    """The model to verify (``model_uri``, else the release's candidate) and the spec's paths, resolved."""
    from release_gates.inputs.scored import ReleaseCatalog

    source = "given"
    if model_uri is None:
        candidate = catalog.candidate if isinstance(catalog, ReleaseCatalog) else None
        if candidate is None:
            raise ModelLoadError(
                f"{spec.kind} check: no model to verify (the policy has no candidate: section)"
            )
        model_uri, model_sha256, source = candidate.uri, candidate.sha256, "candidate"
    if model_sha256 is not None and is_templated(model_sha256):
        raise ModelLoadError(f"the model's sha256 is still a template ({model_sha256})")
    base_dir = catalog.base_dir
    model = _local(model_uri, "model uri", base_dir)
    signature = (
        _local(spec.signature, "signature", base_dir)
        if spec.signature
        else model.with_name(model.name + ".sig")
    )
    public_key = _local(spec.public_key, "public key", base_dir) if spec.public_key else None
    chain = tuple(_local(c, "certificate chain file", base_dir) for c in spec.certificate_chain or [])
    return ModelSignatureInputs(
        model=model,
        signature=signature,
        pinned_sha256=model_sha256 or None,
        public_key=public_key,
        certificate_chain=chain,
        inputs={
            "model": {"uri": model_uri, "source": source},
            "signature_default": spec.signature is None,
        },
    )


def run_model_signature_check(
    spec: ModelSignatureCheck,
    catalog: DatasetCatalog,
    *,
    check_id: str,
    model_uri: str | None = None,
    model_sha256: str | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.model_signature import evaluate_model_signature

    resolved = resolve_model_signature_inputs(spec, catalog, model_uri=model_uri, model_sha256=model_sha256)
    return evaluate_model_signature(
        resolved.model,
        resolved.signature,
        pinned_sha256=resolved.pinned_sha256,
        public_key=resolved.public_key,
        certificate_chain=resolved.certificate_chain,
        on_missing=spec.on_missing,
        severity=spec.severity,
        check_id=check_id,
        inputs=resolved.inputs,
    )
