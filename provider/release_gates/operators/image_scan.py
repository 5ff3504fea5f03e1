"""Scan the release's container image with Trivy and gate it on the policy's image_scan check."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.policy import ImageScanCheck, ReleasePolicy
    from release_gates.results import CheckResult


class ImageScanOperator(BaseCheckOperator):
    """One Trivy run over the image (reference, tarball, filesystem or SBOM) or an existing Trivy
    JSON report, gated by the check's thresholds and waivers.

    The redacted Trivy report and a CycloneDX SBOM converted from it are written to
    ``artifacts_dir`` (default: the run's folder, :func:`release_gates.artifacts.artifact_dir`) and recorded
    with their sha256; XCom carries only the summary. Secret values never leave Trivy's output.

    :param trivy_conn_id: connection of type ``release_gates_trivy`` (binary, cache, DB mirror,
        offline mode); the defaults apply when the default connection does not exist.
    :param artifacts_dir: where the report and SBOM are written (templated).
    """

    check_kind = "image_scan"
    template_fields: Sequence[str] = (*BaseCheckOperator.template_fields, "artifacts_dir")
    ui_color = "#fde8e8"

    def __init__(
        self,
        *,
        trivy_conn_id: str = "trivy_default",
        artifacts_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.trivy_conn_id = trivy_conn_id
        self.artifacts_dir = artifacts_dir

    def run_check(self, spec: ImageScanCheck, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        from release_gates.hooks.trivy import TrivyHook
        from release_gates.inputs.image_scan import run_image_scan_check

        return run_image_scan_check(
            spec,
            check_id=self.check_id,
            scanner=TrivyHook(self.trivy_conn_id),
            artifacts_dir=self._artifacts_path(),
            policy_waivers=policy.waivers if policy is not None else (),
            base_dir=policy.base_dir if policy is not None else None,
        )

    def _artifacts_path(self) -> Path:
        from release_gates.artifacts import artifact_dir

        return Path(self.artifacts_dir) if self.artifacts_dir else artifact_dir(self.release_id)
