"""``release-gates check deployment-identity``: the version to promote carries the judged model and image.

What was judged comes from a release's evidence (``--release RELEASE_ID``, read from the store named
by ``--url`` / ``--conn-id``), or from flags::

    release-gates check deployment-identity --policy include/release_policy.yaml --gate operations \\
        --version 3 --release release_mortgage_approval__manual__2026-…

    release-gates check deployment-identity --type lambda --name scorer --alias live --version 3 \\
        --model-sha256-env MODEL_SHA256 --model-sha256 <hex> --image-digest sha256:<hex>
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
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, open_store

if TYPE_CHECKING:
    from release_gates.inputs.deployment_identity import JudgedArtifacts
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "deployment_identity")
    add_target_arguments(parser)
    version = parser.add_argument_group("the version and where it carries the model hash")
    version.add_argument(
        "--version", dest="deploy_version", help="the version to promote (default: the spec's)"
    )
    version.add_argument("--model-sha256-env", help="environment variable holding the model sha256")
    version.add_argument("--model-sha256-tag", help="tag holding the model sha256")
    version.add_argument("--model-sha256-metadata", help="S3 user metadata key holding the model sha256")
    version.add_argument("--container", help="ECS: the container serving the model")
    version.add_argument(
        "--compare", choices=["model", "image", "both"], help="what must match (default: the spec's, both)"
    )
    judged = parser.add_argument_group("what was judged")
    judged.add_argument("--release", metavar="RELEASE_ID", help="read it from this release's evidence")
    judged.add_argument("--model-sha256", help="the judged model's sha256")
    judged.add_argument(
        "--image-digest", action="append", default=[], metavar="sha256:…", help="the scanned image's digest"
    )
    add_aws_arguments(parser)


def _judged(args: argparse.Namespace) -> JudgedArtifacts:
    from release_gates.evidence import EvidenceNotFoundError
    from release_gates.inputs.deployment_identity import JudgedArtifacts, judged_from_evidence

    if args.release and (args.model_sha256 or args.image_digest):
        raise UsageError("give --release, or --model-sha256/--image-digest, not both")
    if args.release:
        try:
            return judged_from_evidence(open_store(args).records(args.release))
        except EvidenceNotFoundError as exc:
            raise UsageError(f"no evidence for release {args.release!r}") from exc
    return JudgedArtifacts.given(model_sha256=args.model_sha256, image_digests=args.image_digest)


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.inputs.deployment_identity import run_deployment_identity_check
    from release_gates.kinds.deployment_identity import DeploymentIdentityCheck

    if args.policy:
        _, spec, check_id = required_policy_check(args, "deployment_identity")
    else:
        check_id = "deployment_identity"
        if not args.deploy_version:
            raise UsageError("--version is needed without --policy")
        spec = DeploymentIdentityCheck(
            kind="deployment_identity", target=target_spec(args), version=args.deploy_version
        )
    updates: dict[str, object] = {
        name: getattr(args, name)
        for name in ("model_sha256_env", "model_sha256_tag", "model_sha256_metadata", "container")
        if getattr(args, name)
    }
    if args.deploy_version:
        updates["version"] = args.deploy_version
    if args.compare:
        updates["compare"] = ["model", "image"] if args.compare == "both" else [args.compare]
    spec = spec.model_copy(update=updates)
    refuse_templates(name=spec.target.name, version=spec.version)
    judged = _judged(args)
    clients = aws_clients(args, spec.target.aws_conn_id, spec.target.region)
    return run_deployment_identity_check(spec, clients, judged, check_id=check_id)


COMMAND = CheckCommand(
    name="deployment-identity",
    help="the version to promote carries the judged model sha256 and the scanned image digest (AWS)",
    add_arguments=_add_arguments,
    run=_run,
)
