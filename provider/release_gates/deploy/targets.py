"""Where a model version is deployed, and how to read, change, settle and health-check it.

One interface, four platforms:

===========  ===============================================  =====================================
type         the "version"                                     previous version (platform history)
===========  ===============================================  =====================================
ecs          task definition ``family:revision`` of a service  highest ACTIVE revision below it
lambda       function version behind an alias                 highest published version below it
sagemaker    endpoint config of an endpoint                    newest config named after the endpoint
                                                               created before the current one
s3_pointer   object version of the model a pointer object      the pointer's own history (the last
             names: ``{"key": …, "version_id": …}``            different version it named)
===========  ===============================================  =====================================

Platform history is a heuristic; a policy's ``previous_version`` (the known-good version) wins.
"Stable" means the platform finished moving to the version; "healthy" means the platform reports it
serving and, when a health URL is configured, the HTTP probe answers as expected.

Every AWS call is logged in :attr:`DeploymentTarget.calls` (operation, time, status, request id).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from release_gates.deploy.calls import (
    ApiCallLog,
    TargetError,
    TargetNotFoundError,
    TargetNotStableError,
    aws_call,
)
from release_gates.deploy.probe import HttpProbe

if TYPE_CHECKING:
    from release_gates.policy import DeploymentTargetSpec

#: ``service name → boto3 client``; e.g. ``AwsDeploymentHook(...).get_client`` or ``session.client``.
ClientSource = Callable[[str], Any]


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    version: str | None
    reason: str
    platform: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "version": self.version,
            "reason": self.reason,
            "platform": self.platform,
            "probe": self.probe,
        }


@dataclass(frozen=True)
class _Settle:
    state: str  # "stable" | "pending" | "failed"
    reason: str
    facts: dict[str, Any] = field(default_factory=dict)


class DeploymentTarget(ABC):
    """A deployed model whose version can be read, changed, waited on and health-checked."""

    type: ClassVar[str]

    def __init__(
        self,
        clients: ClientSource,
        *,
        probe: HttpProbe | None = None,
        poll_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clients = clients
        self.probe = probe
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self.calls = ApiCallLog()
        self._desired: str | None = None

    # -- identity ---------------------------------------------------------------------------------

    @property
    @abstractmethod
    def description(self) -> str:
        """A phrase naming the target, e.g. ``lambda function scorer alias live``."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """JSON-safe facts that identify the target (for evidence and for matching records)."""

    def normalize_version(self, version: str) -> str:
        """The canonical form of a version as given by a user or a policy."""
        return str(version).strip()

    # -- the interface ----------------------------------------------------------------------------

    @abstractmethod
    def current_version(self) -> str:
        """The version the target serves now."""

    @abstractmethod
    def set_version(self, version: str) -> None:
        """Start moving the target to ``version``; :meth:`wait_stable` waits for the move to finish."""

    @abstractmethod
    def previous_version(self) -> str | None:
        """The version before the current one according to the platform's history, if any."""

    @abstractmethod
    def version_exists(self, version: str) -> bool:
        """Whether ``version`` exists and could be deployed (read-only)."""

    def wait_stable(self, timeout: float, *, version: str | None = None) -> dict[str, Any]:
        """Poll until the target settled on ``version`` (default: the version last set, else the
        current one).

        Raises :class:`TargetNotStableError` when the platform reports a failed deployment or the
        timeout passes; API errors propagate (the caller decides whether to retry).
        """
        version = self.normalize_version(version) if version else self._desired or self.current_version()
        started = self._clock()
        deadline = started + timeout
        polls = 0
        while True:
            polls += 1
            settle = self._settle(version)
            waited = round(self._clock() - started, 3)
            if settle.state == "stable":
                return {"version": version, "polls": polls, "waited_s": waited, **settle.facts}
            if settle.state == "failed":
                raise TargetNotStableError(
                    f"{self.description}: deployment of {version} failed: {settle.reason}",
                    operation="wait_stable",
                    code="DeploymentFailed",
                )
            if self._clock() >= deadline:
                raise TargetNotStableError(
                    f"{self.description}: not stable on {version} within {timeout:g} s "
                    f"({polls} polls; last state: {settle.reason})",
                    operation="wait_stable",
                    code="NotStable",
                )
            self._sleep(max(0.0, min(self.poll_interval, deadline - self._clock())))

    def health(self) -> HealthReport:
        """Platform state of the serving version, plus the HTTP probe when one is configured."""
        healthy, version, reason, facts = self._platform_health()
        probe = self.probe.check() if self.probe is not None else None
        if healthy and probe is not None and not probe.ok:
            healthy, reason = False, f"health probe failed: {probe.reason}"
        return HealthReport(
            healthy=healthy,
            version=version,
            reason=reason if not healthy else "healthy",
            platform=facts,
            probe=probe.to_dict() if probe is not None else None,
        )

    # -- readiness and dry runs -------------------------------------------------------------------

    @abstractmethod
    def write_permissions(self) -> list[tuple[str, str]]:
        """``(IAM action, resource ARN)`` pairs that changing the version needs."""

    @abstractmethod
    def watched_by(self, dimensions: dict[str, str]) -> bool:
        """Whether a CloudWatch metric with these dimensions is about this target."""

    def check_write_permissions(self) -> dict[str, Any]:
        """IAM policy simulation of :meth:`write_permissions` for the caller (read-only).

        Covers the caller's identity policies; SCPs and resource policies can still deny at run time.
        """
        needed = self.write_permissions()
        sts, iam = self._clients("sts"), self._clients("iam")
        caller = aws_call(sts, "get_caller_identity", self.calls)["Arn"]
        principal = self._principal_arn(str(caller), iam)
        decisions: dict[str, str] = {}
        for action, resource in needed:
            response = aws_call(
                iam,
                "simulate_principal_policy",
                self.calls,
                PolicySourceArn=principal,
                ActionNames=[action],
                ResourceArns=[resource],
            )
            for evaluation in response.get("EvaluationResults", []):
                decisions[str(evaluation["EvalActionName"])] = str(evaluation["EvalDecision"])
        denied = [action for action, _ in needed if decisions.get(action) != "allowed"]
        return {
            "principal": principal,
            "actions": [{"action": a, "resource": r, "decision": decisions.get(a)} for a, r in needed],
            "denied": denied,
        }

    def _principal_arn(self, caller_arn: str, iam: Any) -> str:
        # STS names an assumed role by its session; simulation needs the role's IAM ARN (with path).
        parts = caller_arn.split(":", 5)
        if len(parts) < 6:
            return caller_arn
        partition, account, resource = parts[1], parts[4], parts[5]
        if resource.startswith("assumed-role/"):
            role = resource.split("/")[1]
            try:
                return str(aws_call(iam, "get_role", self.calls, RoleName=role)["Role"]["Arn"])
            except TargetError:
                return f"arn:{partition}:iam::{account}:role/{role}"
        if resource.startswith("user/"):
            return f"arn:{partition}:iam::{account}:{resource}"
        return caller_arn

    # -- platform specifics -----------------------------------------------------------------------

    @abstractmethod
    def _settle(self, version: str) -> _Settle:
        """One poll: has the target settled on ``version``?"""

    @abstractmethod
    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        """(healthy, serving version, reason, facts) from the platform's own state."""

    def _call(self, client: Any, method: str, **params: Any) -> dict[str, Any]:
        return aws_call(client, method, self.calls, **params)


# --------------------------------------------------------------------------------------------------
# Lambda: the version behind an alias
# --------------------------------------------------------------------------------------------------


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

    def _settle(self, version: str) -> _Settle:
        alias = self._get_alias()
        pointed = str(alias["FunctionVersion"])
        if pointed != version:
            return _Settle("pending", f"alias points at {pointed}")
        config = self._configuration(version)
        state, update = config.get("State"), config.get("LastUpdateStatus")
        facts = {"state": state, "last_update_status": update}
        if state in ("Failed", "Inactive") or update == "Failed":
            reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or state
            return _Settle("failed", f"version {version} is {state}/{update}: {reason}", facts)
        if state == "Active" and update in (None, "Successful"):
            return _Settle("stable", "active", facts)
        return _Settle("pending", f"version {version} is {state}/{update}", facts)

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


# --------------------------------------------------------------------------------------------------
# ECS: the task definition revision of a service
# --------------------------------------------------------------------------------------------------


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

    def _settle(self, version: str) -> _Settle:
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
            return _Settle("pending", f"service runs {serving}", facts)
        if primary.get("rolloutState") == "FAILED":
            return _Settle("failed", str(primary.get("rolloutStateReason") or "rollout failed"), facts)
        if len(deployments) > 1:
            return _Settle("pending", f"{len(deployments)} deployments in progress", facts)
        if primary.get("rolloutState") not in (None, "COMPLETED"):
            return _Settle("pending", f"rollout {primary.get('rolloutState')}", facts)
        if int(service.get("runningCount", 0)) < int(service.get("desiredCount", 0)):
            return _Settle(
                "pending", f"{service.get('runningCount')}/{service.get('desiredCount')} running", facts
            )
        return _Settle("stable", "steady", facts)

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


# --------------------------------------------------------------------------------------------------
# SageMaker: the endpoint config of an endpoint
# --------------------------------------------------------------------------------------------------


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

    def _settle(self, version: str) -> _Settle:
        endpoint = self._describe()
        status, config = endpoint.get("EndpointStatus"), endpoint.get("EndpointConfigName")
        facts = {"status": status, "endpoint_config": config}
        if status == "Failed":
            return _Settle("failed", str(endpoint.get("FailureReason") or "endpoint Failed"), facts)
        if status == "InService" and config == version:
            return _Settle("stable", "InService", facts)
        return _Settle("pending", f"{status} on {config}", facts)

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


# --------------------------------------------------------------------------------------------------
# S3: a pointer object naming the model object's version
# --------------------------------------------------------------------------------------------------


class S3PointerTarget(DeploymentTarget):
    """A pointer object ``s3://bucket/key`` whose JSON body names the serving model object version:
    ``{"key": "models/scorer/model.tar.gz", "version_id": "…"}`` (same bucket, versioning on).

    Setting a version rewrites the pointer; the pointer's own object versions are the deployment
    history that :meth:`previous_version` reads.
    """

    type = "s3_pointer"
    _HISTORY_DEPTH = 50

    def __init__(self, clients: ClientSource, *, bucket: str, key: str, **kwargs: Any) -> None:
        super().__init__(clients, **kwargs)
        self.bucket = bucket
        self.key = key
        self.client = clients("s3")
        self._model_key: str | None = None

    @property
    def description(self) -> str:
        return f"s3 pointer s3://{self.bucket}/{self.key}"

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "name": f"{self.bucket}/{self.key}"}

    def _pointer(self, pointer_version: str | None = None) -> dict[str, str]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if pointer_version:
            params["VersionId"] = pointer_version
        response = self._call(self.client, "get_object", **params)
        body = response["Body"].read(64 * 1024)
        try:
            document = json.loads(body)
            pointer = {"key": str(document["key"]), "version_id": str(document["version_id"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise TargetError(
                f"{self.description}: the pointer is not JSON with 'key' and 'version_id'",
                service="s3",
                operation="GetObject",
                code="InvalidPointer",
            ) from exc
        if pointer_version is None:
            self._model_key = pointer["key"]
        return pointer

    def _model(self) -> str:
        if self._model_key is None:
            self._pointer()
        assert self._model_key is not None
        return self._model_key

    def current_version(self) -> str:
        return self._pointer()["version_id"]

    def set_version(self, version: str) -> None:
        version = self.normalize_version(version)
        model = self._model()
        # Never point at something that is not there: the pointer would serve a 404.
        self._call(self.client, "head_object", Bucket=self.bucket, Key=model, VersionId=version)
        body = json.dumps({"key": model, "version_id": version}, sort_keys=True).encode()
        self._call(
            self.client,
            "put_object",
            Bucket=self.bucket,
            Key=self.key,
            Body=body,
            ContentType="application/json",
        )
        self._desired = version

    def previous_version(self) -> str | None:
        current = self.current_version()
        pointer_versions = [v for v in self._object_versions(self.key) if not v.get("IsLatest")]
        for entry in pointer_versions[: self._HISTORY_DEPTH]:
            try:
                named = self._pointer(str(entry["VersionId"]))["version_id"]
            except TargetError:
                continue  # an older pointer that is not a pointer names nothing deployable
            if named != current:
                return named
        # No pointer history: fall back to the model object's upload history.
        model_versions = [str(v["VersionId"]) for v in self._object_versions(self._model())]
        if current in model_versions:
            index = model_versions.index(current)
            if index + 1 < len(model_versions):
                return model_versions[index + 1]
        return None

    def _object_versions(self, key: str) -> list[dict[str, Any]]:
        """Versions of exactly ``key``, newest first (the order S3 lists them in)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key}
        while True:
            page = self._call(self.client, "list_object_versions", **params)
            found += [v for v in page.get("Versions", []) if v.get("Key") == key]
            if not page.get("IsTruncated"):
                return found
            params["KeyMarker"] = page.get("NextKeyMarker")
            params["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def version_exists(self, version: str) -> bool:
        try:
            self._call(self.client, "head_object", Bucket=self.bucket, Key=self._model(), VersionId=version)
        except TargetNotFoundError:
            return False
        except TargetError as exc:
            if exc.http_status in (400, 405):  # malformed version id, or a delete marker
                return False
            raise
        return True

    def _settle(self, version: str) -> _Settle:
        named = self._pointer()["version_id"]
        if named != version:
            return _Settle("pending", f"pointer names {named}")
        self._call(self.client, "head_object", Bucket=self.bucket, Key=self._model(), VersionId=version)
        return _Settle("stable", "pointer and object in place", {"model_key": self._model()})

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        version = self.current_version()
        try:
            head = self._call(
                self.client, "head_object", Bucket=self.bucket, Key=self._model(), VersionId=version
            )
        except TargetNotFoundError:
            return False, version, f"model object version {version} is missing", {}
        facts = {"model_key": self._model(), "content_length": head.get("ContentLength")}
        return True, version, "model object readable", facts

    def write_permissions(self) -> list[tuple[str, str]]:
        return [("s3:PutObject", f"arn:aws:s3:::{self.bucket}/{self.key}")]

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        return dimensions.get("BucketName") == self.bucket


# --------------------------------------------------------------------------------------------------
# From a policy spec
# --------------------------------------------------------------------------------------------------


def build_target(
    spec: DeploymentTargetSpec,
    clients: ClientSource,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeploymentTarget:
    """The :class:`DeploymentTarget` a policy's ``target:`` describes."""
    probe = None
    if spec.health_url:
        probe = HttpProbe(
            url=spec.health_url,
            expected_status=spec.health_expected_status,
            json_field=spec.health_json_field,
            json_value=spec.health_json_value,
            timeout=spec.health_timeout.total_seconds(),
        )
    common: dict[str, Any] = {
        "probe": probe,
        "poll_interval": spec.poll_interval.total_seconds(),
        "clock": clock,
        "sleep": sleep,
    }
    if spec.type == "lambda":
        if not spec.alias:
            raise ValueError("a lambda target needs an alias")
        return LambdaAliasTarget(clients, function=spec.name, alias=spec.alias, **common)
    if spec.type == "ecs":
        return EcsServiceTarget(clients, service=spec.name, cluster=spec.cluster, **common)
    if spec.type == "sagemaker":
        return SageMakerEndpointTarget(clients, endpoint=spec.name, **common)
    bucket, _, key = spec.name.strip("/").partition("/")
    if not key:
        raise ValueError(f"s3_pointer target name must be bucket/key, got {spec.name!r}")
    return S3PointerTarget(clients, bucket=bucket, key=key, **common)
