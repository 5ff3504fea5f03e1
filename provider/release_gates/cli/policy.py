"""``release-gates policy validate|reference|schema|example``: check a policy file, and what helps write one.

``validate`` lists every problem with file:line and field; ``reference`` prints the Markdown
reference of every field (``docs/policy-reference.md``); ``schema`` the JSON Schema editors validate
YAML with; ``example`` the complete, commented example policy shipped in the package.
"""

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


def print_reference(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.policy.reference import policy_reference

    out.write(policy_reference())
    return EXIT_OK


def print_policy_schema(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.policy.reference import policy_json_schema

    print(json.dumps(policy_json_schema(), indent=2), file=out)
    return EXIT_OK


def print_example(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.examples import example_policy_text

    out.write(example_policy_text())
    return EXIT_OK
