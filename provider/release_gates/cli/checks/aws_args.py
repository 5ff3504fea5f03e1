"""Arguments and helpers shared by the AWS checks (``rollback-drill``, ``ops-readiness``, ``posture``).

AWS access: ``--aws-conn-id`` (default: the spec's, ``aws_default``) resolves an Airflow ``aws``
connection — from ``AIRFLOW_CONN_*`` variables or a secrets backend — so the CLI sees exactly what
the operators see. ``--endpoint-url`` or ``--profile`` use a plain boto3 session instead.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from release_gates.cli.common import UsageError, policy_check

if TYPE_CHECKING:
    from pydantic import ValidationError

    from release_gates.deploy import ClientSource
    from release_gates.policy import DeploymentTargetSpec, ReleasePolicy


def add_aws_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS access")
    group.add_argument("--aws-conn-id", help="Airflow aws connection (default: the spec's, aws_default)")
    group.add_argument("--region", help="AWS region (overrides the connection's)")
    group.add_argument("--endpoint-url", help="use a plain boto3 session against this endpoint")
    group.add_argument("--profile", help="use a plain boto3 session with this profile")


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("deployment target (without --policy)")
    group.add_argument("--type", dest="target_type", choices=["ecs", "lambda", "sagemaker", "s3_pointer"])
    group.add_argument("--name", help="service, function, endpoint, or bucket/key of the pointer")
    group.add_argument("--cluster", help="ECS cluster (default: default)")
    group.add_argument("--alias", help="Lambda alias")
    group.add_argument("--health-url", help="HTTP health probe URL")
    group.add_argument("--health-status", type=int, default=200, help="expected probe status (default 200)")
    group.add_argument("--health-json-field", help="dotted JSON field the probe's body must hold")
    group.add_argument("--health-json-value", help="expected value of that field (default: truthy)")
    group.add_argument("--health-timeout", default="5s", help="probe timeout (default 5s)")
    group.add_argument("--poll-interval", default="5s", help="pause between state polls (default 5s)")


def duration(text: str | None) -> str | float | None:
    """A duration flag: ``30s``, ``15m`` … or a plain number of seconds (``0.5``)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def first_problem(exc: ValidationError) -> str:
    """``field.path: message`` of a pydantic error's first problem."""
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def required_policy_check(args: argparse.Namespace, kind: str) -> tuple[ReleasePolicy, Any, str]:
    """:func:`policy_check` for callers that already know ``--policy`` was given."""
    found = policy_check(args, kind)
    if found is None:
        raise UsageError("--policy is needed here")
    return found


def target_spec(args: argparse.Namespace) -> DeploymentTargetSpec:
    """The deployment target from ``--type``, ``--name`` and friends (runs without a policy)."""
    from pydantic import ValidationError

    from release_gates.policy import DeploymentTargetSpec

    if not (args.target_type and args.name):
        raise UsageError("give --policy with --gate, or --type and --name of the deployment target")
    try:
        return DeploymentTargetSpec(
            type=args.target_type,
            name=args.name,
            cluster=args.cluster,
            alias=args.alias,
            health_url=args.health_url,
            health_expected_status=args.health_status,
            health_json_field=args.health_json_field,
            health_json_value=args.health_json_value,
            health_timeout=duration(args.health_timeout),
            poll_interval=duration(args.poll_interval),
            aws_conn_id=args.aws_conn_id or "aws_default",
            region=args.region,
        )
    except ValidationError as exc:
        raise UsageError(f"invalid target: {first_problem(exc)}") from exc


def refuse_templates(**values: Any) -> None:
    """Outside Airflow nothing renders ``{{ … }}``: such a policy value must come as a flag."""
    for name, value in values.items():
        if isinstance(value, str) and "{{" in value:
            raise UsageError(f"{name} is templated in the policy ({value}); pass it as a flag")


def aws_clients(args: argparse.Namespace, conn_id: str, region: str | None) -> ClientSource:
    """``service → client``: an Airflow connection, or a plain boto3 session when asked for."""
    if args.endpoint_url or args.profile:
        import boto3  # type: ignore[import-untyped]

        session = boto3.session.Session(profile_name=args.profile, region_name=args.region or region)
        cache: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in cache:
                cache[service] = session.client(service, endpoint_url=args.endpoint_url)
            return cache[service]

        return client
    import contextlib
    import sys

    from release_gates.hooks.aws import AwsDeploymentHook

    hook = AwsDeploymentHook(args.aws_conn_id or conn_id, region_name=args.region or region)

    def connection_client(service: str) -> Any:
        # Resolving the connection logs to stdout; stdout carries the result (--json), logs go to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            return hook.get_client(service)

    return connection_client
