"""``release-gates check posture``: S3 bucket security settings, and PII in model outputs.

From a policy (flags add to the policy's buckets and patterns)::

    release-gates check posture --policy include/release_policy.yaml --gate security

Or from flags::

    release-gates check posture --bucket models-prod --require-kms --outputs-sample outputs.csv
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.checks.aws_args import (
    add_aws_arguments,
    aws_clients,
    first_problem,
    refuse_templates,
    required_policy_check,
)
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _pii_pattern(text: str) -> dict[str, str]:
    name, sep, regex = text.partition("=")
    if not sep or not name.strip() or not regex:
        raise argparse.ArgumentTypeError(f"pattern {text!r} must look like NAME=REGEX")
    return {"name": name.strip(), "regex": regex}


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "posture")
    flags = parser.add_argument_group("without --policy (with it: added to the policy's)")
    flags.add_argument("--bucket", action="append", default=[], help="S3 bucket to check (repeatable)")
    flags.add_argument("--require-kms", action="store_true", help="default encryption must use KMS")
    flags.add_argument("--outputs-sample", help="CSV or Parquet file of model outputs/logs to scan for PII")
    flags.add_argument("--pii-pattern", action="append", type=_pii_pattern, default=[], metavar="NAME=REGEX")
    flags.add_argument("--sample-rows", type=int, help="rows scanned for PII (default 10000)")
    add_aws_arguments(parser)


def _run(args: argparse.Namespace) -> CheckResult:
    from pathlib import Path

    from pydantic import ValidationError

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.posture import run_posture_check
    from release_gates.policy import Dataset, PostureCheck

    dataset, base_dir = None, None
    if args.policy:
        policy, spec, check_id = required_policy_check(args, "posture")
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
        raise UsageError(f"invalid posture option: {first_problem(exc)}") from exc
    declared = dict(policy.datasets) if dataset is not None else {}
    if args.outputs_sample:
        if not Path(args.outputs_sample).is_file():
            raise UsageError(f"outputs sample not found: {args.outputs_sample}")
        # A path given on the command line is relative to the working directory, not the policy.
        declared[args.outputs_sample] = Dataset(uri=str(Path(args.outputs_sample).resolve()))
    catalog = DatasetCatalog.build(declared, base_dir=base_dir)
    refuse_templates(buckets=",".join(spec.buckets))
    clients = aws_clients(args, args.aws_conn_id or spec.aws_conn_id, spec.region) if spec.buckets else None
    return run_posture_check(spec, catalog, clients, check_id=check_id)


COMMAND = CheckCommand(
    name="posture",
    help="S3 bucket encryption, public access, versioning, TLS-only policy; PII in outputs (AWS)",
    add_arguments=_add_arguments,
    run=_run,
)
