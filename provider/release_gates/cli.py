"""``release-gates`` — every part of the provider, runnable outside Airflow.

Exit codes (the same everywhere, so CI jobs can gate on them)::

    0  PASS or WARN          (policy valid, evidence chain intact)
    1  FAIL                  (policy invalid, evidence chain broken)
    2  usage error           (bad arguments, file not found)
    3  INCONCLUSIVE
    4  ERROR                 (the check or the store could not run)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from release_gates import __version__
from release_gates.exceptions import ReleaseGatesError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCONCLUSIVE, EXIT_ERROR = 0, 1, 2, 3, 4


class UsageError(ReleaseGatesError):
    """Bad arguments or a missing input file: exit code 2."""


@dataclass(frozen=True)
class CheckCommand:
    """A ``release-gates check <name>`` subcommand.

    ``add_arguments`` declares its flags; ``run`` returns a :class:`CheckResult`. The runner prints
    it, optionally records it in the evidence trail, and exits with the status's code. Raising
    :class:`UsageError` exits 2; any other exception becomes an ERROR result (exit 4).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Any]


#: Check subcommands by name. Check modules register themselves here (see ``_load_check_commands``).
CHECK_COMMANDS: dict[str, CheckCommand] = {}

# Modules that define ``CHECK_COMMAND`` (or a ``CHECK_COMMANDS`` tuple); imported when the parser is built.
_CHECK_COMMAND_MODULES: tuple[str, ...] = (
    "release_gates.checks.fairness_cli",
    "release_gates.checks.image_scan_cli",
    "release_gates.checks.lineage_cli",
    "release_gates.checks.drift_cli",
    "release_gates.checks.aws_cli",
)


def register_check_command(command: CheckCommand) -> CheckCommand:
    CHECK_COMMANDS[command.name] = command
    return command


def _load_check_commands() -> None:
    import importlib

    for name in _CHECK_COMMAND_MODULES:
        module = importlib.import_module(name)
        for command in getattr(module, "CHECK_COMMANDS", None) or (module.CHECK_COMMAND,):
            CHECK_COMMANDS.setdefault(command.name, command)


# --------------------------------------------------------------------------------------------------
# policy
# --------------------------------------------------------------------------------------------------


def _policy_validate(args: argparse.Namespace, out: TextIO) -> int:
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


# --------------------------------------------------------------------------------------------------
# evidence
# --------------------------------------------------------------------------------------------------


def _store(args: argparse.Namespace) -> Any:
    from release_gates.evidence import EvidenceStore

    if args.url:
        return EvidenceStore(args.url)
    if args.conn_id:
        from release_gates.hooks.evidence import EvidenceStoreHook

        return EvidenceStoreHook(args.conn_id).get_store()
    return EvidenceStore()


def _evidence_verify(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence import BundleError, EvidenceNotFoundError, verify_bundle

    if args.bundle:
        if not Path(args.bundle).is_file():
            raise UsageError(f"bundle file not found: {args.bundle}")
        try:
            report = verify_bundle(Path(args.bundle))
        except BundleError as exc:
            print(f"evidence verify: ERROR — {exc}", file=out)
            return EXIT_ERROR
    else:
        if not args.release_id:
            raise UsageError("give a RELEASE_ID (verify in the store) or --bundle FILE (verify offline)")
        try:
            report = _store(args).verify(args.release_id)
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


def _evidence_export(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.evidence import EvidenceNotFoundError

    store = _store(args)
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


def _evidence_list(args: argparse.Namespace, out: TextIO) -> int:
    chains = _store(args).chains(limit=args.limit)
    if args.json:
        print(json.dumps([c.__dict__ for c in chains], indent=2), file=out)
        return EXIT_OK
    if not chains:
        print("no evidence chains yet", file=out)
    for chain in chains:
        state = f"sealed {chain.sealed_at}" if chain.sealed_at else "open"
        print(f"{chain.release_id:<60} {chain.head_seq:>6} records  {state}", file=out)
    return EXIT_OK


def _evidence_show(args: argparse.Namespace, out: TextIO) -> int:
    records = _store(args).records(args.release_id, kind=args.kind)
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


def _evidence_migrate(args: argparse.Namespace, out: TextIO) -> int:
    store = _store(args)
    store.migrate()
    print(f"evidence store at head revision: {store!r}", file=out)
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# results and checks
# --------------------------------------------------------------------------------------------------


def print_result(result: Any, out: TextIO, *, as_json: bool) -> None:
    """Human or JSON rendering of a CheckResult (shared by `check` and `result show`)."""
    if as_json:
        print(result.to_json(indent=2), file=out)
        return
    print(f"{result.status.value:<12} {result.check_id}: {result.summary}", file=out)
    findings = result.active_findings()
    for finding in findings[:20]:
        where = f" [{finding.location}]" if finding.location else ""
        print(f"  {finding.severity.value:<8} {finding.id}: {finding.title}{where}", file=out)
    if len(findings) > 20:
        print(f"  … and {len(findings) - 20} more findings (use --json for all)", file=out)
    waived = [f for f in result.findings if f.waived]
    if waived:
        print(
            f"  {len(waived)} finding(s) waived: {', '.join(sorted({f.waived_by or '' for f in waived}))}",
            file=out,
        )


def _result_show(args: argparse.Namespace, out: TextIO) -> int:
    from pydantic import ValidationError

    from release_gates.results import CheckResult

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"result file not found: {path}")
    try:
        result = CheckResult.from_json(path.read_bytes())
    except ValidationError as exc:
        print(f"ERROR        {path} is not a valid CheckResult: {exc.error_count()} problem(s)", file=out)
        for error in exc.errors(include_url=False)[:10]:
            print(f"  {'.'.join(str(p) for p in error['loc'])}: {error['msg']}", file=out)
        return EXIT_ERROR
    print_result(result, out, as_json=args.json)
    return int(result.status.exit_code)


def _run_check(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.results import CheckResult

    command = CHECK_COMMANDS[args.check_command]
    try:
        result = command.run(args)
    except UsageError:
        raise
    except Exception as exc:  # fail closed: anything unexpected is an ERROR result, never a pass
        result = CheckResult.error(
            check_id=getattr(args, "check_id", None) or command.name,
            kind=command.name,
            message=f"{type(exc).__name__}: {exc}",
        )
    if args.record:
        _store(args).append(args.record, "check_result", result.to_dict(), actor="cli")
    print_result(result, out, as_json=args.json)
    return int(result.status.exit_code)


def _schema(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.results import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True), file=out)
    return EXIT_OK


# --------------------------------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2 on usage errors; keep that, say more
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _store_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "evidence store (default: $RELEASE_GATES_EVIDENCE_URL or SQLite in $AIRFLOW_HOME)"
    )
    group.add_argument("--url", help="SQLAlchemy URL of the evidence store")
    group.add_argument("--conn-id", help="Airflow connection of type release_gates_evidence")


def build_parser() -> argparse.ArgumentParser:  # noqa: PLR0915 - one flat list of subcommands reads best
    _load_check_commands()
    parser = _Parser(
        prog="release-gates",
        description="Release gates for ML models: validate policies, run checks, verify the evidence trail.",
        epilog="Exit codes: 0 PASS/WARN, 1 FAIL, 2 usage error, 3 INCONCLUSIVE, 4 ERROR.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    policy = sub.add_parser("policy", help="release policy files").add_subparsers(
        dest="action", required=True
    )
    validate = policy.add_parser("validate", help="validate a policy; every problem with file:line and field")
    validate.add_argument("path")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.set_defaults(func=_policy_validate)

    evidence = sub.add_parser("evidence", help="the evidence trail").add_subparsers(
        dest="action", required=True
    )
    verify = evidence.add_parser("verify", help="recompute a chain and name the first bad record")
    verify.add_argument("release_id", nargs="?")
    verify.add_argument("--bundle", help="verify an exported bundle offline instead of the store")
    verify.add_argument("--json", action="store_true")
    _store_args(verify)
    verify.set_defaults(func=_evidence_verify)
    export = evidence.add_parser("export", help="write a self-contained bundle that verifies offline")
    export.add_argument("release_id")
    export.add_argument("-o", "--output", required=True, help="file to write, or - for stdout")
    _store_args(export)
    export.set_defaults(func=_evidence_export)
    listing = evidence.add_parser("list", help="recent release chains")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    _store_args(listing)
    listing.set_defaults(func=_evidence_list)
    show = evidence.add_parser("show", help="the records of one release")
    show.add_argument("release_id")
    show.add_argument("--kind", help="only records of this kind")
    show.add_argument("--json", action="store_true")
    _store_args(show)
    show.set_defaults(func=_evidence_show)
    migrate = evidence.add_parser("migrate", help="create or upgrade the evidence schema")
    _store_args(migrate)
    migrate.set_defaults(func=_evidence_migrate)

    result = sub.add_parser("result", help="stored CheckResult files").add_subparsers(
        dest="action", required=True
    )
    result_show = result.add_parser("show", help="print a CheckResult JSON file; exit with its status code")
    result_show.add_argument("path")
    result_show.add_argument("--json", action="store_true")
    result_show.set_defaults(func=_result_show)

    schema = sub.add_parser("schema", help="print the CheckResult JSON Schema")
    schema.set_defaults(func=_schema)

    from release_gates.reports.cli import add_report_command

    add_report_command(sub, _store_args)

    retro = sub.add_parser(
        "retro", help="learning loop: how each check fared across releases and production monitoring"
    )
    retro.add_argument("--model", help="only this model (default: every model in the store)")
    retro.add_argument("--since", help="only evidence from this date on (YYYY-MM-DD)")
    retro.add_argument("--json", action="store_true", help="machine-readable output")
    _store_args(retro)
    retro.set_defaults(func=_lazy_retro)

    check = sub.add_parser(
        "check",
        help="run one check outside Airflow",
        description="Run one check and exit with its status code."
        + ("" if CHECK_COMMANDS else " No check kinds are available in this version yet."),
    )
    kinds = check.add_subparsers(dest="check_command", required=True, metavar="KIND", parser_class=_Parser)
    for name, command in sorted(CHECK_COMMANDS.items()):
        kind_parser = kinds.add_parser(name, help=command.help)
        command.add_arguments(kind_parser)
        kind_parser.add_argument("--json", action="store_true", help="print the full CheckResult as JSON")
        kind_parser.add_argument("--record", metavar="RELEASE_ID", help="also append the result to evidence")
        _store_args(kind_parser)
        kind_parser.set_defaults(func=_run_check)
    return parser


def _lazy_retro(args: argparse.Namespace, out: TextIO) -> int:
    from release_gates.monitoring.retro import retro_command

    return retro_command(args, out, _store(args))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
        code: int = args.func(args, out)
    except UsageError as exc:
        print(f"release-gates: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # output piped into `head` and closed early: not an error of ours
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        from release_gates.evidence import EvidenceError

        if isinstance(exc, EvidenceError | OSError) or type(exc).__module__.startswith("sqlalchemy"):
            print(f"release-gates: error: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR
        raise
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
