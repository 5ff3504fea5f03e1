"""``release-gates evidence keygen``: a new Ed25519 key pair for checkpoints and release attestations.

Writes ``signing.key`` (the private key, PKCS#8 PEM, mode 0600) and ``signing.pub`` (the public key)
and prints the key id and how to hand the private key to Airflow. The private key is never printed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from release_gates.cli.common import EXIT_OK, UsageError

PRIVATE_NAME, PUBLIC_NAME = "signing.key", "signing.pub"


def keygen(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence.signing import DEFAULT_SIGNING_CONN_ID, SigningKey

    folder = Path(args.out)
    private, public = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    existing = [str(p) for p in (private, public) if p.exists()]
    if existing and not args.force:
        raise UsageError(f"{', '.join(existing)} already exist(s); keep the old key or pass --force")
    folder.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    for path in (private, public):
        path.unlink(missing_ok=True)
    # Created 0600 from the start (O_EXCL): the private key is never readable by others, not even briefly.
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.private_pem())
    public.write_text(key.public_pem, encoding="ascii")
    lines = [
        f"key id: {key.key_id}",
        f"private key: {private} (mode 0600; never commit it, never put it in the policy)",
        f"public key:  {public} (for verifiers; list it in the policy's evidence.signing.public_keys)",
        "",
        "Hand the private key to Airflow (the CLI here; any secrets backend works):",
        f"  airflow connections add {DEFAULT_SIGNING_CONN_ID} --conn-type generic "
        f'--conn-password "$(cat {private})"',
        "Verify a release attestation with the public key:",
        f"  release-gates attest verify attestation.intoto.json --key {public} --bundle bundle.json",
    ]
    print("\n".join(lines), file=out)
    return EXIT_OK
