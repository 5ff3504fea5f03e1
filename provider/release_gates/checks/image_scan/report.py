"""Reading a Trivy JSON report (``SchemaVersion`` 2): every vulnerability, secret, failed
misconfiguration and license becomes a :class:`ScanItem`. Pure functions, no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from release_gates.exceptions import TrivyReportError
from release_gates.results import Severity

SUPPORTED_SCHEMA_VERSION = 2
TRIVY_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")

_SEVERITY = {s.value: s for s in Severity}
#: Severity.rank, as a lookup: it runs once per finding.
SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


def load_report(raw: bytes | str) -> dict[str, Any]:
    """Decode Trivy's JSON output and check its schema version; :class:`TrivyReportError` if unusable."""
    if not raw.strip():
        raise TrivyReportError("Trivy produced no report (empty output)")
    try:
        report = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        # Never quote the output itself: a truncated report may hold what the redaction would remove.
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise TrivyReportError(f"Trivy output is not JSON ({len(raw)} bytes, invalid{where})") from None
    if not isinstance(report, dict):
        raise TrivyReportError(f"Trivy output is a JSON {type(report).__name__}, not a report object")
    check_schema_version(report)
    return report


def check_schema_version(report: Mapping[str, Any]) -> None:
    version = report.get("SchemaVersion")
    if version is None:
        raise TrivyReportError("not a Trivy JSON report: it has no SchemaVersion")
    if isinstance(version, bool) or version != SUPPORTED_SCHEMA_VERSION:
        raise TrivyReportError(
            f"unsupported Trivy report SchemaVersion {version!r} (this reader supports "
            f"{SUPPORTED_SCHEMA_VERSION})"
        )


def _results(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    results = report.get("Results") or []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise TrivyReportError("Trivy report: Results is not a list of objects")
    return results


def _entries(result: Mapping[str, Any], key: str, index: int) -> list[dict[str, Any]]:
    entries = result.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise TrivyReportError(f"Trivy report: Results[{index}].{key} is not a list of objects")
    return entries


def nonempty_text(value: Any) -> str | None:
    """The value when it is a non-empty string, else None (Trivy leaves unknown fields empty or out)."""
    return value if isinstance(value, str) and value else None


def trivy_severity(value: Any) -> str:
    """Trivy's severity, upper-cased; anything outside Trivy's five levels counts as UNKNOWN."""
    text = str(value).upper() if value is not None else "UNKNOWN"
    return text if text in TRIVY_SEVERITIES else "UNKNOWN"


def map_severity(trivy: str, unknown_as: Severity) -> Severity:
    """Trivy severity → ours. UNKNOWN means "not scored yet" (typically a CVE too new for NVD and the
    distribution to have rated it), not "harmless": it becomes ``unknown_as`` (default MEDIUM, the
    middle of the CVSS range) so a policy can gate it. Mapping it to INFO would let unscored — often
    the newest — vulnerabilities through every threshold; mapping it to CRITICAL would block every
    release on each fresh CVE."""
    return unknown_as if trivy == "UNKNOWN" else _SEVERITY[trivy]


@dataclass(slots=True)
class ScanItem:
    """One thing Trivy reported, before waivers and severity mapping."""

    cls: str
    id: str
    trivy_severity: str
    title: str
    location: str
    detail: str = ""
    paths: tuple[str, ...] = ()
    purl: str | None = None
    package: str | None = None
    fixable: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def parse_findings(report: Mapping[str, Any]) -> list[ScanItem]:
    """Every vulnerability, secret, failed misconfiguration and license in a SchemaVersion 2 report.

    Unknown and future fields are ignored; known fields of the wrong type raise
    :class:`TrivyReportError`. Secret values are never copied: only rule, category and line numbers.
    """
    check_schema_version(report)
    items: list[ScanItem] = []
    for index, result in enumerate(_results(report)):
        target = str(result.get("Target") or "")
        items += (_vulnerability(v, target) for v in _entries(result, "Vulnerabilities", index))
        items += (_secret(s, target) for s in _entries(result, "Secrets", index))
        items += (
            _misconfiguration(m, target)
            for m in _entries(result, "Misconfigurations", index)
            if str(m.get("Status", "FAIL")).upper() == "FAIL"
        )
        items += (_license(lic, target) for lic in _entries(result, "Licenses", index))
    return items


def _vulnerability(v: Mapping[str, Any], target: str) -> ScanItem:
    vuln_id = nonempty_text(v.get("VulnerabilityID")) or "UNKNOWN-VULNERABILITY"
    package = nonempty_text(v.get("PkgName")) or "?"
    installed = nonempty_text(v.get("InstalledVersion"))
    fixed = nonempty_text(v.get("FixedVersion"))
    identifier = v.get("PkgIdentifier")
    purl = nonempty_text(identifier.get("PURL")) if isinstance(identifier, dict) else None
    pkg_path = nonempty_text(v.get("PkgPath"))
    severity = trivy_severity(v.get("Severity"))
    status = nonempty_text(v.get("Status"))
    detail = f"{package} {installed or '?'}: " + (
        f"fixed in {fixed}" if fixed else f"no fixed version ({status or 'no fix yet'})"
    )
    data = {
        "class": "vulnerability",
        "target": target,
        "package": package,
        "installed_version": installed,
        "fixed_version": fixed,
        "status": status,
        "primary_url": nonempty_text(v.get("PrimaryURL")),
        "purl": purl,
        "package_path": pkg_path,
        "trivy_severity": severity,
    }
    return ScanItem(
        cls="vulnerability",
        id=vuln_id,
        trivy_severity=severity,
        title=nonempty_text(v.get("Title")) or vuln_id,
        location=f"{target}: {package}@{installed or '?'}",
        detail=detail,
        paths=tuple(p for p in (target, pkg_path) if p),
        purl=purl,
        package=package,
        fixable=fixed is not None,
        data={k: val for k, val in data.items() if val is not None},
    )


def _secret(s: Mapping[str, Any], target: str) -> ScanItem:
    # Deliberately reads no Match, Code or Offset: only where the secret is and what kind it is.
    rule = nonempty_text(s.get("RuleID")) or "secret"
    severity = trivy_severity(s.get("Severity"))
    start, end = s.get("StartLine"), s.get("EndLine")
    line = f":{start}" if isinstance(start, int) else ""
    category = nonempty_text(s.get("Category"))
    data: dict[str, Any] = {"class": "secret", "target": target, "rule": rule, "trivy_severity": severity}
    if category:
        data["category"] = category
    if isinstance(start, int):
        data["start_line"] = start
        data["end_line"] = end if isinstance(end, int) else start
    return ScanItem(
        cls="secret",
        id=rule,
        trivy_severity=severity,
        title=nonempty_text(s.get("Title")) or rule,
        location=f"{target}{line}",
        detail=f"{category or 'secret'} found by rule {rule}; value redacted",
        paths=(target,) if target else (),
        data=data,
    )


def _misconfiguration(m: Mapping[str, Any], target: str) -> ScanItem:
    check_id = nonempty_text(m.get("ID")) or nonempty_text(m.get("AVDID")) or "misconfiguration"
    severity = trivy_severity(m.get("Severity"))
    cause = m.get("CauseMetadata") if isinstance(m.get("CauseMetadata"), dict) else {}
    start = cause.get("StartLine") if isinstance(cause, dict) else None
    line = f":{start}" if isinstance(start, int) and start > 0 else ""
    message, resolution = nonempty_text(m.get("Message")), nonempty_text(m.get("Resolution"))
    data = {
        "class": "misconfiguration",
        "target": target,
        "type": nonempty_text(m.get("Type")),
        "avd_id": nonempty_text(m.get("AVDID")),
        "resolution": resolution,
        "primary_url": nonempty_text(m.get("PrimaryURL")),
        "trivy_severity": severity,
    }
    return ScanItem(
        cls="misconfiguration",
        id=check_id,
        trivy_severity=severity,
        title=nonempty_text(m.get("Title")) or check_id,
        location=f"{target}{line}",
        detail=" ".join(p for p in (message, f"Fix: {resolution}" if resolution else None) if p),
        paths=(target,) if target else (),
        data={k: val for k, val in data.items() if val is not None},
    )


def _license(lic: Mapping[str, Any], target: str) -> ScanItem:
    name = nonempty_text(lic.get("Name")) or "UNKNOWN-LICENSE"
    severity = trivy_severity(lic.get("Severity"))
    package, file_path = nonempty_text(lic.get("PkgName")), nonempty_text(lic.get("FilePath"))
    category = nonempty_text(lic.get("Category"))
    data = {
        "class": "license",
        "target": target,
        "license": name,
        "category": category,
        "package": package,
        "file_path": file_path,
        "trivy_severity": severity,
    }
    return ScanItem(
        cls="license",
        id=name,
        trivy_severity=severity,
        title=f"License {name}" + (f" ({category})" if category else ""),
        location=f"{target}: {package or file_path or '?'}",
        detail=f"{package or file_path or target} is licensed {name}",
        paths=tuple(p for p in (target, file_path) if p),
        package=package,
        data={k: val for k, val in data.items() if val is not None},
    )


def report_has_packages(report: Mapping[str, Any]) -> bool:
    """True when the report lists packages (what a CycloneDX SBOM is made of)."""
    results = report.get("Results")
    return isinstance(results, list) and any(isinstance(r, dict) and r.get("Packages") for r in results)
