"""Attack: a blocked gate (a check errored or left no result) cleared by a waiver or an acceptance.

Blocked means nothing was measured: no person may clear it. Not with an answer naming the blocked
decision, not with a waiver given while the gate was only failing and then re-decided as blocked,
and not with an authorized-looking record written straight into the chain.
"""

from __future__ import annotations

from release_gates.results import Status
from tests.adversarial.human_support import RELEASE_ID, WAIVER, Release, release

__all__ = ["release"]

ACCEPT = {**WAIVER, "chosen_options": ["Accept risk"]}
REVIEW_OPTIONS = {"Accept risk": "accept_risk", "Remediate": "remediate"}


def test_a_waiver_naming_the_blocked_decision_is_refused(release: Release) -> None:
    release.start()
    release.check(Status.ERROR)
    assert release.decide() == "ethics.blocked"
    waiver = release.record_answer({**WAIVER, "asked_about": release.asked()})
    assert waiver["authorized"] is False and "blocked" in waiver["problem"]
    accepted = release.record_answer({**ACCEPT, "asked_about": release.asked()}, task="ethics.review",
                                     choice="accept_risk", options=REVIEW_OPTIONS)  # fmt: skip
    assert accepted["authorized"] is False and "blocked" in accepted["problem"]
    assert release.release_decision() == "hold"


def test_a_gate_that_failed_then_errored_loses_its_waiver(release: Release) -> None:
    release.start()
    release.check(Status.FAIL)
    release.decide()
    assert release.record_answer({**WAIVER, "asked_about": release.asked()})["authorized"] is True
    release.check(Status.ERROR)  # re-run: the check could not run this time
    assert release.decide() == "ethics.blocked"
    assert release.release_decision() == "hold"
    assert release.payloads("release_decision")[-1]["reasons"] == ["gate ethics: blocked, not waived"]


def test_a_forged_waiver_of_the_blocked_decision_clears_nothing(release: Release) -> None:
    release.start()
    release.check(Status.ERROR)
    release.decide()
    asked = release.asked()
    for choice in ("waive", "accept_risk"):
        release.store.append(RELEASE_ID, "human_decision", {
            "task_id": "ethics.decision", "gate": "ethics", "choice": choice, "user": "aisha",
            "authorized": True, "rationale": "Explained by a data error fixed upstream.",
            "answers_decision": {"seq": asked["seq"], "hash": asked["hash"]},
        }, actor="aisha")  # fmt: skip
    assert release.release_decision() == "hold"
