"""Container image scanning: one Trivy JSON report in, one gated :class:`CheckResult` out.

"Report everything, gate only on what matters, in a single run." One ``trivy`` run with the scanners
the policy enables (vulnerabilities, secrets, misconfigurations, licenses) produces one JSON report
(``SchemaVersion`` 2). The modules of this package, in the order a scan passes through them:

* :mod:`.targets` — the target is checked before anything reaches Trivy (image reference grammar,
  paths, which scanners a target supports);
* :mod:`.scanner` — the interface of the scanner (``scan``/``convert``);
  :class:`release_gates.hooks.trivy.TrivyHook` is the real one;
* :mod:`.report` — every vulnerability, secret, failed misconfiguration and license becomes a
  :class:`ScanItem` (:func:`parse_findings`, pure);
* :mod:`.redaction` — secret values stay out of everything stored or returned (:func:`redact_secrets`);
* :mod:`.waivers` and :mod:`.image_identity` — what a waiver covers; which digest was scanned;
* :mod:`.verdict` — the gate with the :class:`~release_gates.policy.ImageScanCheck` spec
  (:func:`evaluate_trivy_report`, pure);
* :mod:`.scan` — the whole chain around a scanner (:func:`run_image_scan`): validate, scan once,
  store the redacted report and a CycloneDX SBOM converted from that same report, gate;
* :mod:`.evidence_budget` — a result small enough for one evidence record (:func:`fit_for_evidence`).

No Airflow import here. The names below are this package's public face; the error classes live in
:mod:`release_gates.exceptions` and are re-exported for callers of the former single module.
"""

from __future__ import annotations

from release_gates.checks.image_scan.evidence_budget import EVIDENCE_BUDGET_BYTES, fit_for_evidence
from release_gates.checks.image_scan.image_identity import UNPINNED_ID, resolve_digest
from release_gates.checks.image_scan.redaction import REDACTED, redact_secrets
from release_gates.checks.image_scan.report import (
    SUPPORTED_SCHEMA_VERSION,
    TRIVY_SEVERITIES,
    ScanItem,
    check_schema_version,
    load_report,
    map_severity,
    parse_findings,
    report_has_packages,
    trivy_severity,
)
from release_gates.checks.image_scan.scan import REPORT_MEDIA_TYPE, SBOM_MEDIA_TYPE, run_image_scan
from release_gates.checks.image_scan.scanner import TrivyScan, TrivyScanner
from release_gates.checks.image_scan.targets import (
    IMAGE_REFERENCE,
    SBOM_SCANNERS,
    is_pinned,
    scanners_for,
    validate_image_reference,
    validate_target_path,
)
from release_gates.checks.image_scan.verdict import FINDING_CLASSES, KIND, evaluate_trivy_report
from release_gates.checks.image_scan.waivers import waiver_covers, waivers_for
from release_gates.exceptions import InvalidTargetError, TrivyError, TrivyReportError

__all__ = [
    "EVIDENCE_BUDGET_BYTES",
    "FINDING_CLASSES",
    "IMAGE_REFERENCE",
    "KIND",
    "REDACTED",
    "REPORT_MEDIA_TYPE",
    "SBOM_MEDIA_TYPE",
    "SBOM_SCANNERS",
    "SUPPORTED_SCHEMA_VERSION",
    "TRIVY_SEVERITIES",
    "UNPINNED_ID",
    "InvalidTargetError",
    "ScanItem",
    "TrivyError",
    "TrivyReportError",
    "TrivyScan",
    "TrivyScanner",
    "check_schema_version",
    "evaluate_trivy_report",
    "fit_for_evidence",
    "is_pinned",
    "load_report",
    "map_severity",
    "parse_findings",
    "redact_secrets",
    "report_has_packages",
    "resolve_digest",
    "run_image_scan",
    "scanners_for",
    "trivy_severity",
    "validate_image_reference",
    "validate_target_path",
    "waiver_covers",
    "waivers_for",
]
