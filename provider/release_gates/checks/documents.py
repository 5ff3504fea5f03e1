"""Required documents: each exists, is the version the policy pins, and its owner reviewed that version
recently.

A review is a human answer: the document's owner answers the release's review step (built next to the
``documents`` check by the DAG factory) and the answer is recorded as a ``human_decision`` record that
names the documents and the sha256 of each version the person was shown. The check reads the reviews
of the release's own chain and of every earlier release of the same model, and for each document takes
the most recent review that counts — answered by a user of the document's owner role (by the policy
as it is now) and accepted when recorded. Per document, FAIL when:

* the file is missing (a URL location is recorded, not fetched: its content is the pinned sha256);
* the file does not hash to the policy's ``sha256`` (it changed since the policy named it);
* no review counts, or the last one reviewed another version (the document changed since), or it is
  older than ``max_age``.

Each failing document is one finding naming its owner role (``data.owner_role``), so its remediation
item goes to that role rather than to the gate's owner. Nothing here imports Airflow; the functions
that read a review answer are shared by the DAG's recorder and the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from release_gates import __version__
from release_gates.gates import MIN_RATIONALE
from release_gates.kinds.fields import format_duration
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

KIND = "documents"
#: ``choice`` of a review answer that reviewed documents, and of one that reviewed none.
REVIEWED, NOT_REVIEWED_CHOICE = "reviewed", "not_reviewed"
#: The shortest note a review takes: the same floor as every answer to a gate.
MIN_NOTE = MIN_RATIONALE


@dataclass(frozen=True)
class DocumentFacts:
    """One required document as found on disk (or recorded, for a URL)."""

    name: str
    owner_role: str
    #: The users of the owner role, by the policy as it is now: only their reviews count.
    owner_users: tuple[str, ...]
    location: str
    pinned_sha256: str
    max_age: timedelta
    is_url: bool = False
    #: The file exists (None for a URL: not fetched).
    exists: bool | None = None
    #: The file's sha256 now (None when missing, or for a URL).
    sha256: str | None = None

    @property
    def content_sha256(self) -> str | None:
        """The version a review must cover: the file's, or for a URL the pinned one."""
        return self.pinned_sha256 if self.is_url else self.sha256


@dataclass(frozen=True)
class Review:
    """One document of one recorded review answer."""

    document: str
    sha256: str
    user: str | None
    owner_role: str | None
    reviewed_at: datetime
    authorized: bool
    problem: str | None
    #: ``<release_id>#<seq>`` of the record.
    evidence: str


@dataclass(frozen=True)
class Assessment:
    """What is wrong with one document (nothing: it passes) and which review it was judged on."""

    document: DocumentFacts
    problems: tuple[tuple[str, str], ...]
    review: Review | None
    #: Later reviews that do not count, with why: named in the finding so nobody reads them as cover.
    ignored: tuple[str, ...] = field(default=())

    @property
    def needs_review(self) -> bool:
        """A review now would clear its review problems: the content is known and not freshly reviewed."""
        codes = {code for code, _ in self.problems}
        return self.document.content_sha256 is not None and bool(codes & {"unreviewed", "changed", "stale"})


# --------------------------------------------------------------------------------------------------
# reviews: read from the evidence, judged per document
# --------------------------------------------------------------------------------------------------


def reviews_from_records(records: Iterable[Any]) -> list[Review]:
    """Every document review in ``records`` (evidence records, any chains), in the order given."""
    found: list[Review] = []
    for record in records:
        payload = record.payload
        if record.kind != "human_decision" or payload.get("choice") != REVIEWED:
            continue
        documents = payload.get("documents")
        if not isinstance(documents, Mapping):
            continue
        at = reviewed_at(payload.get("responded_at"), record.recorded_at)
        for name, reviewed in documents.items():
            sha = reviewed.get("sha256") if isinstance(reviewed, Mapping) else None
            if not isinstance(sha, str):
                continue
            found.append(
                Review(
                    document=str(name),
                    sha256=sha,
                    user=payload.get("user"),
                    owner_role=payload.get("owner_role"),
                    reviewed_at=at,
                    authorized=payload.get("authorized") is True,
                    problem=payload.get("problem"),
                    evidence=f"{record.release_id}#{record.seq}",
                )
            )
    return found


def reviewed_at(responded_at: Any, recorded_at: str) -> datetime:
    """When a review happened: the answer's time, never later than the store recorded it (an answer
    cannot make itself younger than its record)."""
    recorded = _aware(datetime.fromisoformat(recorded_at))
    try:
        responded = _aware(datetime.fromisoformat(str(responded_at))) if responded_at else recorded
    except ValueError:
        responded = recorded
    return min(responded, recorded)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def assess(document: DocumentFacts, reviews: Sequence[Review], now: datetime) -> Assessment:
    """Judge one document against the reviews of it (see the module docstring)."""
    problems: list[tuple[str, str]] = []
    if not document.is_url:
        if not document.exists:
            problems.append(("missing", f"missing: nothing at {document.location}"))
        elif document.sha256 != document.pinned_sha256:
            problems.append(
                (
                    "not_pinned_version",
                    f"{document.location} has sha256 {_short(document.sha256)}, the policy pins "
                    f"{_short(document.pinned_sha256)}: it changed since the policy named it",
                )
            )
    mine = sorted((r for r in reviews if r.document == document.name), key=lambda r: r.reviewed_at)
    counted = [r for r in mine if _counts(document, r) is None]
    review = counted[-1] if counted else None
    # Reviews after the one that counts (all of them, when none does) do not count: say why.
    later = [r for r in mine if review is None or (r.reviewed_at >= review.reviewed_at and r is not review)]
    ignored = tuple(
        f"{r.evidence} by {r.user or 'nobody'} on {r.reviewed_at:%Y-%m-%d}: {why}"
        for r in later
        if (why := _counts(document, r))
    )
    content = document.content_sha256
    if review is None:
        problems.append(("unreviewed", f"no review by the {document.owner_role} role is recorded"))
    else:
        when = f"{review.user}'s review of {review.reviewed_at:%Y-%m-%d} ({review.evidence})"
        if content is not None and review.sha256 != content:
            problems.append(
                ("changed", f"changed since {when}, which covered sha256 {_short(review.sha256)}")
            )
        age = now - review.reviewed_at
        if age > document.max_age:
            problems.append(
                ("stale", f"{when} is {age.days} days old; max_age is {format_duration(document.max_age)}")
            )
    return Assessment(document, tuple(problems), review, ignored)


def _counts(document: DocumentFacts, review: Review) -> str | None:
    """Why a review does not count for ``document`` (None: it counts)."""
    if not review.authorized:
        return f"not accepted when recorded ({review.problem or 'no reason given'})"
    if review.owner_role != document.owner_role:
        return f"answered for the {review.owner_role} role; the document's owner is {document.owner_role}"
    if review.user not in document.owner_users:
        return f"{review.user or 'nobody'} is not a user of the {document.owner_role} role"
    return None


def _short(sha: str | None) -> str:
    return f"{sha[:12]}…" if sha else "none"


# --------------------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------------------


def evaluate_documents(
    documents: Sequence[DocumentFacts],
    reviews: Sequence[Review],
    *,
    now: datetime | None = None,
    severity: Severity = Severity.HIGH,
    check_id: str = KIND,
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """PASS when every document passes; else FAIL with one finding per failing document, naming its owner."""
    started = utcnow()
    moment = now or started
    assessments = [assess(document, reviews, moment) for document in documents]
    findings = [_finding(a, severity) for a in assessments if a.problems]
    metrics = {
        "documents": {
            a.document.name: {
                "owner_role": a.document.owner_role,
                "status": "FAIL" if a.problems else "PASS",
                "problems": [code for code, _ in a.problems],
                "review": _review_facts(a.review),
                "location": a.document.location,
                "verified": not a.document.is_url,
            }
            for a in assessments
        },
        "reviews_read": len(reviews),
    }
    if not assessments:
        status, summary = Status.INCONCLUSIVE, "no documents to check"
    elif findings:
        status = Status.FAIL
        summary = f"{len(findings)} of {len(assessments)} document(s) fail: " + "; ".join(
            f.title for f in findings[:5]
        )
    else:
        status = Status.PASS
        unverified = [a.document.name for a in assessments if a.document.is_url]
        summary = f"{len(assessments)} document(s) present, pinned and reviewed by their owners in time" + (
            f" ({', '.join(unverified)}: URL, recorded not fetched)" if unverified else ""
        )
    return CheckResult(
        check_id=check_id,
        kind=KIND,
        status=status,
        summary=" ".join(summary.split())[:1000],
        findings=tuple(findings),
        metrics=metrics,
        inputs=dict(inputs or {}),
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=utcnow(),
    )


def _finding(assessment: Assessment, severity: Severity) -> Finding:
    document = assessment.document
    reasons = [text for _, text in assessment.problems]
    detail = "; ".join(reasons) + "."
    if assessment.ignored:
        detail += " Reviews that do not count: " + "; ".join(assessment.ignored[:5]) + "."
    detail += f" The {document.owner_role} role reviews it in the release's review step."
    return Finding(
        id=f"document:{document.name}",
        severity=severity,
        title=f"{document.name} (owner: {document.owner_role}): {reasons[0]}",
        detail=detail,
        location=document.location,
        data={
            "document": document.name,
            "owner_role": document.owner_role,
            "owner_users": list(document.owner_users),
            "problems": [code for code, _ in assessment.problems],
            "sha256": document.sha256,
            "pinned_sha256": document.pinned_sha256,
            "review": _review_facts(assessment.review),
        },
    )


def _review_facts(review: Review | None) -> dict[str, Any] | None:
    if review is None:
        return None
    return {
        "user": review.user,
        "at": review.reviewed_at.isoformat(),
        "sha256": review.sha256,
        "evidence": review.evidence,
    }


# --------------------------------------------------------------------------------------------------
# a review answer → its human_decision record
# --------------------------------------------------------------------------------------------------


def review_decision(
    answer: Mapping[str, Any] | None,
    *,
    task_id: str,
    gate_id: str,
    check_id: str,
    owner_role: str,
    owner_users: Sequence[str],
    shown: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, str | None],
    not_reviewed_option: str,
) -> dict[str, Any] | None:
    """The ``human_decision`` payload of one review step's answer; None when the step never asked.

    :param answer: the step's XCom ``answer`` (chosen options are document names, or the not-reviewed
        option; who answered, when, the ``rationale``).
    :param shown: document → ``{"sha256", "location"}`` of the version the person was shown.
    :param current: document → its sha256 now (None: unreadable): a document that changed while it was
        under review is not reviewed by this answer.

    Accepted (``authorized``) only when a user of ``owner_role`` answered, with a note of at least
    :data:`MIN_NOTE` characters, chose only documents the step showed, and none of them changed since;
    otherwise recorded with the reason (``problem``), and it reviews nothing.
    """
    if answer is None:
        return None
    user_info = answer.get("responded_by_user") or {}
    user = (user_info.get("name") or user_info.get("id")) if isinstance(user_info, Mapping) else None
    chosen = [str(option) for option in answer.get("chosen_options") or []]
    rationale = str((answer.get("params_input") or {}).get("rationale") or "").strip()
    timed_out = bool(answer.get("timed_out"))
    documents = [option for option in chosen if option != not_reviewed_option]
    payload: dict[str, Any] = {
        "task_id": task_id,
        "gate": gate_id,
        "check_id": check_id,
        "owner_role": owner_role,
        "choice": REVIEWED if documents else NOT_REVIEWED_CHOICE,
        "user": user,
        "responded_at": answer.get("responded_at"),
        "rationale": rationale,
        "timed_out": timed_out,
        "documents": {name: dict(shown[name]) for name in documents if name in shown},
    }
    problem = _review_problem(
        user,
        chosen,
        owner_role=owner_role,
        owner_users=owner_users,
        documents=documents,
        rationale=rationale,
        shown=shown,
        current=current,
    )
    if timed_out and not documents:
        problem = "no answer within the time allowed: nothing was reviewed"
    payload["authorized"] = problem is None
    payload["problem"] = problem
    return payload


def _review_problem(
    user: str | None,
    chosen: Sequence[str],
    *,
    owner_role: str,
    owner_users: Sequence[str],
    documents: Sequence[str],
    rationale: str,
    shown: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, str | None],
) -> str | None:
    if not chosen:
        return "no answer was recorded"
    if user is None:
        return "the answer names no user: an anonymous review reviews nothing"
    if user not in owner_users:
        return f"{user} is not a user of the {owner_role} role, which owns these documents"
    if not documents:
        return None
    if len(documents) != len(chosen):
        return "the answer chose documents and 'not reviewed' at once"
    unknown = [name for name in documents if name not in shown]
    if unknown:
        return f"{', '.join(unknown)} was not shown for review in this step"
    if len(rationale) < MIN_NOTE:
        return f"a review needs a note of at least {MIN_NOTE} characters (what was reviewed, what changed)"
    changed = [name for name in documents if current.get(name) != shown[name].get("sha256")]
    if changed:
        return f"{', '.join(changed)} changed while under review: review the current version"
    return None
