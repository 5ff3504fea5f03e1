"""``release-gates check model-signature``: the model's OpenSSF signature, from a trusted key or CA.

From a policy (the model is the policy's ``candidate:``; ``--model`` fills a templated one)::

    release-gates check model-signature --policy include/release_policy.yaml --gate provenance \\
        --model model.skops --model-sha256 <sha256>

Or from flags::

    release-gates check model-signature --model model.skops --model-sha256 <sha256> \\
        --public-key signer.pub [--signature model.skops.sig]
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from release_gates.cli.checks.candidate import add_candidate_arguments
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, policy_check

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "model_signature")
    add_candidate_arguments(parser, help_suffix=" or directory (default: the policy's candidate:)")
    group = parser.add_argument_group("without a policy")
    group.add_argument(
        "--signature", metavar="FILE", help="signature bundle (default: the model's path + .sig)"
    )
    trust = group.add_mutually_exclusive_group()
    trust.add_argument("--public-key", metavar="PEM", help="public key trusted to sign (ECDSA)")
    trust.add_argument(
        "--certificate-chain", metavar="PEM", action="append", help="trusted CA certificate file (repeatable)"
    )
    group.add_argument(
        "--on-missing", choices=("fail", "inconclusive"), default=None, help="verdict without a signature"
    )


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.cli.checks.candidate import policy_candidate
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.model_signature import run_model_signature_check
    from release_gates.kinds.model_signature import ModelSignatureCheck

    found = policy_check(args, "model_signature")
    # Paths given here are the caller's (relative to the working directory), not the policy's.
    flags = {
        "signature": _absolute(args.signature),
        "public_key": _absolute(args.public_key),
        "certificate_chain": [_absolute(c) for c in args.certificate_chain]
        if args.certificate_chain
        else None,
        "on_missing": args.on_missing,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    if found is None:
        if not args.model:
            raise UsageError("model-signature needs --policy P --gate G, or --model with a trust root")
        if not (args.public_key or args.certificate_chain):
            raise UsageError("give --public-key PEM or --certificate-chain PEM")
        spec = ModelSignatureCheck(kind="model_signature", **given)
        catalog = DatasetCatalog.build({})
        return run_model_signature_check(
            spec, catalog, check_id="model_signature", model_uri=args.model, model_sha256=args.model_sha256
        )
    policy, spec, check_id = found
    if given:
        if "public_key" in given or "certificate_chain" in given:
            given.setdefault("public_key", None)
            given.setdefault("certificate_chain", None)
        spec = ModelSignatureCheck.model_validate({**spec.model_dump(), **given})
    catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
    candidate = policy_candidate(args, policy)
    if candidate is None and not args.model:
        raise UsageError(f"{policy.source} has no candidate: pass --model FILE --model-sha256 HASH")
    model_uri = candidate.uri if candidate is not None else args.model
    model_sha256 = candidate.sha256 if candidate is not None else args.model_sha256
    return run_model_signature_check(
        spec, catalog, check_id=check_id, model_uri=model_uri, model_sha256=model_sha256
    )


def _absolute(path: str | None) -> str | None:
    import os

    return os.path.abspath(path) if path else None


COMMAND = CheckCommand(
    name="model-signature",
    help="the model's OpenSSF model signature, from a trusted key or CA, over the pinned model (offline)",
    add_arguments=_add_arguments,
    run=_run,
)
