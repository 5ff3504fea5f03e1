"""The release DAG as Airflow parses it: no import errors, and its shape follows the policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from release_gates.dag_factory import build_release_dag

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "include" / "release_policy.yaml"


def test_dags_folder_imports_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=True)
    assert bag.import_errors == {}
    assert "release_mortgage_approval" in bag.dag_ids


def test_shape_follows_the_policy() -> None:
    policy = yaml.safe_load(POLICY.read_text())
    dag = build_release_dag(POLICY)
    groups = {task_id.split(".", 1)[0] for task_id in dag.task_ids if "." in task_id}
    assert groups == {g["id"] for g in policy["gates"]} | {"signoff"}
    # Checks that compare with the image scan's digest (ops readiness, deployment identity) run after it.
    readers = {"ops_readiness": "image_scan", "deployment_identity": "image_scan"}
    for gate in policy["gates"]:
        for check in gate["checks"]:
            task = dag.get_task(f"{gate['id']}.{check.get('id', check['kind'])}")
            producers = {
                f"{g['id']}.{c.get('id', c['kind'])}"
                for g in policy["gates"]
                for c in g["checks"]
                if c["kind"] == readers.get(check["kind"])
            }
            # With a candidate in the policy, the checks also wait for the score step.
            entry = {"start", "score"} if "candidate" in policy else {"start"}
            assert task.upstream_task_ids == entry | producers
            assert f"{gate['id']}.decide" in task.downstream_task_ids
        decide = dag.get_task(f"{gate['id']}.decide")
        assert decide.trigger_rule == "all_done"
        assert {t.split(".")[1] for t in decide.downstream_task_ids} == {
            "passed",
            "remediate",
            "review",
            "blocked",
        }
    approvals = [t for t in dag.task_ids if t.startswith("signoff.release_") and not t.endswith("_answered")]
    assert sorted(approvals) == ["signoff.release_ethics_reviewer", "signoff.release_release_manager"]
    assert dag.get_task("signoff.release_ethics_reviewer").assigned_users == [
        {"id": "aisha", "name": "aisha"}
    ]
    assert dag.get_task("signoff.release_release_manager").defaults == ["Reject"]
    assert dag.get_task("seal").trigger_rule == "all_done"


def test_adding_a_gate_to_the_policy_adds_a_task_group(tmp_path: Path) -> None:
    policy = yaml.safe_load(POLICY.read_text())
    policy["gates"].append(
        {
            "id": "privacy",
            "owner": "security_engineer",
            "rationale": "Model outputs carry no personal data.",
            "checks": [{"kind": "posture", "id": "outputs", "buckets": ["release-gates-demo-artifacts"]}],
        }
    )
    del policy["approvals"]
    policy["release"]["risk_tier"] = "low"  # a high tier needs sign-off; this policy has none on purpose
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    dag = build_release_dag(path, dag_id="release_with_privacy")
    assert "privacy.outputs" in dag.task_ids and "privacy.decide" in dag.task_ids
    assert not [t for t in dag.task_ids if t.startswith("signoff.")]
    assert dag.get_task("release_decision").downstream_task_ids == {"promote", "hold"}


@pytest.mark.parametrize(
    ("conf", "field"),
    [
        ({"model_sha256": "not-a-digest"}, "model_sha256"),
        ({"model_version": ""}, "model_version"),
        ({"datasets": {"eval": 42}}, "datasets"),
    ],
)
def test_invalid_trigger_parameters_are_refused(conf: dict[str, object], field: str) -> None:
    from airflow.sdk.exceptions import ParamValidationError

    dag = build_release_dag(POLICY)
    good = {
        "model_version": "3",
        "model_uri": "m.skops",
        "model_sha256": "a" * 64,
        "image": "i.tar",
        "datasets": {},
    }
    import copy

    params = copy.deepcopy(dag.params)
    params.update(good)
    params.validate()
    bad = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError, match=field):
        bad.update({**good, **conf})  # assigning a value validates it, as a trigger does
        bad.validate()


def test_parsing_the_dag_file_imports_no_heavy_library() -> None:
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        "print(','.join(m for m in ('pandas','numpy','great_expectations','evidently','sklearn','boto3',"
        "'matplotlib','skops') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(REPO / "dags" / "release_model.py")],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ""
