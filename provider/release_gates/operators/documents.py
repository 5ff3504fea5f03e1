"""``kind: documents`` in the release DAG: the check, and the owners' review step before it.

For each ``documents`` check the DAG factory builds, inside the gate's task group::

    start ─► <check>_review_<role> (HITL, one per owner role) ─► <check>_reviewed (record) ─► <check>

A review step asks only when one of its role's documents needs a review that would clear it (no
review that counts, a review of another version, or one older than ``max_age``); otherwise it is
skipped and the check runs at once. The person picks the documents they reviewed and writes a note;
the recorder writes the answer as a ``human_decision`` record (who, when, which documents at which
sha256 — the versions the step showed) and fails, red, when it does not count (not a user of the
owning role, no note, a document that changed while under review). The check then reads every review
of this model's releases (:mod:`release_gates.checks.documents`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import BaseOperator

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.operators.base import DEFAULT_RELEASE_ID, BaseCheckOperator
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.checks.documents import Assessment
    from release_gates.evidence import EvidenceStore
    from release_gates.kinds.documents import DocumentsCheck
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult


class DocumentsCheckOperator(BaseCheckOperator):
    """Required documents present, at their pinned sha256, reviewed by their owners within ``max_age``.

    Reviews are read from this release's chain and every earlier release of the same model. Each
    failing document is a finding naming its owner role, whose remediation item goes to that role.
    """

    check_kind = "documents"

    def run_check(self, spec: DocumentsCheck, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        from release_gates.inputs.documents import model_review_records, run_documents_check

        model = policy.release.model if policy is not None else None
        records = model_review_records(self.evidence_store, model, self.release_id)
        catalog = self.dataset_catalog(policy, context)
        return run_documents_check(spec, catalog, check_id=self.check_id, policy=policy, records=records)


def _documents_check(policy: ReleasePolicy, check_id: str) -> DocumentsCheck:
    from release_gates.kinds.documents import DocumentsCheck

    for _, check, found in policy.iter_checks():
        if found == check_id and isinstance(check, DocumentsCheck):
            return check
    raise KeyError(f"no documents check {check_id!r} in {policy.source}")


def assess_documents(
    policy: ReleasePolicy, check_id: str, store: EvidenceStore, release_id: str
) -> list[Assessment]:
    """Every document of the check judged now, as the check will judge it."""
    from datetime import UTC, datetime

    from release_gates.checks.documents import assess, reviews_from_records
    from release_gates.inputs.documents import document_facts, model_review_records

    spec = _documents_check(policy, check_id)
    owners = {role: list(owner.users) for role, owner in policy.owners.items()}
    records = model_review_records(store, policy.release.model, release_id)
    reviews = reviews_from_records(records)
    now = datetime.now(UTC)
    facts = document_facts(spec, owners=owners, base_dir=policy.base_dir)
    return [assess(document, reviews, now) for document in facts]


class DocumentReviewOperator(EvidenceWriterMixin, HITLOperator):
    """The owner role's review of its documents: asked only when a review would clear one of them.

    Options are the role's document names (several may be chosen) and :data:`NOT_REVIEWED`, the
    default when the time runs out. What the step showed (document → sha256 and location) is kept in
    XCom ``asked_about`` and the answer in XCom ``answer``, for the recorder.
    """

    template_fields: Sequence[str] = (*HITLOperator.template_fields, "release_id", "policy_path")
    ui_color = "#e8eaf6"

    def __init__(
        self,
        *,
        policy_path: str,
        check_id: str,
        owner_role: str,
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy_path = policy_path
        self.check_id = check_id
        self.owner_role = owner_role
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def execute(self, context: Context) -> Any:
        self.prepare(context)
        return super().execute(context)

    def prepare(self, context: Context) -> dict[str, dict[str, Any]]:
        """What to ask about (pushed as ``asked_about``), or skip the step when nothing needs a review."""
        from airflow.sdk.exceptions import AirflowSkipException

        from release_gates.kinds.documents import NOT_REVIEWED
        from release_gates.policy import load_policy

        policy = load_policy(self.policy_path)
        assessments = assess_documents(policy, self.check_id, self.evidence_store, self.release_id)
        mine = [a for a in assessments if a.document.owner_role == self.owner_role]
        due = [a for a in mine if a.needs_review]
        if not due:
            self.log.info("No document of the %s role needs a review now: nothing to ask.", self.owner_role)
            raise AirflowSkipException(f"no document of the {self.owner_role} role needs a review")
        shown = {
            a.document.name: {"sha256": a.document.content_sha256, "location": a.document.location}
            for a in due
        }
        context["ti"].xcom_push(key="asked_about", value=shown)
        self.options = [*shown, NOT_REVIEWED]
        lines = [
            f"- **{a.document.name}** — `{a.document.location}`, "
            f"sha256 `{a.document.content_sha256}`: " + "; ".join(text for _, text in a.problems)
            for a in due
        ]
        self.body = (
            "Review these documents as they are now; choose those you reviewed and say what you checked. "
            "Your answer is recorded with your name and binds to the versions listed.\n\n"
            + "\n".join(lines)
            + (f"\n\n{self.body}" if self.body else "")
        )
        return shown

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from release_gates.operators.hitl import recorded_answer

        answer = super().execute_complete(context=context, event=event)
        recorded = recorded_answer(context, {**event, **dict(answer)})
        recorded["asked_about"] = context["ti"].xcom_pull(task_ids=self.task_id, key="asked_about")
        context["ti"].xcom_push(key="answer", value=recorded)
        return answer


class RecordDocumentReviewsOperator(EvidenceWriterMixin, BaseOperator):
    """Record each review step's answer as a ``human_decision`` (see the module docstring).

    :param review_tasks: review step task id → the owner role it asked.
    """

    template_fields: Sequence[str] = ("release_id", "policy_path")
    ui_color = "#e8eaf6"

    def __init__(
        self,
        *,
        policy_path: str,
        check_id: str,
        review_tasks: Mapping[str, str],
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "none_failed_min_one_success")
        super().__init__(**kwargs)
        self.policy_path = policy_path
        self.check_id = check_id
        self.review_tasks = dict(review_tasks)
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from release_gates.checks.documents import review_decision
        from release_gates.inputs.documents import document_facts
        from release_gates.kinds.documents import NOT_REVIEWED
        from release_gates.policy import load_policy

        policy = load_policy(self.policy_path)
        spec = _documents_check(policy, self.check_id)
        owners = {role: list(owner.users) for role, owner in policy.owners.items()}
        # The versions now: a document that changed while it was under review is not reviewed.
        current = {
            d.name: d.content_sha256 for d in document_facts(spec, owners=owners, base_dir=policy.base_dir)
        }
        recorded: list[dict[str, Any]] = []
        refused: list[str] = []
        for task_id, role in self.review_tasks.items():
            answer = context["ti"].xcom_pull(task_ids=task_id, key="answer")
            payload = review_decision(
                answer,
                task_id=task_id,
                gate_id=self.check_id.split(".", 1)[0],
                check_id=self.check_id,
                owner_role=role,
                owner_users=owners.get(role, []),
                shown=(answer or {}).get("asked_about") or {},
                current=current,
                not_reviewed_option=NOT_REVIEWED,
            )
            if payload is None:  # the step did not ask (skipped): nothing to record
                continue
            seq = self.append_evidence("human_decision", payload, context, actor=payload["user"] or None).seq
            self.log.info(
                "%s: %s by %s%s (evidence #%d)", task_id, payload["choice"], payload["user"],
                "" if payload["authorized"] else f" — NOT accepted: {payload['problem']}", seq,
            )  # fmt: skip
            recorded.append(payload)
            if not payload["authorized"] and not payload["timed_out"]:
                refused.append(f"{task_id}: {payload['problem']} (evidence {self.release_id} #{seq})")
        if refused:
            from airflow.sdk.exceptions import AirflowFailException

            # Recorded, and red: a review that does not count must not look done.
            raise AirflowFailException("a review was recorded but NOT accepted: " + "; ".join(refused))
        return recorded


def _document_line(name: str, check: DocumentsCheck) -> str:
    document = check.documents[name]
    from release_gates.kinds.fields import format_duration

    line = (
        f"- **{name}** (`{document.location}`, reviewed at least every {format_duration(document.max_age)})"
    )
    return line + (f": {document.description}" if document.description else "")


def document_review_steps(
    policy: ReleasePolicy, check: DocumentsCheck, check_id: str, common: Mapping[str, Any]
) -> tuple[list[BaseOperator], BaseOperator]:
    """The review steps of one documents check (one per owner role) and their recorder, for the DAG
    factory to place between the release's start and the check (call it inside the gate's TaskGroup)."""
    from airflow.sdk import Param

    from release_gates.gates import MIN_RATIONALE
    from release_gates.kinds.documents import NOT_REVIEWED

    asks: list[BaseOperator] = []
    for role in check.owner_roles():
        if role not in policy.owners:
            raise ValueError(
                f"{policy.source}: check {check_id}: documents are owned by {role!r}, which is not a role "
                f"under owners: ({', '.join(sorted(policy.owners))})"
            )
        names = [name for name, document in check.documents.items() if document.owner == role]
        body = "\n".join(_document_line(name, check) for name in names)
        asks.append(
            DocumentReviewOperator(
                task_id=f"{check.check_name}_review_{role}",
                subject=f"{policy.release.model}: review {', '.join(names)} ({role.replace('_', ' ')})",
                body=body,
                options=[*names, NOT_REVIEWED],
                defaults=[NOT_REVIEWED],
                multiple=True,
                params={
                    "rationale": Param(
                        None,
                        type=["null", "string"],
                        minLength=MIN_RATIONALE,
                        title="Review note",
                        description=f"What you reviewed — at least {MIN_RATIONALE} characters; recorded with "
                        "your name.",
                    )
                },
                assigned_users=[{"id": user, "name": user} for user in policy.users_of(role)],
                response_timeout=check.review_timeout,
                policy_path=common["policy_path"],
                check_id=check_id,
                owner_role=role,
                release_id=common["release_id"],
                evidence_conn_id=common["evidence_conn_id"],
            )
        )
    recorder = RecordDocumentReviewsOperator(
        task_id=f"{check.check_name}_reviewed",
        policy_path=common["policy_path"],
        check_id=check_id,
        review_tasks={ask.task_id: role for ask, role in zip(asks, check.owner_roles(), strict=True)},
        release_id=common["release_id"],
        evidence_conn_id=common["evidence_conn_id"],
    )
    for ask in asks:
        ask >> recorder
    return asks, recorder
