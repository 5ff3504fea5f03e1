"""``release-gates policy validate``: every problem of a policy file with file:line and field."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TextIO

from release_gates.cli.common import EXIT_FAIL, EXIT_OK, UsageError


def validate(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.policy import PolicyError, format_duration, load_policy

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"policy file not found: {path}")
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        if args.json:
            problems = [
                {"file": p.source, "line": p.line, "field": p.field, "message": p.message}
                for p in exc.problems
            ]
            print(json.dumps({"valid": False, "problems": problems}, indent=2), file=out)
        else:
            print(str(exc), file=out)
        return EXIT_FAIL
    checks = [check_id for _, _, check_id in policy.iter_checks()]
    if args.json:
        print(
            json.dumps(
                {
                    "valid": True,
                    "sha256": policy.sha256,
                    "model": policy.release.model,
                    "gates": [g.id for g in policy.gates],
                    "checks": checks,
                    "approvals": sorted(policy.approvals),
                },
                indent=2,
            ),
            file=out,
        )
    else:
        print(
            f"{path}: valid release policy for {policy.release.model} (sha256 {policy.sha256[:12]}…)",
            file=out,
        )
        for gate in policy.gates:
            kinds = ", ".join(c.check_name for c in gate.checks)
            print(f"  gate {gate.id:<14} owner {gate.owner:<18} checks: {kinds}", file=out)
        for name, approval in policy.approvals.items():
            print(
                f"  sign-off {name}: {', '.join(approval.roles)} within {format_duration(approval.timeout)}",
                file=out,
            )
    return EXIT_OK
