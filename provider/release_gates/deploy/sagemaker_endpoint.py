"""SageMaker: the endpoint config an endpoint serves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import (
    TargetError,
    TargetNotFoundError,
)
from release_gates.deploy.targets import ClientSource, DeploymentTarget, Settle

if TYPE_CHECKING:
    pass


def _sagemaker_missing(exc: TargetError) -> bool:
    # SageMaker reports a missing endpoint or config as ValidationException "Could not find …".
    return exc.code == "ValidationException" and "could not find" in exc.message.lower()


class SageMakerEndpointTarget(DeploymentTarget):
    """A SageMaker endpoint; the version is its endpoint config name."""

    type = "sagemaker"

    def __init__(self, clients: ClientSource, *, endpoint: str, **kwargs: Any) -> None:
        super().__init__(clients, **kwargs)
        self.endpoint = endpoint
        self.client = clients("sagemaker")
        self._endpoint_arn: str | None = None

    @property
    def description(self) -> str:
        return f"sagemaker endpoint {self.endpoint}"

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.endpoint}

    def _describe(self) -> dict[str, Any]:
        try:
            endpoint = self._call(self.client, "describe_endpoint", EndpointName=self.endpoint)
        except TargetError as exc:
            if _sagemaker_missing(exc):
                raise TargetNotFoundError(
                    exc.message,
                    service=exc.service,
                    operation=exc.operation,
                    code=exc.code,
                    http_status=exc.http_status,
                    request_id=exc.request_id,
                ) from exc
            raise
        self._endpoint_arn = endpoint.get("EndpointArn")
        return endpoint

    def current_version(self) -> str:
        return str(self._describe()["EndpointConfigName"])

    def set_version(self, version: str) -> None:
        version = self.normalize_version(version)
        self._call(self.client, "update_endpoint", EndpointName=self.endpoint, EndpointConfigName=version)
        self._desired = version

    def previous_version(self) -> str | None:
        current = self.current_version()
        created = self._call(self.client, "describe_endpoint_config", EndpointConfigName=current)[
            "CreationTime"
        ]
        page = self._call(
            self.client,
            "list_endpoint_configs",
            SortBy="CreationTime",
            SortOrder="Descending",
            NameContains=self.endpoint,
            CreationTimeBefore=created,
            MaxResults=10,
        )
        for config in page.get("EndpointConfigs", []):
            if config["EndpointConfigName"] != current:
                return str(config["EndpointConfigName"])
        return None

    def version_exists(self, version: str) -> bool:
        try:
            self._call(self.client, "describe_endpoint_config", EndpointConfigName=version)
        except TargetNotFoundError:
            return False
        except TargetError as exc:
            if _sagemaker_missing(exc):
                return False
            raise
        return True

    def _settle(self, version: str) -> Settle:
        endpoint = self._describe()
        status, config = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
        facts = {"status": status, "endpoint_config": config}
        if status == "Failed":
            return Settle("failed", str(endpoint.get("FailureReason") or "endpoint Failed"), facts)
        if status == "InService" and config == version:
            return Settle("stable", "InService", facts)
        return Settle("pending", f"{status} on {config}", facts)

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        endpoint = self._describe()
        status = endpoint.get("EndpointStatus")
        version = endpoint.get("EndpointConfigName")
        healthy = status == "InService"
        return healthy, version, "InService" if healthy else f"endpoint is {status}", {"status": status}

    def write_permissions(self) -> list[tuple[str, str]]:
        if self._endpoint_arn is None:
            self._describe()
        return [("sagemaker:UpdateEndpoint", str(self._endpoint_arn))]

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        return dimensions.get("EndpointName") == self.endpoint
