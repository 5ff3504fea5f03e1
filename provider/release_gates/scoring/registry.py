"""A candidate that lives in an MLflow Model Registry: ``models:/<name>/<version>``.

The artifact layout the release reads: the model version's artifacts (what its ``source`` points
at, e.g. ``runs:/<run>/model`` logged with ``MlflowClient.log_artifact``) hold **exactly one** model
file of the candidate's format — a ``*.skops`` file (``format: skops``) or a ``*.onnx`` file
(``format: onnx``). Other files beside it (an ``MLmodel``, a README, metrics) are ignored; none or
several candidates refuse the version, naming what was found, rather than guessing.

Resolution downloads that file once into the release's artifact folder and computes its sha256.
When the policy gives a sha256 it must match (else the release does not start); otherwise the
computed digest becomes the pin, is recorded in evidence, and every later step loads the pinned
file and checks the pin before deserialising (:func:`release_gates.scoring.loaders.read_pinned`),
so what the gates judged is what ships. :func:`version_artifact_sha256` re-reads the registry
immediately before promotion: an artifact re-uploaded after the gates is refused.

No Airflow here; ``mlflow`` is imported inside the functions (the ``mlflow`` extra).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release_gates.exceptions import ModelLoadError

#: ``models:/<name>/<version>``: a registered model version pinned by its number (an alias or a
#: stage would be resolved to a version first; only a number pins what is judged).
_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/]+)/(?P<version>[^/]+)$")

#: Model format → the suffix of its file among the version's artifacts.
FORMAT_SUFFIX = {"skops": ".skops", "onnx": ".onnx"}


class RegistryError(ModelLoadError):
    """The registry could not supply the model version's artifact (names the version and why)."""


def is_registry_uri(uri: str) -> bool:
    """Whether ``uri`` names a model registry version (``models:/…``) rather than a file."""
    return uri.strip().startswith("models:/")


def parse_registry_uri(uri: str) -> tuple[str, str]:
    """``models:/income/3`` → ``("income", "3")``; anything else raises :class:`RegistryError`."""
    match = _REGISTRY_URI.match(uri.strip())
    if match is None or not match.group("version").isdigit():
        raise RegistryError(
            f"registry uri {uri!r} must be models:/<name>/<version number> (an alias or stage can move; "
            "a release pins one version)"
        )
    return match.group("name"), match.group("version")


def mlflow_client(tracking_uri: str | None = None, registry_uri: str | None = None) -> Any:
    """An ``MlflowClient`` for ``tracking_uri`` (None: ``MLFLOW_TRACKING_URI``, MLflow's own default)."""
    try:
        from mlflow import MlflowClient
    except ImportError as exc:  # pragma: no cover - the extra is installed in tests
        raise RegistryError(
            "a models:/ candidate needs MLflow: pip install 'airflow-provider-release-gates[mlflow]'"
        ) from exc
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


@dataclass(frozen=True)
class ResolvedModel:
    """A registry model version's artifact, downloaded and hashed."""

    name: str
    version: str
    #: The local file the release loads (inside the release's artifact folder).
    path: Path
    sha256: str
    #: The version's ``source`` and ``run_id`` as the registry reports them.
    source: str
    run_id: str | None
    #: The file's name among the version's artifacts.
    artifact_file: str

    def to_evidence(self) -> dict[str, Any]:
        from release_gates.datasets import mask_password

        return {
            "registry": "mlflow",
            "uri": f"models:/{self.name}/{self.version}",
            "name": self.name,
            "version": self.version,
            "source": mask_password(self.source),
            "run_id": self.run_id,
            "artifact_file": self.artifact_file,
            "file": str(self.path),
            "sha256": self.sha256,
        }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_version(client: Any, name: str, version: str, model_format: str, into: Path) -> Path:
    """Download the version's artifacts into ``into`` and return its one model file."""
    import mlflow.artifacts

    try:
        download_uri = client.get_model_version_download_uri(name, version)
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=download_uri,
                dst_path=str(into),
                tracking_uri=client.tracking_uri,
            )
        )
    except Exception as exc:  # the registry's own errors: missing version, unreachable store
        raise RegistryError(
            f"models:/{name}/{version}: cannot download the version's artifacts: {_one_line(exc)}"
        ) from exc
    suffix = FORMAT_SUFFIX.get(model_format)
    if suffix is None:
        raise RegistryError(f"models:/{name}/{version}: format {model_format!r} has no registry file layout")
    files = [local] if local.is_file() else sorted(p for p in local.rglob("*") if p.is_file())
    found = [p for p in files if p.suffix == suffix]
    if len(found) != 1:
        listed = ", ".join(str(p.relative_to(local) if p != local else p.name) for p in files[:10]) or "none"
        raise RegistryError(
            f"models:/{name}/{version}: the version's artifacts must hold exactly one {suffix} file "
            f"(format {model_format}); found {len(found)} among: {listed}"
        )
    return found[0]


def resolve_registry_model(
    client: Any,
    uri: str,
    *,
    model_format: str,
    dest_dir: Path,
    expected_sha256: str | None = None,
) -> ResolvedModel:
    """Download ``uri``'s model file into ``dest_dir`` and hash it; a given sha256 must match.

    The file lands at ``dest_dir/<sha256><suffix>`` (content-addressed: a retry, or another worker,
    finds the same name for the same bytes and never a half-written file).
    """
    name, version = parse_registry_uri(uri)
    try:
        detail = client.get_model_version(name, version)
    except Exception as exc:
        raise RegistryError(f"models:/{name}/{version}: not in the registry: {_one_line(exc)}") from exc
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".download-") as scratch:
        found = _download_version(client, name, version, model_format, Path(scratch))
        digest = _sha256(found)
        if expected_sha256 and digest != expected_sha256:
            raise RegistryError(
                f"models:/{name}/{version}: the registry's {found.name} has sha256 {digest}, the release "
                f"pins {expected_sha256}; not using it"
            )
        target = dest_dir / f"{digest}{found.suffix}"
        if not target.is_file() or _sha256(target) != digest:
            shutil.copyfile(found, target.with_suffix(target.suffix + ".part"))
            target.with_suffix(target.suffix + ".part").replace(target)
        artifact_file = found.name
    return ResolvedModel(
        name=name,
        version=version,
        path=target,
        sha256=digest,
        source=str(getattr(detail, "source", "") or ""),
        run_id=getattr(detail, "run_id", None) or None,
        artifact_file=artifact_file,
    )


def version_artifact_sha256(client: Any, name: str, version: str, model_format: str) -> str:
    """The sha256 of the version's model file as the registry serves it now (read-only)."""
    with tempfile.TemporaryDirectory(prefix="release-gates-registry-") as scratch:
        return _sha256(_download_version(client, name, version, model_format, Path(scratch)))


def _one_line(exc: BaseException) -> str:
    from release_gates.datasets import mask_password

    return mask_password(" ".join(f"{type(exc).__name__}: {exc}".split()))[:400]
