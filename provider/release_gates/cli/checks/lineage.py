"""``release-gates check lineage``: documented, pinned and valid datasets, outside Airflow.

From a policy::

    release-gates check lineage --policy include/release_policy.yaml --gate data --json

Standalone (every dataset given on the command line; undocumented ones fail, as in a policy)::

    release-gates check lineage --dataset train=data/train.parquet --pin train=<sha256> \\
        --suite train=include/gx/hmda_applications.json --label train=deny:no,yes \\
        --owner train=data_steward --description train="HMDA applications" \\
        --legal-basis train="public research data" --label-balance 0.05,0.4

``sql://<conn_id>/<table>`` datasets resolve Airflow connections (e.g. ``AIRFLOW_CONN_<ID>`` variables);
SQLAlchemy URLs with ``?table=`` need no Airflow at all.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from release_gates.cli.common import (
    CheckCommand,
    UsageError,
    add_policy_arguments,
    pairs,
    policy_check,
    split_list,
)

if TYPE_CHECKING:
    from release_gates.results import CheckResult


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_policy_arguments(parser, "lineage", datasets=True)
    alone = parser.add_argument_group("without a policy (NAME=VALUE, repeatable)")
    alone.add_argument("--dataset", action="append", metavar="NAME=URI", help="a dataset to check")
    alone.add_argument("--pin", action="append", metavar="NAME=SHA256", help="pinned content fingerprint")
    alone.add_argument("--suite", action="append", metavar="NAME=FILE", help="Great Expectations suite JSON")
    alone.add_argument(
        "--label", action="append", metavar="NAME=COLUMN[:V1,V2]", help="label column and its label set"
    )
    alone.add_argument("--owner", action="append", metavar="NAME=OWNER")
    alone.add_argument("--description", action="append", metavar="NAME=TEXT")
    alone.add_argument("--legal-basis", action="append", metavar="NAME=TEXT")
    alone.add_argument(
        "--label-balance", metavar="MIN,MAX", help="bounds on the positive-label share (last label value)"
    )
    alone.add_argument("--severity", default="HIGH", help="severity of failed expectations (default HIGH)")
    parser.set_defaults(check_id=None)


def _standalone(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from pydantic import ValidationError

    from release_gates.policy import Dataset, LineageCheck

    uris = pairs(args.dataset, "--dataset")
    if not uris:
        raise UsageError("give --policy and --gate, or at least one --dataset NAME=URI")
    fields: dict[str, dict[str, Any]] = {name: {"uri": uri} for name, uri in uris.items()}
    for flag, key in (("pin", "sha256"), ("owner", "owner"), ("description", "description")):
        for name, value in pairs(getattr(args, flag), f"--{flag}").items():
            _known(name, fields, f"--{flag}")[key] = value
    for name, value in pairs(args.legal_basis, "--legal-basis").items():
        _known(name, fields, "--legal-basis")["legal_basis"] = value
    for name, value in pairs(args.label, "--label").items():
        column, _, values = value.partition(":")
        _known(name, fields, "--label")["label"] = column
        if values:
            _known(name, fields, "--label")["label_values"] = split_list(values)
    suites = pairs(args.suite, "--suite")
    for name in suites:
        _known(name, fields, "--suite")
    balance = None
    if args.label_balance:
        bounds = split_list(args.label_balance) or []
        try:
            low, high = (float(b) for b in bounds)
        except ValueError as exc:
            raise UsageError(f"--label-balance expects MIN,MAX, got {args.label_balance!r}") from exc
        balance = {"min": low, "max": high}
    try:
        declared = {name: Dataset.model_validate(f) for name, f in fields.items()}
        spec = LineageCheck(
            kind="lineage",
            datasets=list(fields),
            suites=suites,
            label_balance=balance,
            severity=args.severity,
        )
    except ValidationError as exc:
        raise UsageError(" ".join(str(exc).split())) from exc
    return spec, declared


def _known(name: str, fields: dict[str, dict[str, Any]], flag: str) -> dict[str, Any]:
    if name not in fields:
        raise UsageError(f"{flag} names dataset {name!r}, which has no --dataset {name}=URI")
    return fields[name]


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.lineage import run_lineage_check

    found = policy_check(args, "lineage")
    if found is not None:
        policy, spec, check_id = found
        args.check_id = check_id
        # Relative paths in a policy are relative to the policy file, unless --base-dir says otherwise.
        catalog = DatasetCatalog.build(policy.datasets, base_dir=args.base_dir or policy.base_dir)
        return run_lineage_check(spec, catalog, check_id=check_id, policy=policy)
    spec, declared = _standalone(args)
    args.check_id = args.check_id or "lineage"
    return run_lineage_check(
        spec, DatasetCatalog.build(declared, base_dir=args.base_dir), check_id=args.check_id
    )


COMMAND = CheckCommand(
    name="lineage",
    help="documented sources, pinned dataset versions, Great Expectations suites and labelling standard",
    add_arguments=_add_arguments,
    run=_run,
)
