"""Inputs of ``kind: image_scan``: the scan target and the waivers that may cover its findings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from release_gates.checks.image_scan import TrivyScanner
    from release_gates.policy import ImageScanCheck, Waiver
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class ImageScanInputs:
    #: The gate the check belongs to (``<gate>.<check>`` ids), for waivers restricted to gates.
    gate_id: str | None
    #: The policy's own waivers; the check's waivers travel with its spec.
    policy_waivers: list[Waiver] = field(default_factory=list)


def resolve_image_scan_inputs(
    spec: ImageScanCheck, *, check_id: str, policy_waivers: Iterable[Waiver] = ()
) -> ImageScanInputs:
    gate_id = check_id.split(".", 1)[0] if "." in check_id else None
    return ImageScanInputs(gate_id=gate_id, policy_waivers=list(policy_waivers))


def run_image_scan_check(
    spec: ImageScanCheck,
    *,
    check_id: str,
    scanner: TrivyScanner | None,
    artifacts_dir: Path,
    policy_waivers: Iterable[Waiver] = (),
) -> CheckResult:
    """Resolve the inputs, scan, gate, and trim the result to what one evidence record holds."""
    from release_gates.checks.image_scan import fit_for_evidence, run_image_scan

    resolved = resolve_image_scan_inputs(spec, check_id=check_id, policy_waivers=policy_waivers)
    result = run_image_scan(
        spec,
        check_id=check_id,
        scanner=scanner,
        artifacts_dir=artifacts_dir,
        gate_id=resolved.gate_id,
        policy_waivers=resolved.policy_waivers,
    )
    return fit_for_evidence(result)
