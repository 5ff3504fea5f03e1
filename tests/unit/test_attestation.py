"""The signed release attestation: built at the real seal step, verified offline, attacked.

Each release trail is written the way the release DAG writes it (start, score, check results, gate
decisions from ``decide_gate``, human answers, promotion), then sealed by the real
``SealReleaseOperator``. The signing key reaches it as an Airflow connection in an
``AIRFLOW_CONN_…`` environment variable, as in any deployment without a secrets backend.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException
from securesystemslib.dsse import Envelope

from release_gates.cli import main
from release_gates.evidence import EvidenceStore, verify_bundle
from release_gates.evidence.attestation import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    build_statement,
    envelope_bytes,
    sign_statement,
    verify_attestation,
)
from release_gates.evidence.canonical import GENESIS_HASH, canonical_json, record_hash, sha256_text
from release_gates.evidence.signing import PublicKeys, SigningKey, SigningKeyError, key_id_of
from release_gates.gates import HumanAnswer, HumanChoice, decide_gate, latest_results
from release_gates.operators.release import SealReleaseOperator
from release_gates.reports.seal import attestation_until_sealed
from release_gates.results import CheckResult, Status

POLICY = """\
policy_version: 1
release: {model: credit-model, risk_tier: high}
owners:
  ethics_reviewer: {users: [aisha]}
  security_engineer: {users: [li]}
  release_manager: {users: [admin]}
datasets:
  eval: {uri: eval.parquet, owner: data team, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
  - id: security
    owner: security_engineer
    rationale: No critical vulnerabilities may ship.
    checks:
      - kind: image_scan
        image: "{{ params.image }}"
        max_findings: {CRITICAL: 0}
approvals:
  release: {roles: [ethics_reviewer, release_manager], timeout: 1h}
"""
APPROVALS = ["signoff.release_ethics_reviewer", "signoff.release_release_manager"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MODEL_SHA, SOURCE_SHA, SCORED_SHA = "1" * 64, "2" * 64, "3" * 64
IMAGE_DIGEST = "4" * 64
IMAGE = f"registry.example.org/credit@sha256:{IMAGE_DIGEST}"


def _result(check_id: str, kind: str, inputs: dict[str, Any]) -> dict[str, Any]:
    return CheckResult(
        check_id=check_id, kind=kind, status=Status.PASS, summary="within policy", inputs=inputs,
        started_at=T0, finished_at=T0,
    ).to_dict()  # fmt: skip


def record_release(store: EvidenceStore, release_id: str, policy_sha256: str) -> None:
    """A release that passes both gates and is approved by two people, recorded as the DAG does."""
    started = {
        "model": "credit-model",
        "risk_tier": "high",
        "policy": {"source": "policy.yaml", "sha256": policy_sha256},
        "inputs": {"model_version": "7", "model_uri": "model.skops", "model_sha256": MODEL_SHA,
                   "model_sha256_verified": MODEL_SHA, "image": IMAGE},
        "gates": ["ethics", "security"],
        "checks": ["ethics.fairness", "security.image_scan"],
        "dag_id": "release_credit",
        "run_id": "manual__1",
        "triggered_by": "ci-bot",
    }  # fmt: skip
    store.append(release_id, "release_started", started)
    source = {"uri": "eval.parquet", "sha256": SOURCE_SHA, "bytes": 10}
    artifact = {"uri": "file:///scored/eval.parquet", "sha256": SCORED_SHA}
    store.append(release_id, "model_scored", {
        "status": "OK",
        "model": {"uri": "model.skops", "sha256": MODEL_SHA, "format": "skops"},
        "datasets": {"eval": {"source": source, "rows": 400, "artifact": artifact}},
    })  # fmt: skip
    scored = {"uri": "/scored/eval.parquet", "sha256": SCORED_SHA, "rows": 400, "predictions": "scored",
              "artifact_sha256": SCORED_SHA, "model_sha256": MODEL_SHA, "source": source}  # fmt: skip
    scan = {"reference": IMAGE, "image_digest": f"sha256:{IMAGE_DIGEST}", "image_digest_source": "reference"}
    store.append(release_id, "check_result", _result("ethics.fairness", "fairness", {"eval": scored}))
    store.append(release_id, "check_result", _result("security.image_scan", "image_scan", scan))
    results = latest_results(store.records(release_id))
    for gate, check in (("ethics", "ethics.fairness"), ("security", "security.image_scan")):
        store.append(release_id, "gate_decision", decide_gate(gate, [check], results).to_payload())
    for task_id, user in zip(APPROVALS, ("aisha", "admin"), strict=True):
        answer = HumanAnswer(task_id, None, HumanChoice.APPROVE, user, T0.isoformat(), "", True)
        role = task_id.removeprefix("signoff.release_")
        payload = {**answer.to_payload(), "role": role, "approval": "release"}
        store.append(release_id, "human_decision", payload, actor=user)
    store.append(release_id, "promotion", {"status": "done", "target": None})


class Release:
    """One recorded release in ``tmp``, sealed by the real seal step."""

    def __init__(self, tmp: Path, monkeypatch: pytest.MonkeyPatch, *, signing: str = "") -> None:
        self.tmp = tmp
        self.policy_path = tmp / "policy.yaml"
        self.policy_path.write_text(POLICY + signing)
        url = f"sqlite:///{tmp / 'evidence.db'}"
        monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)  # the default evidence connection's fallback
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp))  # where the seal writes the report and attestation
        self.monkeypatch = monkeypatch
        self.store = EvidenceStore(url)
        self.release_id = "release_credit__manual__1"
        from release_gates.policy import load_policy

        record_release(self.store, self.release_id, load_policy(self.policy_path).sha256)

    def give_key(self, key: SigningKey | None = None, *, password: str | None = None) -> SigningKey:
        key = key or SigningKey.generate()
        conn: dict[str, Any] = {"conn_type": "generic"}
        conn["password"] = password if password is not None else key.private_pem()
        if key.key_id != key_id_of(key.public_key):  # a key known by a name of its own
            conn["extra"] = {"key_id": key.key_id}
        self.monkeypatch.setenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", json.dumps(conn))
        return key

    def seal(self) -> dict[str, Any]:
        with DAG("release_credit", schedule=None):
            operator = SealReleaseOperator(
                task_id="seal", policy_path=str(self.policy_path), release_id=self.release_id,
                approval_tasks=APPROVALS,
            )  # fmt: skip
        result: dict[str, Any] = operator.execute({})  # type: ignore[arg-type]  # a bare context
        return result

    def bundle(self) -> dict[str, Any]:
        return self.store.export(self.release_id)


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Release:
    monkeypatch.delenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", raising=False)
    return Release(tmp_path, monkeypatch)


@pytest.fixture
def sealed(release: Release) -> tuple[Release, SigningKey, bytes]:
    key = release.give_key()
    summary = release.seal()
    entry = summary["attestation"]
    return release, key, Path(entry["uri"].removeprefix("file://")).read_bytes()


def trusted(key: SigningKey) -> PublicKeys:
    return PublicKeys({key.key_id: key.public_key})


def statement_of(envelope: bytes) -> dict[str, Any]:
    data = json.loads(envelope)
    payload: dict[str, Any] = json.loads(Envelope.from_dict(data).payload)
    return payload


# -- what the seal writes -----------------------------------------------------------------------------


def test_the_seal_signs_an_attestation_of_what_it_decided_and_names_it(
    sealed: tuple[Release, SigningKey, bytes],
) -> None:
    release, key, envelope = sealed
    seal = release.store.records(release.release_id, kind="release_sealed")[0].payload
    entry = seal["attestation"]
    assert entry["status"] == "signed" and entry["key_id"] == key.key_id
    assert entry["sha256"] == hashlib.sha256(envelope).hexdigest()
    assert Path(entry["uri"].removeprefix("file://")).parent == release.tmp / (
        "release_gates/artifacts/release_credit__manual__1/report"
    )  # next to the report
    data = json.loads(envelope)
    assert data["payloadType"] == PAYLOAD_TYPE and [s["keyid"] for s in data["signatures"]] == [key.key_id]
    statement = statement_of(envelope)
    assert statement["_type"] == STATEMENT_TYPE and statement["predicateType"] == PREDICATE_TYPE
    subjects = {s["name"]: s["digest"] for s in statement["subject"]}
    assert subjects == {
        "model:credit-model": {"sha256": MODEL_SHA},
        "image:registry.example.org/credit": {"sha256": IMAGE_DIGEST},
        "dataset:eval": {"sha256": SOURCE_SHA},
        "predictions:eval": {"sha256": SCORED_SHA},
    }
    predicate = statement["predicate"]
    assert predicate["decision"] == {"outcome": "released", "reasons": []} == {
        "outcome": seal["decision"], "reasons": seal["reasons"]
    }  # fmt: skip
    assert {g["gate"]: g["outcome"] for g in predicate["gates"]} == {"ethics": "passed", "security": "passed"}
    records = {r.seq: r for r in release.store.records(release.release_id)}
    for check in predicate["checks"]:
        assert records[check["evidence"]["seq"]].payload_sha256 == check["evidence"]["payload_sha256"]
    assert [(a["user"], a["role"], a["choice"]) for a in predicate["approvals"]] == [
        ("aisha", "ethics_reviewer", "approve"),
        ("admin", "release_manager", "approve"),
    ]
    assert predicate["policy"]["sha256"] == records[1].payload["policy"]["sha256"]
    head = predicate["evidence"]["head"]
    assert records[head["seq"]].hash == head["hash"]
    # Signed from the chain the decision was made at; the report and the seal follow it.
    assert [records[s].kind for s in range(head["seq"] + 1, len(records) + 1)] == [
        "policy_snapshot", "report", "release_sealed",
    ]  # fmt: skip


def test_the_report_lists_the_attestation(sealed: tuple[Release, SigningKey, bytes]) -> None:
    release, key, _ = sealed
    folder = release.tmp / "release_gates/artifacts/release_credit__manual__1/report"
    html = (folder / "summary.html").read_text()
    assert 'href="attestation.intoto.json"' in html and key.key_id in html
    assert key.key_id in (folder / "summary.md").read_text()
    assert json.loads((folder / "report.json").read_text())["attestation"]["key_id"] == key.key_id
    # The UI tab lists it with the report files, and serves it only while its sha256 matches the seal.
    from release_gates.ui.app import report_files

    listed = {f["name"]: f["sha256"] for f in report_files(release.store.records(release.release_id))}
    assert (
        listed["attestation.intoto.json"]
        == hashlib.sha256((folder / "attestation.intoto.json").read_bytes()).hexdigest()
    )
    assert "summary.html" in listed


def test_verify_passes_with_the_key_and_the_bundle(sealed: tuple[Release, SigningKey, bytes]) -> None:
    release, key, envelope = sealed
    report = verify_attestation(envelope, trusted(key), bundle=release.bundle())
    assert report.ok, report.problems
    assert report.evidence_checked and report.signed_by == [key.key_id] and report.decision == "released"
    alone = verify_attestation(envelope, trusted(key))
    assert alone.ok and not alone.evidence_checked and "give --bundle" in str(alone)


# -- the envelope attacked --------------------------------------------------------------------------------


def test_every_changed_byte_of_the_envelope_fails(sealed: tuple[Release, SigningKey, bytes]) -> None:
    _, key, envelope = sealed
    keys = trusted(key)
    passed = []
    for index in range(len(envelope)):
        altered = bytearray(envelope)
        altered[index] ^= 0x01
        if verify_attestation(bytes(altered), keys).ok:
            passed.append(index)
    assert passed == []


def test_a_wrong_key_and_an_unknown_key_id_fail_and_are_named(
    sealed: tuple[Release, SigningKey, bytes],
) -> None:
    _, key, envelope = sealed
    other = SigningKey.generate()
    wrong = verify_attestation(envelope, PublicKeys({key.key_id: other.public_key}))
    assert not wrong.ok and wrong.problem == (
        f"the signature by {key.key_id!r} does not match (the envelope was altered or signed by another key)"
    )
    unknown = verify_attestation(envelope, trusted(other))
    assert not unknown.ok and f"signed by key {key.key_id!r}, which is not among the trusted keys" in str(
        unknown.problem
    )
    assert other.key_id in str(unknown.problem)  # it says which keys it trusts


def test_a_forged_statement_signed_by_another_key_fails(sealed: tuple[Release, SigningKey, bytes]) -> None:
    release, key, envelope = sealed
    statement = statement_of(envelope)
    statement["predicate"]["decision"]["outcome"] = "held"
    forger = SigningKey.generate(key_id=key.key_id)  # claims the trusted key's id
    forged = envelope_bytes(sign_statement(statement, forger))
    report = verify_attestation(forged, trusted(key), bundle=release.bundle())
    assert not report.ok and report.problem is not None and "does not match" in report.problem


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda s: s["subject"][2]["digest"].update(sha256="5" * 64), "subject dataset:eval: sha256 5555"),
        (lambda s: s["predicate"]["gates"][0].update(outcome="remediate"), "gate ethics: outcome is"),
        (
            lambda s: s["predicate"]["checks"][0]["evidence"].update(payload_sha256="6" * 64),
            "check ethics.fairness: evidence.payload_sha256",
        ),
        (lambda s: s["predicate"]["approvals"][1].update(user="mallory"), "release_release_manager): user"),
        (lambda s: s["predicate"]["decision"].update(outcome="held"), "decision.outcome is"),
    ],
    ids=["subject", "verdict", "check digest", "approver", "decision"],
)
def test_a_statement_that_does_not_match_the_evidence_fails_naming_it(
    sealed: tuple[Release, SigningKey, bytes], change: Callable[[dict[str, Any]], None], named: str
) -> None:
    # Signed by the trusted key itself (a key that signed a wrong statement): the signature holds,
    # the evidence does not.
    release, key, envelope = sealed
    statement = statement_of(envelope)
    change(statement)
    resigned = envelope_bytes(sign_statement(statement, key))
    assert verify_attestation(resigned, trusted(key)).ok  # nothing to compare with: the signature is fine
    report = verify_attestation(resigned, trusted(key), bundle=release.bundle())
    assert not report.ok and report.problem is not None and named in report.problem, report.problems


# -- the evidence attacked --------------------------------------------------------------------------------


def rewritten(bundle: dict[str, Any], seq: int, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """``bundle`` with record ``seq``'s payload changed and every hash after it recomputed: what
    someone who can write the database can do. The forged bundle verifies on its own."""
    forged = copy.deepcopy(bundle)
    previous = GENESIS_HASH
    for row in sorted(forged["records"], key=lambda r: int(r["seq"])):
        if row["seq"] == seq:
            change(row["payload"])
        row["payload_sha256"] = sha256_text(canonical_json(row["payload"]))
        row["prev_hash"] = previous
        row["hash"] = previous = record_hash(
            release_id=row["release_id"], seq=row["seq"], kind=row["kind"], recorded_at=row["recorded_at"],
            actor=row["actor"], payload_sha256=row["payload_sha256"], prev_hash=row["prev_hash"],
        )  # fmt: skip
    forged["head"]["hash"] = previous
    forged["checkpoints"] = []  # signed checkpoints would expose the rewrite: the forger drops them
    assert verify_bundle(forged).ok
    return forged


def _seq_of(bundle: dict[str, Any], kind: str, index: int = 0) -> int:
    return int([r for r in bundle["records"] if r["kind"] == kind][index]["seq"])


@pytest.mark.parametrize(
    ("kind", "index", "change", "named"),
    [
        ("human_decision", 1, lambda p: p.update(user="mallory"), "release_release_manager): user is"),
        ("gate_decision", 0, lambda p: p.update(outcome="remediate"), "gate ethics: outcome"),
        (
            "check_result",
            1,
            lambda p: p["inputs"].update(image_digest="sha256:" + "7" * 64),
            "subject image:registry.example.org/credit",
        ),
        ("release_sealed", 0, lambda p: p.update(decision="held"), "decision.outcome is"),
        # Not in the Statement, but the record the decision was made at: the signed head hash catches it.
        ("promotion", 0, lambda p: p.update(target="elsewhere"), "chain head #"),
    ],
    ids=["approver", "verdict", "image digest", "decision", "head record"],
)
def test_a_rewritten_chain_that_still_verifies_fails_against_the_attestation(
    sealed: tuple[Release, SigningKey, bytes],
    kind: str,
    index: int,
    change: Callable[[dict[str, Any]], None],
    named: str,
) -> None:
    release, key, envelope = sealed
    bundle = release.bundle()
    forged = rewritten(bundle, _seq_of(bundle, kind, index), change)
    report = verify_attestation(envelope, trusted(key), bundle=forged)
    assert not report.ok and report.problem is not None and named in report.problem, report.problems


def test_an_edited_bundle_an_unsealed_chain_and_a_reformatted_file_fail(
    sealed: tuple[Release, SigningKey, bytes],
) -> None:
    release, key, envelope = sealed
    edited = release.bundle()
    next(r for r in edited["records"] if r["kind"] == "gate_decision")["payload"]["outcome"] = "blocked"
    report = verify_attestation(envelope, trusted(key), bundle=edited)
    assert report.problem is not None and report.problem.startswith("the evidence bundle does not verify")

    unsealed = release.bundle()
    unsealed["records"] = [r for r in unsealed["records"] if r["kind"] != "release_sealed"]
    unsealed["checkpoints"] = []
    unsealed["head"] = {"seq": unsealed["records"][-1]["seq"], "hash": unsealed["records"][-1]["hash"],
                        "sealed_at": None}  # fmt: skip
    report = verify_attestation(envelope, trusted(key), bundle=unsealed)
    assert report.problem is not None and "is not sealed" in report.problem

    # Same signature, other bytes: valid alone, but not the file the seal names.
    pretty = json.dumps(json.loads(envelope), indent=2).encode()
    assert verify_attestation(pretty, trusted(key)).ok
    report = verify_attestation(pretty, trusted(key), bundle=release.bundle())
    assert report.problem is not None and "names attestation sha256" in report.problem


# -- the seal without a key ------------------------------------------------------------------------------


def test_required_and_no_key_fails_the_seal_and_the_release_is_not_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", raising=False)
    release = Release(tmp_path, monkeypatch, signing="evidence: {signing: {required: true}}\n")
    before = release.store.count(release.release_id)
    with pytest.raises(AirflowFailException, match=r"required is true, but no signing key.*NOT sealed"):
        release.seal()
    assert release.store.chain(release.release_id).sealed_at is None
    assert release.store.count(release.release_id) == before  # nothing recorded, no report
    assert not list(tmp_path.glob("release_gates/artifacts/*/report/attestation.intoto.json"))


def test_not_required_and_no_key_seals_without_and_says_why(release: Release) -> None:
    summary = release.seal()
    assert summary["decision"] == "released"
    assert summary["attestation"]["status"] == "skipped"
    assert "release_gates_signing" in summary["attestation"]["reason"]
    folder = release.tmp / "release_gates/artifacts/release_credit__manual__1/report"
    assert "No signed release attestation" in (folder / "summary.html").read_text()
    assert not (folder / "attestation.intoto.json").exists()


def test_an_unreadable_key_is_named_without_its_material(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = Release(tmp_path, monkeypatch, signing="evidence: {signing: {required: true}}\n")
    secret = "not-a-pem-but-secret-material"
    release.give_key(password=secret)
    # The evidence store refuses the connection's key first, or the attestation does: either way the
    # step fails naming the connection, never the material.
    with pytest.raises((AirflowFailException, SigningKeyError)) as raised:
        release.seal()
    assert "release_gates_signing" in str(raised.value) and secret not in str(raised.value)
    assert release.store.chain(release.release_id).sealed_at is None


def test_attestations_turned_off_are_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = Release(tmp_path, monkeypatch, signing="evidence: {signing: {attestation: false}}\n")
    release.give_key()
    assert "attestation" not in release.seal()


def test_a_seal_that_fails_leaves_no_attestation_behind(tmp_path: Path) -> None:
    path = tmp_path / "attestation.intoto.json"
    path.write_text("{}")
    entry = {"status": "signed", "uri": path.resolve().as_uri()}
    with pytest.raises(RuntimeError, match="database gone"), attestation_until_sealed(entry):
        raise RuntimeError("database gone")
    assert not path.exists()
    path.write_text("{}")
    with attestation_until_sealed(entry):
        pass
    assert path.exists()


def test_a_release_with_no_verified_digest_is_not_attested(release: Release) -> None:
    records = release.store.records(release.release_id)
    started = records[0]
    bare = started.payload | {"inputs": {"model_uri": "s3://models/m", "model_sha256": MODEL_SHA,
                                         "image": "registry.example.org/credit:latest"}}  # fmt: skip
    from dataclasses import replace

    from release_gates.evidence.statement import AttestationError

    # An unverified pin and a tag are no digests: nothing to attest, and nothing is made up.
    with pytest.raises(AttestationError, match="at least one subject"):
        build_statement([replace(started, payload=bare)], "p" * 64, decision="held", reasons=[])


def test_dsse_pre_authentication_encoding_matches_the_specification() -> None:
    # The example of the DSSE protocol specification (secure-systems-lab/dsse, protocol.md).
    envelope = Envelope(b"hello world", "http://example.com/HelloWorld", {})
    assert envelope.pae() == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


# -- the CLI ---------------------------------------------------------------------------------------------


def test_cli_keygen_then_verify_exit_codes(sealed: tuple[Release, SigningKey, bytes], tmp_path: Path) -> None:
    release, key, envelope = sealed
    keys_dir = tmp_path / "keys"
    out = _Out()
    assert main(["evidence", "keygen", "--out", str(keys_dir)], out=out) == 0
    private = (keys_dir / "signing.key").read_text()
    assert stat.S_IMODE(os.stat(keys_dir / "signing.key").st_mode) == 0o600
    generated = SigningKey.from_pem(private)
    assert f"key id: {generated.key_id}" in out.text and private.strip() not in out.text
    assert "airflow connections add release_gates_signing --conn-type generic" in out.text
    assert main(["evidence", "keygen", "--out", str(keys_dir)], out=_Out()) == 2  # never overwrites a key

    file = tmp_path / "attestation.intoto.json"
    file.write_bytes(envelope)
    pub = tmp_path / "signing.pub"
    pub.write_text(key.public_pem)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(release.bundle()))
    ok = _Out()
    assert main(["attest", "verify", str(file), "--key", str(keys_dir / "signing.pub"), "--key", str(pub),
                 "--bundle", str(bundle), "--json"], out=ok) == 0  # fmt: skip
    assert json.loads(ok.text)["evidence_checked"] is True
    wrong = _Out()
    assert main(["attest", "verify", str(file), "--key", str(keys_dir / "signing.pub")], out=wrong) == 1
    assert "FAILED" in wrong.text and key.key_id in wrong.text
    assert main(["attest", "verify", str(tmp_path / "missing.json"), "--key", str(pub)], out=_Out()) == 2
    assert main(["attest", "verify", str(file), "--key", str(file)], out=_Out()) == 2  # not a key
    assert main(["attest", "verify", str(file), "--key", str(pub), "--bundle", str(pub)], out=_Out()) == 2


def test_cli_trusts_a_named_key_from_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A key known by the name in the connection's extra.key_id, listed under it in the policy (rotation:
    # old and new keys both listed): a bare PEM file derives another id and is not that key.
    key = SigningKey.generate(key_id="release-2026")
    old = SigningKey.generate(key_id="release-2025")
    listed = {"signing": {"public_keys": {"release-2026": key.public_pem, "release-2025": old.public_pem}}}
    release = Release(tmp_path, monkeypatch, signing=f"evidence: {json.dumps(listed)}\n")
    release.give_key(key)
    entry = release.seal()["attestation"]
    assert entry["key_id"] == "release-2026"
    pub = tmp_path / "signing.pub"
    pub.write_text(key.public_pem)
    file = entry["uri"].removeprefix("file://")
    by_file = _Out()
    assert main(["attest", "verify", file, "--key", str(pub)], out=by_file) == 1
    assert "signed by key 'release-2026', which is not among the trusted keys" in by_file.text
    assert main(["attest", "verify", file, "--policy", str(release.policy_path)], out=_Out()) == 0
    assert main(["attest", "verify", file], out=_Out()) == 2  # no trusted key at all


class _Out:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass
