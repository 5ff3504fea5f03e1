"""Attack: a waiver given for one gate decision is kept after the gate was decided again.

A check is cleared and re-run (new data, another failure): the gate gets a new decision, which nobody
has answered. The waiver given for the old decision must not clear it, whether it was recorded before
the re-decision or replayed after it; and a record that names no decision at all clears nothing.
"""

from __future__ import annotations

from release_gates.results import Status
from tests.adversarial.human_support import RELEASE_ID, WAIVER, Release, release

__all__ = ["release"]


def test_a_re_decision_voids_the_waiver_of_the_earlier_decision(release: Release) -> None:
    release.start()
    release.check(Status.FAIL)
    assert release.decide() == "ethics.remediate"
    asked = release.asked()
    waiver = release.record_answer({**WAIVER, "asked_about": asked})
    assert waiver["authorized"] is True
    assert waiver["answers_decision"] == {"seq": asked["seq"], "hash": asked["hash"]}
    assert release.release_decision() == ["signoff"]  # the waiver clears the decision it answered

    release.check(Status.FAIL)  # the check is cleared and run again: a new decision of the gate
    assert release.decide() == "ethics.remediate"
    assert release.release_decision() == "hold"
    held = release.payloads("release_decision")[-1]
    assert held["cleared"] is False and held["waived"] == []
    assert held["reasons"] == ["gate ethics: remediate, not waived"]


def test_the_old_answer_recorded_after_the_re_decision_clears_nothing(release: Release) -> None:
    release.start()
    release.check(Status.FAIL)
    release.decide()
    asked_then = release.asked()
    release.check(Status.FAIL)
    release.decide()  # re-decided before the recorder ran (e.g. the recorder was retried later)
    waiver = release.record_answer({**WAIVER, "asked_about": asked_then})
    assert waiver["authorized"] is False
    assert f"answers gate decision #{asked_then['seq']}" in waiver["problem"]
    assert release.release_decision() == "hold"


def test_a_waiver_that_names_no_decision_clears_nothing(release: Release) -> None:
    release.start()
    release.check(Status.FAIL)
    release.decide()
    assert release.record_answer(dict(WAIVER))["authorized"] is False  # an answer from before binding
    # A writer with append rights forges an authorized waiver without the decision it answered.
    forged = {"task_id": "ethics.decision", "gate": "ethics", "choice": "waive", "user": "aisha",
              "authorized": True, "rationale": "Explained by a data error fixed upstream."}  # fmt: skip
    release.store.append(RELEASE_ID, "human_decision", forged, actor="aisha")
    assert release.release_decision() == "hold"
