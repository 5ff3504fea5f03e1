"""Container image scanning: one Trivy JSON report in, one gated :class:`CheckResult` out.

"Report everything, gate only on what matters, in a single run." One ``trivy`` run with the scanners
the policy enables (vulnerabilities, secrets, misconfigurations, licenses) produces one JSON report
(``SchemaVersion`` 2). This module

* parses it: every vulnerability, secret, failed misconfiguration and license becomes a
  :class:`Finding` (:func:`parse_findings`, pure);
* keeps secret values out of everything it stores or returns (:func:`redact_secrets`, pure);
* gates it with the :class:`~release_gates.policy.ImageScanCheck` spec: thresholds per severity,
  fixable-only counting, secrets always fail, misconfiguration thresholds, a license deny-list,
  waivers with owner and expiry, and a digest-pinned image reference (:func:`evaluate_trivy_report`,
  pure);
* runs the whole chain around a scanner (:func:`run_image_scan`): validate the target, scan once,
  store the redacted report and a CycloneDX SBOM converted from that same report, gate.

The scanner is anything with ``scan``/``convert`` methods (:class:`TrivyScanner`);
:class:`release_gates.hooks.trivy.TrivyHook` is the real one. No Airflow import here.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Protocol

from release_gates.exceptions import InvalidTargetError, TrivyError, TrivyReportError
from release_gates.policy import ImageScanCheck, Waiver, is_templated
from release_gates.results import Artifact, CheckResult, Finding, Severity, Status, utcnow

KIND = "image_scan"
SUPPORTED_SCHEMA_VERSION = 2
REDACTED = "[REDACTED]"
TRIVY_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
FINDING_CLASSES = ("vulnerability", "secret", "misconfiguration", "license")
UNPINNED_ID = "image-not-pinned"
REPORT_MEDIA_TYPE = "application/json"
SBOM_MEDIA_TYPE = "application/vnd.cyclonedx+json"
#: Scanners ``trivy sbom`` accepts; an SBOM carries no files to search for secrets or misconfigurations.
SBOM_SCANNERS = ("vuln", "license")
#: Evidence records hold at most 1 MiB; a result stays well below so policy hash etc. still fit.
EVIDENCE_BUDGET_BYTES = 768 * 1024

_SEVERITY = {s.value: s for s in Severity}
_RANK = {s: i for i, s in enumerate(Severity)}  # Severity.rank, as a lookup: it runs once per finding


# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------

# [registry[:port]/]name[/name…][:tag][@algorithm:hex] — the Docker/OCI reference grammar, anchored.
# Nothing that starts with '-', holds whitespace or any shell metacharacter can match it.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?"
)
_PINNED = re.compile(r"@sha256:[0-9a-f]{64}$")


def validate_image_reference(reference: str) -> str:
    """The reference unchanged if it is a well-formed image reference; :class:`InvalidTargetError` if not."""
    if not reference or len(reference) > 512 or reference.startswith("-"):
        raise InvalidTargetError(f"invalid image reference {reference!r}: empty, too long or starts with '-'")
    if not IMAGE_REFERENCE.fullmatch(reference):
        raise InvalidTargetError(
            f"invalid image reference {reference!r}: expected [registry/]name[:tag][@sha256:digest] "
            "(no whitespace or shell characters)"
        )
    return reference


def validate_target_path(value: str, target: str) -> Path:
    """An existing file (tarball, sbom, report) or directory (filesystem), as an absolute path."""
    if not value or value.startswith("-") or any(c in value for c in "\x00\r\n"):
        raise InvalidTargetError(f"invalid {target} path {value!r}")
    path = Path(value).expanduser()
    if target == "filesystem":
        if not path.is_dir():
            raise InvalidTargetError(f"filesystem target is not a directory: {value}")
    elif not path.is_file():
        raise InvalidTargetError(f"{target} target is not a file: {value}")
    return path.resolve()


def is_pinned(reference: str) -> bool:
    """True when the reference names its content by a sha256 digest (``…@sha256:<64 hex>``)."""
    return bool(_PINNED.search(reference))


# --------------------------------------------------------------------------------------------------
# The scanner interface (implemented by release_gates.hooks.trivy.TrivyHook)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrivyScan:
    """What one scan produced: the raw JSON report and how it was made."""

    stdout: bytes
    argv: tuple[str, ...]
    version: str
    command: str
    seconds: float
    db: Mapping[str, Any] | None = None


class TrivyScanner(Protocol):
    def scan(
        self, target: str, *, kind: str, scanners: Sequence[str], timeout: float | None = None
    ) -> TrivyScan: ...

    def convert(self, report: Path, output: Path, *, fmt: str = "cyclonedx") -> None: ...


# --------------------------------------------------------------------------------------------------
# Reading a report
# --------------------------------------------------------------------------------------------------


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


def _text(value: Any) -> str | None:
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
    vuln_id = _text(v.get("VulnerabilityID")) or "UNKNOWN-VULNERABILITY"
    package = _text(v.get("PkgName")) or "?"
    installed = _text(v.get("InstalledVersion"))
    fixed = _text(v.get("FixedVersion"))
    identifier = v.get("PkgIdentifier")
    purl = _text(identifier.get("PURL")) if isinstance(identifier, dict) else None
    pkg_path = _text(v.get("PkgPath"))
    severity = trivy_severity(v.get("Severity"))
    status = _text(v.get("Status"))
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
        "primary_url": _text(v.get("PrimaryURL")),
        "purl": purl,
        "package_path": pkg_path,
        "trivy_severity": severity,
    }
    return ScanItem(
        cls="vulnerability",
        id=vuln_id,
        trivy_severity=severity,
        title=_text(v.get("Title")) or vuln_id,
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
    rule = _text(s.get("RuleID")) or "secret"
    severity = trivy_severity(s.get("Severity"))
    start, end = s.get("StartLine"), s.get("EndLine")
    line = f":{start}" if isinstance(start, int) else ""
    category = _text(s.get("Category"))
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
        title=_text(s.get("Title")) or rule,
        location=f"{target}{line}",
        detail=f"{category or 'secret'} found by rule {rule}; value redacted",
        paths=(target,) if target else (),
        data=data,
    )


def _misconfiguration(m: Mapping[str, Any], target: str) -> ScanItem:
    check_id = _text(m.get("ID")) or _text(m.get("AVDID")) or "misconfiguration"
    severity = trivy_severity(m.get("Severity"))
    cause = m.get("CauseMetadata") if isinstance(m.get("CauseMetadata"), dict) else {}
    start = cause.get("StartLine") if isinstance(cause, dict) else None
    line = f":{start}" if isinstance(start, int) and start > 0 else ""
    message, resolution = _text(m.get("Message")), _text(m.get("Resolution"))
    data = {
        "class": "misconfiguration",
        "target": target,
        "type": _text(m.get("Type")),
        "avd_id": _text(m.get("AVDID")),
        "resolution": resolution,
        "primary_url": _text(m.get("PrimaryURL")),
        "trivy_severity": severity,
    }
    return ScanItem(
        cls="misconfiguration",
        id=check_id,
        trivy_severity=severity,
        title=_text(m.get("Title")) or check_id,
        location=f"{target}{line}",
        detail=" ".join(p for p in (message, f"Fix: {resolution}" if resolution else None) if p),
        paths=(target,) if target else (),
        data={k: val for k, val in data.items() if val is not None},
    )


def _license(lic: Mapping[str, Any], target: str) -> ScanItem:
    name = _text(lic.get("Name")) or "UNKNOWN-LICENSE"
    severity = trivy_severity(lic.get("Severity"))
    package, file_path = _text(lic.get("PkgName")), _text(lic.get("FilePath"))
    category = _text(lic.get("Category"))
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


# --------------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------------


def redact_secrets(report: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """A copy of the report with no secret value left in it, and how many secrets it held.

    Trivy masks the value it matched, but not what it quotes around it: a secret's context lines
    (``Code.Lines``) may hold other credentials, and a misconfiguration quotes its source lines
    unmasked — DS-0031 "secret in ENV" quotes the very token the secret scanner masked, IaC checks
    quote hard-coded passwords. Which quoted line holds a secret cannot be told reliably, so none is
    kept: every ``Secrets[].Match``, every ``Code.Lines[].Content``/``Highlighted`` and every
    ``RenderedCause`` becomes ``[REDACTED]``. Findings keep file and line numbers. Build commands
    go the same way, since they can carry credentials: the image config Trivy copies into
    ``Metadata.ImageConfig`` (:func:`_redact_image_config`) and every layer's ``CreatedBy``. The
    input is not modified; results that quote nothing are shared, not copied.
    """
    redacted_report = {**report}
    metadata = report.get("Metadata")
    if isinstance(metadata, dict):
        metadata = {**metadata}
        if isinstance(metadata.get("ImageConfig"), dict):
            metadata["ImageConfig"] = _redact_image_config(metadata["ImageConfig"])
        if any(_has_created_by(layer) for layer in _list(metadata.get("Layers"))):
            metadata["Layers"] = [_without_created_by(layer) for layer in metadata["Layers"]]
        redacted_report["Metadata"] = metadata
    results = report.get("Results")
    if not isinstance(results, list):
        return redacted_report, 0
    count = 0
    redacted = []
    for result in results:
        if isinstance(result, dict) and (
            result.get("Secrets") or result.get("Misconfigurations") or _quotes_build_commands(result)
        ):
            copied, found = _redact_result(result)
            count += found
            redacted.append(copied)
        else:
            redacted.append(result)
    return {**redacted_report, "Results": redacted}, count


def _has_created_by(layer: Any) -> bool:
    return isinstance(layer, dict) and bool(layer.get("CreatedBy"))


def _without_created_by(layer: Any) -> Any:
    return {**layer, "CreatedBy": REDACTED} if _has_created_by(layer) else layer


def _quotes_build_commands(result: Mapping[str, Any]) -> bool:
    return any(
        isinstance(entry, dict) and _has_created_by(entry.get("Layer"))
        for key in ("Vulnerabilities", "Packages", "Licenses")
        for entry in _list(result.get(key))
    )


def _redact_image_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The image config without what can carry credentials: ENV values (names stay) and the build
    commands of the history (``ENV``/``ARG``/``RUN`` lines). Entrypoint, command and labels are
    dropped too; platform, creation time, user, ports and the layer digests stay."""
    kept: dict[str, Any] = {
        k: config[k] for k in ("architecture", "os", "variant", "created", "rootfs") if k in config
    }
    inner = config.get("config")
    if isinstance(inner, dict):
        runtime: dict[str, Any] = {k: inner[k] for k in ("User", "WorkingDir", "ExposedPorts") if k in inner}
        env = inner.get("Env")
        if isinstance(env, list):
            runtime["Env"] = [f"{str(e).split('=', 1)[0]}={REDACTED}" for e in env]
        kept["config"] = runtime
    history = config.get("history")
    if isinstance(history, list):
        kept["history"] = [
            {**{k: h[k] for k in ("created", "empty_layer") if k in h}, "created_by": REDACTED}
            for h in history
            if isinstance(h, dict)
        ]
    return kept


def _redact_result(result: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    copied = copy.deepcopy(dict(result))
    for key in ("Vulnerabilities", "Packages", "Licenses", "Secrets", "Misconfigurations"):
        for entry in _list(copied.get(key)):
            if isinstance(entry, dict) and _has_created_by(entry.get("Layer")):
                entry["Layer"]["CreatedBy"] = REDACTED
    secrets = [s for s in _list(copied.get("Secrets")) if isinstance(s, dict)]
    for secret in secrets:
        if "Match" in secret:
            secret["Match"] = REDACTED
        _redact_code(secret.get("Code"))
    for entry in _list(copied.get("Misconfigurations")):
        cause = entry.get("CauseMetadata") if isinstance(entry, dict) else None
        if isinstance(cause, dict):
            _redact_code(cause.get("Code"))
            rendered = cause.get("RenderedCause")
            if isinstance(rendered, dict):
                cause["RenderedCause"] = {k: REDACTED for k in rendered if rendered[k]}
    return copied, len(secrets)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _redact_code(code: Any) -> None:
    if not isinstance(code, dict):
        return
    for line in _list(code.get("Lines")):
        if isinstance(line, dict):
            for key in ("Content", "Highlighted"):
                if line.get(key):
                    line[key] = REDACTED


# --------------------------------------------------------------------------------------------------
# Waivers
# --------------------------------------------------------------------------------------------------


def waiver_covers(waiver: Waiver, item: ScanItem) -> bool:
    """Same finding id (case-insensitive), and — when the waiver names them — a matching path glob
    (target, package path or file) and a matching purl (exact, any version of it, or a glob)."""
    if waiver.id.strip().upper() != item.id.upper():
        return False
    if waiver.paths and not any(fnmatchcase(p, pat) for p in item.paths for pat in waiver.paths):
        return False
    return not waiver.purls or (
        item.purl is not None and any(_purl_matches(item.purl, p) for p in waiver.purls)
    )


def _purl_matches(purl: str, pattern: str) -> bool:
    if purl == pattern or fnmatchcase(purl, pattern):
        return True
    # "pkg:deb/debian/openssl" covers every version and qualifier of that package.
    return "@" not in pattern and purl.split("@", 1)[0].split("?", 1)[0] == pattern


def waivers_for(spec: ImageScanCheck, policy_waivers: Iterable[Waiver], gate_id: str | None) -> list[Waiver]:
    """The check's own waivers, then the policy's that apply to this gate."""
    scoped = [w for w in policy_waivers if not w.gates or (gate_id is not None and gate_id in w.gates)]
    return [*spec.waivers, *scoped]


@dataclass
class _WaiverBook:
    """Which waivers covered what, which had expired, which expire soon."""

    today: date
    warn_days: int
    applied: dict[int, tuple[Waiver, int]] = field(default_factory=dict)
    expired: dict[int, tuple[Waiver, int]] = field(default_factory=dict)

    def apply(self, waivers: Sequence[Waiver], item: ScanItem) -> Waiver | None:
        for waiver in waivers:
            if not waiver_covers(waiver, item):
                continue
            book = self.applied if waiver.is_active(self.today) else self.expired
            _, n = book.get(id(waiver), (waiver, 0))
            book[id(waiver)] = (waiver, n + 1)
            if waiver.is_active(self.today):
                return waiver
        return None

    def expiring(self) -> list[Waiver]:
        return sorted(
            (w for w, _ in self.applied.values() if (w.expires - self.today).days <= self.warn_days),
            key=lambda w: (w.expires, w.id),
        )

    def describe(self, book: dict[int, tuple[Waiver, int]]) -> list[dict[str, Any]]:
        return [
            {"id": w.id, "owner": w.owner, "expires": w.expires.isoformat(), "findings": n}
            for w, n in sorted(book.values(), key=lambda e: (e[0].expires, e[0].id))
        ]


# --------------------------------------------------------------------------------------------------
# Gate
# --------------------------------------------------------------------------------------------------


def resolve_digest(report: Mapping[str, Any], reference: str | None) -> dict[str, Any]:
    """The scanned image's identity: the pinned digest of the reference, else the registry digest
    Trivy saw (``Metadata.RepoDigests``), else the image (config) id (``Metadata.ImageID``)."""
    metadata = report.get("Metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    repo_digests = [d for d in metadata.get("RepoDigests") or [] if isinstance(d, str) and "@" in d]
    image_id = _text(metadata.get("ImageID"))
    facts: dict[str, Any] = {"image_id": image_id, "repo_digests": repo_digests}
    if reference and "@" in reference:
        facts.update(image_digest=reference.rsplit("@", 1)[1], image_digest_source="reference")
    elif repo_digests:
        repository = _repository(reference) if reference else None
        chosen = next((d for d in repo_digests if repository and d.split("@")[0] == repository), None)
        facts.update(
            image_digest=(chosen or repo_digests[0]).split("@", 1)[1], image_digest_source="RepoDigests"
        )
    elif image_id:
        facts.update(image_digest=image_id, image_digest_source="ImageID")
    else:
        facts.update(image_digest=None, image_digest_source=None)
    return facts


def _repository(reference: str) -> str:
    name = reference.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def _unpinned_item(reference: str, digest: dict[str, Any]) -> ScanItem:
    resolved = digest.get("image_digest")
    return ScanItem(
        cls="reproducibility",
        id=UNPINNED_ID,
        trivy_severity="UNKNOWN",
        title="Image reference is not pinned by digest",
        location=reference,
        detail=f"{reference} names a tag, which can move; pin it as {_repository(reference)}@sha256:…"
        + (f" (this scan resolved {resolved})" if resolved else ""),
        paths=(reference,),
        data={"class": "reproducibility", "reference": reference, "resolved_digest": resolved},
    )


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
        entry[2] = min(entry[2], _RANK[severity])

    def violations(self, spec: ImageScanCheck) -> list[str]:
        found = [
            f"vulnerabilities {sev.value} {self.gated_vulns[sev.value]} > {limit}"
            + (" (fixable only)" if spec.fixable_only else "")
            for sev, limit in sorted(spec.max_findings.items(), key=lambda kv: _RANK[kv[0]])
            if self.gated_vulns[sev.value] > limit
        ]
        found += [
            f"misconfigurations {sev.value} {self.gated_misconfigs[sev.value]} > {limit}"
            for sev, limit in sorted(spec.misconfig_max.items(), key=lambda kv: _RANK[kv[0]])
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
        )
    digest = resolve_digest(report, reference)
    if reference and spec.require_digest and not is_pinned(reference):
        items.append(_unpinned_item(reference, digest))

    book = _WaiverBook(today or datetime.now(UTC).date(), spec.warn_days)
    waivers = waivers_for(
        spec, policy_waivers, gate_id or (check_id.split(".", 1)[0] if "." in check_id else None)
    )
    tally = _Tally()
    findings = []
    for item in items:
        severity = (
            spec.unpinned_severity
            if item.cls == "reproducibility"
            else map_severity(item.trivy_severity, spec.unknown_severity)
        )
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
    findings.sort(key=lambda f: (f.waived_by is not None, _RANK[f.severity]))

    violations = tally.violations(spec)
    gap = _coverage_gap(report, spec, items)
    expiring = book.expiring()
    subject = reference or _text(report.get("ArtifactName")) or "report"
    status, summary = _verdict(violations, gap, expiring, findings, subject)
    metrics = _metrics(
        report, spec, tally=tally, book=book, findings=findings, violations=violations, expiring=expiring
    )
    result_inputs = {
        **base_inputs,
        "artifact_name": _text(report.get("ArtifactName")),
        "artifact_type": _text(report.get("ArtifactType")),
        **digest,
    }
    if reference:
        result_inputs["reference"] = reference
    report_engine = dict(engine or {})
    trivy = report.get("Trivy")
    if "trivy" not in report_engine and isinstance(trivy, dict) and _text(trivy.get("Version")):
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
    counts_line = f"{len(findings)} findings ({waived} waived) in {subject}"
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
    book: _WaiverBook,
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
    """An image scanned for vulnerabilities in which Trivy recognised no OS and no packages: nothing
    was measured, which must not read as "no vulnerabilities"."""
    if "vuln" not in spec.scanners or report.get("ArtifactType") != "container_image":
        return None
    metadata = report.get("Metadata")
    if isinstance(metadata, dict) and metadata.get("OS"):
        return None
    package_classes = {"os-pkgs", "lang-pkgs"}
    results = report.get("Results")
    if isinstance(results, list) and any(
        isinstance(r, dict) and r.get("Class") in package_classes for r in results
    ):
        return None
    if any(i.cls == "vulnerability" for i in items):
        return None
    return "vulnerabilities not assessed: Trivy recognised no OS or packages in the image"


def _misconfig_status(report: Mapping[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in report.get("Results") or []:
        if isinstance(result, dict):
            for entry in result.get("Misconfigurations") or []:
                if isinstance(entry, dict):
                    status = str(entry.get("Status", "FAIL")).upper()
                    counts[status] = counts.get(status, 0) + 1
    return counts


# --------------------------------------------------------------------------------------------------
# One scan, end to end
# --------------------------------------------------------------------------------------------------


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
        return CheckResult.error(
            check_id=check_id, kind=KIND, message=message, started_at=started, inputs=inputs, engine=engine
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


def scanners_for(spec: ImageScanCheck) -> list[str]:
    """The policy's scanners that the target supports, in a stable order."""
    scanners: list[str] = list(dict.fromkeys(spec.scanners))
    if spec.target == "sbom":
        scanners = [s for s in scanners if s in SBOM_SCANNERS]
        if not scanners:
            raise InvalidTargetError(
                f"an sbom target supports only the {' and '.join(SBOM_SCANNERS)} scanners"
            )
    return scanners


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


def _artifact_stem(check_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", check_id) or "image_scan"


def _store_artifacts(
    report: Mapping[str, Any],
    spec: ImageScanCheck,
    check_id: str,
    artifacts_dir: Path,
    scanner: TrivyScanner | None,
) -> list[Artifact]:
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    stem = _artifact_stem(check_id)
    report_path = artifacts_dir / f"{stem}.trivy.json"
    _write_atomic(report_path, json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode())
    artifacts = [file_artifact(report_path, "trivy-report", REPORT_MEDIA_TYPE)]
    if spec.sbom and scanner is not None and report_has_packages(report):
        sbom_path = artifacts_dir / f"{stem}.cdx.json"
        scanner.convert(report_path, sbom_path, fmt="cyclonedx")
        artifacts.append(file_artifact(sbom_path, "sbom-cyclonedx", SBOM_MEDIA_TYPE))
    return artifacts


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def file_artifact(path: Path, name: str, media_type: str | None) -> Artifact:
    """An :class:`Artifact` for a file: its ``file://`` URI, sha256 and size."""
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Artifact(
        name=name,
        uri=path.resolve().as_uri(),
        sha256=digest,
        media_type=media_type,
        size_bytes=path.stat().st_size,
    )


def fit_for_evidence(result: CheckResult, max_bytes: int = EVIDENCE_BUDGET_BYTES) -> CheckResult:
    """The result, with its findings list shortened (worst and unwaived first) if its JSON would not
    fit in an evidence record. Counts, metrics and the verdict are unchanged: they were computed from
    every finding, and the full list stays in the report artifact."""
    size = len(result.to_json().encode())
    if size <= max_bytes:
        return result
    ordered = sorted(result.findings, key=lambda f: (f.waived_by is not None, _RANK[f.severity]))
    base = size - sum(len(f.model_dump_json().encode()) + 1 for f in ordered)
    budget = max_bytes - base - 512  # room for the added metrics and summary text
    kept: list[Finding] = []
    for finding in ordered:
        cost = len(finding.model_dump_json().encode()) + 1
        if cost > budget:
            break
        kept.append(finding)
        budget -= cost
    omitted = len(ordered) - len(kept)
    return result.model_copy(
        update={
            "findings": tuple(kept),
            "metrics": {**result.metrics, "findings_listed": len(kept), "findings_omitted": omitted},
            "summary": f"{result.summary} ({omitted} lower-ranked findings only in the report artifact)",
        }
    )
