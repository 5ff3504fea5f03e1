"""SageMaker: the endpoint config an endpoint serves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import (
    TargetError,
    TargetNotFoundError,
)
from release_gates.deploy.targets import ClientSource, DeploymentTarget, Settle

if TYPE_CHECKING:
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity


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

    def validate_version(self, version: str) -> dict[str, Any]:
        """What rolling back to ``version`` needs, read-only: the endpoint config and the model of
        each of its production variants. ``problems`` lists what is missing."""
        version = self.normalize_version(version)
        config = self._call(self.client, "describe_endpoint_config", EndpointConfigName=version)
        variants = list(config.get("ProductionVariants") or [])
        problems = [] if variants else [f"endpoint config {version} has no production variants"]
        models = []
        for variant in variants:
            model_name = str(variant.get("ModelName"))
            try:
                model = self._call(self.client, "describe_model", ModelName=model_name)
            except TargetError as exc:
                if not (isinstance(exc, TargetNotFoundError) or _sagemaker_missing(exc)):
                    raise
                problems.append(f"model {model_name} of variant {variant.get('VariantName')} is gone")
                continue
            models.append({"variant": variant.get("VariantName"), "model": model_name,
                           "execution_role": model.get("ExecutionRoleArn")})  # fmt: skip
        return {"endpoint_config": version, "models": models, "problems": problems}

    def version_identity(self, version: str, settings: IdentitySettings) -> VersionIdentity:
        """Every production variant of the endpoint config: its model's container image digest and
        the sha256 of its model data object (a tag or metadata the policy names, the object's
        SHA-256 checksum, or its bytes)."""
        from release_gates.deploy.identity import (
            ServingComponent,
            VersionIdentity,
            image_component_facts,
            s3_model_facts,
        )

        version = self.normalize_version(version)
        config = self._call(self.client, "describe_endpoint_config", EndpointConfigName=version)
        components = []
        for variant in config.get("ProductionVariants") or []:
            model_name = str(variant.get("ModelName"))
            model = self._call(self.client, "describe_model", ModelName=model_name)
            containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else []
            containers += list(model.get("Containers") or [])
            name = f"{variant.get('VariantName')}/{model_name}"
            if len(containers) != 1:
                components.append(
                    ServingComponent(
                        name=name,
                        image_note=f"model {model_name} has {len(containers)} containers",
                        model_note=f"model {model_name} has {len(containers)} containers",
                    )
                )
                continue
            container = containers[0]
            image = image_component_facts(container.get("Image"))
            data_url = str(container.get("ModelDataUrl") or "")
            if not data_url.startswith("s3://"):
                found: dict[str, Any] = {"model_note": f"model {model_name} has no S3 model data"}
            else:
                bucket, _, key = data_url.removeprefix("s3://").partition("/")

                def call(client: Any, method: str, **params: Any) -> dict[str, Any]:
                    return self._call(client, method, **params)

                found = s3_model_facts(
                    call, self._clients("s3"), bucket=bucket, key=key, version_id=None, settings=settings
                )
            facts = found.pop("facts", {})
            components.append(ServingComponent(name=name, facts=facts, **image, **found))
        notes = () if components else (f"endpoint config {version} has no production variants",)
        return VersionIdentity(self.identity(), version, tuple(components), notes)

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
