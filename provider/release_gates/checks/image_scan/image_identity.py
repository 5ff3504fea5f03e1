"""Which image was scanned: its digest, and the finding raised when its reference is not pinned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from release_gates.checks.image_scan.report import ScanItem, nonempty_text

UNPINNED_ID = "image-not-pinned"


def resolve_digest(report: Mapping[str, Any], reference: str | None) -> dict[str, Any]:
    """The scanned image's identity: the pinned digest of the reference, else the registry digest
    Trivy saw (``Metadata.RepoDigests``), else the image (config) id (``Metadata.ImageID``)."""
    metadata = report.get("Metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    repo_digests = [d for d in metadata.get("RepoDigests") or [] if isinstance(d, str) and "@" in d]
    image_id = nonempty_text(metadata.get("ImageID"))
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


def unpinned_item(reference: str, digest: dict[str, Any]) -> ScanItem:
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
