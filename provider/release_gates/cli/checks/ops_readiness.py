"""``release-gates check ops-readiness``: CloudWatch alarms with actions; image and model pinned.

The release's actual artifacts come from flags: ``--model-uri`` naming a local file is hashed and
compared with ``--model-sha256``; ``--scanned-digest`` (the digest an image scan identified) is
compared with the ``--image`` pin. What was not given is not checked, and the result says so
(INCONCLUSIVE, exit 3).

From a policy::

    release-gates check ops-readiness --policy include/release_policy.yaml --gate operations

Or from flags::

    release-gates check ops-readiness --type ecs --name scorer --cluster prod --image repo@sha256:…
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.checks.aws_args import (
    add_aws_arguments,
    add_target_arguments,
    aws_clients,
    refuse_templates,
    required_policy_check,
    target_spec,
)
from release_gates.cli.common import CheckCommand, add_policy_arguments

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "ops_readiness")
    add_target_arguments(parser)
    inputs = parser.add_argument_group("release inputs")
    inputs.add_argument("--image", help="image reference the release ships (must be repo@sha256:…)")
    inputs.add_argument("--model-uri", help="model artifact the release ships")
    inputs.add_argument("--model-sha256", help="the artifact's sha256")
    inputs.add_argument(
        "--scanned-digest",
        action="append",
        default=[],
        metavar="sha256:…",
        help="digest of the image the release scanned (repeatable: config digest, repo digests)",
    )
    inputs.add_argument(
        "--no-require-alarm-actions",
        dest="require_alarm_actions",
        action="store_false",
        default=None,
        help="accept alarms that notify nobody",
    )
    add_aws_arguments(parser)


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.inputs.ops_readiness import judged_from_flags, run_ops_readiness_check
    from release_gates.policy import OpsReadinessCheck

    if args.policy:
        _, spec, check_id = required_policy_check(args, "ops_readiness")
    else:
        check_id = "ops_readiness"
        spec = OpsReadinessCheck(kind="ops_readiness", target=target_spec(args))
    if args.require_alarm_actions is not None:
        spec = spec.model_copy(update={"require_alarm_actions": args.require_alarm_actions})
    image = args.image or spec.image
    model_uri = args.model_uri or spec.model_uri
    model_sha256 = args.model_sha256 or spec.model_sha256
    refuse_templates(name=spec.target.name, image=image, model_uri=model_uri, model_sha256=model_sha256)
    judged = judged_from_flags(model_uri=model_uri, image_digests=args.scanned_digest)
    clients = aws_clients(args, spec.target.aws_conn_id, spec.target.region)
    return run_ops_readiness_check(
        spec,
        clients,
        check_id=check_id,
        image=image,
        model_uri=model_uri,
        model_sha256=model_sha256,
        judged=judged,
    )


COMMAND = CheckCommand(
    name="ops-readiness",
    help="CloudWatch alarms with actions on the target; image and model pinned (AWS)",
    add_arguments=_add_arguments,
    run=_run,
)
