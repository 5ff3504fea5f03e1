"""``release-gates report RELEASE_ID [--bundle FILE] [-o DIR] [--url URL]``.

Builds the release report from the evidence store, or offline from an exported bundle (verified
first; a bundle that does not verify still gets a report, which says so, and exit code 1). Earlier
releases of the model ("what changed", the findings history) come from the store when one is named.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from release_gates.cli.common import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError, open_store

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceStore
    from release_gates.policy import ReleasePolicy
    from release_gates.reports import Trail


def _store_or_none(args: argparse.Namespace, *, required: bool) -> EvidenceStore | None:
    if not required and not (args.url or args.conn_id):
        return None
    return open_store(args)


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.artifacts import safe_name
    from release_gates.evidence import EvidenceNotFoundError
    from release_gates.reports import TrailError, generate_report, load_from_bundle, load_from_store

    if args.bundle:
        if not Path(args.bundle).is_file():
            raise UsageError(f"bundle file not found: {args.bundle}")
        try:
            trail = load_from_bundle(
                args.bundle, store=_store_or_none(args, required=False), history=args.history
            )
        except TrailError as exc:
            print(f"report: ERROR — {exc}", file=out)
            return EXIT_ERROR
        if args.release_id and args.release_id != trail.release_id:
            raise UsageError(f"the bundle holds release {trail.release_id}, not {args.release_id}")
    else:
        if not args.release_id:
            raise UsageError("give a RELEASE_ID (from the store) or --bundle FILE (offline)")
        try:
            trail = load_from_store(open_store(args), args.release_id, history=args.history)
        except EvidenceNotFoundError as exc:
            print(f"report: ERROR — {exc.args[0]}", file=out)
            return EXIT_ERROR
    policy = _policy_for(args.policy, trail) if args.policy else None
    target = Path(args.output or f"report-{safe_name(trail.release_id)}")
    charts = not args.no_charts and importlib.util.find_spec("matplotlib") is not None
    report, files = generate_report(trail, target, policy=policy, charts=charts)
    verified = trail.verify is not None and trail.verify.ok
    if args.json:
        print(
            json.dumps(
                {
                    "release_id": trail.release_id,
                    "decision": report.decision,
                    "verified": verified,
                    "files": [{**f.to_evidence(), "path": str(f.path)} for f in files],
                },
                indent=2,
            ),
            file=out,
        )
    else:
        print(
            f"{trail.release_id}: {(report.decision or 'in progress').upper()} — {' '.join(report.headline)}",
            file=out,
        )
        print(f"  {trail.verify}" if trail.verify else "  evidence not verified", file=out)
        for f in files:
            print(f"  {f.path}  sha256 {f.sha256[:16]}…", file=out)
    return EXIT_OK if verified else EXIT_FAIL


def _policy_for(path: str, trail: Trail) -> ReleasePolicy:
    from release_gates.policy import PolicyError, load_policy
    from release_gates.reports.trail import first_payload

    file = Path(path)
    if not file.is_file():
        raise UsageError(f"policy file not found: {path}")
    recorded = ((first_payload(trail.records, "release_started") or {}).get("policy") or {}).get("sha256")
    actual = hashlib.sha256(file.read_bytes()).hexdigest()
    if recorded != actual:
        raise UsageError(
            f"{path} has sha256 {actual[:12]}…, but the release ran under {str(recorded)[:12]}…: "
            "a report must describe the policy the release was decided by"
        )
    try:
        return load_policy(file)
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc
