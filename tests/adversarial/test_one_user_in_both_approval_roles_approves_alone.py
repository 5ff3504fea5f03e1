"""Attack: one user listed in both approval roles signs off a release alone.

Two-person sign-off means two people. A policy whose roles cannot produce a distinct person per
approval step is refused at load (file:line); at run time a user's second approval does not count,
and the record says why.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from release_gates.policy import PolicyError, load_policy
from release_gates.results import Status
from tests.adversarial.human_support import POLICY, approve, make_release

BOTH_ROLES_ONE_PERSON = POLICY.replace(
    "release_manager: {users: [admin]}", "release_manager: {users: [aisha]}"
)
ADMIN_IN_BOTH = POLICY.replace(
    "ethics_reviewer: {users: [aisha]}", "ethics_reviewer: {users: [aisha, admin]}"
)


def test_roles_that_only_one_person_can_fill_are_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BOTH_ROLES_ONE_PERSON)
    with pytest.raises(PolicyError) as refused:
        load_policy(path)
    [problem] = refused.value.problems
    line = (
        BOTH_ROLES_ONE_PERSON.splitlines().index(
            "  release: {roles: [ethics_reviewer, release_manager], timeout: 1h}"
        )
        + 1
    )
    assert (problem.line, problem.field) == (line, "approvals.release.roles[1]")
    assert "2 distinct people" in problem.message and "can fill only 1" in problem.message


def test_a_user_in_both_roles_approves_twice_and_the_second_does_not_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = make_release(tmp_path, monkeypatch, ADMIN_IN_BOTH)  # valid: aisha and admin can fill both
    release.start()
    release.check(Status.PASS)
    release.decide()
    assert release.release_decision() == ["signoff"]
    branch = release.signoff({
        "signoff.release_ethics_reviewer": approve("admin"),
        "signoff.release_release_manager": approve("admin"),
    })  # fmt: skip
    assert branch == "hold"
    decisions = {d["task_id"]: d for d in release.payloads("human_decision")}
    assert decisions["signoff.release_ethics_reviewer"]["authorized"] is True
    second = decisions["signoff.release_release_manager"]
    assert (second["user"], second["choice"], second["authorized"]) == ("admin", "approve", False)
    assert "already approved this release at signoff.release_ethics_reviewer" in second["problem"]
    assert "distinct people" in second["problem"]
    assert release.payloads("release_decision")[-1]["approved"] is False


def test_two_people_across_the_same_roles_sign_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = make_release(tmp_path, monkeypatch, ADMIN_IN_BOTH)
    release.start()
    release.check(Status.PASS)
    release.decide()
    release.release_decision()
    branch = release.signoff({
        "signoff.release_ethics_reviewer": approve("aisha"),
        "signoff.release_release_manager": approve("admin"),
    })  # fmt: skip
    assert branch == "promote"
