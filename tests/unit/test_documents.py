"""Required documents: the spec, the verdict per document, how a review answer is judged, and where the
remediation item of a failing document goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from release_gates.checks.documents import (
    DocumentFacts,
    Review,
    evaluate_documents,
    review_decision,
    reviewed_at,
    reviews_from_records,
)
from release_gates.kinds.documents import NOT_REVIEWED, DocumentsCheck, is_url
from release_gates.results import Status

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
SHA = "a" * 64
OTHER = "b" * 64


def _document(**changes: Any) -> DocumentFacts:
    base: dict[str, Any] = {
        "name": "threat model",
        "owner_role": "security",
        "owner_users": ("alice",),
        "location": "docs/threat-model.md",
        "pinned_sha256": SHA,
        "max_age": timedelta(days=90),
        "exists": True,
        "sha256": SHA,
    }
    return DocumentFacts(**{**base, **changes})


def _review(**changes: Any) -> Review:
    base: dict[str, Any] = {
        "document": "threat model",
        "sha256": SHA,
        "user": "alice",
        "owner_role": "security",
        "reviewed_at": NOW - timedelta(days=10),
        "authorized": True,
        "problem": None,
        "evidence": "release_m__r1#7",
    }
    return Review(**{**base, **changes})


def _judge(document: DocumentFacts, *reviews: Review) -> Any:
    return evaluate_documents([document], reviews, now=NOW, check_id="governance.documents")


# -- the spec ---------------------------------------------------------------------------------------


def _spec(documents: dict[str, Any]) -> DocumentsCheck:
    return DocumentsCheck.model_validate({"kind": "documents", "documents": documents})


def test_a_document_names_owner_location_pin_and_max_age() -> None:
    doc = {"owner": "security", "location": "docs/tm.md", "sha256": SHA, "max_age": "90d"}
    spec = _spec({"threat model": doc, "DPIA": {**doc, "owner": "privacy"}})
    assert spec.documents["threat model"].max_age == timedelta(days=90)
    assert spec.owner_roles() == ["security", "privacy"]
    for broken, message in (
        ({**doc, "sha256": "ABC"}, "sha256"),
        ({k: v for k, v in doc.items() if k != "max_age"}, "max_age"),
        ({**doc, "owner": "Security Team"}, "owner"),
    ):
        with pytest.raises(ValidationError, match=message):
            _spec({"threat model": broken})
    with pytest.raises(ValidationError, match="review step's own option"):
        _spec({NOT_REVIEWED: doc})
    with pytest.raises(ValidationError):
        _spec({})


def test_urls_are_recorded_paths_are_read() -> None:
    assert is_url("https://wiki.example.org/dpia")
    assert not is_url("docs/dpia.md")
    assert not is_url("file:///srv/docs/dpia.md")


# -- the verdict ------------------------------------------------------------------------------------


def test_present_pinned_and_freshly_reviewed_by_the_owner_passes() -> None:
    result = _judge(_document(), _review())
    assert result.status is Status.PASS, result.summary
    assert result.metrics["documents"]["threat model"]["review"]["user"] == "alice"


@pytest.mark.parametrize(
    ("document", "reviews", "problem"),
    [
        (_document(exists=False, sha256=None), [_review()], "missing"),
        (_document(sha256=OTHER), [_review(sha256=OTHER)], "not_pinned_version"),
        (_document(), [], "unreviewed"),
        (_document(), [_review(sha256=OTHER)], "changed"),
        (_document(), [_review(reviewed_at=NOW - timedelta(days=91))], "stale"),
    ],
    ids=["missing", "not the pinned version", "never reviewed", "changed since review", "stale review"],
)
def test_each_problem_fails_with_one_finding_naming_the_owner(
    document: DocumentFacts, reviews: list[Review], problem: str
) -> None:
    result = _judge(document, *reviews)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "document:threat model"
    assert problem in finding.data["problems"]
    assert finding.data["owner_role"] == "security"
    assert "owner: security" in finding.title


def test_one_finding_per_failing_document_and_none_for_the_others() -> None:
    dpia = _document(name="DPIA", owner_role="privacy", owner_users=("priya",), location="docs/dpia.md")
    result = evaluate_documents([_document(), dpia], [_review()], now=NOW)
    assert result.status is Status.FAIL
    assert [(f.id, f.data["owner_role"]) for f in result.findings] == [("document:DPIA", "privacy")]


@pytest.mark.parametrize(
    ("review", "why"),
    [
        (_review(user="mallory"), "mallory is not a user of the security role"),
        (_review(owner_role="privacy"), "answered for the privacy role"),
        (_review(authorized=False, problem="no note"), "not accepted when recorded (no note)"),
    ],
)
def test_a_review_that_does_not_count_clears_nothing_and_is_named(review: Review, why: str) -> None:
    result = _judge(_document(), review)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.data["problems"] == ["unreviewed"]
    assert why in finding.detail


def test_a_later_review_by_someone_else_does_not_replace_the_owners() -> None:
    old = _review(reviewed_at=NOW - timedelta(days=100))
    newer_by_stranger = _review(user="mallory", reviewed_at=NOW - timedelta(days=1))
    result = _judge(_document(), old, newer_by_stranger)
    # The owner's review is the one judged (and it is stale); the stranger's is named, not counted.
    assert result.findings[0].data["problems"] == ["stale"]
    assert "mallory" in result.findings[0].detail


def test_a_url_is_judged_on_its_pinned_sha256() -> None:
    url = _document(location="https://wiki.example.org/dpia", is_url=True, exists=None, sha256=None)
    assert _judge(url, _review()).status is Status.PASS
    assert _judge(url, _review(sha256=OTHER)).findings[0].data["problems"] == ["changed"]
    assert _judge(url, _review()).metrics["documents"]["threat model"]["verified"] is False


def test_a_review_is_never_younger_than_its_record() -> None:
    recorded = "2026-05-01T10:00:00+00:00"
    assert reviewed_at("2026-05-30T10:00:00+00:00", recorded) == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert reviewed_at("2026-04-30T10:00:00+00:00", recorded) == datetime(2026, 4, 30, 10, tzinfo=UTC)
    assert reviewed_at("not a time", recorded) == datetime(2026, 5, 1, 10, tzinfo=UTC)


@dataclass
class _Record:
    kind: str
    payload: dict[str, Any]
    release_id: str = "release_m__r1"
    seq: int = 3
    recorded_at: str = "2026-05-20T08:00:00+00:00"
    extra: dict[str, Any] = field(default_factory=dict)


def test_reviews_are_read_only_from_review_answers() -> None:
    answer = {
        "choice": "reviewed",
        "user": "alice",
        "owner_role": "security",
        "authorized": True,
        "responded_at": "2026-05-20T07:59:00+00:00",
        "documents": {"threat model": {"sha256": SHA, "location": "docs/tm.md"}},
    }
    records = [
        _Record("human_decision", answer),
        _Record("human_decision", {**answer, "choice": "waive"}),  # a gate's answer, not a review
        _Record("check_result", {**answer}),
        _Record("human_decision", {**answer, "documents": "threat model"}),  # malformed: skipped
    ]
    (review,) = reviews_from_records(records)
    assert (review.document, review.sha256, review.user, review.evidence) == (
        "threat model",
        SHA,
        "alice",
        "release_m__r1#3",
    )


# -- a review answer → its record -------------------------------------------------------------------

SHOWN = {"threat model": {"sha256": SHA, "location": "docs/tm.md"}}


def _answer(
    user: str | None = "alice",
    chosen: tuple[str, ...] = ("threat model",),
    note: str = "Checked the new data flows.",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "chosen_options": list(chosen),
        "responded_by_user": {"id": user, "name": user} if user else None,
        "responded_at": "2026-05-20T08:00:00+00:00",
        "params_input": {"rationale": note},
        **extra,
    }


def _decide(answer: dict[str, Any] | None, current: dict[str, str | None] | None = None) -> Any:
    return review_decision(
        answer,
        task_id="governance.documents_review_security",
        gate_id="governance",
        check_id="governance.documents",
        owner_role="security",
        owner_users=["alice"],
        shown=SHOWN,
        current=current if current is not None else {"threat model": SHA},
        not_reviewed_option=NOT_REVIEWED,
    )


def test_the_owners_review_with_a_note_is_accepted() -> None:
    payload = _decide(_answer())
    assert payload["authorized"] is True and payload["problem"] is None
    assert payload["choice"] == "reviewed"
    assert payload["documents"] == SHOWN
    assert payload["owner_role"] == "security" and "role" not in payload  # not read as a sign-off


@pytest.mark.parametrize(
    ("answer", "current", "problem"),
    [
        (_answer(user="mallory"), None, "mallory is not a user of the security role"),
        (_answer(user=None), None, "names no user"),
        (_answer(note="ok"), None, "note of at least"),
        (_answer(chosen=("threat model", NOT_REVIEWED)), None, "at once"),
        (_answer(chosen=("DPIA",)), None, "not shown for review"),
        (_answer(), {"threat model": OTHER}, "changed while under review"),
        (_answer(), {"threat model": None}, "changed while under review"),
    ],
    ids=[
        "not the owner",
        "anonymous",
        "no note",
        "both",
        "not shown",
        "edited meanwhile",
        "deleted meanwhile",
    ],
)
def test_an_answer_that_does_not_count_is_recorded_with_why(
    answer: dict[str, Any], current: dict[str, str | None] | None, problem: str
) -> None:
    payload = _decide(answer, current)
    assert payload["authorized"] is False
    assert problem in payload["problem"]
    # Recorded with what was chosen, but never read as a review that counts.
    assert all(not review.authorized for review in reviews_from_records([_Record("human_decision", payload)]))


def test_nothing_reviewed_and_timeouts() -> None:
    assert _decide(None) is None  # the step was skipped: nothing to record
    declined = _decide(_answer(chosen=(NOT_REVIEWED,), note=""))
    assert (declined["choice"], declined["authorized"], declined["documents"]) == ("not_reviewed", True, {})
    timed_out = _decide(_answer(user=None, chosen=(NOT_REVIEWED,), timed_out=True))
    assert timed_out["timed_out"] is True and timed_out["authorized"] is False
    assert reviews_from_records([_Record("human_decision", timed_out)]) == []


# -- remediation goes to the document's owner -------------------------------------------------------

POLICY = """
policy_version: 1
release: {model: m}
owners:
  ml_owner: {users: [olga]}
  security: {users: [alice], email: security@example.org}
gates:
  - id: governance
    owner: ml_owner
    rationale: The release ships with its documents current.
    checks:
      - kind: documents
        documents:
          threat model: {owner: security, location: tm.md, sha256: "SHA256", max_age: 90d}
""".replace("SHA256", SHA)


def test_a_failing_documents_remediation_item_goes_to_the_document_owner(tmp_path: Any) -> None:
    from release_gates.gates import remediation_items
    from release_gates.policy import load_policy

    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    result = _judge(_document(), _review(user="mallory"))
    results = {"governance.documents": result.to_dict()}
    (item,) = remediation_items(policy, policy.gate("governance"), results, now=NOW)
    assert (item.owner_role, item.owners, item.contact) == ("security", ("alice",), "security@example.org")
    assert item.deadline == NOW + policy.remediation_sla.high
    # A finding naming a role the policy does not have stays with the gate's owner.
    findings = [{**results["governance.documents"]["findings"][0], "data": {"owner_role": "nobody"}}]
    results["governance.documents"]["findings"] = findings
    (item,) = remediation_items(policy, policy.gate("governance"), results, now=NOW)
    assert item.owner_role == "ml_owner"
