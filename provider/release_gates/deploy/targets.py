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
This module holds the interface; each platform has a module of its own (``lambda_alias``,
``ecs_service``, ``sagemaker_endpoint``, ``s3_pointer``) and
:func:`~release_gates.deploy.factory.build_target`
picks one from a policy's ``target:``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from release_gates.deploy.calls import (
    ApiCallLog,
    TargetError,
    TargetNotStableError,
    aws_call,
)
from release_gates.deploy.probe import HttpProbe

if TYPE_CHECKING:
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity

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
class Settle:
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

    def version_identity(self, version: str, settings: IdentitySettings) -> VersionIdentity:
        """What ``version`` carries: its image digest and model sha256, read from the platform
        (read-only; see :mod:`release_gates.deploy.identity`). Platforms that expose nothing return
        an identity without components and a note saying so."""
        from release_gates.deploy.identity import VersionIdentity

        return VersionIdentity(
            self.identity(),
            self.normalize_version(version),
            (),
            (f"{self.description}: this target type does not expose what a version carries",),
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

    # -- stand-ins (shadow drills) ----------------------------------------------------------------

    #: What a stand-in of this platform is (None: the platform has none; a shadow drill validates).
    standin_kind: ClassVar[str | None] = None

    def standin_name(self, drill_id: str) -> str:
        """The name of the stand-in a shadow drill with ``drill_id`` creates."""
        return f"rg-drill-{drill_id}"

    def create_standin(self, name: str, version: str) -> DeploymentTarget:
        """Create a stand-in serving ``version`` that takes no live traffic; return it as a target."""
        raise TargetError(
            f"{self.description}: a {self.type} target has no stand-in",
            operation="create_standin",
            code="NoStandIn",
        )

    def standin(self, name: str) -> DeploymentTarget:
        """The stand-in ``name`` as a target (no I/O; it may no longer exist)."""
        raise TargetError(
            f"{self.description}: a {self.type} target has no stand-in", operation="standin", code="NoStandIn"
        )

    def remove_standin(self, name: str) -> bool:
        """Remove the stand-in ``name``: True when something was removed, False when it was gone."""
        return False

    def _standin_options(self) -> dict[str, Any]:
        """Constructor options of a stand-in: no HTTP probe (the configured URL serves live traffic)."""
        return {
            "probe": None,
            "poll_interval": self.poll_interval,
            "clock": self._clock,
            "sleep": self._sleep,
        }

    def _adopt(self, standin: DeploymentTarget) -> DeploymentTarget:
        standin.calls = self.calls  # one record of every AWS call the drill made
        return standin

    # -- platform specifics -----------------------------------------------------------------------

    @abstractmethod
    def _settle(self, version: str) -> Settle:
        """One poll: has the target settled on ``version``?"""

    @abstractmethod
    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        """(healthy, serving version, reason, facts) from the platform's own state."""

    def _call(self, client: Any, method: str, **params: Any) -> dict[str, Any]:
        return aws_call(client, method, self.calls, **params)
