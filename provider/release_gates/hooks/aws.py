"""AWS clients for deployment targets and posture checks, through providers-amazon's ``AwsBaseHook``.

Users reuse their ``aws`` connections: credentials, role assumption, region and ``endpoint_url``
(from the connection's extra, per service via ``service_config`` too) all work as for the amazon
provider's own operators. boto3 and the amazon provider are imported on first use, not at DAG parse.

Clients retry throttling and 5xx themselves (botocore "standard" mode, 3 attempts) unless the
connection's ``config_kwargs`` say otherwise; the rollback drill retries whole steps on top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from release_gates.deploy import DeploymentTarget
    from release_gates.policy import DeploymentTargetSpec

#: Client defaults; a connection's ``config_kwargs`` extra overrides any of them.
CLIENT_DEFAULTS: dict[str, Any] = {
    "retries": {"mode": "standard", "total_max_attempts": 3},
    "connect_timeout": 10,
    "read_timeout": 60,
}


class AwsDeploymentHook(BaseHook):
    """Boto3 clients (one per service, cached) for an Airflow ``aws`` connection.

    :param aws_conn_id: the Airflow connection (type ``aws``); missing → boto3's default chain.
    :param region_name: overrides the connection's region.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    hook_name = "Release Gates AWS deployment targets"

    def __init__(
        self, aws_conn_id: str | None = default_conn_name, region_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self._clients: dict[str, Any] = {}

    def get_client(self, service: str) -> Any:
        """A boto3 client for ``service`` (``"lambda"``, ``"s3"``, …), created once per hook."""
        if service not in self._clients:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
            from botocore.config import Config  # type: ignore[import-untyped]

            base = AwsBaseHook(
                aws_conn_id=self.aws_conn_id, client_type=service, region_name=self.region_name
            )
            config = Config(**CLIENT_DEFAULTS).merge(base.config)
            self._clients[service] = base.get_client_type(region_name=self.region_name, config=config)
        return self._clients[service]

    def get_conn(self) -> Any:
        return self

    def deployment_target(self, spec: DeploymentTargetSpec) -> DeploymentTarget:
        """The deployment target a policy ``target:`` names, on this connection's clients."""
        from release_gates.deploy import build_target

        return build_target(spec, self.get_client)
