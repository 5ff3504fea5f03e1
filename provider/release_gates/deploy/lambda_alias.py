"""Lambda: the function version behind an alias."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import (
    TargetNotFoundError,
)
from release_gates.deploy.targets import ClientSource, DeploymentTarget, Settle

if TYPE_CHECKING:
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity


class LambdaAliasTarget(DeploymentTarget):
    """A Lambda alias; the version is the function version it points at.

    Rolling back points the alias at one version with no weighted routing. Moving back to the
    version first read restores that read's routing too, so a canary split survives a drill.
    """

    type = "lambda"

    def __init__(self, clients: ClientSource, *, function: str, alias: str, **kwargs: Any) -> None:
        super().__init__(clients, **kwargs)
        self.function = function
        self.alias = alias
        self.client = clients("lambda")
        self._first_read: tuple[str, dict[str, Any]] | None = None
        self._alias_arn: str | None = None

    @property
    def description(self) -> str:
        return f"lambda function {self.function} alias {self.alias}"

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.function, "alias": self.alias}

    def _get_alias(self) -> dict[str, Any]:
        alias = self._call(self.client, "get_alias", FunctionName=self.function, Name=self.alias)
        self._alias_arn = alias.get("AliasArn")
        if self._first_read is None:
            self._first_read = (str(alias["FunctionVersion"]), dict(alias.get("RoutingConfig") or {}))
        return alias

    def current_version(self) -> str:
        return str(self._get_alias()["FunctionVersion"])

    def set_version(self, version: str) -> None:
        version = self.normalize_version(version)
        routing: dict[str, Any] = {"AdditionalVersionWeights": {}}
        if self._first_read is not None and self._first_read[0] == version and self._first_read[1]:
            routing = self._first_read[1]
        self._call(
            self.client,
            "update_alias",
            FunctionName=self.function,
            Name=self.alias,
            FunctionVersion=version,
            RoutingConfig=routing,
        )
        self._desired = version

    standin_kind = "lambda alias"

    def standin(self, name: str) -> DeploymentTarget:
        target = LambdaAliasTarget(
            self._clients, function=self.function, alias=name, **self._standin_options()
        )
        return self._adopt(target)

    def create_standin(self, name: str, version: str) -> DeploymentTarget:
        # An alias nobody invokes: same function, same versions, no live traffic.
        self._call(
            self.client,
            "create_alias",
            FunctionName=self.function,
            Name=name,
            FunctionVersion=self.normalize_version(version),
            Description="release-gates rollback drill stand-in (serves no traffic; removed by the drill)",
        )
        return self.standin(name)

    def remove_standin(self, name: str) -> bool:
        try:
            self._call(self.client, "delete_alias", FunctionName=self.function, Name=name)
        except TargetNotFoundError:
            return False
        return True

    def previous_version(self) -> str | None:
        current = self.current_version()
        if not current.isdigit():
            return None
        older = [int(v) for v in self._versions() if v.isdigit() and int(v) < int(current)]
        return str(max(older)) if older else None

    def _versions(self) -> Iterator[str]:
        marker: str | None = None
        while True:
            params: dict[str, Any] = {"FunctionName": self.function}
            if marker:
                params["Marker"] = marker
            page = self._call(self.client, "list_versions_by_function", **params)
            for version in page.get("Versions", []):
                yield str(version["Version"])
            marker = page.get("NextMarker")
            if not marker:
                return

    def version_exists(self, version: str) -> bool:
        try:
            self._configuration(self.normalize_version(version))
        except TargetNotFoundError:
            return False
        return True

    def _configuration(self, version: str) -> dict[str, Any]:
        return self._call(
            self.client, "get_function_configuration", FunctionName=self.function, Qualifier=version
        )

    def version_identity(self, version: str, settings: IdentitySettings) -> VersionIdentity:
        """The published version's image (image-package functions: ``ImageUri``, else the digest Lambda
        resolved at publish time) and the model sha256 from the environment variable (bound to the
        version) or, failing that, the function tag the policy names (function-wide, not per version)."""
        from release_gates.deploy.identity import (
            ServingComponent,
            VersionIdentity,
            env_model_facts,
            image_component_facts,
            normalize_sha256,
        )

        version = self.normalize_version(version)
        function = self._call(self.client, "get_function", FunctionName=self.function, Qualifier=version)
        config = function.get("Configuration") or {}
        code = function.get("Code") or {}
        package = str(config.get("PackageType") or "Zip")
        facts: dict[str, Any] = {"package_type": package, "code_sha256": config.get("CodeSha256")}
        if package == "Image":
            image = image_component_facts(code.get("ImageUri"), code.get("ResolvedImageUri"))
        else:
            image = {"image_note": "a zip-package function has no container image"}
        model: dict[str, Any] = {}
        env = (config.get("Environment") or {}).get("Variables") or {}
        from_env = env_model_facts(env, settings.model_sha256_env)
        if from_env is not None:
            from_env.pop("facts", None)
            model = from_env
        elif settings.model_sha256_tag:
            arn = str(config.get("FunctionArn") or "")
            arn = arn.rsplit(":", 1)[0] if arn.count(":") > 6 else arn  # tags live on the function
            tags = self._call(self.client, "list_tags", Resource=arn).get("Tags") or {}
            if settings.model_sha256_tag in tags:
                value = normalize_sha256(str(tags[settings.model_sha256_tag]))
                model = {
                    "model_sha256": value,
                    "model_source": f"function tag {settings.model_sha256_tag}",
                    "model_bound_to_version": False,
                }
                if value is None:
                    model["model_note"] = f"tag {settings.model_sha256_tag} does not hold a sha256"
        if not model:
            named = [
                f"environment variable {settings.model_sha256_env}" if settings.model_sha256_env else "",
                f"function tag {settings.model_sha256_tag}" if settings.model_sha256_tag else "",
            ]
            where = " or ".join(n for n in named if n)
            model = {
                "model_note": f"version {version} carries no {where}"
                if where
                else "the policy names no environment variable or tag holding the model sha256"
            }
        component = ServingComponent(name=f"{self.function}:{version}", facts=facts, **image, **model)
        return VersionIdentity(self.identity(), version, (component,))

    def _settle(self, version: str) -> Settle:
        alias = self._get_alias()
        pointed = str(alias["FunctionVersion"])
        if pointed != version:
            return Settle("pending", f"alias points at {pointed}")
        config = self._configuration(version)
        state, update = config.get("State"), config.get("LastUpdateStatus")
        facts = {"state": state, "last_update_status": update}
        if state in ("Failed", "Inactive") or update == "Failed":
            reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or state
            return Settle("failed", f"version {version} is {state}/{update}: {reason}", facts)
        if state == "Active" and update in (None, "Successful"):
            return Settle("stable", "active", facts)
        return Settle("pending", f"version {version} is {state}/{update}", facts)

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        version = self.current_version()
        config = self._configuration(version)
        state, update = config.get("State"), config.get("LastUpdateStatus")
        facts = {"state": state, "last_update_status": update}
        healthy = state == "Active" and update != "Failed"
        return healthy, version, "active" if healthy else f"version {version} is {state}/{update}", facts

    def write_permissions(self) -> list[tuple[str, str]]:
        if self._alias_arn is None:
            self._get_alias()
        return [("lambda:UpdateAlias", str(self._alias_arn))]

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        if dimensions.get("FunctionName") != self.function:
            return False
        resource = dimensions.get("Resource")
        return resource in (None, self.function, f"{self.function}:{self.alias}")
