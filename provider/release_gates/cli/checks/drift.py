"""``release-gates check drift``: data and prediction drift between two datasets, outside Airflow.

From a policy::

    release-gates check drift --policy include/release_policy.yaml --gate data --artifact-dir out/

Standalone::

    release-gates check drift --reference train.parquet --current eval.parquet \\
        --prediction-column score --drift-share 0.3 --sample-rows 200000 --json

Evidently's HTML report is written to ``--artifact-dir`` (rendered from ``--report-rows`` rows per
side); the result names its file and sha256.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from release_gates.cli.checks.candidate import add_candidate_arguments
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
    add_policy_arguments(parser, "drift", datasets=True)
    add_candidate_arguments(parser, help_suffix=" (scores the policy's scoring datasets first)")
    alone = parser.add_argument_group("without a policy")
    alone.add_argument("--reference", metavar="URI", help="reference dataset (path, s3://, SQL URL)")
    alone.add_argument("--current", metavar="URI", help="current dataset")
    alone.add_argument("--columns", metavar="A,B", help="feature columns (default: all shared columns)")
    alone.add_argument(
        "--prediction-column", action="append", metavar="COLUMN", help="score/prediction column (repeatable)"
    )
    alone.add_argument("--method", default="auto", help="stattest for every column (default: auto)")
    alone.add_argument("--num-method", help="stattest for numerical columns")
    alone.add_argument("--cat-method", help="stattest for categorical columns")
    alone.add_argument("--column-method", action="append", metavar="COLUMN=METHOD")
    alone.add_argument("--threshold", type=float, help="drift threshold (default: the method's)")
    alone.add_argument("--drift-share", type=float, default=0.5, help="share of drifted columns that fails")
    alone.add_argument("--sample-rows", type=int, help="sample each side to this many rows first")
    alone.add_argument("--seed", type=int, default=0, help="seed of --sample-rows and the report sample")
    alone.add_argument("--no-prediction-drift", action="store_true")
    report = parser.add_argument_group("HTML report")
    report.add_argument("--artifact-dir", metavar="DIR", help="write Evidently's HTML report here")
    report.add_argument("--report-rows", type=int, default=5000, help="rows per side in the HTML report")
    parser.set_defaults(check_id=None)


def _standalone(args: argparse.Namespace) -> tuple[Any, dict[str, Any], list[str]]:
    from pydantic import ValidationError

    from release_gates.policy import Dataset, DriftCheck

    if not (args.reference and args.current):
        raise UsageError("give --policy and --gate, or --reference URI and --current URI")
    try:
        spec = DriftCheck(
            kind="drift",
            reference="reference",
            current="current",
            columns=split_list(args.columns),
            method=args.method,
            num_method=args.num_method,
            cat_method=args.cat_method,
            column_methods=pairs(args.column_method, "--column-method"),
            threshold=args.threshold,
            drift_share=args.drift_share,
            prediction_drift=not args.no_prediction_drift,
            sample_rows=args.sample_rows,
            seed=args.seed,
        )
    except ValidationError as exc:
        raise UsageError(" ".join(str(exc).split())) from exc
    declared = {"reference": Dataset(uri=args.reference), "current": Dataset(uri=args.current)}
    return spec, declared, list(args.prediction_column or [])


def _run(args: argparse.Namespace) -> CheckResult:
    from release_gates.exceptions import DatasetError
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.drift import run_drift_check
    from release_gates.results import CheckResult

    if args.report_rows < 1:
        raise UsageError("--report-rows must be at least 1")
    found = policy_check(args, "drift")
    predictions: list[str] | None = None
    if found is not None:
        from release_gates.cli.checks.candidate import candidate_catalog

        policy, spec, args.check_id = found
        # Relative paths in a policy are relative to the policy file, unless --base-dir says otherwise.
        catalog = DatasetCatalog.build(policy.datasets, base_dir=args.base_dir or policy.base_dir)
        catalog = candidate_catalog(args, policy, catalog, "drift", [spec.reference, spec.current])
    else:
        spec, declared, predictions = _standalone(args)
        args.check_id = args.check_id or "drift"
        catalog = DatasetCatalog.build(declared, base_dir=args.base_dir)
    try:
        return run_drift_check(
            spec,
            catalog,
            check_id=args.check_id,
            artifact_dir=args.artifact_dir,
            report_rows=args.report_rows,
            prediction_columns=predictions,
        )
    except DatasetError as exc:
        return CheckResult.error(check_id=args.check_id, kind="drift", message=str(exc))


COMMAND = CheckCommand(
    name="drift",
    help="data and prediction drift between a reference and a current dataset (Evidently)",
    add_arguments=_add_arguments,
    run=_run,
)
