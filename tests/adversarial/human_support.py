"""Running the release DAG's human steps one by one against a real evidence store, for the attacks on
sign-off and decision binding: the operators the DAG uses, a task-instance stand-in that keeps XComs,
and the chain they write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from release_gates.evidence import EvidenceStore
from release_gates.hooks.evidence import EvidenceStoreHook
from release_gates.operators.release import (
    GateBranchOperator,
    RecordHumanDecisionOperator,
    ReleaseDecisionOperator,
    SignoffCheckOperator,
    StartReleaseOperator,
)
from release_gates.results import CheckResult, Status

RELEASE_ID = "release_attack__run-1"

POLICY = """\
policy_version: 1
release: {model: attack-model}
owners:
  ethics_reviewer: {users: [aisha]}
  release_manager: {users: [admin]}
datasets:
  eval: {uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
approvals:
  release: {roles: [ethics_reviewer, release_manager], timeout: 1h}
"""

WAIVER = {"chosen_options": ["Release with waiver"], "responded_by_user": {"id": "aisha", "name": "aisha"},
          "responded_at": "2026-11-26T12:00:00+00:00",
          "params_input": {"rationale": "Explained by a data error fixed upstream."}}  # fmt: skip


def approve(user: str, option: str = "Approve") -> dict[str, Any]:
    return {"chosen_options": [option], "responded_by_user": {"id": user, "name": user},
            "responded_at": "2026-11-26T12:00:00+00:00", "params_input": {}}  # fmt: skip


@dataclass
class FakeTI:
    """The parts of a task instance the release steps use: XComs (by task id and key) and identity."""

    task_id: str = "step"
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    dag_id: str = "release_attack"
    run_id: str = "run-1"
    try_number: int = 1

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = value

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))

    def get_task_states(self, **_: Any) -> dict[str, Any]:
        return {}


@dataclass
class Release:
    """One release chain, driven step by step as the DAG would (``ti`` shares XComs between steps)."""

    policy_path: Path
    store: EvidenceStore
    ti: FakeTI = field(default_factory=FakeTI)
    triggered_by: str | None = "ci-bot"

    def context(self, task_id: str) -> dict[str, Any]:
        self.ti.task_id = task_id
        dag_run = type("DagRun", (), {"dag_id": "release_attack", "triggering_user_name": self.triggered_by})
        return {"ti": self.ti, "dag_run": dag_run(), "run_id": "run-1"}

    def _dag(self) -> DAG:
        return DAG("release_attack", schedule=None)

    def start(self) -> None:
        with self._dag():
            step = StartReleaseOperator(task_id="start", release_inputs={}, **self.common)
        step.execute(self.context("start"))  # type: ignore[arg-type]

    @property
    def common(self) -> dict[str, Any]:
        return {"policy_path": str(self.policy_path), "release_id": RELEASE_ID}

    def check(self, status: Status, check_id: str = "ethics.fairness") -> None:
        now = datetime.now(UTC)
        result = CheckResult(check_id=check_id, kind="fairness", status=status, summary=f"fairness {status}",
                             started_at=now, finished_at=now)  # fmt: skip
        self.store.append(
            RELEASE_ID, "check_result", result.to_dict(), actor="release_attack.ethics.fairness"
        )

    def decide(self, gate: str = "ethics") -> str:
        """The gate's decide step: records a gate decision and pushes it for the human step."""
        branches = {o: f"{gate}.{o}" for o in ("passed", "remediate", "review", "blocked")}
        with self._dag():
            step = GateBranchOperator(task_id=f"{gate}.decide", gate_id=gate, check_ids=[f"{gate}.fairness"],
                                      branches=branches, **self.common)  # fmt: skip
        return step.choose_branch(self.context(f"{gate}.decide"))  # type: ignore[arg-type]

    def asked(self, gate: str = "ethics") -> Any:
        """What the gate's human step was asked about: the decide step's latest decision."""
        return self.ti.xcom_pull(task_ids=f"{gate}.decide", key="gate_decision")

    def record_answer(self, answer: dict[str, Any], *, task: str = "ethics.decision", choice: str = "waive",
                      options: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
        """The recorder step after a HITL step whose XCom ``answer`` is ``answer``."""
        self.ti.xcoms[(task, "answer")] = answer
        options = options or {
            "Delay release": "delay",
            "Release with waiver": "waive",
            "Abort release": "abort",
        }
        with self._dag():
            step = RecordHumanDecisionOperator(
                task_id=f"ethics.{choice}",
                hitl_task_id=task,
                gate_id=task.split(".", maxsplit=1)[0],
                options=options,
                allowed_role="ethics_reviewer",
                **self.common,
            )
        from airflow.sdk.exceptions import AirflowFailException

        try:
            payload: dict[str, Any] = step.execute(self.context(f"ethics.{choice}"))  # type: ignore[arg-type]
        except AirflowFailException:
            # An answer that does not count is recorded, then the step fails (red): return the record.
            payload = self.payloads("human_decision")[-1]
            assert payload["authorized"] is False, "only an unaccepted answer fails its step"
        return payload

    def release_decision(self) -> str | list[str]:
        with self._dag():
            step = ReleaseDecisionOperator(
                task_id="release_decision", proceed="signoff", hold="hold", **self.common
            )
        return step.choose_branch(self.context("release_decision"))  # type: ignore[arg-type]

    def signoff(self, answers: dict[str, dict[str, Any] | None], approval_name: str = "release") -> str:
        """The sign-off check after the approval steps (task id → their XCom ``answer``, None: none)."""
        roles = {f"signoff.{approval_name}_{role}": role for role in ("ethics_reviewer", "release_manager")}
        for task_id, answer in answers.items():
            if answer is not None:
                self.ti.xcoms[(task_id, "answer")] = answer
        with self._dag():
            step = SignoffCheckOperator(
                task_id="signoff.check",
                approvals=roles,
                approval_names=dict.fromkeys(roles, approval_name),
                promote="promote",
                hold="hold",
                **self.common,
            )
        return step.choose_branch(self.context("signoff.check"))  # type: ignore[arg-type]

    def payloads(self, kind: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.store.records(RELEASE_ID, kind=kind)]


@pytest.fixture
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Release:
    """A release of :data:`POLICY` with its chain in a SQLite store in ``tmp_path``."""
    return make_release(tmp_path, monkeypatch, POLICY)


def make_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str) -> Release:
    import pandas as pd

    (tmp_path / "policy.yaml").write_text(policy)
    # The start step refuses a release whose declared inputs are missing.
    pd.DataFrame({"g": ["a", "b"], "y": [0, 1], "p": [1, 0]}).to_parquet(tmp_path / "eval.parquet")
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    monkeypatch.setattr(EvidenceStoreHook, "get_store", lambda _hook: store)
    return Release(tmp_path / "policy.yaml", store)
