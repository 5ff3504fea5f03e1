"""Data lineage: are the release's datasets documented, the pinned versions, and up to standard?

:func:`evaluate_lineage` checks, for a ``kind: lineage`` policy check:

1. **Documented sources.** Every dataset the release uses is declared in the policy with an owner, a
   description and a legal basis. An undeclared or undocumented one is a FAIL finding.
2. **Versioned inputs.** Each dataset's content fingerprint (:func:`release_gates.datasets.fingerprint`:
   sha256 of the file bytes, or the SQL row/schema/content digest) is compared with the ``sha256``
   pinned in the policy. A mismatch is a FAIL finding (HIGH, or the check's severity if worse); no pin
   is a WARN ("unversioned input"). Every fingerprint is recorded in ``CheckResult.inputs``.
3. **Expectations.** The Great Expectations 1.x suite named in ``suites`` (a JSON file with
   ``expectations: [{type, kwargs, meta}]``) runs in an ephemeral context: on a pandas DataFrame for
   files and objects, and *in the database* for SQL sources (a GX SQL datasource pushes every metric
   down as a query; only aggregates come back, never rows). Each failed expectation is a finding with
   the check's severity, naming the expectation type, the column, observed vs expected and the
   unexpected count.
4. **Labelling standard.** For a dataset that declares a ``label`` column, expectations are added to
   its suite: the column exists, has no nulls, and (with ``label_values``) holds only declared values.
   With ``label_balance: {min, max}`` the *positive-label share* must lie within the bounds, where the
   positive label is the **last** value of ``label_values`` (``["no", "yes"]`` → ``"yes"``; ``[0, 1]`` →
   ``1``; 1 when no label set is declared, as :attr:`Dataset.positive_label` says). The share is
   computed over non-null labels, in the database for SQL sources.

Bad input never passes: an unreadable file, a missing table or connection, or a missing or invalid
suite file is ERROR; an empty dataset, an expectation that cannot be evaluated (missing column, wrong
dtype) or one that saw only nulls is INCONCLUSIVE; every message names the dataset and the column.
The overall status is the worst of all of them (:meth:`Status.worst`).

No Airflow import here. Great Expectations (≈7 s to import) is imported only when a suite runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.checks.gx_results import exception_message, json_safe, observed_value
from release_gates.datasets import (
    ConnectionResolver,
    DatasetLocation,
    describe_error,
    fingerprint,
    load_frame,
    locate,
    scrub_values,
)
from release_gates.exceptions import DatasetError, SuiteError
from release_gates.policy import is_templated
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import Dataset, LineageCheck

KIND = "lineage"

#: Marker in an expectation's ``meta`` for the expectations this engine adds (labelling standard).
RULE_META_KEY = "release_gates_rule"

# kwargs that are GX bookkeeping rather than part of what was expected
_NOT_EXPECTED = frozenset({"batch_id", "column", "result_format", "include_config", "catch_exceptions"})
# Expectations that measure nulls themselves: "all values are null" is their answer, not a blind spot.
_NULL_AWARE = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"})

_RULE_TITLES = {
    "label_present": "label column is missing",
    "label_not_null": "label has missing values",
    "label_values": "label values outside the declared label set",
    "label_share_min": "positive-label share below the declared minimum",
    "label_share_max": "positive-label share above the declared maximum",
}


@dataclass
class _Outcome:
    """What one part of the check found: the statuses it contributes and its findings."""

    statuses: list[Status] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(self, status: Status, finding: Finding) -> None:
        self.statuses.append(status)
        self.findings.append(finding)


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def evaluate_lineage(
    spec: LineageCheck,
    declared: Mapping[str, Dataset],
    *,
    check_id: str,
    used: Iterable[str] = (),
    base_dir: str | Path | None = None,
    resolve_connection: ConnectionResolver | None = None,
) -> CheckResult:
    """Run a lineage check.

    :param spec: the policy's ``kind: lineage`` check.
    :param declared: the policy's ``datasets`` section (name → :class:`Dataset`), templates rendered.
    :param used: names of every other dataset the release reads (from the other checks), so an
        undeclared one is reported even if this check does not list it.
    :param base_dir: directory that relative dataset and suite paths are resolved against.
    :param resolve_connection: connection id → SQLAlchemy URL, for ``sql://`` datasets (default:
        Airflow connections).
    """
    started = utcnow()
    outcome = _Outcome()
    bounds_problem = _label_balance_problem(spec.label_balance)
    if bounds_problem:
        return CheckResult.error(
            check_id=check_id,
            kind=KIND,
            message=bounds_problem,
            started_at=started,
            metrics={"error": {"type": "PolicyError", "transient": False}},  # the spec itself: no retry
        )

    checked = list(dict.fromkeys([*spec.datasets, *spec.suites]))
    for name in dict.fromkeys([*checked, *used]):
        _check_documented(name, declared.get(name), spec.severity, outcome)

    inputs: dict[str, Any] = {"datasets": {}, "suites": {}}
    metrics: dict[str, Any] = {"datasets": {}}
    engine: dict[str, str] = {}
    for name in checked:
        dataset = declared.get(name)
        if dataset is None:
            continue
        metrics["datasets"][name] = _check_dataset(
            name,
            dataset,
            spec,
            outcome,
            inputs,
            engine=engine,
            base_dir=base_dir,
            resolve_connection=resolve_connection,
        )

    status = Status.worst(outcome.statuses) if outcome.statuses else Status.PASS
    metrics["counts"] = _counts(outcome.findings)
    return CheckResult(
        check_id=check_id,
        kind=KIND,
        status=status,
        summary=_summary(checked, metrics),
        metrics=metrics,
        findings=tuple(outcome.findings),
        inputs=inputs,
        engine=engine,
        started_at=started,
        finished_at=utcnow(),
    )


def _label_balance_problem(bounds: Mapping[str, float] | None) -> str | None:
    if bounds is None:
        return None
    unknown = sorted(set(bounds) - {"min", "max"})
    if unknown:
        return f"label_balance: unknown key(s) {', '.join(unknown)} (use min and max)"
    if not bounds:
        return "label_balance: give min, max or both"
    if bounds.get("min", 0.0) > bounds.get("max", 1.0):
        return f"label_balance: min {bounds['min']} is above max {bounds['max']}"
    return None


# --------------------------------------------------------------------------------------------------
# Documentation and versions
# --------------------------------------------------------------------------------------------------


def _check_documented(name: str, dataset: Dataset | None, severity: Severity, outcome: _Outcome) -> None:
    if dataset is None:
        outcome.add(
            Status.FAIL,
            Finding(
                id=f"undeclared_dataset:{name}",
                severity=severity,
                title=f"dataset {name!r} is used by the release but not declared in the policy",
                detail="Declare it under `datasets` with uri, owner, description and legal_basis.",
                location=name,
            ),
        )
        return
    missing = [f for f in ("owner", "description", "legal_basis") if not getattr(dataset, f)]
    if missing:
        outcome.add(
            Status.FAIL,
            Finding(
                id=f"undocumented_dataset:{name}",
                severity=severity,
                title=f"dataset {name!r} is not documented: no {', '.join(missing)}",
                detail="Every source needs an accountable owner, a description and the legal basis for use.",
                location=name,
                data={"missing": missing},
            ),
        )


def _check_version(
    name: str, dataset: Dataset, actual: str, severity: Severity, outcome: _Outcome
) -> bool | None:
    pinned = dataset.sha256
    if pinned is None:
        outcome.add(
            Status.WARN,
            Finding(
                id=f"unversioned_input:{name}",
                severity=Severity.MEDIUM,
                title=f"unversioned input: dataset {name!r} has no sha256 pin",
                detail=f"Pin it in the policy to make the release reproducible: sha256: {actual}",
                location=name,
                data={"actual_sha256": actual},
            ),
        )
        return None
    if is_templated(pinned):
        outcome.add(
            Status.INCONCLUSIVE,
            Finding(
                id=f"unrendered_pin:{name}",
                severity=severity,
                title=f"dataset {name!r}: the sha256 pin {pinned!r} is a template that was not rendered",
                detail="Run the check from the release DAG (which renders it) or pass the digest directly.",
                location=name,
            ),
        )
        return None
    if pinned != actual:
        worst = min((Severity.HIGH, severity), key=lambda s: s.rank)
        outcome.add(
            Status.FAIL,
            Finding(
                id=f"fingerprint_mismatch:{name}",
                severity=worst,
                title=f"dataset {name!r} does not match its pinned version",
                detail=f"pinned sha256 {pinned}, found {actual}: the data changed since it was pinned.",
                location=name,
                data={"pinned_sha256": pinned, "actual_sha256": actual},
            ),
        )
        return False
    return True


# --------------------------------------------------------------------------------------------------
# One dataset
# --------------------------------------------------------------------------------------------------


def _check_dataset(
    name: str,
    dataset: Dataset,
    spec: LineageCheck,
    outcome: _Outcome,
    inputs: dict[str, Any],
    *,
    engine: dict[str, str],
    base_dir: str | Path | None,
    resolve_connection: ConnectionResolver | None,
) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    try:
        location = locate(name, dataset, base_dir=base_dir, resolve_connection=resolve_connection)
        facts["source"] = location.kind
        printed = fingerprint(name, dataset, location=location)
    except DatasetError as exc:
        _error(outcome, f"dataset_unreadable:{name}", name, str(exc), spec.severity)
        return facts
    inputs["datasets"][name] = printed
    facts["pinned"] = dataset.sha256 is not None
    facts["fingerprint_match"] = _check_version(name, dataset, printed["sha256"], spec.severity, outcome)

    try:
        expectations, suite_facts = _expectations_for(name, dataset, spec, base_dir=base_dir)
    except SuiteError as exc:
        _error(outcome, f"suite_unusable:{name}", name, str(exc), spec.severity)
        return facts
    if suite_facts:
        inputs["suites"][name] = suite_facts
        facts["suite"] = suite_facts["path"]

    frame = None
    if location.kind != "sql":
        try:
            frame = load_frame(name, dataset, location=location)
        except DatasetError as exc:
            _error(outcome, f"dataset_unreadable:{name}", name, str(exc), spec.severity)
            return facts
        printed["rows"] = len(frame)
    facts["rows"] = printed.get("rows")
    if not facts["rows"]:
        outcome.add(
            Status.INCONCLUSIVE,
            Finding(
                id=f"empty_dataset:{name}",
                severity=spec.severity,
                title=f"dataset {name!r} is empty (0 rows): nothing to validate",
                location=name,
            ),
        )
        return facts
    if not expectations:
        facts["expectations"] = {"evaluated": 0, "failed": 0, "not_evaluated": 0}
        return facts
    try:
        results, versions = _validate(name, location, frame, expectations)
    except SuiteError as exc:
        _error(outcome, f"suite_unusable:{name}", name, str(exc), spec.severity)
        return facts
    except Exception as exc:  # GX itself failed (driver error, DB down): the suite did not run
        _error(
            outcome,
            f"validation_error:{name}",
            name,
            f"dataset {name!r}: Great Expectations could not run: {describe_error(exc)}",
            spec.severity,
        )
        return facts
    engine.update(versions)
    facts["validation"] = "sql_pushdown" if location.kind == "sql" else "pandas"
    facts["expectations"] = _record_results(name, results, spec, dataset, outcome)
    # The labelling standard runs as expectations this engine adds; the summary counts them apart
    # from the suite's, which are what a reader calls "expectations".
    facts["labelling_rules"] = sum(
        1 for r in results if RULE_META_KEY in ((r.get("expectation_config") or {}).get("meta") or {})
    )
    return facts


def _error(outcome: _Outcome, finding_id: str, name: str, message: str, severity: Severity) -> None:
    outcome.add(
        Status.ERROR,
        Finding(id=finding_id, severity=severity, title=_one_line(message), location=name),
    )


# --------------------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------------------


def load_suite_file(path: Path) -> dict[str, Any]:
    """A suite JSON file as a mapping with an ``expectations`` list; :class:`SuiteError` otherwise."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SuiteError(f"suite file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(f"suite file {path} is unreadable: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SuiteError(f"suite file {path} is not JSON: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("expectations"), list):
        raise SuiteError(f"suite file {path} has no 'expectations' list")
    for index, item in enumerate(raw["expectations"]):
        if not isinstance(item, dict):
            raise SuiteError(f"suite file {path}: expectations[{index}] is not a mapping")
        if "expectation_type" in item and "type" not in item:  # GX 0.x spelling
            item["type"] = item.pop("expectation_type")
        if not isinstance(item.get("type"), str) or not isinstance(item.get("kwargs", {}), dict):
            raise SuiteError(f"suite file {path}: expectations[{index}] needs a 'type' and 'kwargs' mapping")
    return raw


def _expectations_for(
    name: str, dataset: Dataset, spec: LineageCheck, *, base_dir: str | Path | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    expectations: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    if name in spec.suites:
        path = Path(spec.suites[name])
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        try:
            suite = load_suite_file(path)
        except SuiteError as exc:
            raise SuiteError(f"dataset {name!r}: {exc}") from exc
        expectations += suite["expectations"]
        facts = {
            "path": spec.suites[name],
            "name": suite.get("name"),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "expectations": len(suite["expectations"]),
        }
    expectations += label_expectations(dataset, spec.label_balance)
    return expectations, facts


def positive_label(dataset: Dataset) -> int | str:
    """The positive label: the last of ``label_values``, else 1 (:attr:`Dataset.positive_label`)."""
    return dataset.positive_label


def label_expectations(dataset: Dataset, balance: Mapping[str, float] | None) -> list[dict[str, Any]]:
    """The labelling standard as GX expectations (all push down to SQL; see the module docstring)."""
    label = dataset.label
    if not label:
        return []

    def rule(kind: str, rule_name: str, **kwargs: Any) -> dict[str, Any]:
        return {"type": kind, "kwargs": {"column": label, **kwargs}, "meta": {RULE_META_KEY: rule_name}}

    rules = [
        rule("expect_column_to_exist", "label_present"),
        rule("expect_column_values_to_not_be_null", "label_not_null"),
    ]
    if dataset.label_values:
        rules.append(
            rule("expect_column_values_to_be_in_set", "label_values", value_set=dataset.label_values)
        )
    positive = positive_label(dataset)
    if balance:
        # GX's `mostly` is the share of non-null values that meet the expectation, so "positive share
        # >= min" is "in {positive}" for at least `min`, and "share <= max" is "not in {positive}" for
        # at least 1 - max. Both compile to one aggregate query on SQL sources.
        if balance.get("min", 0.0) > 0:
            rules.append(
                rule(
                    "expect_column_values_to_be_in_set",
                    "label_share_min",
                    value_set=[positive],
                    mostly=balance["min"],
                )
            )
        if balance.get("max", 1.0) < 1:
            rules.append(
                rule(
                    "expect_column_values_to_not_be_in_set",
                    "label_share_max",
                    value_set=[positive],
                    mostly=round(1.0 - balance["max"], 12),
                )
            )
    return rules


# --------------------------------------------------------------------------------------------------
# Great Expectations
# --------------------------------------------------------------------------------------------------


def _validate(
    name: str, location: DatasetLocation, frame: pd.DataFrame | None, expectations: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Run the expectations with an ephemeral GX context; results as GX JSON dicts, in suite order."""
    import great_expectations as gx
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    # The suite constructor logs and *drops* an expectation it cannot build; a dropped expectation
    # would be a silent pass, so build each one here and refuse the suite instead.
    built = []
    for index, item in enumerate(expectations):
        try:
            built.append(ExpectationConfiguration(**item).to_domain_obj())
        except Exception as exc:
            raise SuiteError(
                f"dataset {name!r}: expectation #{index} ({item.get('type')}) is invalid: {_one_line(exc)}"
            ) from exc
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = ExpectationSuite(name=f"release_gates_{name}", expectations=built)
    batch = (
        _sql_batch(context, name, location) if location.kind == "sql" else _frame_batch(context, name, frame)
    )
    # No unexpected values are fetched: findings carry counts, never rows of user data.
    result = batch.validate(suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
    order = {id(e): i for i, e in enumerate(suite.expectations)}
    items = sorted(result.results, key=lambda r: order.get(id(r.expectation_config), 0))
    return [r.to_json_dict() for r in items], {"great_expectations": str(gx.__version__)}


def _sql_batch(context: Any, name: str, location: DatasetLocation) -> Any:
    """A batch over the whole table or query: GX compiles every metric to SQL run in the database."""
    import warnings

    assert location.sql is not None
    with warnings.catch_warnings():
        # GX suggests its dialect-specific datasources; the generic one runs the same SQL on any of them.
        warnings.filterwarnings("ignore", message="You are using a generic SQLDatasource")
        source = context.data_sources.add_sql(
            name=f"rg_{name}", connection_string=location.sql.url, create_temp_table=False
        )
    if location.sql.query is not None:
        asset = source.add_query_asset(name=name, query=location.sql.query)
        return asset.add_batch_definition_whole_table("whole").get_batch()
    table = source.add_table_asset(
        name=name, table_name=str(location.sql.table), schema_name=location.sql.schema
    )
    return table.add_batch_definition_whole_table("whole").get_batch()


def _frame_batch(context: Any, name: str, frame: pd.DataFrame | None) -> Any:
    source = context.data_sources.add_pandas(name=f"rg_{name}")
    asset = source.add_dataframe_asset(name=name)
    return asset.add_batch_definition_whole_dataframe("whole").get_batch(
        batch_parameters={"dataframe": frame}
    )


def _record_results(
    name: str, results: list[dict[str, Any]], spec: LineageCheck, dataset: Dataset, outcome: _Outcome
) -> dict[str, int]:
    counts = {"evaluated": len(results), "failed": 0, "not_evaluated": 0}
    seen: dict[str, int] = {}
    for result in results:
        config = result.get("expectation_config") or {}
        kind = str(config.get("type"))
        kwargs = dict(config.get("kwargs") or {})
        column = kwargs.get("column")
        rule_name = (config.get("meta") or {}).get(RULE_META_KEY)
        base_id = f"{name}.{column or 'table'}.{rule_name or kind}"
        seen[base_id] = seen.get(base_id, 0) + 1
        finding_id = base_id if seen[base_id] == 1 else f"{base_id}#{seen[base_id]}"
        location = f"{name}.{column}" if column else name
        error = exception_message(result.get("exception_info"))
        stats = result.get("result") or {}
        if error is not None:
            counts["not_evaluated"] += 1
            where = f"column {column!r} of dataset {name!r}" if column else f"dataset {name!r}"
            outcome.add(
                Status.INCONCLUSIVE,
                Finding(
                    id=f"not_evaluated:{finding_id}",
                    severity=spec.severity,
                    title=f"could not evaluate {kind} on {where}: {scrub_values(error)}",
                    location=location,
                    data={"dataset": name, "column": column, "expectation_type": kind},
                ),
            )
            continue
        all_null = (
            kind not in _NULL_AWARE
            and stats.get("element_count")
            and stats.get("missing_count") == stats.get("element_count")
        )
        if all_null:
            counts["not_evaluated"] += 1
            outcome.add(
                Status.INCONCLUSIVE,
                Finding(
                    id=f"all_null:{finding_id}",
                    severity=spec.severity,
                    title=f"column {column!r} of dataset {name!r} is entirely null: {kind} saw no values",
                    location=location,
                    data={"dataset": name, "column": column, "expectation_type": kind},
                ),
            )
            continue
        if result.get("success"):
            continue
        counts["failed"] += 1
        outcome.add(
            Status.FAIL,
            _failed_expectation(
                name,
                finding_id,
                kind=kind,
                column=column,
                kwargs=kwargs,
                stats=stats,
                rule_name=rule_name,
                dataset=dataset,
                severity=spec.severity,
            ),
        )
    return counts


def _failed_expectation(
    name: str,
    finding_id: str,
    *,
    kind: str,
    column: str | None,
    kwargs: dict[str, Any],
    stats: dict[str, Any],
    rule_name: str | None,
    dataset: Dataset,
    severity: Severity,
) -> Finding:
    expected = {k: json_safe(v) for k, v in kwargs.items() if k not in _NOT_EXPECTED}
    observed = observed_value(stats, rule_name, kind)
    data: dict[str, Any] = {
        "dataset": name,
        "column": column,
        "expectation_type": kind,
        "expected": expected,
        "observed": observed,
        "unexpected_count": json_safe(stats.get("unexpected_count")),
        "element_count": json_safe(stats.get("element_count")),
    }
    if rule_name in ("label_share_min", "label_share_max"):
        data["positive_label"] = positive_label(dataset)
    what = _RULE_TITLES.get(rule_name or "", f"{kind} failed")
    where = f"column {column!r} of dataset {name!r}" if column else f"dataset {name!r}"
    detail = f"expected {json.dumps(expected, default=str)}; observed {json.dumps(observed, default=str)}"
    if stats.get("unexpected_count") is not None:
        detail += (
            f"; {stats['unexpected_count']} unexpected of {stats.get('element_count')} values"
            f" ({json_safe(stats.get('unexpected_percent')) or 0:.2f}% of non-null)"
        )
    return Finding(
        id=finding_id,
        severity=severity,
        title=f"{where}: {what}",
        detail=detail,
        location=f"{name}.{column}" if column else name,
        data=data,
    )


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------


def _one_line(value: object) -> str:
    return " ".join(str(value).split())[:500]


def _counts(findings: list[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        kind = finding.id.split(":", 1)[0] if ":" in finding.id else "failed_expectation"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _summary(checked: list[str], metrics: dict[str, Any]) -> str:
    n = len(checked)
    names = ", ".join(checked)
    counts: dict[str, int] = metrics["counts"]
    if not counts:
        datasets = metrics["datasets"].values()
        evaluated = sum(d.get("expectations", {}).get("evaluated", 0) for d in datasets)
        rules = sum(d.get("labelling_rules", 0) for d in datasets)
        passing = f"{evaluated - rules} expectation(s)"
        if rules:
            passing += f" and {rules} labelling rule(s)"
        return f"{n} dataset(s) ({names}) documented, pinned and passing {passing}"
    labels = {
        "failed_expectation": "failed expectation(s)",
        "fingerprint_mismatch": "pinned-version mismatch(es)",
        "unversioned_input": "unversioned input(s)",
        "undocumented_dataset": "undocumented dataset(s)",
        "undeclared_dataset": "undeclared dataset(s)",
        "not_evaluated": "expectation(s) not evaluated",
        "all_null": "all-null column(s)",
        "empty_dataset": "empty dataset(s)",
        "dataset_unreadable": "unreadable dataset(s)",
        "suite_unusable": "unusable suite(s)",
        "validation_error": "validation error(s)",
        "unrendered_pin": "unrendered pin(s)",
    }
    parts = [f"{count} {labels.get(kind, kind)}" for kind, count in sorted(counts.items())]
    return f"{n} dataset(s) ({names}): " + ", ".join(parts)
