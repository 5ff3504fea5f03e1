"""Replay of real release runs: three releases run once with dag.test() (module fixture), then replayed.

Under the policy each recorded, replay must reach every recorded verdict, the recorded decision and
its reasons. Under a changed policy it must report the difference for the releases the change
affects, and only for them. Offline from an exported bundle it must not need the store; a bundle
edited after export must be refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from release_gates.cli import main
from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates.evidence.replay import approval_task_ids, chain_from_store, replay
from release_gates.policy import load_policy
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.integration.test_release_dag import APPROVE_ALL, POLICY, eval_frame

pytestmark = pytest.mark.integration

#: name → (evaluation data, scripted humans, the decision the run must seal).
RUNS: dict[str, tuple[Any, dict[str, Answer], str]] = {
    # fairness passes, both approve: released
    "released": (eval_frame(2000, 2000, 0.5, 0.49), APPROVE_ALL, "released"),
    # fairness fails, the owner delays: held at the gate
    "held": (
        eval_frame(2000, 2000, 0.5, 0.25),
        {"ethics.decision": Answer("aisha", "Delay release", "Retrain with reweighting first.")},
        "held",
    ),
    # fairness fails, the owner waives with a rationale, both approve: released under a waiver
    "waived": (
        eval_frame(2000, 2000, 0.5, 0.25),
        {
            "ethics.decision": Answer(
                "aisha", "Release with waiver", "Disparity is explained by a data error fixed upstream."
            ),
            **APPROVE_ALL,
        },
        "released",
    ),
}

#: One more sign-off role: every release that was released lacks its approval.
ONE_MORE_APPROVAL = POLICY.replace(
    "  release_manager: {users: [admin]}\n",
    "  release_manager: {users: [admin]}\n  compliance: {users: [marta]}\n",
).replace(
    "roles: [ethics_reviewer, release_manager]", "roles: [ethics_reviewer, release_manager, compliance]"
)

#: A stricter four-fifths rule: the recorded fairness results were judged under the old threshold.
STRICTER_FAIRNESS = POLICY.replace("ratio_min: 0.8", "ratio_min: 0.95")


@dataclass(frozen=True)
class Releases:
    root: Path
    url: str
    store: EvidenceStore
    ids: dict[str, str]
    seal_approvals: list[str]

    def cli(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = main(["evidence", "replay", *argv], out=out)
        return code, out.getvalue()

    def policy_file(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(text)
        return path


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Releases]:
    """The three runs, each in its own folder, all in one evidence store (``--all`` reads them)."""
    root = tmp_path_factory.mktemp("replay")
    url = f"sqlite:///{root / 'evidence.db'}"
    previous = os.environ.get("RELEASE_GATES_EVIDENCE_URL")
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = url  # the tasks' store (no connection configured)
    ids: dict[str, str] = {}
    seal_approvals: list[str] = []
    try:
        for name, (frame, script, _) in RUNS.items():
            workdir = root / name
            workdir.mkdir()
            (workdir / "policy.yaml").write_text(POLICY)
            frame.to_parquet(workdir / "eval.parquet")
            model = workdir / "model.bin"
            model.write_bytes(b"candidate model bytes")
            dag = build_release_dag(
                workdir / "policy.yaml", dag_id=f"release_replay_{name}", default_args={"retries": 0}
            )
            conf = {
                "model_version": "7",
                "model_uri": str(model),
                "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
                "image": "registry.example.org/model@sha256:" + "a" * 64,
            }
            run, answered = run_release(dag, conf, script, passwords=TEST_USERS)
            assert not [a for a in answered if a.get("unscripted")], answered
            ids[name] = f"{dag.dag_id}__{run.run_id}"
            seal_approvals = list(dag.get_task("seal").approval_tasks)  # type: ignore[attr-defined]
        yield Releases(root, url, EvidenceStore(url), ids, seal_approvals)
    finally:
        if previous is None:
            os.environ.pop("RELEASE_GATES_EVIDENCE_URL", None)
        else:
            os.environ["RELEASE_GATES_EVIDENCE_URL"] = previous


def _sealed(releases: Releases, name: str) -> dict[str, Any]:
    (record,) = releases.store.records(releases.ids[name], kind="release_sealed")
    payload: dict[str, Any] = record.payload
    return payload


# -- under the policy each release recorded ----------------------------------------------------------


@pytest.mark.parametrize("name", list(RUNS))
def test_each_release_replays_to_its_recorded_verdicts_decision_and_reasons(
    releases: Releases, name: str
) -> None:
    sealed = _sealed(releases, name)
    assert sealed["decision"] == RUNS[name][2]  # the runs ended as scripted
    report = replay(chain_from_store(releases.store, releases.ids[name]))
    assert report.policy["origin"] == "snapshot" and report.policy["where"] == "release_started #1"
    assert report.policy["same_as_recorded"] is True
    assert report.differences == [], report.differences
    assert report.replayed_decision == report.recorded_decision == sealed["decision"]
    assert report.replayed_reasons == report.recorded_reasons == sealed["reasons"]
    (gate,) = report.gates
    assert gate.recorded == gate.replayed == sealed["gates"]["ethics"]
    assert gate.recorded_cleared == gate.replayed_cleared == (name != "held")

    code, out = releases.cli(releases.ids[name], "--url", releases.url)
    assert code == 0, out
    assert "SAME" in out and f"decision  {sealed['decision']}" in out


def test_replay_asks_the_same_sign_off_steps_as_the_release_dag(releases: Releases) -> None:
    assert (
        approval_task_ids(load_policy(releases.root / "released" / "policy.yaml")) == releases.seal_approvals
    )
    assert releases.seal_approvals == ["signoff.release_ethics_reviewer", "signoff.release_release_manager"]


def test_the_people_are_facts_in_the_table(releases: Releases) -> None:
    code, out = releases.cli(releases.ids["waived"], "--url", releases.url)
    assert code == 0, out
    ethics = next(line for line in out.splitlines() if line.strip().startswith("ethics"))
    assert ethics.split()[:5] == ["ethics", "remediate", "(cleared)", "remediate", "(cleared)"]
    assert "waive by aisha" in ethics


def test_replay_under_the_very_policy_file_is_the_same(releases: Releases) -> None:
    recorded = str(releases.root / "held" / "policy.yaml")
    code, out = releases.cli(releases.ids["held"], "--url", releases.url, "--policy", recorded)
    assert code == 0, out
    assert "same sha256" in out
    code, out = releases.cli("--all", "--url", releases.url, "--policy", recorded)
    assert code == 0, out
    assert "0 of 3 would be decided differently" in out


# -- under a changed policy --------------------------------------------------------------------------


def test_one_more_approval_changes_the_released_ones_and_not_the_held_one(releases: Releases) -> None:
    policy = releases.policy_file("one_more_approval", ONE_MORE_APPROVAL)
    code, out = releases.cli("--all", "--url", releases.url, "--policy", str(policy), "--json")
    assert code == 1, out
    fleet = json.loads(out)
    assert fleet["replayed"] == 3 and fleet["errors"] == {} and fleet["unsealed"] == []
    changed = {c["release_id"]: c for c in fleet["changed"]}
    assert set(changed) == {releases.ids["released"], releases.ids["waived"]}
    for entry in changed.values():
        assert (entry["recorded"], entry["replayed"]) == ("released", "held")
        assert "signoff.release_compliance: no answer" in entry["reasons"]
        assert [d["what"] for d in entry["differences"]] == ["decision"]  # the gate is as it was
    assert fleet["gate_differences_only"] == []

    # The held release: held either way, its gate as recorded — nothing to report.
    code, out = releases.cli(releases.ids["held"], "--url", releases.url, "--policy", str(policy))
    assert code == 0, out
    assert "SAME" in out

    code, out = releases.cli(releases.ids["released"], "--url", releases.url, "--policy", str(policy))
    assert code == 1 and "DIFFERENT (1)" in out
    assert "decision: released → held — signoff.release_compliance: no answer" in out


def test_a_stricter_threshold_is_not_carried_over_to_recorded_results(releases: Releases) -> None:
    """Replay re-runs no check: a result judged under the old threshold says nothing about the new
    one. Its gate is blocked (fail closed), so both releases that shipped would now be held; the held
    release stays held, its gate decided differently."""
    policy = releases.policy_file("stricter", STRICTER_FAIRNESS)
    code, out = releases.cli("--all", "--url", releases.url, "--policy", str(policy), "--json")
    assert code == 1, out
    fleet = json.loads(out)
    assert {c["release_id"] for c in fleet["changed"]} == {releases.ids["released"], releases.ids["waived"]}
    assert fleet["gate_differences_only"] == [releases.ids["held"]]

    waived = replay(chain_from_store(releases.store, releases.ids["waived"]), load_policy(policy))
    (gate,) = waived.gates
    assert (gate.recorded, gate.replayed) == ("remediate", "blocked")
    assert (gate.recorded_cleared, gate.replayed_cleared) == (True, False)
    assert "ethics.fairness's spec changed since it ran (criteria)" in gate.reason
    assert "waiver or acceptance by aisha does not clear a blocked gate" in waived.differences[0].reason
    assert (waived.recorded_decision, waived.replayed_decision) == ("released", "held")

    held = replay(chain_from_store(releases.store, releases.ids["held"]), load_policy(policy))
    assert [d.what for d in held.differences] == ["gate ethics"]
    assert held.replayed_decision == held.recorded_decision == "held"


# -- offline, from an exported bundle ----------------------------------------------------------------


def test_a_bundle_replays_offline_without_the_store(
    releases: Releases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = releases.store.export_to(releases.ids["waived"], tmp_path / "waived.json")
    # No store from here on: a replay that opened one would fail on this address.
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", f"sqlite:///{tmp_path / 'absent' / 'x' / 'e.db'}")
    (tmp_path / "absent").touch()  # a file where the folder would go: the default store cannot open
    code, out = releases.cli("--bundle", str(bundle), "--json")
    assert code == 0, out
    offline = json.loads(out)
    online = replay(chain_from_store(releases.store, releases.ids["waived"])).to_dict()
    assert offline["source"] == "bundle waived.json"
    assert {k: v for k, v in offline.items() if k != "source"} == {
        k: v for k, v in online.items() if k != "source"
    }
    policy = releases.policy_file("offline_one_more", ONE_MORE_APPROVAL)
    code, out = releases.cli(releases.ids["waived"], "--bundle", str(bundle), "--policy", str(policy))
    assert code == 1 and "released → held" in out


@pytest.mark.parametrize(
    ("what", "edit"),
    [
        ("a check result turned into a pass", "check_result"),
        ("the recorded rules loosened", "policy_snapshot"),
    ],
)
def test_a_bundle_edited_after_export_is_refused(
    releases: Releases, tmp_path: Path, what: str, edit: str
) -> None:
    bundle = releases.store.export_to(releases.ids["held"], tmp_path / "held.json")
    data = json.loads(bundle.read_text())
    if edit == "check_result":
        record = next(r for r in data["records"] if r["kind"] == "check_result")
        assert record["payload"]["status"] == "FAIL"
        record["payload"]["status"] = "PASS"
    else:
        record = data["records"][0]
        snapshot = record["payload"]["policy_snapshot"]
        snapshot["text"] = snapshot["text"].replace("ratio_min: 0.8", "ratio_min: 0.1")
    bundle.write_text(json.dumps(data))
    code, out = releases.cli("--bundle", str(bundle))
    assert code == 4, f"{what}: {out}"
    assert f"record #{record['seq']}" in out and "edited" in out and "SAME" not in out
