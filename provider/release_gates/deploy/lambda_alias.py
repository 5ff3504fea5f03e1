"""Lambda: the function version behind an alias."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import (
    TargetNotFoundError,
)
from release_gates.deploy.targets import ClientSource, DeploymentTarget, Settle

if TYPE_CHECKING:
    pass


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
