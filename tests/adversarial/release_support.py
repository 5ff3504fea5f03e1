"""Running the release DAG with dag.test() for the adversarial tests: a policy, files, a trigger."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer

OWNERS = """\
owners:
  data_steward: {users: [tomas], email: data@example.org}
  release_manager: {users: [admin]}
remediation_sla: {critical: 24h, high: 3d, medium: 10d, low: 30d}
approvals:
  release: {roles: [data_steward, release_manager], timeout: 1h}
"""

APPROVE_ALL = {
    "signoff.release_data_steward": Answer("tomas", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class ReleaseRun:
    run: Any
    store: EvidenceStore
    release_id: str
    answered: list[dict[str, Any]]

    def records(self, kind: str | None = None) -> list[Any]:
        return self.store.records(self.release_id, kind=kind) if kind else self.store.records(self.release_id)

    def results(self) -> dict[str, dict[str, Any]]:
        return {r.payload["check_id"]: r.payload for r in self.records("check_result")}

    def sealed(self) -> dict[str, Any]:
        payload: dict[str, Any] = self.records("release_sealed")[0].payload
        return payload

    def task_states(self) -> dict[str, str]:
        return {ti.task_id: str(ti.state) for ti in self.run.get_task_instances()}

    def xcom_text(self) -> str:
        """Every XCom value the run wrote, as one JSON text."""
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(XComModel).filter(
                XComModel.dag_id == self.run.dag_id, XComModel.run_id == self.run.run_id
            )
            return json.dumps([[row.task_id, row.key, row.value] for row in rows], default=str)

    def evidence_text(self) -> str:
        return json.dumps([r.payload for r in self.records()], default=str)


def run(
    workdir: Path,
    name: str,
    policy: str,
    datasets: dict[str, Any],
    script: dict[str, Answer] | None = None,
) -> ReleaseRun:
    """dag.test() the release DAG of ``policy`` (written to ``workdir``) with these ``datasets``."""
    (workdir / "policy.yaml").write_text(policy)
    model = workdir / "model.bin"
    model.write_bytes(b"candidate model bytes")
    evidence_url = f"sqlite:///{workdir / 'evidence.db'}"
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = evidence_url
    dag = build_release_dag(
        workdir / "policy.yaml", dag_id=f"release_adv_{name}", default_args={"retries": 0}
    )
    conf = {
        "model_version": "7",
        "model_uri": str(model),
        "model_sha256": sha256_of(model),
        "image": "registry.example.org/model@sha256:" + "a" * 64,
        "datasets": datasets,
    }
    dag_run, answered = run_release(dag, conf, script or {}, passwords=TEST_USERS)
    return ReleaseRun(dag_run, EvidenceStore(evidence_url), f"{dag.dag_id}__{dag_run.run_id}", answered)


def warehouse_policy(model: str) -> str:
    """A policy whose ``eval`` is a warehouse table a run may re-point only at allow-listed tables."""
    return f"""\
policy_version: 1
release: {{model: {model}, risk_tier: high}}
{OWNERS}
datasets:
  eval:
    uri: sql://warehouse/scored_eval
    owner: data_steward
    description: evaluation set
    legal_basis: synthetic
    label: y
    prediction: p
    label_values: [0, 1]
    overrides: {{connections: [warehouse], tables: [scored_eval]}}
gates:
  - id: ethics
    owner: data_steward
    rationale: Four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
"""
