"""``release-gates policy validate|reference|schema|example``: check a policy file, and what helps write one.

``validate`` lists every problem with file:line and field; with ``--check-inputs`` it also runs the
pre-flight a release's ``start`` runs (:mod:`release_gates.inputs.preflight`: files exist, pins
match, columns are there), templated inputs rendered from ``--param NAME=VALUE``. ``reference``
prints the Markdown reference of every field (``docs/policy-reference.md``); ``schema`` the JSON
Schema editors validate YAML with; ``example`` the complete, commented example policy shipped in the package.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from release_gates.cli.common import EXIT_FAIL, EXIT_OK, UsageError, pairs

if TYPE_CHECKING:
    from release_gates.inputs.preflight import PreflightProblem
    from release_gates.policy import ReleasePolicy


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
    input_problems = _check_inputs(policy, args) if getattr(args, "check_inputs", False) else None
    if args.json:
        document: dict[str, Any] = {
            "valid": True,
            "sha256": policy.sha256,
            "model": policy.release.model,
            "gates": [g.id for g in policy.gates],
            "checks": checks,
            "approvals": sorted(policy.approvals),
        }
        if input_problems is not None:
            document["inputs"] = {
                "usable": not input_problems,
                "problems": [p.to_dict() for p in input_problems],
            }
        print(json.dumps(document, indent=2), file=out)
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
        if input_problems == []:
            print(
                "  inputs: every file a release reads exists, matches its pin and has its columns", file=out
            )
        elif input_problems:
            from release_gates.inputs.preflight import format_problems

            print(
                f"  inputs: a release would be refused at start — {format_problems(input_problems)}", file=out
            )
            for problem in input_problems:
                print(f"    {problem}", file=out)
    return EXIT_FAIL if input_problems else EXIT_OK


def _check_inputs(policy: ReleasePolicy, args: argparse.Namespace) -> list[PreflightProblem]:
    """What ``start`` would refuse: the same pre-flight, templates rendered from ``--param``."""
    from release_gates.inputs.preflight import preflight_inputs

    params = pairs(args.param, "--param")
    overrides: Any = None
    if args.datasets:
        try:
            overrides = json.loads(args.datasets)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--datasets is not JSON: {exc}") from None
    return preflight_inputs(policy, overrides=overrides, render=_renderer(params))


def _renderer(params: dict[str, str]) -> Callable[[Any], Any]:
    """Render ``{{ params.x }}`` in policy values as the release would; an unknown name is an error
    that names it (so the message says which ``--param`` to give)."""
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)

    def render(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, str) and "{{" in value:
            try:
                return environment.from_string(value).render(params=params)
            except jinja2.UndefinedError as exc:
                raise UsageError(f"needs --param for {value.strip()}: {exc}") from None
        return value

    return render


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
