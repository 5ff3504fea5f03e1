"""The policy reference, the JSON Schema, the packaged example and the messages a new user meets."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from release_gates.kinds import CHECK_KINDS
from release_gates.policy import PolicyError, ReleasePolicy, parse_policy
from release_gates.policy.describe import nested_models
from release_gates.policy.reference import policy_json_schema, policy_reference
from release_gates.results import Severity

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "policy-reference.md"

MINIMAL = """\
policy_version: 1
release: {model: income-classifier}
owners:
  ml_owner: {users: [alice]}
remediation_sla: {CRITICAL: 1d, High: 2d}
datasets:
  eval: {uri: eval.parquet, label: y, prediction: p}
gates:
  - id: ethics
    owner: ml_owner
    rationale: fair
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [sex]
        criteria: [{metric: selection_rate, ratio_min: 0.8, severity: high}]
      - kind: image_scan
        image: registry.example.org/m@sha256:{digest}
        max_findings: {critical: 0, High: 2}
        misconfig_max: {HIGH: 1, medium: 5}
""".replace("{digest}", "a" * 64)


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.yaml")
    return [f"{p.field}: {p.message}" for p in caught.value.problems]


def all_models() -> list[type]:
    seen: list[type] = []
    todo: list[type] = [ReleasePolicy, *(kind.spec for kind in CHECK_KINDS)]
    while todo:
        model = todo.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            todo += nested_models(info.annotation)
    return seen


def test_the_committed_reference_is_the_generated_one() -> None:
    assert REFERENCE.read_text(encoding="utf-8") == policy_reference(), (
        "docs/policy-reference.md is stale: release-gates policy reference > docs/policy-reference.md"
    )


@pytest.mark.parametrize("model", all_models(), ids=lambda m: m.__name__)
def test_every_policy_field_has_a_description(model: type) -> None:
    undocumented = [name for name, info in model.model_fields.items() if not info.description]
    assert not undocumented, f"{model.__name__}: fields without a description: {undocumented}"


def test_the_reference_lists_every_kind_and_section() -> None:
    text = policy_reference()
    for kind in CHECK_KINDS:
        assert f"## gates[].checks[] — kind: {kind.name}" in text
    for heading in (
        "## Top level",
        "## release",
        "## remediation_sla",
        "## approvals.<name>",
        "## monitoring",
    ):
        assert heading in text
    assert "| `policy_version` | one of the allowed values | *required* | 1 | `policy_version: 1` |" in text


def test_the_schema_validates_the_example_and_accepts_either_case() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from release_gates.examples import example_policy_text

    schema = policy_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for text in (example_policy_text(), MINIMAL):
        document = yaml.load(text, Loader=yaml.SafeLoader)
        # YAML 1.1 loaders read dates as dates; editors see them as strings
        errors = [e.message for e in validator.iter_errors(json.loads(json.dumps(document, default=str)))]
        assert not errors, errors[:5]
    broken = yaml.safe_load(MINIMAL.replace("owners:", "ownerz:"))
    assert list(validator.iter_errors(json.loads(json.dumps(broken, default=str))))


def test_severities_in_either_case_everywhere_are_normalised() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.remediation_sla.critical.days == 1 and policy.remediation_sla.high.days == 2
    fairness, scan = policy.gates[0].checks
    assert fairness.kind == "fairness" and fairness.criteria[0].severity is Severity.HIGH
    assert scan.kind == "image_scan"
    assert scan.max_findings == {Severity.CRITICAL: 0, Severity.HIGH: 2}
    assert scan.misconfig_max == {Severity.HIGH: 1, Severity.MEDIUM: 5}


def test_a_missing_field_says_what_to_write() -> None:
    problems = problems_of(MINIMAL.replace("policy_version: 1\n", ""))
    assert problems == ["policy_version: required field is missing (write `policy_version: 1`)"]


def test_an_unknown_field_suggests_the_synonym_a_new_user_meant() -> None:
    text = MINIMAL.replace("ml_owner: {users: [alice]}", "ml_owner: {users: [alice], contact: a@example.org}")
    assert problems_of(text) == [
        "owners.ml_owner.contact: unknown field (did you mean 'email' or 'slack_channel'?)"
    ]
    text = MINIMAL.replace("sensitive_features: [sex]", "protected_attributes: [sex]")
    assert "gates[0].checks[0].protected_attributes: unknown field (did you mean 'sensitive_features'?)" in (
        problems_of(text)
    )


def test_a_list_where_named_sign_offs_belong_shows_the_shape() -> None:
    (problem,) = problems_of(MINIMAL + "approvals:\n  roles: [ml_owner]\n")
    assert problem.startswith("approvals.roles: approvals maps a name to each entry")
    assert "`approvals: {release: {roles: [ml_owner, release_manager]}}`" in problem


def test_the_packaged_example_validates(tmp_path: Path) -> None:
    from release_gates.cli import main
    from release_gates.examples import example_policy_text

    path = tmp_path / "release_policy.yaml"
    path.write_text(example_policy_text(), encoding="utf-8")
    assert main(["policy", "validate", str(path)]) == 0
    packaged = REPO / "provider" / "release_gates" / "examples" / "release_policy.yaml"
    assert packaged.read_text(encoding="utf-8") == example_policy_text()


def test_build_release_dag_imports_from_the_package_without_importing_airflow_first() -> None:
    code = textwrap.dedent(
        """
        import sys
        import release_gates
        assert "airflow" not in sys.modules and "release_gates.dag_factory" not in sys.modules
        from release_gates import build_release_dag
        from release_gates.dag_factory import build_release_dag as canonical
        assert build_release_dag is canonical
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
