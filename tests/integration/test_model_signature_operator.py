"""The model signature operator in Airflow: a real ``dag.test()`` run, the candidate rendered from the
run's params, every verdict recorded in the evidence chain.

Keys and signatures are made here (ECDSA P-256, model_signing's key signer); nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from release_gates.evidence import EvidenceStore
from release_gates_testing.airflow import AirflowEnv

pytestmark = pytest.mark.integration

signing = pytest.importorskip("model_signing.signing")


def _key_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


POLICY = """\
policy_version: 1
release: {model: signed-model}
owners: {security_engineer: {users: [bob]}}
candidate:
  uri: "{{ params.model_uri }}"
  sha256: "{{ params.model_sha256 }}"
gates:
  - id: provenance
    owner: security_engineer
    rationale: Only a model signed by the release key ships.
    checks:
      - kind: model_signature
        public_key: keys/release.pub
      - kind: model_signature
        id: stranger
        public_key: keys/stranger.pub
      - kind: model_signature
        id: not_yet
        public_key: keys/release.pub
        signature: "{{ params.model_uri }}.v2.sig"
        on_missing: inconclusive
"""


def test_dag_test_records_pass_fail_inconclusive_and_error(airflow_home: AirflowEnv, tmp_path: Path) -> None:
    root = tmp_path / "release"
    (root / "keys").mkdir(parents=True)
    private, _ = _key_pair(root / "keys", "release")
    _key_pair(root / "keys", "stranger")
    model = tmp_path / "artifacts" / "model.skops"
    model.parent.mkdir()
    model.write_bytes(b"the candidate's weights" * 100)
    signing.Config().use_elliptic_key_signer(private_key=private).sign(
        model, model.with_name("model.skops.sig")
    )
    policy = root / "policy.yaml"
    policy.write_text(POLICY)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"

    release_pub = str(root / "keys" / "release.pub")
    dag_file = airflow_home.write_dag(
        "model_signature_test.py",
        f"""
        from datetime import datetime

        from airflow.sdk import DAG

        from release_gates.operators.model_signature import ModelSignatureCheckOperator

        POLICY = {str(policy)!r}

        with DAG(
            "model_signature_test",
            schedule=None,
            start_date=datetime(2026, 1, 1),
            params={{"model_uri": {str(model)!r}, "model_sha256": {sha!r}}},
        ):
            ModelSignatureCheckOperator(
                task_id="signed", check_id="provenance.model_signature", policy_path=POLICY
            )
            for task in ("stranger", "not_yet"):
                ModelSignatureCheckOperator(task_id=task, check_id=f"provenance.{{task}}", policy_path=POLICY)
            # No policy, so no candidate: the check cannot run (ERROR, recorded; the task fails).
            ModelSignatureCheckOperator(
                task_id="no_candidate",
                check_id="provenance.no_candidate",
                spec={{"public_key": {release_pub!r}}},
                retries=3,
            )
        """,
    )
    run = airflow_home.run_dag(
        dag_file, "model_signature_test", env={"RELEASE_GATES_EVIDENCE_URL": evidence_url}
    )

    for task in ("signed", "stranger", "not_yet"):
        assert run.tasks[task].state == "success", run.log[-4000:]
    assert run.tasks["no_candidate"].state == "failed"  # a permanent ERROR: failed without retries
    statuses = {task: run.tasks[task].xcom["status"] for task in ("signed", "stranger", "not_yet")}
    assert statuses == {"signed": "PASS", "stranger": "FAIL", "not_yet": "INCONCLUSIVE"}

    release_id = run.tasks["signed"].xcom["release_id"]
    records = EvidenceStore(evidence_url).records(release_id)
    by_check = {r.payload["check_id"]: r.payload for r in records if r.kind == "check_result"}
    signed = by_check["provenance.model_signature"]
    assert signed["inputs"]["model"]["sha256_pinned"] == sha  # the run's pin, rendered from params
    assert signed["metrics"]["signed_digest"] == sha
    assert signed["inputs"]["policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
    assert [f["id"] for f in by_check["provenance.stranger"]["findings"]] == ["signature_invalid"]
    assert by_check["provenance.not_yet"]["findings"][0]["location"] == f"{model}.v2.sig"
    error = by_check["provenance.no_candidate"]
    assert error["status"] == "ERROR" and "no candidate" in error["summary"]
    assert "PRIVATE KEY" not in "".join(str(r.payload) for r in records)
