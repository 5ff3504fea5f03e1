"""OpenLineage facets of real check runs: the fairness operator runs on data the test writes, and what
``get_openlineage_facets_on_complete`` returns is checked for content and validated against schemas.

Schemas, offline: the run facet against the JSON Schema the package ships (resolved by the ``$id`` its
``_schemaURL`` names); the dataset facet against a schema built from openlineage-python's own
generated classes (they are generated from the OpenLineage spec, which the client does not ship).
"""

from __future__ import annotations

import contextlib
import json
import types
from pathlib import Path
from typing import Any

import attr
import jsonschema
import pandas as pd
import pytest
from airflow.sdk import DAG
from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq
from openlineage.client.serde import Serde
from referencing import Registry, Resource

from release_gates.evidence import EvidenceStore
from release_gates.operators.base import CheckErrorException
from release_gates.operators.fairness import SubgroupFairnessCheckOperator
from release_gates.operators.lineage_facets import RUN_FACET_KEY, RUN_FACET_SCHEMA_PATH, dataset_name

POLICY = """\
policy_version: 1
release: {model: lineage-model}
owners: {ethics_reviewer: {users: [aisha]}}
datasets:
  eval: {uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
         label_values: [0, 1]}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        severity: CRITICAL
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
"""


def _run(tmp_path: Path, *, rate_b: float | None) -> tuple[SubgroupFairnessCheckOperator, EvidenceStore]:
    """Execute the fairness operator on eval.parquet (group b selected at ``rate_b``; None: no file)."""
    (tmp_path / "policy.yaml").write_text(POLICY)
    if rate_b is not None:
        n = 1000
        chosen = [1] * round(n * rate_b) + [0] * (n - round(n * rate_b))
        pd.DataFrame(
            {"g": ["a"] * n + ["b"] * n, "y": [0, 1] * n, "p": [1, 0] * (n // 2) + chosen}
        ).to_parquet(tmp_path / "eval.parquet")
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    with DAG("release_lineage", schedule=None):
        operator = SubgroupFairnessCheckOperator(
            task_id="fairness",
            check_id="ethics.fairness",
            policy_path=str(tmp_path / "policy.yaml"),
            release_id="rel-lineage",
        )
    operator.__dict__["evidence_store"] = store  # the cached_property's slot: this test's own store
    context: Any = {"ti": types.SimpleNamespace(try_number=1)}
    # An ERROR result is recorded, then the task raises: the case the attack test looks at.
    with contextlib.suppress(CheckErrorException):
        operator.execute(context)
    return operator, store


def _schema_of(cls: type[Any]) -> dict[str, Any]:
    """A JSON Schema of an openlineage-python attrs class: its fields, their JSON types, the required
    ones (no default) — the shape the client was generated from the spec with."""
    kinds = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}
    properties: dict[str, Any] = {}
    required = []
    for field in attr.fields(cls):
        name = field.alias if field.name.startswith("_") else field.name
        type_text = str(field.type)
        if type_text.startswith("list["):
            properties[name] = {"type": "array", "items": _schema_of(dq.Assertion)}
        elif type_text.startswith("dict"):
            properties[name] = {"type": ["object", "null"]}
        else:
            json_types = [kinds[t.strip()] for t in type_text.split("|") if t.strip() in kinds]
            nullable = ["null"] if "None" in type_text else []
            properties[name] = {"type": json_types + nullable}
        if field.default is attr.NOTHING:
            required.append(name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _validate_run_facet(facet: Any) -> dict[str, Any]:
    shipped = json.loads(RUN_FACET_SCHEMA_PATH.read_text())
    as_dict: dict[str, Any] = Serde.to_dict(facet)
    uri, _, pointer = as_dict["_schemaURL"].partition("#")
    assert uri == shipped["$id"]  # the facet names the schema the package ships
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(shipped))
    validator = jsonschema.Draft202012Validator({"$ref": f"{uri}#{pointer}"}, registry=registry)
    validator.validate(as_dict)
    return as_dict


def _validate_assertions(dataset: Any) -> list[dict[str, Any]]:
    facet = dataset.inputFacets["dataQualityAssertions"]
    assert isinstance(facet, dq.DataQualityAssertionsDatasetFacet)
    as_dict: dict[str, Any] = Serde.to_dict(facet)
    assert as_dict["_schemaURL"].endswith(
        "DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet"
    )
    body = {k: v for k, v in as_dict.items() if not k.startswith("_")}
    jsonschema.Draft202012Validator(_schema_of(dq.DataQualityAssertionsDatasetFacet)).validate(body)
    assertions: list[dict[str, Any]] = body["assertions"]
    return assertions


def test_a_passing_check_reports_its_dataset_assertions_verdict_and_chain_head(tmp_path: Path) -> None:
    operator, store = _run(tmp_path, rate_b=0.5)
    lineage = operator.get_openlineage_facets_on_complete(task_instance=None)
    [dataset] = lineage.inputs
    assert (dataset.namespace, dataset.name) == ("file", str(tmp_path / "eval.parquet"))
    assertions = _validate_assertions(dataset)
    overall, criterion = assertions[0], assertions[1]
    assert (overall["assertion"], overall["name"], overall["success"], overall["severity"]) == (
        "fairness", "ethics.fairness", True, "critical"
    )  # fmt: skip
    assert criterion["assertion"] == "selection_rate" and criterion["success"] is True
    assert criterion["column"] == "g" and criterion["expected"] == "ratio_min 0.8"
    run = _validate_run_facet(lineage.run_facets[RUN_FACET_KEY])
    record = store.records("rel-lineage", kind="check_result")[-1]
    assert (run["verdict"], run["gate"], run["releaseId"]) == ("PASS", "ethics", "rel-lineage")
    assert (run["evidenceSeq"], run["evidenceHead"]) == (record.seq, record.hash)
    assert run["evidenceHead"] == store.chain("rel-lineage").head_hash


def test_a_failing_check_reports_failed_assertions_and_its_findings(tmp_path: Path) -> None:
    operator, _ = _run(tmp_path, rate_b=0.25)
    lineage = operator.get_openlineage_facets_on_complete(task_instance=None)
    assertions = _validate_assertions(lineage.inputs[0])
    assert [a["success"] for a in assertions] == [False] * len(assertions)
    assert any(a["assertion"] == "finding" for a in assertions)  # the breach, with its severity
    assert _validate_run_facet(lineage.run_facets[RUN_FACET_KEY])["verdict"] == "FAIL"


def test_an_errored_check_is_never_reported_as_successful(tmp_path: Path) -> None:
    """Attack: the data is missing, so the check ends ERROR (recorded, then the task raises). Neither
    facet method may turn that into a successful assertion."""
    operator, store = _run(tmp_path, rate_b=None)
    assert store.records("rel-lineage", kind="check_result")[-1].payload["status"] == "ERROR"
    for lineage in (
        operator.get_openlineage_facets_on_failure(task_instance=None),
        operator.get_openlineage_facets_on_complete(task_instance=None),
    ):
        assertions = _validate_assertions(lineage.inputs[0])
        assert assertions and not any(a["success"] for a in assertions)
        assert _validate_run_facet(lineage.run_facets[RUN_FACET_KEY])["verdict"] == "ERROR"


def test_a_check_that_left_no_result_reports_no_assertion(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    with DAG("release_lineage", schedule=None):
        operator = SubgroupFairnessCheckOperator(
            task_id="fairness", check_id="ethics.fairness", policy_path=str(tmp_path / "policy.yaml")
        )
    lineage = operator.get_openlineage_facets_on_failure(task_instance=None)
    assert _validate_assertions(lineage.inputs[0]) == []
    run = _validate_run_facet(lineage.run_facets[RUN_FACET_KEY])
    assert (run["verdict"], run.get("evidenceSeq"), run.get("evidenceHead")) == ("ERROR", None, None)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/dir/eval.parquet", ("s3://bucket", "dir/eval.parquet")),
        ("sql://warehouse/scored_eval", ("sql://warehouse", "scored_eval")),
        ("/data/eval.parquet", ("file", "/data/eval.parquet")),
        ("s3://user:secret@bucket/k.csv", ("s3://user:***@bucket", "k.csv")),
    ],
)
def test_dataset_names_follow_openlineage_naming_without_secrets(uri: str, expected: tuple[str, str]) -> None:
    assert dataset_name(uri) == expected
