"""One scan end to end: validate the target, run Trivy once, store the redacted report and a
CycloneDX SBOM converted from that same report, gate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from release_gates.artifacts import file_artifact, safe_name, write_atomic
from release_gates.checks.image_scan.redaction import redact_secrets
from release_gates.checks.image_scan.report import load_report, report_has_packages
from release_gates.checks.image_scan.scanner import TrivyScanner
from release_gates.checks.image_scan.targets import (
    scanners_for,
    validate_image_reference,
    validate_target_path,
)
from release_gates.checks.image_scan.verdict import KIND, evaluate_trivy_report
from release_gates.exceptions import InvalidTargetError, TrivyError, TrivyReportError, is_transient
from release_gates.policy import ImageScanCheck, Waiver, is_templated
from release_gates.results import Artifact, CheckResult, utcnow

REPORT_MEDIA_TYPE = "application/json"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"


def run_image_scan(
    spec: ImageScanCheck,
    *,
    check_id: str,
    scanner: TrivyScanner | None,
    artifacts_dir: Path,
    gate_id: str | None = None,
    policy_waivers: Iterable[Waiver] = (),
    today: date | None = None,
) -> CheckResult:
    """Validate the target, run Trivy once, store the redacted report (+ SBOM), gate. Never raises for
    scanner faults or bad input: those are ERROR results with a one-line message.

    ``spec.target`` ``report`` gates an existing Trivy JSON report without scanning (no scanner
    needed; an SBOM is still converted from it when a scanner is given).
    """
    started = utcnow()
    inputs: dict[str, Any] = {"target": spec.image, "target_kind": spec.target}
    engine: dict[str, str] = {}
    timing: dict[str, float] = {}
    try:
        if is_templated(spec.image):
            raise InvalidTargetError(f"image target {spec.image!r} is an unrendered template")
        if spec.target == "report":
            path = validate_target_path(spec.image, "report")
            raw = path.read_bytes()
            inputs["input_sha256"] = hashlib.sha256(raw).hexdigest()
            report = load_report(raw)
        else:
            report = _scan(spec, scanner, inputs, engine, timing)
        redacted, secrets = redact_secrets(report)
        artifacts = _store_artifacts(redacted, spec, check_id, artifacts_dir, scanner)
    except (TrivyError, TrivyReportError, InvalidTargetError, OSError) as exc:
        message = str(exc) if not isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        # Whether a retry may help (a timeout, a registry that did not answer) or not (a missing
        # target, no vulnerability DB offline): the operator fails at once on the second kind.
        error = {"type": type(exc).__name__, "transient": is_transient(exc)}
        return CheckResult.error(
            check_id=check_id,
            kind=KIND,
            message=message,
            started_at=started,
            inputs=inputs,
            engine=engine,
            metrics={"error": error},
        )
    inputs["secrets_redacted"] = secrets
    result = evaluate_trivy_report(
        redacted,
        spec,
        check_id=check_id,
        gate_id=gate_id,
        policy_waivers=policy_waivers,
        today=today,
        reference=spec.image if spec.target == "image" else None,
        started_at=started,
        inputs=inputs,
        artifacts=artifacts,
        engine=engine,
    )
    if not timing:
        return result
    return result.model_copy(update={"metrics": {**result.metrics, **timing}})


def _scan(
    spec: ImageScanCheck,
    scanner: TrivyScanner | None,
    inputs: dict[str, Any],
    engine: dict[str, str],
    timing: dict[str, float],
) -> dict[str, Any]:
    if spec.target == "image":
        target = validate_image_reference(spec.image)
    else:
        path = validate_target_path(spec.image, spec.target)
        target = str(path)
        if path.is_file():
            with path.open("rb") as handle:
                inputs["input_sha256"] = hashlib.file_digest(handle, "sha256").hexdigest()
    scanners = scanners_for(spec)
    if scanner is None:
        raise TrivyError("no Trivy scanner configured for a scan target")
    scan = scanner.scan(target, kind=spec.target, scanners=scanners, timeout=spec.timeout.total_seconds())
    engine["trivy"] = scan.version
    timing["trivy_seconds"] = round(scan.seconds, 3)
    inputs.update(scanners=scanners, trivy_command=scan.command, trivy_args=list(scan.argv[1:]))
    if scan.db:
        inputs["trivy_db"] = {k: scan.db[k] for k in ("Version", "UpdatedAt", "NextUpdate") if k in scan.db}
    return load_report(scan.stdout)


def _store_artifacts(
    report: Mapping[str, Any],
    spec: ImageScanCheck,
    check_id: str,
    artifacts_dir: Path,
    scanner: TrivyScanner | None,
) -> list[Artifact]:
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    stem = safe_name(check_id, default="image_scan")
    report_path = artifacts_dir / f"{stem}.trivy.json"
    write_atomic(report_path, json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode())
    artifacts = [file_artifact(report_path, "trivy-report", REPORT_MEDIA_TYPE)]
    if spec.sbom and scanner is not None and report_has_packages(report):
        sbom_path = artifacts_dir / f"{stem}.cdx.json"
        scanner.convert(report_path, sbom_path, fmt="cyclonedx")
        artifacts.append(file_artifact(sbom_path, "sbom-cyclonedx", SBOM_MEDIA_TYPE))
    return artifacts
