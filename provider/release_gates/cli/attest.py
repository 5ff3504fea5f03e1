"""``release-gates attest verify``: check a signed release attestation, offline.

Exit 0 when every signature is by a trusted key and (with ``--bundle``) every statement matches the
exported evidence; 1 when anything does not; 2 when a file or key cannot be read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from release_gates.cli.common import EXIT_FAIL, EXIT_OK, UsageError


def verify(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence.attestation import verify_attestation
    from release_gates.evidence.attestation_check import load_bundle
    from release_gates.evidence.signing import SigningKeyError, load_public_keys
    from release_gates.exceptions import BundleError

    envelope = Path(args.file)
    if not envelope.is_file():
        raise UsageError(f"attestation file not found: {envelope}")
    pems: dict[str, str] = {}
    if args.policy:
        from release_gates.policy import PolicyError, load_policy

        try:
            pems = dict(load_policy(args.policy).evidence.signing.public_keys)
        except PolicyError as exc:
            raise UsageError(str(exc)) from None
    try:
        keys = load_public_keys(args.key, pems=pems)
    except SigningKeyError as exc:
        raise UsageError(str(exc)) from None
    if not len(keys):
        raise UsageError("no trusted public key: give --key PUB (repeatable) or --policy FILE")
    bundle = None
    if args.bundle:
        if not Path(args.bundle).is_file():
            raise UsageError(f"bundle file not found: {args.bundle}")
        try:
            bundle = load_bundle(Path(args.bundle))
        except BundleError as exc:
            raise UsageError(str(exc)) from None
    try:
        report = verify_attestation(envelope.read_bytes(), keys, bundle=bundle)
    except BundleError as exc:  # not a bundle at all (format, missing fields): an input error
        raise UsageError(f"{args.bundle}: {exc}") from None
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), file=out)
    else:
        print(str(report), file=out)
        for problem in report.problems[1:]:
            print(f"  also: {problem}", file=out)
    return EXIT_OK if report.ok else EXIT_FAIL
