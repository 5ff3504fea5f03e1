"""MLflow Model Registry: the model version an alias (default ``champion``) points at.

Serving systems that load ``models:/<name>@champion`` follow the alias, so moving it is the
deployment. Promotion moves the alias to the judged version and, with it, sets tags on that version
(``release_gates.*``: the decision, the release, the evidence chain head, the model sha256) given by
the release's promote step after every gate and sign-off; rollback moves the alias back. A shadow
rollback drill runs on a temporary alias (the stand-in) that nothing serves from, removed after.

There is no AWS here: the target is given an ``MlflowClient`` (tracking/registry URI resolved by
:class:`~release_gates.hooks.mlflow.MlflowRegistryHook`). Registry errors are sorted like AWS ones
(missing → :class:`TargetNotFoundError`, anything else a hard :class:`TargetError`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

from release_gates.deploy.calls import TargetError, TargetNotFoundError, now_iso
from release_gates.deploy.targets import DeploymentTarget, Settle

if TYPE_CHECKING:
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity

DEFAULT_ALIAS = "champion"
#: Prefix of the tags a promotion sets on the model version.
TAG_PREFIX = "release_gates."


def _no_aws(service: str) -> NoReturn:
    raise TargetError(f"an mlflow_alias target makes no AWS calls (asked for {service})", operation="clients")


class MlflowAliasTarget(DeploymentTarget):
    """A registered model's alias; the version is the model version number it points at."""

    type = "mlflow_alias"
    standin_kind = "mlflow alias"

    def __init__(self, registry: Any, *, model: str, alias: str = DEFAULT_ALIAS, **kwargs: Any) -> None:
        super().__init__(_no_aws, **kwargs)
        self.registry = registry
        self.model = model
        self.alias = alias
        #: Tags the next :meth:`set_version` sets on the version it moves the alias to (the promote
        #: step fills them after the gates; a rollback or a drill sets none).
        self.pending_tags: dict[str, str] = {}

    @property
    def description(self) -> str:
        return f"mlflow model {self.model} alias {self.alias}"

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.model, "alias": self.alias}

    def _registry_call(self, operation: str, call: Callable[[], Any]) -> Any:
        """One registry call, logged like an AWS call (operation, time, status, error code)."""
        started = now_iso()
        try:
            result = call()
        except Exception as exc:
            code = str(getattr(exc, "error_code", "") or type(exc).__name__)
            self.calls.add({"service": "mlflow", "operation": operation, "at": started, "error_code": code})
            message = f"{self.description}: {operation} failed: {' '.join(str(exc).split())[:300]}"
            if code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower():
                raise TargetNotFoundError(message, service="mlflow", operation=operation, code=code) from exc
            raise TargetError(message, service="mlflow", operation=operation, code=code) from exc
        self.calls.add({"service": "mlflow", "operation": operation, "at": started, "status": "ok"})
        return result

    def current_version(self) -> str:
        found = self._registry_call(
            "get_model_version_by_alias",
            lambda: self.registry.get_model_version_by_alias(self.model, self.alias),
        )
        return str(found.version)

    def set_version(self, version: str) -> None:
        version = self.normalize_version(version)
        self._registry_call(
            "set_registered_model_alias",
            lambda: self.registry.set_registered_model_alias(self.model, self.alias, version),
        )
        for key, value in self.pending_tags.items():
            self._registry_call(
                "set_model_version_tag",
                lambda key=key, value=value: self.registry.set_model_version_tag(  # type: ignore[misc]
                    self.model, version, key, value
                ),
            )
        self.pending_tags = {}
        self._desired = version

    def previous_version(self) -> str | None:
        current = self.current_version()
        if not current.isdigit():
            return None
        older = [int(v) for v in self._versions() if v.isdigit() and int(v) < int(current)]
        return str(max(older)) if older else None

    def _versions(self) -> Iterator[str]:
        found = self._registry_call(
            "search_model_versions",
            lambda: self.registry.search_model_versions(f"name = '{_quoted(self.model)}'"),
        )
        for version in found:
            yield str(version.version)

    def _version(self, version: str) -> Any:
        return self._registry_call(
            "get_model_version", lambda: self.registry.get_model_version(self.model, version)
        )

    def version_exists(self, version: str) -> bool:
        try:
            self._version(self.normalize_version(version))
        except TargetNotFoundError:
            return False
        return True

    def artifact_sha256(self, version: str, model_format: str) -> str:
        """The sha256 of ``version``'s model file as the registry serves it now (read-only)."""
        from release_gates.scoring.registry import version_artifact_sha256

        return str(
            self._registry_call(
                "download_artifacts",
                lambda: version_artifact_sha256(self.registry, self.model, version, model_format),
            )
        )

    def version_identity(self, version: str, settings: IdentitySettings) -> VersionIdentity:
        """The version's model file sha256, computed from the registry's artifact (no image)."""
        from release_gates.deploy.identity import ServingComponent, VersionIdentity

        version = self.normalize_version(version)
        model: dict[str, Any] = {}
        errors = []
        for model_format in ("skops", "onnx"):
            try:
                model = {
                    "model_sha256": self.artifact_sha256(version, model_format),
                    "model_source": f"sha256 of the {model_format} file of models:/{self.model}/{version}",
                }
                break
            except TargetError as exc:
                errors.append(exc.message)
        if not model:
            model = {"model_note": "; ".join(errors)[:500]}
        component = ServingComponent(
            name=f"models:/{self.model}/{version}",
            image_note="a registry model version has no container image",
            **model,
        )
        return VersionIdentity(self.identity(), version, (component,))

    # -- stand-ins: a temporary alias ---------------------------------------------------------------

    def standin_name(self, drill_id: str) -> str:
        # MLflow aliases take letters, digits, _ and -; never "latest" or v<digits> (reserved).
        return "rg-drill-" + re.sub(r"[^A-Za-z0-9_-]", "-", drill_id)[:40]

    def standin(self, name: str) -> DeploymentTarget:
        target = MlflowAliasTarget(self.registry, model=self.model, alias=name, **self._standin_options())
        return self._adopt(target)

    def create_standin(self, name: str, version: str) -> DeploymentTarget:
        version = self.normalize_version(version)
        self._registry_call(
            "set_registered_model_alias",
            lambda: self.registry.set_registered_model_alias(self.model, name, version),
        )
        return self.standin(name)

    def remove_standin(self, name: str) -> bool:
        try:
            self._registry_call(
                "get_model_version_by_alias",
                lambda: self.registry.get_model_version_by_alias(self.model, name),
            )
        except TargetNotFoundError:
            return False
        self._registry_call(
            "delete_registered_model_alias",
            lambda: self.registry.delete_registered_model_alias(self.model, name),
        )
        return True

    # -- platform state -----------------------------------------------------------------------------

    def _settle(self, version: str) -> Settle:
        pointed = self.current_version()
        if pointed != version:
            return Settle("pending", f"alias points at {pointed}")
        status = str(getattr(self._version(version), "status", "READY"))
        facts = {"status": status}
        if status == "FAILED_REGISTRATION":
            return Settle("failed", f"version {version} failed registration", facts)
        if status == "READY":
            return Settle("stable", "ready", facts)
        return Settle("pending", f"version {version} is {status}", facts)

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        version = self.current_version()
        status = str(getattr(self._version(version), "status", "READY"))
        healthy = status == "READY"
        return healthy, version, "ready" if healthy else f"version {version} is {status}", {"status": status}

    def write_permissions(self) -> list[tuple[str, str]]:
        return []  # the registry's own permissions; no IAM actions to simulate

    def check_write_permissions(self) -> dict[str, Any]:
        return {"principal": None, "actions": [], "denied": [], "note": "MLflow has no IAM to simulate"}

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        return False


def _quoted(value: str) -> str:
    return value.replace("'", "\\'")
