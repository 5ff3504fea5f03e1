"""``release-gates evidence verify | export | list | show | migrate``: the evidence trail."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from release_gates.cli.common import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError, open_store

if TYPE_CHECKING:
    from release_gates.evidence.signing import PublicKeys


def verify(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence import BundleError, EvidenceNotFoundError, verify_bundle

    if args.bundle:
        if not Path(args.bundle).is_file():
            raise UsageError(f"bundle file not found: {args.bundle}")
        try:
            report = verify_bundle(Path(args.bundle), keys=trusted_keys(args))
        except BundleError as exc:
            print(f"evidence verify: ERROR — {exc}", file=out)
            return EXIT_ERROR
    else:
        if not args.release_id:
            raise UsageError("give a RELEASE_ID (verify in the store) or --bundle FILE (verify offline)")
        try:
            report = open_store(args).verify(args.release_id, keys=trusted_keys(args))
        except EvidenceNotFoundError as exc:
            print(f"evidence verify: ERROR — {exc.args[0]}", file=out)
            return EXIT_ERROR
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
    else:
        print(str(report), file=out)
        for problem in report.problems[1:]:
            print(f"  also: {problem}", file=out)
    return EXIT_OK if report.ok else EXIT_FAIL


def trusted_keys(args: argparse.Namespace) -> PublicKeys | None:
    """The public keys ``verify`` (and ``replay``) trust: every ``--key``, ``--policy``'s
    ``evidence.signing.public_keys``, the signing connection's; None when there are none."""
    from release_gates.evidence.signing import DEFAULT_SIGNING_CONN_ID, SigningKeyError, load_public_keys

    pems: dict[str, str] = {}
    if args.policy:
        from release_gates.policy import load_policy

        pems = dict(load_policy(args.policy).evidence.signing.public_keys)
    try:
        keys = load_public_keys(args.key, pems=pems, conn_id=DEFAULT_SIGNING_CONN_ID)
    except SigningKeyError as exc:
        raise UsageError(str(exc)) from None
    return keys if len(keys) else None


def checkpoint(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence import EvidenceError, EvidenceNotFoundError
    from release_gates.evidence.signing import SigningKeyError, load_signing_key

    try:
        signer = load_signing_key(args.signing_conn_id, required=True)
    except SigningKeyError as exc:
        raise UsageError(str(exc)) from None
    try:
        made = open_store(args).checkpoint(args.release_id, signer)
    except EvidenceNotFoundError as exc:
        print(f"evidence checkpoint: ERROR — {exc.args[0]}", file=out)
        return EXIT_ERROR
    except EvidenceError as exc:  # a chain that does not verify, or a checkpoint row this key did not make
        print(f"evidence checkpoint: REFUSED — {exc}", file=out)
        return EXIT_FAIL
    print(
        f"checkpoint of {args.release_id} #{made.seq} ({made.record_kind}) signed by {made.key_id}", file=out
    )
    return EXIT_OK


def export(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence import EvidenceNotFoundError

    store = open_store(args)
    try:
        if args.output == "-":
            print(json.dumps(store.export(args.release_id), indent=2, ensure_ascii=False), file=out)
            return EXIT_OK
        path = store.export_to(args.release_id, args.output)
    except EvidenceNotFoundError as exc:
        print(f"evidence export: ERROR — {exc.args[0]}", file=out)
        return EXIT_ERROR
    print(f"exported {store.count(args.release_id)} records of {args.release_id} to {path}", file=out)
    return EXIT_OK


def list_chains(args: argparse.Namespace, out: TextIO) -> int:
    """One page of chains, newest first (one query: a chain's records are not read to list it)."""
    from release_gates.evidence.queries import MAX_PAGE, chain_summaries

    if not 1 <= args.limit <= MAX_PAGE:
        raise UsageError(f"--limit must be 1–{MAX_PAGE}, not {args.limit}")
    if args.page < 1:
        raise UsageError(f"--page must be 1 or more, not {args.page}")
    if args.before and args.page != 1:
        raise UsageError("give --page or --before, not both")
    try:
        chains = chain_summaries(
            open_store(args), limit=args.limit, offset=(args.page - 1) * args.limit, before=args.before
        )
    except ValueError as exc:  # a --before that is not a cursor
        raise UsageError(str(exc)) from None
    next_before = chains[-1].cursor if len(chains) == args.limit else None
    if args.json:
        page = {
            "chains": [c.to_dict() for c in chains],
            "limit": args.limit,
            "page": None if args.before else args.page,
            "next_before": next_before,
        }
        print(json.dumps(page, indent=2), file=out)
        return EXIT_OK
    if not chains:
        print("no evidence chains yet" if args.page == 1 and not args.before else "no more chains", file=out)
    for chain in chains:
        state = f"sealed {chain.sealed_at}" if chain.sealed_at else "open"
        print(f"{chain.release_id:<60} {chain.head_seq:>6} records  {state}", file=out)
    if next_before:
        again = f"release-gates evidence list --limit {args.limit} --before {shlex.quote(next_before)}"
        print(f"next page: {again}", file=out)
    return EXIT_OK


def show(args: argparse.Namespace, out: TextIO) -> int:
    records = open_store(args).records(args.release_id, kind=args.kind)
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False), file=out)
        return EXIT_OK
    for record in records:
        brief = record.payload.get("summary") or record.payload.get("status") or ""
        print(
            f"#{record.seq:<5} {record.recorded_at}  {record.kind:<18} {record.actor or '-':<20} {brief}",
            file=out,
        )
    return EXIT_OK


def migrate(args: argparse.Namespace, out: TextIO) -> int:
    store = open_store(args)
    store.migrate()
    print(f"evidence store at head revision: {store!r}", file=out)
    if getattr(args, "runtime_role", None):
        from release_gates.evidence.migrate import OWNER_ROLE, lock_down_postgres

        try:
            lock_down_postgres(store.engine, args.runtime_role)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(f"tables owned by {OWNER_ROLE}; {args.runtime_role} may INSERT and SELECT only", file=out)
    return EXIT_OK
