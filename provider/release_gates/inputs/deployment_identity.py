"""Inputs of ``kind: deployment_identity``: what the version carries, and what the release judged.

What was judged comes from the release's own evidence chain, never from run parameters:

* the model: the ``model_scored`` record's ``model.sha256`` (the model the scoring step loaded)
  when present, else the ``release_started`` record's ``inputs.model_sha256_verified`` (the sha256
  the start step computed from the file);
* the image: each ``image_scan`` check result's identity (``inputs.image_digest``, and for a
  tarball its config digest ``image_id`` and ``repo_digests``).

:func:`judged_from_evidence` is shared with ``kind: ops_readiness``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from release_gates.deploy.identity import normalize_digest, normalize_sha256, reference_digest

if TYPE_CHECKING:
    from release_gates.deploy import ClientSource, DeploymentTarget
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity
    from release_gates.kinds.deployment_identity import DeploymentIdentityCheck
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class ScannedImage:
    """One image scan's identity of the image it scanned: every digest that names it."""

    check_id: str
    evidence_seq: int | None
    digests: tuple[str, ...]
    source: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "check_id": self.check_id,
            "evidence_seq": self.evidence_seq,
            "digests": list(self.digests),
            "source": self.source,
        }


@dataclass(frozen=True)
class JudgedArtifacts:
    """The model and image the release judged, and where each fact comes from."""

    model_sha256: str | None = None
    model_source: str | None = None
    image_scans: tuple[ScannedImage, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_sha256": self.model_sha256,
            "model_source": self.model_source,
            "image_scans": [s.to_dict() for s in self.image_scans],
            "notes": list(self.notes),
        }

    @classmethod
    def given(cls, *, model_sha256: str | None = None, image_digests: Iterable[str] = ()) -> JudgedArtifacts:
        """Judged artifacts stated directly (the CLI's flags), normalized."""
        digests = tuple(d for d in (normalize_digest(x) or reference_digest(x) for x in image_digests) if d)
        scans = (ScannedImage("given", None, digests, "given"),) if digests else ()
        sha = normalize_sha256(model_sha256)
        return cls(sha, "given" if sha else None, scans)


def _seq(record: Any) -> int | None:
    return getattr(record, "seq", None)


def judged_from_evidence(records: Iterable[Any]) -> JudgedArtifacts:
    """The judged model and image from a release's evidence records (``kind`` and ``payload``)."""
    verified: list[tuple[str, str]] = []
    scored: list[tuple[str, str]] = []
    scans: dict[str, ScannedImage] = {}
    notes: list[str] = []
    for record in records:
        payload: Mapping[str, Any] = record.payload or {}
        if record.kind == "release_started":
            sha = normalize_sha256(str((payload.get("inputs") or {}).get("model_sha256_verified") or ""))
            if sha:
                verified.append((sha, f"release_started #{_seq(record)} (sha256 verified from the file)"))
        elif record.kind == "model_scored":
            model = payload.get("model") or {}
            sha = normalize_sha256(str(model.get("sha256") or "")) if isinstance(model, Mapping) else None
            if sha:
                scored.append((sha, f"model_scored #{_seq(record)} (the model the release scored with)"))
        elif record.kind == "check_result" and payload.get("kind") == "image_scan":
            # Latest result per check wins: a retried scan replaces its earlier attempt.
            check_id = str(payload.get("check_id"))
            scans[check_id] = _scanned(check_id, _seq(record), payload.get("inputs") or {})
    chosen = scored or verified
    distinct = {sha for sha, _ in chosen}
    model_sha256 = model_source = None
    if len(distinct) == 1:
        model_sha256, model_source = chosen[-1]
    elif len(distinct) > 1:
        notes.append(f"the release's evidence names {len(distinct)} different models")
    else:
        notes.append(
            "no verified model sha256 in the release's evidence (no model_scored record, and "
            "release_started has no model_sha256_verified)"
        )
    if scored and verified and {s for s, _ in scored} != {s for s, _ in verified}:
        notes.append("the scored model's sha256 differs from the one verified at release start")
        model_sha256 = model_source = None
    if not scans:
        notes.append("no image_scan result in the release's evidence")
    return JudgedArtifacts(model_sha256, model_source, tuple(scans.values()), tuple(notes))


def _scanned(check_id: str, seq: int | None, inputs: Mapping[str, Any]) -> ScannedImage:
    digests: list[str] = []
    candidates = [inputs.get("image_digest"), inputs.get("image_id")]
    candidates += [reference_digest(str(d)) for d in inputs.get("repo_digests") or []]
    for candidate in candidates:
        digest = normalize_digest(str(candidate)) if candidate else None
        if digest and digest not in digests:
            digests.append(digest)
    source = inputs.get("image_digest_source")
    return ScannedImage(check_id, seq, tuple(digests), str(source) if source else None)


def identity_settings(spec: DeploymentIdentityCheck) -> IdentitySettings:
    from release_gates.deploy.identity import IdentitySettings

    return IdentitySettings(
        model_sha256_env=spec.model_sha256_env,
        model_sha256_tag=spec.model_sha256_tag,
        model_sha256_metadata=spec.model_sha256_metadata,
        container=spec.container,
        read_object=spec.read_object,
    )


@dataclass(frozen=True)
class DeploymentIdentityInputs:
    target: DeploymentTarget
    version: str
    observed: VersionIdentity | None
    #: Set when the platform could not be read (a :class:`~release_gates.deploy.TargetError`).
    read_error: dict[str, Any] | None
    judged: JudgedArtifacts
    api_calls: list[dict[str, Any]]


def resolve_deployment_identity_inputs(
    spec: DeploymentIdentityCheck,
    clients: ClientSource,
    judged: JudgedArtifacts,
    *,
    version: str | None = None,
    target: DeploymentTarget | None = None,
) -> DeploymentIdentityInputs:
    """Read what ``version`` (default: the spec's) carries on the spec's target."""
    from release_gates.deploy import TargetError, build_target

    target = target or build_target(spec.target, clients)
    version = str(version if version is not None else spec.version).strip()
    target.calls.drain()
    observed, error = None, None
    try:
        observed = target.version_identity(version, identity_settings(spec))
    except TargetError as exc:
        error = exc.to_dict()
    return DeploymentIdentityInputs(target, version, observed, error, judged, target.calls.drain())


def run_deployment_identity_check(
    spec: DeploymentIdentityCheck,
    clients: ClientSource,
    judged: JudgedArtifacts,
    *,
    check_id: str,
    version: str | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator, the promote step and the CLI call."""
    from release_gates.checks.deployment_identity import evaluate_deployment_identity

    resolved = resolve_deployment_identity_inputs(spec, clients, judged, version=version)
    return evaluate_deployment_identity(
        resolved.observed,
        resolved.judged,
        compare=tuple(spec.compare),
        check_id=check_id,
        target=resolved.target.identity(),
        version=resolved.version,
        settings=identity_settings(spec).to_dict(),
        read_error=resolved.read_error,
        api_calls=resolved.api_calls,
    )
