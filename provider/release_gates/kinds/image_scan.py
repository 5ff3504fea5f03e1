"""``kind: image_scan`` — one Trivy scan of the serving image, gated per severity."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from release_gates.kinds.common import Waiver
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Duration, SeverityField, severity_input
from release_gates.results import Severity

ScanTarget = Literal["image", "tarball", "filesystem", "sbom", "report"]
Scanner = Literal["vuln", "secret", "misconfig", "license"]
_DEFAULT_SCANNERS: tuple[Scanner, ...] = ("vuln", "secret", "misconfig")

#: Severity (any case) → the most findings of it allowed.
SeverityLimits = dict[Annotated[Severity, BeforeValidator(severity_input)], Annotated[int, Field(ge=0)]]


class ImageScanCheck(CheckSpecBase):
    kind: Literal["image_scan"]
    image: str = Field(min_length=1, description="Image ref, tarball, path or report; may be templated.")
    target: ScanTarget = "image"
    scanners: list[Scanner] = Field(default_factory=lambda: list(_DEFAULT_SCANNERS))
    max_findings: SeverityLimits = Field(default_factory=lambda: {Severity.CRITICAL: 0})
    misconfig_max: SeverityLimits = Field(default_factory=lambda: {Severity.CRITICAL: 0, Severity.HIGH: 0})
    fixable_only: bool = False
    license_deny: list[str] = Field(default_factory=list)
    require_digest: bool = True
    unpinned_severity: SeverityField = Severity.MEDIUM
    unknown_severity: SeverityField = Field(
        default=Severity.MEDIUM,
        description="Severity for findings Trivy rates UNKNOWN (not yet scored by any source).",
    )
    sbom: bool = Field(default=True, description="Store a CycloneDX SBOM converted from the scan's report.")
    waivers: list[Waiver] = Field(default_factory=list)
    warn_days: Annotated[int, Field(ge=0)] = 14
    timeout: Duration = timedelta(minutes=10)


KIND = CheckKind(
    name="image_scan",
    spec=ImageScanCheck,
    engine="release_gates.checks.image_scan:run_image_scan",
    resolver="release_gates.inputs.image_scan:resolve_image_scan_inputs",
    operator="release_gates.operators.image_scan:ImageScanOperator",
    cli_command="release_gates.cli.checks.image_scan:COMMAND",
)
