"""The release attestation of a real release run: dag.test(), humans through Airflow's REST API.

The signing key reaches the seal step as an Airflow connection in ``AIRFLOW_CONN_RELEASE_GATES_SIGNING``
(JSON), and the policy requires it. What the seal writes must verify offline with ``release-gates attest
verify --bundle``; a bundle whose records were rewritten must not.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from release_gates.cli import main
from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore, verify_bundle
from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.evidence.signing import SigningKey
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.integration.test_release_dag import APPROVE_ALL, POLICY, eval_frame

pytestmark = pytest.mark.integration


def _verify(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["attest", "verify", *argv], out=out), out.getvalue()


def _rehashed(bundle: dict[str, Any]) -> dict[str, Any]:
    """Every hash recomputed after an edit, checkpoints dropped: a bundle that verifies on its own."""
    previous = GENESIS_HASH
    for row in sorted(bundle["records"], key=lambda r: int(r["seq"])):
        row["payload_sha256"] = sha256_text(canonical_json(row["payload"]))
        row["prev_hash"] = previous
        row["hash"] = previous = record_hash(
            release_id=row["release_id"], seq=row["seq"], kind=row["kind"], recorded_at=row["recorded_at"],
            actor=row["actor"], payload_sha256=row["payload_sha256"], prev_hash=row["prev_hash"],
        )  # fmt: skip
    bundle["head"]["hash"] = previous
    bundle["checkpoints"] = []
    return bundle


def test_a_sealed_release_carries_an_attestation_that_verifies_against_its_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SigningKey.generate()
    conn = {"conn_type": "generic", "password": key.private_pem()}
    monkeypatch.setenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", json.dumps(conn))
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY + "evidence: {signing: {required: true}}\n")
    eval_frame(2000, 2000, 0.5, 0.49).to_parquet(tmp_path / "eval.parquet")
    model = tmp_path / "model.bin"
    model.write_bytes(b"candidate model bytes")
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    dag = build_release_dag(policy, dag_id="release_test_attested", default_args={"retries": 0})
    image_digest = "a" * 64
    conf = {
        "model_version": "7",
        "model_uri": str(model),
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "image": f"registry.example.org/model@sha256:{image_digest}",
    }
    script: dict[str, Answer] = dict(APPROVE_ALL)
    run, answered = run_release(dag, conf, script, passwords=TEST_USERS)
    assert not [a for a in answered if a.get("unscripted")]
    store = EvidenceStore(evidence_url)
    release_id = f"{dag.dag_id}__{run.run_id}"
    seal = store.records(release_id, kind="release_sealed")[0].payload
    assert seal["decision"] == "released"
    entry = seal["attestation"]
    assert entry["status"] == "signed" and entry["key_id"] == key.key_id
    envelope = Path(entry["uri"].removeprefix("file://"))
    assert hashlib.sha256(envelope.read_bytes()).hexdigest() == entry["sha256"]
    assert "attestation.intoto.json" in (envelope.parent / "summary.html").read_text()  # the report lists it

    public = tmp_path / "signing.pub"
    public.write_text(key.public_pem)
    bundle_path = tmp_path / "bundle.json"
    store.export_to(release_id, bundle_path)
    code, text = _verify(str(envelope), "--key", str(public), "--bundle", str(bundle_path), "--json")
    assert code == 0, text
    report = json.loads(text)
    assert report["evidence_checked"] and report["decision"] == "released"
    subjects = {s["name"]: s["digest"]["sha256"] for s in report["subjects"]}
    assert subjects["model:test-model"] == conf["model_sha256"]  # verified by the start step
    assert subjects["image:registry.example.org/model"] == image_digest
    assert subjects["dataset:eval"] == hashlib.sha256((tmp_path / "eval.parquet").read_bytes()).hexdigest()

    bundle = json.loads(bundle_path.read_text())
    edited = copy.deepcopy(bundle)  # an edited record: the bundle itself no longer verifies
    approvals = [r for r in edited["records"] if r["kind"] == "human_decision"]
    next(r for r in approvals if r["payload"]["user"] == "admin")["payload"]["user"] = "mallory"
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    code, text = _verify(str(envelope), "--key", str(public), "--bundle", str(tmp_path / "edited.json"))
    assert code == 1 and "the evidence bundle does not verify" in text, text

    (tmp_path / "rewritten.json").write_text(json.dumps(_rehashed(edited)))  # rewritten: it verifies alone
    assert verify_bundle(tmp_path / "rewritten.json").ok
    code, text = _verify(str(envelope), "--key", str(public), "--bundle", str(tmp_path / "rewritten.json"))
    assert code == 1 and 'user is "admin" in the attestation, "mallory" in the evidence' in text, text
