"""Scan targets checked before anything reaches Trivy: image references, paths, scanners per target."""

from __future__ import annotations

import re
from pathlib import Path

from release_gates.exceptions import InvalidTargetError
from release_gates.policy import ImageScanCheck

#: Scanners ``trivy sbom`` accepts; an SBOM carries no files to search for secrets or misconfigurations.
SBOM_SCANNERS = ("vuln", "license")
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
