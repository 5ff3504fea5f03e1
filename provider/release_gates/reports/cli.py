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
from typing import Any, TextIO


def add_report_command(sub: Any, store_args: Any) -> None:
    """Register ``report`` on the top-level subparsers (called by ``release_gates.cli.build_parser``)."""
    report = sub.add_parser(
        "report",
        help="release report from the evidence trail: summary, heat map, charts, checklist",
        description="Write the release report of RELEASE_ID (from the evidence store) or of an exported "
        "bundle (offline, verified first) to a directory.",
    )
    report.add_argument("release_id", nargs="?", help="release chain in the store (optional with --bundle)")
    report.add_argument("--bundle", help="exported evidence bundle (release-gates evidence export)")
    report.add_argument("-o", "--output", help="directory for the files (default: ./report-<release id>)")
    report.add_argument(
        "--policy",
        help="policy file for the checklist when the trail holds no policy snapshot "
        "(refused unless its sha256 equals the one the release recorded)",
    )
    report.add_argument("--history", type=int, default=10, help="earlier releases to compare (default 10)")
    report.add_argument("--no-charts", action="store_true", help="text files only (no matplotlib)")
    report.add_argument("--json", action="store_true", help="print the written files as JSON")
    store_args(report)
    report.set_defaults(func=run_report)


def _store_or_none(args: argparse.Namespace, *, required: bool) -> Any:
    from release_gates.cli import _store

    if not required and not (args.url or args.conn_id):
        return None
    return _store(args)


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.cli import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError
    from release_gates.evidence import EvidenceNotFoundError
    from release_gates.reports import TrailError, generate_report, load_from_bundle, load_from_store
    from release_gates.reports.render import safe_name

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
            trail = load_from_store(
                _store_or_none(args, required=True), args.release_id, history=args.history
            )
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


def _policy_for(path: str, trail: Any) -> Any:
    from release_gates.cli import UsageError
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
