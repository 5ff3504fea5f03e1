"""The gate: one parsed, redacted Trivy report + the policy's image_scan check → one :class:`CheckResult`.

Thresholds per severity, fixable-only counting, secrets always fail, misconfiguration thresholds, a
license deny-list, waivers with owner and expiry, and a digest-pinned image reference. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from typing import Any

from release_gates.checks.image_scan.image_identity import resolve_digest, unpinned_item
from release_gates.checks.image_scan.report import (
    SEVERITY_RANK,
    TRIVY_SEVERITIES,
    ScanItem,
    map_severity,
    nonempty_text,
    parse_findings,
    report_has_packages,
)
from release_gates.checks.image_scan.targets import is_pinned
from release_gates.checks.image_scan.waivers import WaiverBook, waiver_covers, waivers_for
from release_gates.exceptions import TrivyReportError
from release_gates.policy import ImageScanCheck, Waiver
from release_gates.results import Artifact, CheckResult, Finding, Severity, Status, utcnow

KIND = "image_scan"
FINDING_CLASSES = ("vulnerability", "secret", "misconfiguration", "license")
#: Scanners whose findings hang off packages: with one enabled, a report listing no package measured nothing.
PACKAGE_SCANNERS = ("vuln", "license")
#: Finding class (and id prefix) of a waiver that tried to cover a secret.
SECRET_WAIVER_IGNORED = "secret_waiver_ignored"


def _license_denied(item: ScanItem, deny: Sequence[str]) -> bool:
    name = item.id.lower()
    category = str(item.data.get("category", "")).lower()
    for entry in deny:
        pattern = entry.strip().lower()
        if pattern.startswith("category:"):
            if category and category == pattern.removeprefix("category:").strip():
                return True
        elif fnmatchcase(name, pattern):
            return True
    return False


@dataclass
class _Tally:
    """Counts the gate decides on, and what it reports."""

    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {c: dict.fromkeys(TRIVY_SEVERITIES, 0) for c in FINDING_CLASSES}
    )
    fixable: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TRIVY_SEVERITIES, 0))
    gated_vulns: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Severity})
    gated_misconfigs: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Severity})
    secrets: int = 0
    denied_licenses: list[str] = field(default_factory=list)
    unpinned: bool = False
    packages: dict[str, list[int]] = field(default_factory=dict)  # name → [total, fixable, worst rank]

    def add(self, item: ScanItem, severity: Severity, active: bool, spec: ImageScanCheck) -> None:
        if item.cls in self.counts:
            self.counts[item.cls][item.trivy_severity] += 1
        if item.cls == "vulnerability":
            self._add_vulnerability(item, severity, active, spec)
        elif not active:
            return
        elif item.cls == "secret":
            self.secrets += 1
        elif item.cls == "misconfiguration":
            self.gated_misconfigs[severity.value] += 1
        elif item.cls == "license" and _license_denied(item, spec.license_deny):
            self.denied_licenses.append(f"{item.id} ({item.package or item.location})")
        elif item.cls == "reproducibility":
            self.unpinned = True

    def _add_vulnerability(
        self, item: ScanItem, severity: Severity, active: bool, spec: ImageScanCheck
    ) -> None:
        if item.fixable:
            self.fixable[item.trivy_severity] += 1
        if active and (item.fixable or not spec.fixable_only):
            self.gated_vulns[severity.value] += 1
        entry = self.packages.setdefault(item.package or "?", [0, 0, len(Severity)])
        entry[0] += 1
        entry[1] += int(item.fixable)
        entry[2] = min(entry[2], SEVERITY_RANK[severity])

    def violations(self, spec: ImageScanCheck) -> list[str]:
        found = [
            f"vulnerabilities {sev.value} {self.gated_vulns[sev.value]} > {limit}"
            + (" (fixable only)" if spec.fixable_only else "")
            for sev, limit in sorted(spec.max_findings.items(), key=lambda kv: SEVERITY_RANK[kv[0]])
            if self.gated_vulns[sev.value] > limit
        ]
        found += [
            f"misconfigurations {sev.value} {self.gated_misconfigs[sev.value]} > {limit}"
            for sev, limit in sorted(spec.misconfig_max.items(), key=lambda kv: SEVERITY_RANK[kv[0]])
            if self.gated_misconfigs[sev.value] > limit
        ]
        if self.secrets:
            found.append(f"{self.secrets} secret{'s' if self.secrets != 1 else ''} (secrets always fail)")
        if self.denied_licenses:
            found.append("denied license " + ", ".join(self.denied_licenses[:5]))
        if self.unpinned:
            found.append("image reference not pinned by digest")
        return found

    def top_packages(self, limit: int = 10) -> list[dict[str, Any]]:
        ranked = sorted(self.packages.items(), key=lambda kv: (-kv[1][0], kv[1][2], kv[0]))[:limit]
        return [
            {
                "package": name,
                "vulnerabilities": total,
                "fixable": fixable,
                "worst": list(Severity)[worst].value,
            }
            for name, (total, fixable, worst) in ranked
        ]


def evaluate_trivy_report(
    report: Mapping[str, Any],
    spec: ImageScanCheck,
    *,
    check_id: str,
    gate_id: str | None = None,
    policy_waivers: Iterable[Waiver] = (),
    today: date | None = None,
    reference: str | None = None,
    started_at: datetime | None = None,
    inputs: Mapping[str, Any] | None = None,
    artifacts: Sequence[Artifact] = (),
    engine: Mapping[str, str] | None = None,
) -> CheckResult:
    """Gate one Trivy JSON report (already redacted, see :func:`redact_secrets`) with the policy.

    :param reference: the image reference that was scanned (target ``image``); a tag-only reference
        is a finding when ``spec.require_digest``.
    :param today: the date waivers are judged on (default: today in UTC).
    :returns: FAIL when a threshold is exceeded, a secret or denied license is present, or the
        reference is unpinned; INCONCLUSIVE when vulnerabilities were asked for but Trivy recognised
        no OS or packages in an image; WARN when a waiver in use expires within ``spec.warn_days``;
        else PASS. ERROR (never raises) when the report's SchemaVersion is not 2 or it is malformed.
    """
    started = started_at or utcnow()
    base_inputs = dict(inputs or {})
    try:
        items = parse_findings(report)
    except TrivyReportError as exc:
        return CheckResult.error(
            check_id=check_id,
            kind=KIND,
            message=str(exc),
            started_at=started,
            inputs=base_inputs,
            engine=dict(engine or {}),
            metrics={"error": {"type": type(exc).__name__, "transient": exc.transient}},
        )
    digest = resolve_digest(report, reference)
    if reference and spec.require_digest and not is_pinned(reference):
        items.append(unpinned_item(reference, digest))

    book = WaiverBook(today or datetime.now(UTC).date(), spec.warn_days)
    waivers = waivers_for(
        spec, policy_waivers, gate_id or (check_id.split(".", 1)[0] if "." in check_id else None)
    )
    tally = _Tally()
    findings = []
    ignored: list[tuple[Waiver, ScanItem]] = []
    for item in items:
        severity = (
            spec.unpinned_severity
            if item.cls == "reproducibility"
            else map_severity(item.trivy_severity, spec.unknown_severity)
        )
        if item.cls == "secret":
            # A secret in an image is live until rotated: no waiver covers it, whatever its expiry.
            ignored += [(w, item) for w in waivers if waiver_covers(w, item)]
            waiver = None
        else:
            waiver = book.apply(waivers, item)
        tally.add(item, severity, waiver is None, spec)
        data = item.data
        if waiver is not None:
            data = {**data, "waiver": {"owner": waiver.owner, "expires": waiver.expires.isoformat()}}
        findings.append(
            Finding(
                id=item.id,
                severity=severity,
                title=item.title,
                detail=item.detail,
                location=item.location,
                waived_by=waiver.id if waiver is not None else None,
                data=data,
            )
        )
    findings += _ignored_secret_waivers(ignored)
    findings.sort(key=lambda f: (f.waived_by is not None, SEVERITY_RANK[f.severity]))

    violations = tally.violations(spec)
    gap = _coverage_gap(report, spec, items)
    expiring = book.expiring()
    subject = reference or nonempty_text(report.get("ArtifactName")) or "report"
    status, summary = _verdict(violations, gap, expiring, findings, subject)
    metrics = _metrics(
        report, spec, tally=tally, book=book, findings=findings, violations=violations, expiring=expiring
    )
    metrics["waivers_ignored"] = sorted({w.id for w, _ in ignored})
    result_inputs = {
        **base_inputs,
        "artifact_name": nonempty_text(report.get("ArtifactName")),
        "artifact_type": nonempty_text(report.get("ArtifactType")),
        **digest,
    }
    if reference:
        result_inputs["reference"] = reference
    report_engine = dict(engine or {})
    trivy = report.get("Trivy")
    if "trivy" not in report_engine and isinstance(trivy, dict) and nonempty_text(trivy.get("Version")):
        report_engine["trivy"] = str(trivy["Version"])
    return CheckResult(
        check_id=check_id,
        kind=KIND,
        status=status,
        summary=" ".join(summary.split()),
        metrics=metrics,
        findings=tuple(findings),
        inputs=result_inputs,
        artifacts=tuple(artifacts),
        engine=report_engine,
        started_at=started,
        finished_at=max(utcnow(), started),
    )


def _verdict(
    violations: Sequence[str],
    gap: str | None,
    expiring: Sequence[Waiver],
    findings: Sequence[Finding],
    subject: str,
) -> tuple[Status, str]:
    waived = sum(1 for f in findings if f.waived)
    reported = sum(1 for f in findings if f.data.get("class") != SECRET_WAIVER_IGNORED)
    counts_line = f"{reported} findings ({waived} waived) in {subject}"
    if violations:
        return Status.FAIL, f"{'; '.join(violations)} — {counts_line}"
    if gap:
        return Status.INCONCLUSIVE, f"{gap} — {counts_line}"
    if expiring:
        soon = "; ".join(
            f"waiver {w.id} (owner {w.owner}) expires {w.expires.isoformat()}" for w in expiring[:3]
        )
        return Status.WARN, f"within policy, but {soon} — {counts_line}"
    return Status.PASS, f"within policy — {counts_line}"


def _metrics(
    report: Mapping[str, Any],
    spec: ImageScanCheck,
    *,
    tally: _Tally,
    book: WaiverBook,
    findings: Sequence[Finding],
    violations: list[str],
    expiring: Sequence[Waiver],
) -> dict[str, Any]:
    metadata = report.get("Metadata")
    os_info = metadata.get("OS") if isinstance(metadata, dict) else None
    if not isinstance(os_info, dict):
        os_info = {}
    return {
        "findings_total": len(findings),
        "findings_waived": sum(1 for f in findings if f.waived),
        "counts": tally.counts,
        "fixable": tally.fixable,
        "gated": {"vulnerability": tally.gated_vulns, "misconfiguration": tally.gated_misconfigs},
        "thresholds": {
            "vulnerability": {s.value: n for s, n in spec.max_findings.items()},
            "misconfiguration": {s.value: n for s, n in spec.misconfig_max.items()},
            "fixable_only": spec.fixable_only,
            "license_deny": list(spec.license_deny),
        },
        "secrets": tally.secrets,
        "denied_licenses": tally.denied_licenses,
        "misconfig_status": _misconfig_status(report),
        "top_packages": tally.top_packages(),
        "violations": violations,
        "waivers_applied": book.describe(book.applied),
        "waivers_expired": book.describe(book.expired),
        "waivers_expiring": [w.id for w in expiring],
        "os": " ".join(str(os_info[k]) for k in ("Family", "Name") if os_info.get(k)) or None,
        "os_eosl": bool(os_info.get("EOSL")),
    }


def _coverage_gap(report: Mapping[str, Any], spec: ImageScanCheck, items: Sequence[ScanItem]) -> str | None:
    """Nothing measured must not read as "nothing found", for every target kind.

    * No results at all: Trivy's JSON looks the same for "looked and found nothing" and "looked at
      nothing" (an empty directory, an image it could not unpack, a hand-written report).
    * A package scanner (``vuln``, ``license``) enabled and no package listed for the artifact: the
      scan ran ``--list-all-pkgs``, so every package it recognised is in the report; none means no
      vulnerability could have been found. A vulnerability or a package's license found is proof
      enough on its own (reports written without ``--list-all-pkgs`` list no packages).
    """
    subject = nonempty_text(report.get("ArtifactName")) or "the report"
    if not report.get("Results"):
        return (
            f"nothing assessed: the Trivy report for {subject} has no results "
            "(Trivy recognised no OS or packages and found nothing else)"
        )
    if not any(scanner in PACKAGE_SCANNERS for scanner in spec.scanners):
        return None
    if report_has_packages(report) or any(
        i.cls == "vulnerability" or (i.cls == "license" and i.package) for i in items
    ):
        return None
    return f"vulnerabilities not assessed: Trivy recognised no OS or packages in {subject}"


def _ignored_secret_waivers(ignored: Sequence[tuple[Waiver, ScanItem]]) -> list[Finding]:
    """One finding per waiver that tried to cover a secret, so the attempt is on the record."""
    first: dict[str, tuple[Waiver, ScanItem]] = {}
    counts: dict[str, int] = {}
    for waiver, item in ignored:
        first.setdefault(waiver.id, (waiver, item))
        counts[waiver.id] = counts.get(waiver.id, 0) + 1
    return [
        Finding(
            id=f"{SECRET_WAIVER_IGNORED}:{waiver.id}",
            severity=Severity.HIGH,
            title=f"waiver {waiver.id!r} (owner {waiver.owner}) covers a secret finding and was ignored: "
            "secrets are never waived",
            detail=f"{counts[waiver.id]} secret finding(s) matched it, e.g. {item.id} at {item.location}; "
            "rotate the secret and rebuild the image",
            location=item.location,
            data={
                "class": SECRET_WAIVER_IGNORED,
                "waiver": waiver.id,
                "owner": waiver.owner,
                "secrets": counts[waiver.id],
            },
        )
        for waiver, item in first.values()
    ]


def _misconfig_status(report: Mapping[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in report.get("Results") or []:
        if isinstance(result, dict):
            for entry in result.get("Misconfigurations") or []:
                if isinstance(entry, dict):
                    status = str(entry.get("Status", "FAIL")).upper()
                    counts[status] = counts.get(status, 0) + 1
    return counts
