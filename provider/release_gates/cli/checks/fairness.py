"""``release-gates check fairness``: subgroup fairness with confidence intervals.

With a policy::

    release-gates check fairness --policy include/release_policy.yaml --gate ethics \\
        --model model.skops --model-sha256 <sha256>     # with a templated candidate: scored first

Or standalone on a data file, no policy needed::

    release-gates check fairness eval.parquet --label approved --prediction pred \\
        --sensitive afam,single --intersectional --criterion selection_rate:ratio_min=0.8 \\
        --score score --criterion calibration:calibration_gap_max=0.05

Or counted in a database (one GROUP BY; rows never leave it)::

    release-gates check fairness --sql-url postgresql+psycopg2://… --table decisions --label … …
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from release_gates.cli.checks.candidate import add_candidate_arguments
from release_gates.cli.common import CheckCommand, UsageError, add_policy_arguments, policy_check

if TYPE_CHECKING:
    from release_gates.policy import Dataset, ReleasePolicy
    from release_gates.results import CheckResult


def _from_policy(args: argparse.Namespace, kind: str) -> tuple[ReleasePolicy, Any, str]:
    found = policy_check(args, kind)
    assert found is not None  # callers check args.policy first
    return found


def _criterion(text: str) -> dict[str, Any]:
    """``selection_rate:ratio_min=0.8`` → ``{"metric": "selection_rate", "ratio_min": 0.8}``."""
    try:
        metric, rule = text.split(":", 1)
        name, value = rule.split("=", 1)
        return {"metric": metric.strip(), name.strip(): float(value)}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"criterion {text!r} must look like METRIC:RULE=VALUE, e.g. selection_rate:ratio_min=0.8"
        ) from None


def _label_value(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _add_fairness(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "data", nargs="?", help="Parquet or CSV file with label, prediction and sensitive columns"
    )
    add_policy_arguments(parser, "fairness")
    add_candidate_arguments(parser, help_suffix=" (scores the policy's scoring datasets first)")
    flags = parser.add_argument_group("standalone")
    flags.add_argument("--label", help="label column")
    flags.add_argument("--prediction", help="prediction column (binary)")
    flags.add_argument("--score", help="score column (probability of the positive class; for calibration)")
    flags.add_argument("--sensitive", help="sensitive feature columns, comma-separated")
    flags.add_argument(
        "--positive", type=_label_value, default=1, help="positive (favourable) class (default 1)"
    )
    flags.add_argument("--negative", type=_label_value, default=0, help="negative class (default 0)")
    flags.add_argument("--intersectional", action="store_true", help="also evaluate intersections")
    flags.add_argument(
        "--criterion", action="append", type=_criterion, default=[], metavar="METRIC:RULE=VALUE"
    )
    flags.add_argument(
        "--reference", action="append", default=[], metavar="FEATURE=VALUE", help="reference group"
    )
    flags.add_argument("--min-group-size", type=int, default=30)
    flags.add_argument("--min-cell-size", type=int, default=10)
    flags.add_argument("--confidence", type=float, default=0.95)
    flags.add_argument("--decision", choices=["interval", "point_estimate"], default="interval")
    flags.add_argument(
        "--correction",
        choices=["holm", "bh", "none"],
        default="holm",
        help="multiple-comparison correction of a FAIL (default holm)",
    )
    sql = parser.add_argument_group("count in a database instead of reading a file")
    sql.add_argument("--sql-url", help="SQLAlchemy URL")
    sql.add_argument("--table", help="table name")


def _standalone_fairness(args: argparse.Namespace) -> tuple[Any, Dataset, str]:
    from pydantic import ValidationError

    from release_gates.policy import Dataset, FairnessCheck

    if not (args.label and args.prediction and args.sensitive and args.criterion):
        raise UsageError(
            "standalone use needs --label, --prediction, --sensitive and at least one --criterion"
        )
    reference = dict(item.split("=", 1) for item in args.reference) or None
    try:
        spec = FairnessCheck(
            kind="fairness",
            data="data",
            sensitive_features=[c.strip() for c in args.sensitive.split(",") if c.strip()],
            intersectional=args.intersectional,
            reference_group=reference,
            min_group_size=args.min_group_size,
            min_cell_size=args.min_cell_size,
            confidence=args.confidence,
            decision=args.decision,
            correction=args.correction,
            criteria=args.criterion,
        )
    except ValidationError as exc:
        raise UsageError(f"invalid check options: {exc.errors(include_url=False)[0]['msg']}") from exc
    # A table in a database is counted there, with one GROUP BY (see release_gates.inputs.fairness).
    separator = "&" if "?" in (args.sql_url or "") else "?"
    dataset = Dataset(
        uri=args.data or f"{args.sql_url}{separator}table={args.table}",
        label=args.label,
        prediction=args.prediction,
        score=args.score,
        label_values=[args.negative, args.positive],
    )
    return spec, dataset, "fairness"


def _run_fairness(args: argparse.Namespace) -> CheckResult:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.inputs.fairness import run_fairness_check

    if args.policy:
        from release_gates.cli.checks.candidate import candidate_catalog

        policy, spec, check_id = _from_policy(args, "fairness")
        catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
        catalog = candidate_catalog(args, policy, catalog, "fairness", [spec.data])
    else:
        if args.sql_url and not args.table:
            raise UsageError("--sql-url needs --table")
        if not (args.data or args.sql_url):
            raise UsageError("give a DATA file, --policy with --gate, or --sql-url with --table")
        spec, dataset, check_id = _standalone_fairness(args)
        catalog = DatasetCatalog.build({spec.data: dataset})
    return run_fairness_check(spec, catalog, check_id=check_id)


COMMAND = CheckCommand(
    name="fairness",
    help="subgroup fairness with confidence intervals (file, database or policy)",
    add_arguments=_add_fairness,
    run=_run_fairness,
)
