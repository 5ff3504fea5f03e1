"""``release-gates evidence replay``: re-derive past decisions from the evidence with today's gate logic.

``replay RELEASE_ID [--bundle FILE] [--policy FILE] [--json]`` replays one sealed release (from the
store, or offline from an exported bundle) under the policy it recorded, or under ``--policy``.
``replay --all [--model NAME] --policy FILE`` lists every sealed release of the model whose decision
that policy would change. See :mod:`release_gates.evidence.replay` for what is re-derived.

Exit codes are replay's own answer to "same?": 0 every verdict and decision the same, 1 differences
found, 2 no answer (no policy snapshot, a chain that does not verify, an unsealed release, a store
that cannot be read, bad arguments) — an error is never read as "same".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from release_gates.cli.common import EXIT_ERROR, EXIT_FAIL, EXIT_OK, UsageError, open_store

if TYPE_CHECKING:
    from release_gates.evidence.replay import FleetReplay, ReplayReport
    from release_gates.policy import ReleasePolicy

# As every command: 2 is a usage error (bad arguments); an answer that cannot be given is 4.
SAME, DIFFERENT, NO_ANSWER = EXIT_OK, EXIT_FAIL, EXIT_ERROR


def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    import sqlalchemy.exc

    from release_gates.exceptions import ReleaseGatesError

    _check_arguments(args)
    try:
        policy = _policy(args.policy) if args.policy else None
        if args.all:
            assert policy is not None  # _check_arguments
            return _print_fleet(_replay_all(args, policy), out, as_json=args.json)
        return _print_report(_replay_one(args, policy), out, as_json=args.json)
    except UsageError:
        raise
    except (ReleaseGatesError, OSError, sqlalchemy.exc.SQLAlchemyError) as exc:
        message = str(exc) if isinstance(exc, ReleaseGatesError) else f"{type(exc).__name__}: {exc}"
        if args.json:
            print(json.dumps({"error": message}, indent=2), file=out)
        else:
            print(f"evidence replay: ERROR — {message}", file=out)
        return NO_ANSWER


def _check_arguments(args: argparse.Namespace) -> None:
    if args.all:
        if args.release_id or args.bundle:
            raise UsageError(
                "--all replays every sealed release in the store: give no RELEASE_ID or --bundle"
            )
        if not args.policy:
            raise UsageError("--all needs --policy FILE: the policy to replay every release under")
    elif args.model:
        raise UsageError("--model goes with --all")
    elif not args.release_id and not args.bundle:
        raise UsageError("give a RELEASE_ID (from the store), --bundle FILE (offline) or --all --policy FILE")


def _policy(path: str) -> ReleasePolicy:
    from release_gates.policy import PolicyError, load_policy

    if not Path(path).is_file():
        raise UsageError(f"policy file not found: {path}")
    try:
        return load_policy(path)
    except PolicyError as exc:
        raise UsageError(str(exc)) from exc


def _replay_one(args: argparse.Namespace, policy: ReleasePolicy | None) -> ReplayReport:
    from release_gates.cli.evidence import trusted_keys
    from release_gates.evidence.replay import chain_from_bundle, chain_from_store, replay

    if args.bundle:
        if not Path(args.bundle).is_file():
            raise UsageError(f"bundle file not found: {args.bundle}")
        chain = chain_from_bundle(args.bundle, keys=trusted_keys(args))  # offline: no store opened
        if args.release_id and args.release_id != chain.release_id:
            raise UsageError(f"the bundle holds release {chain.release_id}, not {args.release_id}")
    else:
        chain = chain_from_store(open_store(args), args.release_id, keys=trusted_keys(args))
    return replay(chain, policy)


def _replay_all(args: argparse.Namespace, policy: ReleasePolicy) -> FleetReplay:
    from release_gates.cli.evidence import trusted_keys
    from release_gates.evidence.replay import replay_all

    return replay_all(open_store(args), policy, model=args.model, keys=trusted_keys(args))


def _print_report(report: ReplayReport, out: TextIO, *, as_json: bool) -> int:
    code = SAME if report.same else DIFFERENT
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False), file=out)
        return code
    policy = report.policy
    which = "the snapshot it recorded" if policy["origin"] == "snapshot" else f"policy file {policy['where']}"
    print(f"Replay of {report.release_id} ({report.source}, {report.records} records, verified)", file=out)
    print(f"under {which}, sha256 {policy['sha256'][:12]}…", file=out)
    rows = [("gate", "recorded", "replayed", "people")]
    for gate in report.gates:
        rows.append((gate.gate, _cell(gate.recorded, gate.recorded_cleared),
                     _cell(gate.replayed, gate.replayed_cleared), ", ".join(gate.people)))  # fmt: skip
    rows.append(("decision", report.recorded_decision or "—", report.replayed_decision, ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            (
                "  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + f"  {row[3]}"
            ).rstrip(),
            file=out,
        )
    for note in report.notes:
        print(f"note: {note}", file=out)
    if report.same:
        print("SAME: today's gate logic reaches every recorded verdict and the recorded decision.", file=out)
    else:
        print(f"DIFFERENT ({len(report.differences)}):", file=out)
        for difference in report.differences:
            print(f"  - {difference}", file=out)
    return code


def _cell(outcome: str | None, cleared: bool) -> str:
    if outcome is None:
        return "—"
    return f"{outcome} (cleared)" if cleared and outcome != "passed" else outcome


def _print_fleet(fleet: FleetReplay, out: TextIO, *, as_json: bool) -> int:
    code = NO_ANSWER if fleet.errors else DIFFERENT if fleet.changed else SAME
    if as_json:
        print(json.dumps(fleet.to_dict(), indent=2, ensure_ascii=False), file=out)
        return code
    print(f"Replayed {len(fleet.reports)} sealed release(s) of {fleet.model} under policy "
          f"{fleet.policy['where']} (sha256 {fleet.policy['sha256'][:12]}…)", file=out)  # fmt: skip
    if fleet.changed:
        rows = [("release", "recorded", "replayed")] + [
            (r.release_id, r.recorded_decision or "—", r.replayed_decision) for r in fleet.changed
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            print(("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))).rstrip(), file=out)
        for report in fleet.changed:
            print(f"  {report.release_id}: {'; '.join(report.replayed_reasons)}", file=out)
    print(f"{len(fleet.changed)} of {len(fleet.reports)} would be decided differently.", file=out)
    for release_id, error in fleet.errors.items():
        print(f"ERROR {release_id}: {error}", file=out)
    if fleet.unsealed:
        print(f"not sealed, not replayed: {', '.join(fleet.unsealed)}", file=out)
    return code
