"""Replay without Airflow runs: the policy snapshot the start step records, and every way replay refuses.

The chains here are written with the real start step or, for chains from before the snapshot
existed, with the same gates functions the release DAG uses; replays of real release runs are in
``tests/integration/test_evidence_replay.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from release_gates import cli
from release_gates.evidence import EvidenceStore
from release_gates.evidence.replay import ReplayError, chain_from_bundle, chain_from_store, replay
from release_gates.evidence.snapshot import (
    PolicySnapshotError,
    read_policy_with_snapshot,
    snapshot_of,
    snapshots_in,
)
from release_gates.gates import decide_gate, final_decision, fold
from release_gates.policy import load_policy
from release_gates.results import CheckResult, Status
from tests.minimal_policy import MINIMAL_POLICY

RELEASE = "release_tabular__r1"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import pandas as pd

    # The start step's pre-flight reads the dataset the policy names.
    pd.DataFrame({"y": [0, 1] * 20, "p": [1, 0] * 20, "g": ["a", "b"] * 20}).to_parquet(
        tmp_path / "eval.parquet"
    )
    (tmp_path / "policy.yaml").write_text(MINIMAL_POLICY)
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", f"sqlite:///{tmp_path / 'evidence.db'}")
    return tmp_path


def _start(policy_path: Path) -> dict[str, Any]:
    from release_gates.operators.release import StartReleaseOperator

    step = StartReleaseOperator(
        task_id="start", policy_path=str(policy_path), release_id=RELEASE, release_inputs={}
    )
    dag_run = SimpleNamespace(dag_id="release_tabular", run_id="r1", triggering_user_name="admin")
    result: dict[str, Any] = step.execute({"dag_run": dag_run, "run_id": "r1"})  # type: ignore[arg-type]
    return result


# -- the snapshot the start step records ---------------------------------------------------------------


def test_the_start_step_records_the_policy_text_it_hashed(workdir: Path) -> None:
    _start(workdir / "policy.yaml")
    store = EvidenceStore(f"sqlite:///{workdir / 'evidence.db'}")
    (started,) = store.records(RELEASE)  # in release_started itself: still one record at start
    raw = (workdir / "policy.yaml").read_bytes()
    snapshot = started.payload["policy_snapshot"]
    assert snapshot["text"] == raw.decode() == MINIMAL_POLICY
    assert snapshot["sha256"] == hashlib.sha256(raw).hexdigest() == started.payload["policy"]["sha256"]
    assert snapshot["text_sha256"] == snapshot["sha256"] and snapshot["credentials_redacted"] == 0
    (found,) = snapshots_in([started])
    assert found.exact and found.where == "release_started #1"


def test_a_policy_with_credentials_is_recorded_masked_and_says_it_is_not_byte_exact(tmp_path: Path) -> None:
    text = MINIMAL_POLICY + "# mirror of the data: postgresql://etl:s3cr3t@db.internal/dw\n"
    (tmp_path / "policy.yaml").write_text(text)
    policy, snapshot = read_policy_with_snapshot(tmp_path / "policy.yaml")
    assert "s3cr3t" not in json.dumps(snapshot)
    assert snapshot["credentials_redacted"] == 1
    assert snapshot["sha256"] == policy.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert snapshot["text_sha256"] != snapshot["sha256"]
    # Only the password differs: the rest of the text is the file's.
    assert snapshot["text"] == text.replace("s3cr3t", "***")


def test_a_policy_too_large_to_record_refuses_the_release_before_the_chain_opens(workdir: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from release_gates.policy.loader import MAX_POLICY_BYTES

    # Under the policy size limit, but quotes double when escaped as JSON: the record would not fit.
    filler = ("# " + '"' * 100 + "\n") * 6000
    (workdir / "policy.yaml").write_text(MINIMAL_POLICY + filler)
    assert (workdir / "policy.yaml").stat().st_size < MAX_POLICY_BYTES
    with pytest.raises(AirflowFailException) as raised:
        _start(workdir / "policy.yaml")
    message = str(raised.value)
    assert "policy.yaml" in message and "cannot be recorded" in message
    assert "1,048,576" in message and "does not start" in message
    store = EvidenceStore(f"sqlite:///{workdir / 'evidence.db'}")
    assert store.records(RELEASE) == []  # refused before anything was written


def test_a_snapshot_that_does_not_hash_and_masked_nothing_is_never_read_as_the_rules() -> None:
    snapshot = snapshot_of(MINIMAL_POLICY.encode())
    forged = {**snapshot, "text": snapshot["text"].replace("ratio_min: 0.8", "ratio_min: 0.1")}
    record = SimpleNamespace(
        kind="release_started", seq=1, release_id="r", payload={"policy_snapshot": forged}
    )
    with pytest.raises(PolicySnapshotError, match="does not hash to the sha256 it records"):
        snapshots_in([record])  # type: ignore[list-item]


# -- chains written without the start step (older releases, or a forged snapshot) ----------------------


def _write_chain(store: EvidenceStore, policy_path: Path, *, snapshot: bool, status: Status) -> None:
    """A sealed release of the minimal policy, as its steps would record it: the check's result,
    the gate's decision (decide_gate), promotion, and the seal's decision (fold, final_decision)."""
    policy, recorded = read_policy_with_snapshot(policy_path)
    started: dict[str, Any] = {
        "model": "tabular",
        "policy": {"source": str(policy_path), "sha256": policy.sha256},
        "gates": ["ethics"],
        "checks": ["ethics.fairness"],
    }
    if snapshot:
        started["policy_snapshot"] = recorded
    store.append(RELEASE, "release_started", started)
    now = datetime.now(UTC)
    result = CheckResult(
        check_id="ethics.fairness", kind="fairness", status=status, summary=f"fairness {status}",
        inputs={"policy_sha256": policy.sha256}, started_at=now, finished_at=now,
    )  # fmt: skip
    store.append(RELEASE, "check_result", result.to_dict())
    verdict = decide_gate("ethics", ["ethics.fairness"], {"ethics.fairness": result.to_dict()})
    store.append(RELEASE, "gate_decision", verdict.to_payload())
    if status is Status.PASS:
        store.append(RELEASE, "promotion", {"status": "done", "target": None, "summary": "manual"})
    state = fold(store.records(RELEASE))
    decision, reasons = final_decision(policy, state, [])
    store.append(RELEASE, "release_sealed", {"decision": decision.value, "reasons": reasons,
                                             "gates": state.gates, "waived": {}})  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    (tmp_path / "policy.yaml").write_text(MINIMAL_POLICY)
    return EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")


def test_a_chain_without_a_policy_snapshot_is_an_error_never_same(
    store: EvidenceStore, tmp_path: Path
) -> None:
    _write_chain(store, tmp_path / "policy.yaml", snapshot=False, status=Status.PASS)
    with pytest.raises(ReplayError, match="recorded no snapshot of the policy it started with"):
        replay(chain_from_store(store, RELEASE))
    code, out = run("evidence", "replay", RELEASE, "--url", store.url)
    assert code == 4 and "ERROR" in out and "--policy FILE" in out and "SAME" not in out
    code, out = run("evidence", "replay", RELEASE, "--url", store.url, "--json")
    assert code == 4 and "no snapshot" in json.loads(out)["error"]


def test_without_a_snapshot_the_same_policy_file_replays_and_another_one_cannot_reuse_results(
    store: EvidenceStore, tmp_path: Path
) -> None:
    _write_chain(store, tmp_path / "policy.yaml", snapshot=False, status=Status.PASS)
    code, out = run(
        "evidence", "replay", RELEASE, "--url", store.url, "--policy", str(tmp_path / "policy.yaml")
    )
    assert code == 0, out
    assert "same sha256" in out and "SAME" in out
    # Another policy, and no snapshot to compare the check's spec with: its PASS is not carried over.
    (tmp_path / "other.yaml").write_text(MINIMAL_POLICY.replace("description: held out", "description: x"))
    report = replay(chain_from_store(store, RELEASE), load_policy(tmp_path / "other.yaml"))
    assert not report.same and report.replayed_decision == "held" and report.recorded_decision == "released"
    (gate,) = report.gates
    assert (gate.recorded, gate.replayed) == ("passed", "blocked")
    assert "holds no readable snapshot" in gate.not_carried_over["ethics.fairness"]


def test_an_unsealed_release_is_not_replayed(store: EvidenceStore, tmp_path: Path) -> None:
    policy, snapshot = read_policy_with_snapshot(tmp_path / "policy.yaml")
    store.append(RELEASE, "release_started", {"model": "tabular", "policy": {"sha256": policy.sha256},
                                              "policy_snapshot": snapshot, "gates": ["ethics"]})  # fmt: skip
    with pytest.raises(ReplayError, match="is not sealed"):
        replay(chain_from_store(store, RELEASE))
    assert run("evidence", "replay", RELEASE, "--url", store.url)[0] == 4


def test_a_chain_edited_in_the_store_is_refused(store: EvidenceStore, tmp_path: Path) -> None:
    _write_chain(store, tmp_path / "policy.yaml", snapshot=True, status=Status.FAIL)
    assert replay(chain_from_store(store, RELEASE)).same
    # Someone with the file's rights (its append-only triggers dropped) turns the FAIL into a PASS.
    with sqlite3.connect(tmp_path / "evidence.db") as db:
        for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f"DROP TRIGGER {trigger}")
        (text,) = db.execute("SELECT payload FROM release_gates_evidence WHERE seq = 2").fetchone()
        db.execute(
            "UPDATE release_gates_evidence SET payload = ? WHERE seq = 2", (text.replace('"FAIL"', '"PASS"'),)
        )
    with pytest.raises(ReplayError, match="does not verify"):
        chain_from_store(store, RELEASE)
    code, out = run("evidence", "replay", RELEASE, "--url", store.url)
    assert code == 4 and "#2" in out and "SAME" not in out


def test_a_tampered_bundle_is_refused_and_an_intact_one_replays_offline(
    store: EvidenceStore, tmp_path: Path
) -> None:
    _write_chain(store, tmp_path / "policy.yaml", snapshot=True, status=Status.FAIL)
    bundle = store.export_to(RELEASE, tmp_path / "bundle.json")
    assert replay(chain_from_bundle(bundle)).same
    data = json.loads(bundle.read_text())
    data["records"][1]["payload"]["status"] = "PASS"
    (tmp_path / "tampered.json").write_text(json.dumps(data))
    with pytest.raises(ReplayError, match="does not verify"):
        chain_from_bundle(tmp_path / "tampered.json")
    code, out = run("evidence", "replay", "--bundle", str(tmp_path / "tampered.json"))
    assert code == 4 and "record #2" in out and "edited" in out
    code, out = run("evidence", "replay", "another-release", "--bundle", str(bundle))
    assert code == 2  # the bundle holds another release: the arguments disagree


@pytest.mark.parametrize(
    "argv",
    [
        ("evidence", "replay"),
        ("evidence", "replay", "--all"),
        ("evidence", "replay", "r1", "--all", "--policy", "p.yaml"),
        ("evidence", "replay", "r1", "--model", "m"),
        ("evidence", "replay", "r1", "--policy", "no-such-policy.yaml"),
    ],
)
def test_usage_errors_exit_2(argv: tuple[str, ...], tmp_path: Path) -> None:
    assert run(*argv, "--url", f"sqlite:///{tmp_path / 'e.db'}")[0] == 2
