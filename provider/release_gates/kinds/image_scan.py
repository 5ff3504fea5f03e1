"""``kind: image_scan`` — one Trivy scan of the serving image, gated per severity."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field

from release_gates.kinds.common import Waiver
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Duration, SeverityField
from release_gates.results import Severity

ScanTarget = Literal["image", "tarball", "filesystem", "sbom", "report"]
Scanner = Literal["vuln", "secret", "misconfig", "license"]
_DEFAULT_SCANNERS: tuple[Scanner, ...] = ("vuln", "secret", "misconfig")

#: Severity (any case) → the most findings of it allowed.
SeverityLimits = dict[SeverityField, Annotated[int, Field(ge=0)]]


class ImageScanCheck(CheckSpecBase):
    kind: Literal["image_scan"] = Field(
        description="image_scan: one Trivy scan of the serving image, judged per severity."
    )
    image: str = Field(
        min_length=1,
        description="Image ref, tarball, path or report; may be templated.",
        examples=["{{ params.image }}"],
    )
    target: ScanTarget = Field(
        default="image",
        description="What image names: image (registry ref), tarball, filesystem, sbom, or report (an "
        "existing Trivy JSON).",
    )
    scanners: list[Scanner] = Field(
        description="Trivy scanners to run; vuln needs a vulnerability DB (online, or offline on "
        "air-gapped workers).",
        default_factory=lambda: list(_DEFAULT_SCANNERS),
    )
    max_findings: SeverityLimits = Field(
        description="Vulnerabilities: severity (any case) → most findings allowed; unlisted severities "
        "are unlimited.",
        default_factory=lambda: {Severity.CRITICAL: 0},
    )
    misconfig_max: SeverityLimits = Field(
        description="Misconfigurations: severity (any case) → most findings allowed; unlisted severities "
        "are unlimited.",
        default_factory=lambda: {Severity.CRITICAL: 0, Severity.HIGH: 0},
    )
    fixable_only: bool = Field(default=False, description="Count only vulnerabilities with a fixed version.")
    license_deny: list[str] = Field(
        description="License ids that fail the check when found (with the license scanner).",
        default_factory=list,
    )
    require_digest: bool = Field(
        default=True,
        description="An image reference must be pinned by digest (else a finding of unpinned_severity).",
    )
    unpinned_severity: SeverityField = Field(
        default=Severity.MEDIUM, description="Severity of the image-not-pinned finding."
    )
    unknown_severity: SeverityField = Field(
        default=Severity.MEDIUM,
        description="Severity for findings Trivy rates UNKNOWN (not yet scored by any source).",
    )
    sbom: bool = Field(default=True, description="Store a CycloneDX SBOM converted from the scan's report.")
    waivers: list[Waiver] = Field(
        description="Waivers of this check only (same fields as the top-level waivers).", default_factory=list
    )
    warn_days: Annotated[int, Field(ge=0)] = Field(
        default=14, description="A waiver expiring within this many days makes the check WARN."
    )
    timeout: Duration = Field(default=timedelta(minutes=10), description="Longest the scan may run.")


KIND = CheckKind(
    name="image_scan",
    spec=ImageScanCheck,
    engine="release_gates.checks.image_scan:run_image_scan",
    resolver="release_gates.inputs.image_scan:resolve_image_scan_inputs",
    operator="release_gates.operators.image_scan:ImageScanOperator",
    cli_command="release_gates.cli.checks.image_scan:COMMAND",
)
