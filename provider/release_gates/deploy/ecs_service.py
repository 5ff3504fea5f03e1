"""ECS: the task definition revision a service runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import (
    TargetError,
    TargetNotFoundError,
)
from release_gates.deploy.targets import ClientSource, DeploymentTarget, Settle

if TYPE_CHECKING:
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity


def _task_definition(reference: str) -> str:
    """``arn:…:task-definition/family:3`` or ``family:3`` → ``family:3``."""
    return reference.rsplit("/", 1)[-1]


class EcsServiceTarget(DeploymentTarget):
    """An ECS service; the version is its task definition as ``family:revision``."""

    type = "ecs"

    def __init__(self, clients: ClientSource, *, service: str, cluster: str | None = None, **kwargs: Any):
        super().__init__(clients, **kwargs)
        self.service = service
        self.cluster = cluster or "default"
        self.client = clients("ecs")
        self._service_arn: str | None = None
        self._family: str | None = None

    @property
    def description(self) -> str:
        return f"ecs service {self.service} in cluster {self.cluster}"

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.service, "cluster": self.cluster}

    def _describe(self) -> dict[str, Any]:
        response = self._call(self.client, "describe_services", cluster=self.cluster, services=[self.service])
        services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            reasons = ", ".join(str(f.get("reason")) for f in response.get("failures", [])) or "INACTIVE"
            raise TargetNotFoundError(
                f"{self.description}: not found ({reasons})",
                service="ecs",
                operation="DescribeServices",
                code="ServiceNotFound",
                request_id=(response.get("ResponseMetadata") or {}).get("RequestId"),
            )
        service: dict[str, Any] = services[0]
        self._service_arn = service.get("serviceArn")
        return service

    def current_version(self) -> str:
        version = _task_definition(str(self._describe()["taskDefinition"]))
        self._family = version.rsplit(":", 1)[0]
        return version

    def normalize_version(self, version: str) -> str:
        version = _task_definition(str(version).strip())
        if version.isdigit():
            if self._family is None:
                self.current_version()
            return f"{self._family}:{version}"
        return version

    def set_version(self, version: str) -> None:
        version = self.normalize_version(version)
        self._call(
            self.client, "update_service", cluster=self.cluster, service=self.service, taskDefinition=version
        )
        self._desired = version

    standin_kind = "ecs drill service"

    #: Settings of the live service a drill service copies; load balancers and service discovery are
    #: left out on purpose — they are what would send it live traffic.
    _STANDIN_COPIED = (
        "launchType",
        "capacityProviderStrategy",
        "platformVersion",
        "networkConfiguration",
        "placementConstraints",
        "placementStrategy",
    )

    def standin_name(self, drill_id: str) -> str:
        return f"{self.service}-rg-drill-{drill_id}"

    def standin(self, name: str) -> DeploymentTarget:
        target = EcsServiceTarget(
            self._clients, service=name, cluster=self.cluster, **self._standin_options()
        )
        return self._adopt(target)

    def create_standin(self, name: str, version: str) -> DeploymentTarget:
        live = self._describe()
        copied = {key: live[key] for key in self._STANDIN_COPIED if live.get(key)}
        self._call(
            self.client,
            "create_service",
            cluster=self.cluster,
            serviceName=name,
            taskDefinition=self.normalize_version(version),
            desiredCount=1,
            tags=[{"key": "release-gates", "value": "rollback-drill-standin"}],
            **copied,
        )
        return self.standin(name)

    def remove_standin(self, name: str) -> bool:
        try:
            # force: no scale-down first; the drill service serves no traffic.
            self._call(self.client, "delete_service", cluster=self.cluster, service=name, force=True)
        except TargetError as exc:
            if isinstance(exc, TargetNotFoundError) or exc.code in (
                "ServiceNotFoundException",
                "ServiceNotActiveException",
            ):
                return False
            raise
        return True

    def circuit_breaker(self) -> dict[str, Any]:
        """The live service's deployment circuit breaker (read-only): ECS's own automatic rollback."""
        service = self._describe()
        configuration = service.get("deploymentConfiguration") or {}
        breaker = configuration.get("deploymentCircuitBreaker") or {}
        controller = (service.get("deploymentController") or {}).get("type", "ECS")
        return {
            "deployment_controller": controller,
            "enable": bool(breaker.get("enable")),
            "rollback": bool(breaker.get("rollback")),
            "alarms": configuration.get("alarms"),
        }

    def previous_version(self) -> str | None:
        current = self.current_version()
        family, _, revision = current.rpartition(":")
        if not revision.isdigit():
            return None
        # familyPrefix matches other families too, and the listing order is not relied upon.
        older: list[int] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "DESC"}
            if token:
                params["nextToken"] = token
            page = self._call(self.client, "list_task_definitions", **params)
            for arn in page.get("taskDefinitionArns", []):
                candidate_family, _, candidate = _task_definition(str(arn)).rpartition(":")
                if candidate_family == family and candidate.isdigit() and int(candidate) < int(revision):
                    older.append(int(candidate))
            token = page.get("nextToken")
            if not token:
                return f"{family}:{max(older)}" if older else None

    def version_exists(self, version: str) -> bool:
        try:
            described = self._call(
                self.client, "describe_task_definition", taskDefinition=self.normalize_version(version)
            )
        except TargetNotFoundError:
            return False
        except TargetError as exc:
            if exc.code == "ClientException":  # ECS's answer for an unknown task definition
                return False
            raise
        return bool(described.get("taskDefinition", {}).get("status") == "ACTIVE")

    def version_identity(self, version: str, settings: IdentitySettings) -> VersionIdentity:
        """The task definition's serving container: its image digest (a tag is not pinned: every task
        start may resolve it anew) and the model sha256 from the container environment variable the
        policy names."""
        from release_gates.deploy.identity import (
            ServingComponent,
            VersionIdentity,
            env_model_facts,
            image_component_facts,
        )

        version = self.normalize_version(version)
        described = self._call(self.client, "describe_task_definition", taskDefinition=version)
        containers = list((described.get("taskDefinition") or {}).get("containerDefinitions") or [])
        names = [str(c.get("name")) for c in containers]
        if settings.container:
            chosen = [c for c in containers if c.get("name") == settings.container]
            missing = f"task definition {version} has no container {settings.container!r} (has {names})"
        else:
            chosen = containers if len(containers) == 1 else []
            missing = (
                f"task definition {version} has {len(containers)} containers {names}; "
                "name the serving one (container:)"
            )
        if not chosen:
            return VersionIdentity(self.identity(), version, (), (missing,))
        container = chosen[0]
        image = image_component_facts(container.get("image"))
        env = {str(e.get("name")): str(e.get("value")) for e in container.get("environment") or []}
        model: dict[str, Any]
        from_env = env_model_facts(env, settings.model_sha256_env)
        if from_env is not None:
            from_env.pop("facts", None)
            model = from_env
        elif settings.model_sha256_env:
            model = {"model_note": f"container {container.get('name')} has no {settings.model_sha256_env}"}
        else:
            model = {"model_note": "the policy names no environment variable holding the model sha256"}
        component = ServingComponent(name=str(container.get("name")), **image, **model)
        return VersionIdentity(self.identity(), version, (component,))

    def _settle(self, version: str) -> Settle:
        service = self._describe()
        serving = _task_definition(str(service["taskDefinition"]))
        deployments = service.get("deployments") or []
        primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
        facts = {
            "deployments": len(deployments),
            "rollout_state": primary.get("rolloutState"),
            "running": service.get("runningCount"),
            "desired": service.get("desiredCount"),
        }
        if serving != version:
            return Settle("pending", f"service runs {serving}", facts)
        if primary.get("rolloutState") == "FAILED":
            return Settle("failed", str(primary.get("rolloutStateReason") or "rollout failed"), facts)
        if len(deployments) > 1:
            return Settle("pending", f"{len(deployments)} deployments in progress", facts)
        if primary.get("rolloutState") not in (None, "COMPLETED"):
            return Settle("pending", f"rollout {primary.get('rolloutState')}", facts)
        if int(service.get("runningCount", 0)) < int(service.get("desiredCount", 0)):
            return Settle(
                "pending", f"{service.get('runningCount')}/{service.get('desiredCount')} running", facts
            )
        return Settle("stable", "steady", facts)

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        service = self._describe()
        version = _task_definition(str(service["taskDefinition"]))
        running, desired = int(service.get("runningCount", 0)), int(service.get("desiredCount", 0))
        facts = {"status": service.get("status"), "running": running, "desired": desired}
        if service.get("status") != "ACTIVE":
            return False, version, f"service is {service.get('status')}", facts
        if desired == 0:
            return False, version, "desired count is 0: nothing serves", facts
        if running < desired:
            return False, version, f"{running}/{desired} tasks running", facts
        return True, version, "steady", facts

    def write_permissions(self) -> list[tuple[str, str]]:
        if self._service_arn is None:
            self._describe()
        return [("ecs:UpdateService", str(self._service_arn))]

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        return dimensions.get("ServiceName") == self.service and dimensions.get("ClusterName") in (
            None,
            self.cluster,
        )
