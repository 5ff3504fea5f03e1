"""What a deployable version carries: its image digest and its model's sha256, read from the platform.

Each platform module implements :meth:`DeploymentTarget.version_identity` and returns a
:class:`VersionIdentity`: one :class:`ServingComponent` per thing that serves (a Lambda version, an
ECS container, a SageMaker production variant, an S3 model object). A fact the platform does not
expose is ``None`` with a note saying why, so the check can say INCONCLUSIVE instead of guessing.

Where the model's sha256 lives is the policy's choice (:class:`IdentitySettings`): an environment
variable of the version, a tag, S3 object metadata, the S3 object's own SHA-256 checksum, or the
object's bytes. Nothing here imports Airflow; values are digests and hashes only.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

_DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def reference_digest(reference: str | None) -> str | None:
    """``repo[:tag]@sha256:<hex>`` → ``sha256:<hex>``; a reference without a digest → ``None``."""
    if not reference:
        return None
    match = _DIGEST.search(reference.strip())
    return match.group(1) if match else None


def normalize_digest(value: str | None) -> str | None:
    """``sha256:<hex>`` or a bare 64-hex sha256 → ``sha256:<hex>`` (lower case); anything else → None."""
    if not value:
        return None
    text = value.strip().lower()
    text = text.removeprefix("sha256:")
    return f"sha256:{text}" if _SHA256.match(text) else None


def normalize_sha256(value: str | None) -> str | None:
    """A model sha256 as hex (``sha256:`` prefix tolerated); anything else → ``None``."""
    digest = normalize_digest(value)
    return digest.removeprefix("sha256:") if digest else None


def checksum_sha256_hex(checksum: str | None) -> str | None:
    """S3's ``ChecksumSHA256`` (base64 of the raw digest) → hex; a composite (multipart) checksum,
    which is a hash of part hashes and not of the object, → ``None``."""
    if not checksum or "-" in checksum:
        return None
    try:
        raw = base64.b64decode(checksum, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


@dataclass(frozen=True)
class IdentitySettings:
    """Where the policy says a version carries the model sha256 (see ``kind: deployment_identity``)."""

    #: Lambda / ECS: the environment variable holding the model sha256.
    model_sha256_env: str | None = None
    #: Lambda: a function tag; SageMaker / S3 pointer: a tag of the model data object.
    model_sha256_tag: str | None = None
    #: SageMaker / S3 pointer: a user metadata key (``x-amz-meta-<key>``) of the model data object.
    model_sha256_metadata: str | None = None
    #: ECS: the container that serves the model (default: the only container).
    container: str | None = None
    #: SageMaker / S3 pointer: read the object's bytes when no checksum names its sha256.
    read_object: bool = True
    #: Largest object read to compute a sha256 (bytes).
    max_object_bytes: int = 2 * 1024**3

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_sha256_env": self.model_sha256_env,
            "model_sha256_tag": self.model_sha256_tag,
            "model_sha256_metadata": self.model_sha256_metadata,
            "container": self.container,
            "read_object": self.read_object,
            "max_object_bytes": self.max_object_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IdentitySettings:
        known = {k: data[k] for k in cls().to_dict() if k in data}
        return cls(**known)


@dataclass(frozen=True)
class ServingComponent:
    """One thing that serves the version, and what it carries."""

    name: str
    image_reference: str | None = None
    image_digest: str | None = None
    image_note: str | None = None
    model_sha256: str | None = None
    model_source: str | None = None
    model_note: str | None = None
    #: Whether the model fact is bound to this version (a Lambda function tag is not: it is function-wide).
    model_bound_to_version: bool = True
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image_reference": self.image_reference,
            "image_digest": self.image_digest,
            "image_note": self.image_note,
            "model_sha256": self.model_sha256,
            "model_source": self.model_source,
            "model_note": self.model_note,
            "model_bound_to_version": self.model_bound_to_version,
            "facts": dict(self.facts),
        }


@dataclass(frozen=True)
class VersionIdentity:
    """What ``version`` of a target carries, as read from the platform."""

    target: dict[str, Any]
    version: str
    components: tuple[ServingComponent, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": dict(self.target),
            "version": self.version,
            "components": [c.to_dict() for c in self.components],
            "notes": list(self.notes),
        }

    def fingerprint(self) -> dict[str, Any]:
        """The facts that must not change between the gate and the promotion."""
        return {
            "target": dict(self.target),
            "version": self.version,
            "components": [
                {"name": c.name, "image_digest": c.image_digest, "model_sha256": c.model_sha256}
                for c in self.components
            ],
        }


def image_component_facts(reference: str | None, resolved: str | None = None) -> dict[str, Any]:
    """Image fields of a :class:`ServingComponent` from a reference (and a platform-resolved one)."""
    digest = reference_digest(reference) or reference_digest(resolved)
    if digest:
        return {"image_reference": reference, "image_digest": digest}
    if reference:
        return {
            "image_reference": reference,
            "image_note": "the image is not pinned by digest (a tag can move)",
        }
    return {"image_note": "no image reference"}


def s3_model_facts(
    call: Any, s3: Any, *, bucket: str, key: str, version_id: str | None, settings: IdentitySettings
) -> dict[str, Any]:
    """Model fields of a :class:`ServingComponent` for the S3 object ``bucket/key`` (at ``version_id``).

    A source the policy names (user metadata, object tag) is the only one used; otherwise the
    object's full-object ``ChecksumSHA256``, else (``read_object``) a sha256 of its bytes.
    ``call(client, method, **params)`` makes the logged AWS call.
    """
    import hashlib

    where: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        where["VersionId"] = version_id
    head = call(s3, "head_object", ChecksumMode="ENABLED", **where)
    facts = {
        "model_object": f"s3://{bucket}/{key}",
        "model_object_version": version_id or head.get("VersionId"),
    }
    if settings.model_sha256_metadata:
        name = settings.model_sha256_metadata.lower().removeprefix("x-amz-meta-")
        metadata = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
        if name not in metadata:
            return {"model_note": f"the model object has no metadata {name}", "facts": facts}
        return _sha_fields(metadata[name], f"object metadata {name}", facts)
    if settings.model_sha256_tag:
        tags = call(s3, "get_object_tagging", **where).get("TagSet") or []
        values = {str(t.get("Key")): str(t.get("Value")) for t in tags}
        tag = settings.model_sha256_tag
        if tag not in values:
            return {"model_note": f"the model object has no tag {tag}", "facts": facts}
        return _sha_fields(values[tag], f"object tag {tag}", facts)
    checksum = checksum_sha256_hex(head.get("ChecksumSHA256"))
    if checksum:
        return {"model_sha256": checksum, "model_source": "S3 ChecksumSHA256 of the object", "facts": facts}
    size = int(head.get("ContentLength") or 0)
    if not settings.read_object or size > settings.max_object_bytes:
        return {
            "model_note": "the model object has no full-object SHA-256 checksum and is not read "
            f"({size} bytes; read_object {settings.read_object}, limit {settings.max_object_bytes})",
            "facts": facts,
        }
    body = call(s3, "get_object", **where)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1024 * 1024), b""):
        digest.update(chunk)
    return {
        "model_sha256": digest.hexdigest(),
        "model_source": "sha256 of the object's bytes",
        "facts": {**facts, "bytes_read": size},
    }


def _sha_fields(value: str, source: str, facts: dict[str, Any]) -> dict[str, Any]:
    sha = normalize_sha256(value)
    fields: dict[str, Any] = {"model_sha256": sha, "model_source": source, "facts": facts}
    if sha is None:
        fields["model_note"] = f"{source} does not hold a sha256"
    return fields


def env_model_facts(env: dict[str, str], name: str | None) -> dict[str, Any] | None:
    """Model fields from the environment variable ``name``; ``None`` when it is absent."""
    if not name or name not in env:
        return None
    return _sha_fields(str(env[name]), f"environment variable {name}", {})
