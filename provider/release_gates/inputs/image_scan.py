"""Inputs of ``kind: image_scan``: the scan target and the waivers that may cover its findings.

A target on disk (tarball, filesystem, SBOM, report) written as a relative path resolves against the
policy file's directory, like every other path in a policy, so the DAG and the CLI scan the same thing
whatever the worker's working directory is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from release_gates.checks.image_scan import TrivyScanner
    from release_gates.policy import ImageScanCheck, Waiver
    from release_gates.results import CheckResult


#: Target kinds whose ``image`` is a path on disk rather than an image reference.
PATH_TARGETS = frozenset({"tarball", "filesystem", "sbom", "report"})


def resolve_target_path(spec: ImageScanCheck, base_dir: str | Path | None) -> ImageScanCheck:
    """The spec with a relative on-disk target joined to ``base_dir`` (the policy's directory).

    Image references, absolute paths, unrendered templates and values the target validator refuses
    (a leading ``-``) are left as written: the engine judges those.
    """
    from release_gates.policy import is_templated

    image = spec.image
    if base_dir is None or spec.target not in PATH_TARGETS or is_templated(image) or image.startswith("-"):
        return spec
    path = Path(image).expanduser()
    if path.is_absolute():
        return spec
    return spec.model_copy(update={"image": str(Path(base_dir) / path)})


@dataclass(frozen=True)
class ImageScanInputs:
    #: The check's spec, its on-disk target resolved against the policy's directory.
    spec: ImageScanCheck
    #: The gate the check belongs to (``<gate>.<check>`` ids), for waivers restricted to gates.
    gate_id: str | None
    #: The policy's own waivers; the check's waivers travel with its spec.
    policy_waivers: list[Waiver] = field(default_factory=list)


def resolve_image_scan_inputs(
    spec: ImageScanCheck,
    *,
    check_id: str,
    policy_waivers: Iterable[Waiver] = (),
    base_dir: str | Path | None = None,
) -> ImageScanInputs:
    gate_id = check_id.split(".", 1)[0] if "." in check_id else None
    return ImageScanInputs(
        spec=resolve_target_path(spec, base_dir), gate_id=gate_id, policy_waivers=list(policy_waivers)
    )


def run_image_scan_check(
    spec: ImageScanCheck,
    *,
    check_id: str,
    scanner: TrivyScanner | None,
    artifacts_dir: Path,
    policy_waivers: Iterable[Waiver] = (),
    base_dir: str | Path | None = None,
) -> CheckResult:
    """Resolve the inputs, scan, gate, and trim the result to what one evidence record holds.

    :param base_dir: directory a relative on-disk target resolves against (the policy's).
    """
    from release_gates.checks.image_scan import fit_for_evidence, run_image_scan

    resolved = resolve_image_scan_inputs(
        spec, check_id=check_id, policy_waivers=policy_waivers, base_dir=base_dir
    )
    result = run_image_scan(
        resolved.spec,
        check_id=check_id,
        scanner=scanner,
        artifacts_dir=artifacts_dir,
        gate_id=resolved.gate_id,
        policy_waivers=resolved.policy_waivers,
    )
    return fit_for_evidence(result)
