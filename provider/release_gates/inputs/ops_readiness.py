"""Inputs of ``kind: ops_readiness``: the target, a CloudWatch client, the pins and the actual artifacts.

The pins are the spec's ``image`` / ``model_uri`` / ``model_sha256`` (run values win). The actual
artifacts are what the release judged: in the release DAG its evidence
(:func:`~release_gates.inputs.deployment_identity.judged_from_evidence`), on the CLI its flags
(:func:`judged_from_flags`: a local model file is hashed here).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release_gates.deploy import ClientSource, DeploymentTarget
    from release_gates.inputs.deployment_identity import JudgedArtifacts
    from release_gates.policy import OpsReadinessCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class OpsReadinessInputs:
    target: DeploymentTarget
    cloudwatch: Any
    #: The release's image and model pins (run values win over the spec's; empty means not given).
    image: str | None
    model_uri: str | None
    model_sha256: str | None
    #: The release's actual model and image, when known.
    judged: JudgedArtifacts | None = None


def judged_from_flags(
    *, model_uri: str | None = None, image_digests: Iterable[str] = ()
) -> JudgedArtifacts | None:
    """The actual artifacts the CLI's flags name: a local model file's sha256, the scanned image's
    digests. ``None`` when the flags name neither."""
    import hashlib
    from pathlib import Path

    from release_gates.inputs.deployment_identity import JudgedArtifacts

    sha = None
    if model_uri and "://" not in model_uri.removeprefix("file://"):
        path = Path(model_uri.removeprefix("file://"))
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                    digest.update(chunk)
            sha = digest.hexdigest()
    judged = JudgedArtifacts.given(model_sha256=sha, image_digests=image_digests)
    if judged.model_sha256 is None and not judged.image_scans:
        return None
    return judged


def resolve_ops_readiness_inputs(
    spec: OpsReadinessCheck,
    clients: ClientSource,
    *,
    image: str | None = None,
    model_uri: str | None = None,
    model_sha256: str | None = None,
    judged: JudgedArtifacts | None = None,
) -> OpsReadinessInputs:
    from release_gates.deploy import build_target

    return OpsReadinessInputs(
        target=build_target(spec.target, clients),
        cloudwatch=clients("cloudwatch"),
        image=image or None,
        model_uri=model_uri or None,
        model_sha256=model_sha256 or None,
        judged=judged,
    )


def run_ops_readiness_check(
    spec: OpsReadinessCheck,
    clients: ClientSource,
    *,
    check_id: str,
    image: str | None = None,
    model_uri: str | None = None,
    model_sha256: str | None = None,
    judged: JudgedArtifacts | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.ops_readiness import evaluate_ops_readiness

    resolved = resolve_ops_readiness_inputs(
        spec, clients, image=image, model_uri=model_uri, model_sha256=model_sha256, judged=judged
    )
    return evaluate_ops_readiness(
        resolved.target,
        resolved.cloudwatch,
        spec,
        check_id=check_id,
        image=resolved.image,
        model_uri=resolved.model_uri,
        model_sha256=resolved.model_sha256,
        judged=resolved.judged,
    )
