"""``release-gates check rollback-drill | ops-readiness | posture`` — the AWS checks outside Airflow.

From a policy::

    release-gates check rollback-drill --policy include/release_policy.yaml --gate operations --json

Or from flags::

    release-gates check rollback-drill --type lambda --name scorer --alias live --rto-budget 5m --dry-run
    release-gates check ops-readiness --type ecs --name scorer --cluster prod --image repo@sha256:…
    release-gates check posture --bucket models-prod --require-kms --outputs-sample outputs.csv

AWS access: ``--aws-conn-id`` (default: the spec's, ``aws_default``) resolves an Airflow ``aws``
connection — from ``AIRFLOW_CONN_*`` variables or a secrets backend — so the CLI sees exactly what
the operators see. ``--endpoint-url`` or ``--profile`` use a plain boto3 session instead.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from release_gates.checks.cli_args import add_policy_arguments, policy_check
from release_gates.cli import CheckCommand, UsageError

if TYPE_CHECKING:
    from release_gates.deploy import ClientSource
    from release_gates.policy import DeploymentTargetSpec, ReleasePolicy
    from release_gates.results import CheckResult


# --------------------------------------------------------------------------------------------------
# shared arguments
# --------------------------------------------------------------------------------------------------


def _aws_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS access")
    group.add_argument("--aws-conn-id", help="Airflow aws connection (default: the spec's, aws_default)")
    group.add_argument("--region", help="AWS region (overrides the connection's)")
    group.add_argument("--endpoint-url", help="use a plain boto3 session against this endpoint")
    group.add_argument("--profile", help="use a plain boto3 session with this profile")


def _target_args(parser: argparse.ArgumentParser) -> None:
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


def _duration(text: str | None) -> str | float | None:
    """A duration flag: ``30s``, ``15m`` … or a plain number of seconds (``0.5``)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _problem(exc: Any) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def _from_policy(args: argparse.Namespace, kind: str) -> tuple[ReleasePolicy, Any, str]:
    found = policy_check(args, kind)
    if found is None:
        raise UsageError("--policy is needed here")
    return found


def _target_spec(args: argparse.Namespace) -> DeploymentTargetSpec:
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
            health_timeout=_duration(args.health_timeout),
            poll_interval=_duration(args.poll_interval),
            aws_conn_id=args.aws_conn_id or "aws_default",
            region=args.region,
        )
    except ValidationError as exc:
        raise UsageError(f"invalid target: {_problem(exc)}") from exc


def _no_templates(**values: Any) -> None:
    for name, value in values.items():
        if isinstance(value, str) and "{{" in value:
            raise UsageError(f"{name} is templated in the policy ({value}); pass it as a flag")


def _clients(args: argparse.Namespace, conn_id: str, region: str | None) -> ClientSource:
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


# --------------------------------------------------------------------------------------------------
# rollback-drill
# --------------------------------------------------------------------------------------------------


def _add_drill(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "rollback_drill")
    _target_args(parser)
    drill = parser.add_argument_group("drill")
    drill.add_argument("--previous-version", help="known-good version to roll back to (default: history)")
    drill.add_argument("--rto-budget", help="recovery time budget, e.g. 15m (default 15m)")
    drill.add_argument("--stable-timeout", help="how long to wait for the target to settle (default: budget)")
    drill.add_argument("--dry-run", action="store_true", help="check versions and permissions only")
    _aws_args(parser)


def _run_drill(args: argparse.Namespace) -> CheckResult:
    from pydantic import ValidationError

    from release_gates.checks.rollback_drill import run_rollback_drill
    from release_gates.deploy import build_target
    from release_gates.policy import RollbackDrillCheck

    if args.policy:
        _, spec, check_id = _from_policy(args, "rollback_drill")
    else:
        check_id = "rollback_drill"
        try:
            spec = RollbackDrillCheck(kind="rollback_drill", target=_target_spec(args))
        except ValidationError as exc:
            raise UsageError(f"invalid drill: {_problem(exc)}") from exc
    overrides = {
        "previous_version": args.previous_version,
        "rto_budget": _duration(args.rto_budget),
        "stable_timeout": _duration(args.stable_timeout),
        "dry_run": True if args.dry_run else None,
    }
    try:
        spec = RollbackDrillCheck.model_validate(
            {**spec.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        )
    except ValidationError as exc:
        raise UsageError(f"invalid drill option: {_problem(exc)}") from exc
    _no_templates(name=spec.target.name, previous_version=spec.previous_version)
    target = build_target(spec.target, _clients(args, spec.target.aws_conn_id, spec.target.region))
    return run_rollback_drill(target, spec, check_id=check_id)


# --------------------------------------------------------------------------------------------------
# ops-readiness
# --------------------------------------------------------------------------------------------------


def _add_readiness(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "ops_readiness")
    _target_args(parser)
    inputs = parser.add_argument_group("release inputs")
    inputs.add_argument("--image", help="image reference the release ships (must be repo@sha256:…)")
    inputs.add_argument("--model-uri", help="model artifact the release ships")
    inputs.add_argument("--model-sha256", help="the artifact's sha256")
    inputs.add_argument(
        "--no-require-alarm-actions",
        dest="require_alarm_actions",
        action="store_false",
        default=None,
        help="accept alarms that notify nobody",
    )
    _aws_args(parser)


def _run_readiness(args: argparse.Namespace) -> CheckResult:
    from release_gates.checks.ops_readiness import evaluate_ops_readiness
    from release_gates.deploy import build_target
    from release_gates.policy import OpsReadinessCheck

    if args.policy:
        _, spec, check_id = _from_policy(args, "ops_readiness")
    else:
        check_id = "ops_readiness"
        spec = OpsReadinessCheck(kind="ops_readiness", target=_target_spec(args))
    if args.require_alarm_actions is not None:
        spec = spec.model_copy(update={"require_alarm_actions": args.require_alarm_actions})
    image = args.image or spec.image
    model_uri = args.model_uri or spec.model_uri
    model_sha256 = args.model_sha256 or spec.model_sha256
    _no_templates(name=spec.target.name, image=image, model_uri=model_uri, model_sha256=model_sha256)
    clients = _clients(args, spec.target.aws_conn_id, spec.target.region)
    return evaluate_ops_readiness(
        build_target(spec.target, clients),
        clients("cloudwatch"),
        spec,
        check_id=check_id,
        image=image,
        model_uri=model_uri,
        model_sha256=model_sha256,
    )


# --------------------------------------------------------------------------------------------------
# posture
# --------------------------------------------------------------------------------------------------


def _pii_pattern(text: str) -> dict[str, str]:
    name, sep, regex = text.partition("=")
    if not sep or not name.strip() or not regex:
        raise argparse.ArgumentTypeError(f"pattern {text!r} must look like NAME=REGEX")
    return {"name": name.strip(), "regex": regex}


def _add_posture(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "posture")
    flags = parser.add_argument_group("without --policy (with it: added to the policy's)")
    flags.add_argument("--bucket", action="append", default=[], help="S3 bucket to check (repeatable)")
    flags.add_argument("--require-kms", action="store_true", help="default encryption must use KMS")
    flags.add_argument("--outputs-sample", help="CSV or Parquet file of model outputs/logs to scan for PII")
    flags.add_argument("--pii-pattern", action="append", type=_pii_pattern, default=[], metavar="NAME=REGEX")
    flags.add_argument("--sample-rows", type=int, help="rows scanned for PII (default 10000)")
    _aws_args(parser)


def _run_posture(args: argparse.Namespace) -> CheckResult:
    from pathlib import Path

    from pydantic import ValidationError

    from release_gates.checks.posture import evaluate_security_posture
    from release_gates.datasets import fingerprint, load_frame
    from release_gates.policy import Dataset, PostureCheck

    dataset, base_dir = None, None
    if args.policy:
        policy, spec, check_id = _from_policy(args, "posture")
        if spec.outputs_sample and not args.outputs_sample:
            dataset, base_dir = policy.dataset(spec.outputs_sample), policy.base_dir
    else:
        check_id = "posture"
        spec = PostureCheck(kind="posture")
    try:
        spec = PostureCheck.model_validate(
            {
                **spec.model_dump(),
                "buckets": [*spec.buckets, *args.bucket],
                "require_kms": spec.require_kms or args.require_kms,
                "pii_patterns": [*(p.model_dump() for p in spec.pii_patterns), *args.pii_pattern],
                "outputs_sample": args.outputs_sample or spec.outputs_sample,
                "outputs_sample_rows": args.sample_rows or spec.outputs_sample_rows,
            }
        )
    except ValidationError as exc:
        raise UsageError(f"invalid posture option: {_problem(exc)}") from exc
    outputs, inputs = None, {}
    if args.outputs_sample:
        if not Path(args.outputs_sample).is_file():
            raise UsageError(f"outputs sample not found: {args.outputs_sample}")
        dataset = Dataset(uri=args.outputs_sample)
    if dataset is not None and spec.outputs_sample:
        outputs = load_frame(spec.outputs_sample, dataset, base_dir=base_dir)
        inputs[spec.outputs_sample] = {
            **fingerprint(spec.outputs_sample, dataset, base_dir=base_dir),
            "rows": len(outputs),
        }
    _no_templates(buckets=",".join(spec.buckets))
    s3 = _clients(args, args.aws_conn_id or spec.aws_conn_id, spec.region)("s3") if spec.buckets else None
    return evaluate_security_posture(s3, spec, outputs=outputs, check_id=check_id, inputs=inputs)


ROLLBACK_DRILL_COMMAND = CheckCommand(
    name="rollback-drill",
    help="roll a deployment back and forward again, measuring the RTO (AWS)",
    add_arguments=_add_drill,
    run=_run_drill,
)
OPS_READINESS_COMMAND = CheckCommand(
    name="ops-readiness",
    help="CloudWatch alarms with actions on the target; image and model pinned (AWS)",
    add_arguments=_add_readiness,
    run=_run_readiness,
)
POSTURE_COMMAND = CheckCommand(
    name="posture",
    help="S3 bucket encryption, public access, versioning, TLS-only policy; PII in outputs (AWS)",
    add_arguments=_add_posture,
    run=_run_posture,
)
CHECK_COMMANDS = (ROLLBACK_DRILL_COMMAND, OPS_READINESS_COMMAND, POSTURE_COMMAND)
