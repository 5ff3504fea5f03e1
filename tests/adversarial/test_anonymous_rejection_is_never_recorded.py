"""Attack (a race seen on a loaded `airflow standalone`): a rejection recorded with user ``None``.

Airflow resumes a parked HITL step with ``responded_by_user`` ``None`` for the timeout default, and
an approval step can end without its answer in XCom at all — its answered attempt failed (LocalExecutor
fails an attempt answered within ~1 s of parking as "changed externally") or the answer was lost. The
sign-off used to record every such case as "reject by None", indistinguishable from a person's
refusal. Now: a timeout is recorded as a timeout; an answer without its user is completed from the
HITL detail record or the step fails; a step without an answer is recorded as an error.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException

from release_gates.gates import HumanChoice, read_answer
from release_gates.operators.hitl import RecordedApprovalOperator
from release_gates.results import Status
from release_gates_testing.humans import Answer
from tests.adversarial import release_support
from tests.adversarial.human_support import FakeTI, Release, approve, release

__all__ = ["release"]

REJECT = {
    "chosen_options": ["Reject"],
    "params_input": {},
    "responded_at": datetime(2026, 11, 26, tzinfo=UTC),
}
OPTIONS = {"Approve": HumanChoice.APPROVE, "Reject": HumanChoice.REJECT}
MANAGER = "signoff.release_release_manager"


def _approval_step() -> RecordedApprovalOperator:
    with DAG("release_attack", schedule=None):
        return RecordedApprovalOperator(task_id=MANAGER, subject="Approve?", defaults=["Reject"])


def _complete(
    event: dict[str, Any], detail: Any = None, monkeypatch: pytest.MonkeyPatch | None = None
) -> FakeTI:
    ti = FakeTI(task_id=MANAGER)
    ti.id = "ti-1"  # type: ignore[attr-defined]
    if monkeypatch is not None:
        from airflow.sdk.execution_time import hitl

        monkeypatch.setattr(hitl, "get_hitl_detail_content_detail", lambda ti_id: detail)
    try:
        _approval_step().execute_complete({"ti": ti, "task": None}, event)  # type: ignore[arg-type]
    except AirflowFailException:
        raise
    except Exception as skipped:  # Reject skips downstream by raising; the answer is kept before that
        if "skip" not in type(skipped).__name__.lower() and "Skip" not in repr(skipped):
            raise
    return ti


def test_an_answer_without_its_user_fails_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    nobody = SimpleNamespace(chosen_options=["Reject"], responded_by_user=None)
    with pytest.raises(AirflowFailException, match="without the user"):
        _complete({**REJECT, "responded_by_user": None, "timedout": False}, nobody, monkeypatch)
    with pytest.raises(AirflowFailException, match="without the user"):  # no HITL record to ask at all
        _complete({**REJECT, "responded_by_user": None})


def test_the_user_is_completed_from_the_hitl_detail_record(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = SimpleNamespace(
        chosen_options=["Reject"], responded_by_user=SimpleNamespace(id="admin", name="admin")
    )
    ti = _complete({**REJECT, "responded_by_user": None, "timedout": False}, admin, monkeypatch)
    assert ti.xcoms[(MANAGER, "answer")]["responded_by_user"] == {"id": "admin", "name": "admin"}
    # ... but never from a record holding another answer
    other = SimpleNamespace(chosen_options=["Approve"], responded_by_user=SimpleNamespace(id="x", name="x"))
    with pytest.raises(AirflowFailException):
        _complete({**REJECT, "responded_by_user": None, "timedout": False}, other, monkeypatch)


def test_a_timeout_is_recorded_as_a_timeout() -> None:
    ti = _complete({**REJECT, "responded_by_user": None, "timedout": True})
    answer = ti.xcoms[(MANAGER, "answer")]
    assert answer["timed_out"] is True and answer["responded_by_user"] is None
    got = read_answer(MANAGER, None, answer, OPTIONS, ["admin"])
    assert (got.choice, got.user, got.timed_out, got.authorized) == (HumanChoice.REJECT, None, True, False)


def test_an_anonymous_answer_that_did_not_time_out_decides_nothing() -> None:
    got = read_answer(MANAGER, None, {**REJECT, "responded_by_user": None}, OPTIONS, ["admin"])
    assert got.choice is None and not got.authorized and "names no user" in (got.problem or "")


def test_an_approval_step_without_an_answer_is_recorded_as_an_error(release: Release) -> None:
    release.start()
    release.check(Status.PASS)
    release.decide()
    release.release_decision()
    # The manager answered, but the answered attempt failed: no answer reached XCom.
    assert release.signoff({"signoff.release_ethics_reviewer": approve("aisha"), MANAGER: None}) == "hold"
    manager = next(d for d in release.payloads("human_decision") if d["task_id"] == MANAGER)
    assert manager["status"] == "error" and manager["choice"] is None and manager["user"] is None
    assert "without a recorded answer" in manager["problem"]
    _assert_no_anonymous_decision(release.payloads("human_decision"))


def _assert_no_anonymous_decision(decisions: list[dict[str, Any]]) -> None:
    for decision in decisions:
        if decision["choice"] is not None and decision["user"] is None:
            assert decision["timed_out"] is True, decision


@pytest.mark.integration
def test_the_race_in_a_dag_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole DAG, the race made certain: the manager's "Reject" lands, and the answered attempt
    then fails before its answer is stored — as the scheduler does to an attempt it takes for lost."""
    complete = RecordedApprovalOperator.execute_complete

    def lost_after_the_answer(self: RecordedApprovalOperator, context: Any, event: dict[str, Any]) -> Any:
        if self.task_id == MANAGER:
            raise AirflowFailException("attempt failed: state changed externally")
        return complete(self, context, event)

    monkeypatch.setattr(RecordedApprovalOperator, "execute_complete", lost_after_the_answer)
    monkeypatch.setitem(os.environ, "RELEASE_GATES_EVIDENCE_URL", "")
    import pandas as pd

    frame = pd.DataFrame({"g": ["a"] * 1000 + ["b"] * 1000, "y": [0, 1] * 1000, "p": [1, 0] * 1000})
    frame.to_parquet(tmp_path / "eval.parquet")
    policy = release_support.OWNERS.replace("data_steward", "ethics_reviewer").replace("tomas", "aisha")
    gates = _GATES
    script = {
        "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
        MANAGER: Answer("admin", "Reject"),
    }
    run = release_support.run(tmp_path, "anonymous", gates + policy, {}, script)
    assert run.task_states()[MANAGER] == "failed"
    decisions = [r.payload for r in run.records("human_decision")]
    manager = next(d for d in decisions if d["task_id"] == MANAGER)
    assert manager["status"] == "error" and manager["choice"] is None and manager["user"] is None
    _assert_no_anonymous_decision(decisions)
    assert run.sealed()["decision"] == "held"
    assert not run.records("promotion")


_GATES = """\
policy_version: 1
release: {model: anonymous-model}
datasets:
  eval: {uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
         label_values: [0, 1]}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
"""
