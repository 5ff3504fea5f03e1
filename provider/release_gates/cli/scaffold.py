"""What ``release-gates init`` reads and writes: column proposals, the policy, the DAG file, GX suites.

Pure functions over a :class:`Plan` (no prompts, no argparse): :mod:`release_gates.cli.init` fills
the plan from flags or answers and writes what these functions return.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Column names that suggest the ground truth, the model's decision, its score, a sensitive attribute.
LABEL_HINTS = ("label", "target", "approved", "approval", "outcome", "default", "deny", "denied", "churn",
               "fraud", "income", "class", "response", "result", "y")  # fmt: skip
PREDICTION_HINTS = ("prediction", "predicted", "pred", "decision", "y_pred", "yhat")
SCORE_HINTS = ("score", "proba", "probability", "prob", "y_score")
SENSITIVE_HINTS = ("sex", "gender", "race", "ethnicity", "ethnic", "age", "age_group", "religion",
                   "nationality", "national_origin", "citizenship", "disability", "marital",
                   "marital_status", "afam", "foreign", "pregnancy", "sexual_orientation",
                   "minority")  # fmt: skip
#: Columns with at most this many distinct values get a value-set expectation.
MAX_VALUE_SET = 20
#: Rows read to propose columns and build a suite (a starter suite needs no more).
SAMPLE_ROWS = 100_000

_TYPE_LISTS = {
    "float": ["float64", "float32", "FLOAT", "REAL", "DOUBLE", "DOUBLE PRECISION", "NUMERIC"],
    "int": ["int64", "int32", "int16", "int8", "Int64", "INTEGER", "BIGINT", "SMALLINT"],
    "bool": ["bool", "boolean", "BOOLEAN"],
    "string": ["object", "str", "string", "TEXT", "VARCHAR", "CHAR"],
}


@dataclass
class DatasetInfo:
    """A dataset init read: its columns and what they hold."""

    name: str
    path: Path
    rows: int
    columns: list[str]
    kinds: dict[str, str]  # column → float | int | bool | string | other
    null_rates: dict[str, float]
    values: dict[str, list[Any]]  # low-cardinality columns → their sorted values
    sha256: str


@dataclass
class Plan:
    """Everything init writes, decided."""

    model: str
    directory: Path
    datasets: list[DatasetInfo]
    owners: dict[str, list[str]]
    emails: dict[str, str] = field(default_factory=dict)
    judged: str = ""  # the dataset fairness and drift judge (the evaluation data)
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    sensitive: list[str] = field(default_factory=list)
    target: dict[str, str] | None = None
    legal_basis: str | None = None
    data_team: str | None = None
    trusted_types: list[str] = field(default_factory=list)
    dags_dir: Path | None = None

    @property
    def reference(self) -> str:
        return next((d.name for d in self.datasets if d.name != self.judged), self.judged)

    @property
    def dag_id(self) -> str:
        return "release_" + re.sub(r"[^A-Za-z0-9_]", "_", self.model)


def read_dataset(name: str, path: Path) -> DatasetInfo:
    """Read a Parquet or CSV file's columns (and a sample of its values)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        from release_gates.parquet import read_parquet_frame

        frame = read_parquet_frame(path)
        rows = len(frame)
        frame = frame.head(SAMPLE_ROWS)
    elif suffix in (".csv", ".txt"):
        frame = pd.read_csv(path, nrows=SAMPLE_ROWS)
        rows = len(frame)
    else:
        raise ValueError(f"{path}: init reads .parquet and .csv files")
    kinds = {str(c): _kind(frame[c]) for c in frame.columns}
    values: dict[str, list[Any]] = {}
    for column in frame.columns:
        distinct = frame[column].dropna().unique()
        if 0 < len(distinct) <= MAX_VALUE_SET and kinds[str(column)] in ("int", "string", "bool"):
            values[str(column)] = sorted(_plain(v) for v in distinct)
    return DatasetInfo(
        name=name,
        path=path,
        rows=rows,
        columns=[str(c) for c in frame.columns],
        kinds=kinds,
        null_rates={str(c): float(frame[c].isna().mean()) if len(frame) else 0.0 for c in frame.columns},
        values=values,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def _kind(series: Any) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series):
        return "string"
    return "other"


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _binary(info: DatasetInfo, column: str) -> bool:
    return len(info.values.get(column, [])) == 2


def _named_like(column: str, hints: tuple[str, ...]) -> bool:
    words = re.split(r"[^a-z0-9]+", column.lower())
    return column.lower() in hints or any(word in hints for word in words)


def propose_columns(info: DatasetInfo) -> dict[str, Any]:
    """label / prediction / score / sensitive columns a dataset's names and values suggest."""
    columns = info.columns
    prediction = next((c for c in columns if _named_like(c, PREDICTION_HINTS) and _binary(info, c)), None)
    score = next(
        (c for c in columns if _named_like(c, SCORE_HINTS) and info.kinds[c] == "float" and c != prediction),
        None,
    )
    label = next(
        (
            c
            for c in columns
            if c not in (prediction, score) and _named_like(c, LABEL_HINTS) and _binary(info, c)
        ),
        None,
    )
    sensitive = [
        c
        for c in columns
        if c not in (label, prediction, score) and _named_like(c, SENSITIVE_HINTS) and c in info.values
    ]
    return {"label": label, "prediction": prediction, "score": score, "sensitive": sensitive}


def gx_suite(info: DatasetInfo, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A starter Great Expectations suite from the data: columns, types, null rates, value sets.

    ``skip``: columns the release rewrites (the candidate's prediction and score) get no expectation
    beyond being present.
    """
    notes = f"Starter suite built by release-gates init from {info.path.name} ({info.rows} rows); review it."
    expectations: list[dict[str, Any]] = [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": info.columns, "exact_match": False},
            "meta": {"notes": "Every column the data had when the policy was written is present."},
        },
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    ]
    for column in info.columns:
        if column in skip:
            continue
        rate = info.null_rates[column]
        if rate == 0:
            expectations.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}})
        else:
            mostly = max(0.0, round(1 - rate - 0.05, 3))
            expectations.append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": column, "mostly": mostly},
                    "meta": {"notes": f"{rate:.1%} nulls when the suite was built; 5 points of slack."},
                }
            )
        kind = info.kinds[column]
        if kind in _TYPE_LISTS:
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_type_list",
                    "kwargs": {"column": column, "type_list": _TYPE_LISTS[kind]},
                }
            )
        if column in info.values:
            expectations.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": column, "value_set": info.values[column]},
                }
            )
    return {"name": f"{info.name}_starter", "meta": {"notes": notes}, "expectations": expectations}


def _q(value: str) -> str:
    """A YAML scalar, quoted only when it must be."""
    return (
        value
        if re.fullmatch(r"[A-Za-z0-9_./@#-][A-Za-z0-9_./@ #-]*", value) and value[-1] != " "
        else json.dumps(value)
    )


def _list(values: list[Any]) -> str:
    return "[" + ", ".join(_q(str(v)) if isinstance(v, str) else json.dumps(v) for v in values) + "]"


def _tier_lines(plan: Plan) -> list[str]:
    """The highest risk tier the generated policy meets (``high`` needs a fairness check and two
    distinct approvers: release_gates.policy.tiers); a lower one says what raising it takes."""
    roles = list(plan.owners)
    approvers = [r for r in roles if r != roles[0]] or roles
    if plan.label and plan.prediction and plan.sensitive and len(set(approvers)) >= 2:
        return ["  risk_tier: high                 # low | medium | high | critical (policy reference)"]
    return [
        "  risk_tier: medium               # low | medium | high | critical (policy reference)",
        "  # high needs a fairness check and sign-off by two distinct approver roles; `release-gates",
        "  # policy validate` names what is missing after you raise it.",
    ]


def policy_text(plan: Plan, *, policy_dir: Path, suites: dict[str, str]) -> str:
    """The commented release policy."""
    lines = [
        "# yaml-language-server: $schema=release-policy.schema.json",
        f"# Release policy of {plan.model}, started with `release-gates init`. Every field is described in",
        "# the policy reference (`release-gates policy reference`, docs/policy-reference.md in the project).",
        "# Validate after every edit: release-gates policy validate <this file>",
        "policy_version: 1",
        "",
        "release:",
        f"  model: {_q(plan.model)}",
        *_tier_lines(plan),
        "",
        "# Owner roles: the Airflow users who act for each role (answer its human steps, sign off).",
        "owners:",
    ]
    for role, users in plan.owners.items():
        lines += [f"  {role}:", f"    users: {_list(users)}"]
        if role in plan.emails:
            lines.append(f"    email: {_q(plan.emails[role])}")
    lines += [
        "",
        "# Severity → time to fix a failed check (keys in any case: critical or CRITICAL).",
        "remediation_sla: {critical: 1d, high: 3d, medium: 10d, low: 30d}",
        "",
        "# Paths are relative to this file. sha256 pins the content: lineage FAILs when a file changes",
        "# (re-pin after a new extract: sha256sum FILE).",
        "datasets:",
    ]
    for info in plan.datasets:
        lines += _dataset_lines(plan, info, policy_dir)
    if plan.prediction:
        lines += [
            "",
            "# The model under release, pinned by the trigger's model_uri / model_sha256 (checked before the",
            "# file is read). The release scores the evaluation data with it: fairness and drift judge the",
            "# candidate's own decisions, not a file that came with it.",
            "candidate:",
            '  uri: "{{ params.model_uri }}"',
            '  sha256: "{{ params.model_sha256 }}"',
            "  format: skops",
        ]
        if plan.trusted_types:
            lines.append(
                f"  trusted_types: {_list(plan.trusted_types)}   # read from the model file; review them"
            )
        lines += ["scoring:", f"  datasets: [{plan.judged}]"]
    roles = list(plan.owners)
    data_owner = roles[0]
    lines += _gate_lines(plan, suites, roles)
    approvers = [r for r in roles if r != data_owner] or roles
    lines += [
        "",
        "# Sign-off after every gate: one distinct person per role, never the user who triggered the run.",
        "approvals:",
        "  release:",
        f"    roles: {_list(approvers)}",
        "    timeout: 24h                  # no answer in time is a rejection",
    ]
    if plan.target:
        lines += ["", "# Where an approved release is promoted (the version is the trigger's model_version).",
                  "deployment:", "  target:"]  # fmt: skip
        lines += [f"    {key}: {_q(value)}" for key, value in plan.target.items()]
    return "\n".join(lines) + "\n"


def dag_text(plan: Plan, policy_path: Path, dag_path: Path) -> str:
    """The DAG file: Airflow's safe mode parses only files that mention both "airflow" and "dag"."""
    relative = Path(_relative(policy_path, dag_path.parent)).as_posix()
    return f'''"""Airflow DAG: the release of {plan.model}, built from its release policy.

Generated by `release-gates init` (airflow-provider-release-gates). Trigger the DAG with model_version,
model_uri and model_sha256; answer the human steps under Required Actions in the Airflow UI.
"""

from __future__ import annotations

from pathlib import Path

from release_gates import build_release_dag

POLICY = (Path(__file__).resolve().parent / {json.dumps(relative)}).resolve()

dag = build_release_dag(POLICY, dag_id={json.dumps(plan.dag_id)})
'''


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path.resolve(), start.resolve())


def _dataset_lines(plan: Plan, info: DatasetInfo, policy_dir: Path) -> list[str]:
    relative = Path(_relative(info.path, policy_dir)).as_posix()
    description = f"{info.name} data of {plan.model} ({info.rows} rows, {len(info.columns)} columns)"
    lines = [
        f"  {info.name}:",
        f"    uri: {_q(relative)}",
        f"    sha256: {info.sha256}",
        f"    owner: {_q(plan.data_team or next(iter(plan.owners)))}",
        f"    description: {_q(description)}",
    ]
    if plan.legal_basis:
        lines.append(f"    legal_basis: {_q(plan.legal_basis)}")
    else:
        lines.append("    # legal_basis: why this data may be used (lineage FAILs until it is documented)")
    if plan.label and plan.label in info.columns:
        lines.append(f"    label: {_q(plan.label)}")
        if plan.label in info.values and len(info.values[plan.label]) == 2:
            lines.append(
                f"    label_values: {_list(info.values[plan.label])}   # negative first, positive last"
            )
    if info.name == plan.judged and plan.prediction:
        lines.append(f"    prediction: {_q(plan.prediction)}")
        if plan.score and plan.score in info.columns:
            lines.append(f"    score: {_q(plan.score)}")
    return lines


def _gate_lines(plan: Plan, suites: dict[str, str], roles: list[str]) -> list[str]:
    data_owner = roles[0]
    ethics_owner = roles[1] if len(roles) > 2 else roles[0]
    lines = [
        "",
        "gates:",
        "  - id: data",
        f"    owner: {data_owner}",
        "    rationale: The data the model is judged on is the data that was declared, documented and",
        "      pinned, and it has not drifted from the training data.",
        "    checks:",
        "      - kind: lineage",
        f"        datasets: {_list([d.name for d in plan.datasets])}",
    ]
    if suites:
        lines.append(
            "        suites: {" + ", ".join(f"{name}: {_q(path)}" for name, path in suites.items()) + "}"
        )
    if len(plan.datasets) > 1:
        lines += [
            "      - kind: drift",
            f"        reference: {plan.reference}",
            f"        current: {plan.judged}",
            "        drift_share: 0.5              # FAIL when half the columns drift",
        ]
    if plan.label and plan.prediction and plan.sensitive:
        lines += [
            "  - id: ethics",
            f"    owner: {ethics_owner}",
            "    rationale: Decisions must not disadvantage a protected group.",
            "    mitigations: [reweight the training data, adjust the decision threshold per review]",
            "    checks:",
            "      - kind: fairness",
            f"        data: {plan.judged}",
            f"        sensitive_features: {_list(plan.sensitive)}",
            "        min_group_size: 30",
            "        criteria:",
            "          - {metric: selection_rate, ratio_min: 0.8, severity: HIGH}   # the four-fifths rule",
        ]
    else:
        lines.append(
            "  # no ethics gate: init found no label, prediction and sensitive columns (see the reference)"
        )
    return lines
