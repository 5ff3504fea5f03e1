"""Human decisions in the release DAG, on the standard provider's HITL operators.

Both operators keep the whole answer in XCom ``answer`` — option, who, when, form input, and
whether the step timed out — because the evidence trail needs the person, and an answer whose person
is unknown must never pass for one: Airflow resumes a parked HITL task with ``responded_by_user``
``None`` both for the timeout default (``timedout`` true) and for any answer whose responder did not
survive the trip. The first is recorded as a timeout; the second is completed from the HITL detail
record, or the step fails (ERROR) — it is never recorded as an anonymous approval or rejection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLBranchOperator, HITLOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class RecordedHITLBranchOperator(HITLBranchOperator):
    """A HITL branch that also keeps the answer in XCom ``answer`` (see the module docstring).

    :param asked_about_task_id: the gate's decide task; the gate decision it pushed (XCom
        ``gate_decision``: seq, hash, outcome) when this step asked is kept with the answer, so a
        waiver binds to the decision the person saw, not to whatever was decided later.
    """

    def __init__(self, *, asked_about_task_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asked_about_task_id = asked_about_task_id

    def execute(self, context: Context) -> Any:
        if self.asked_about_task_id:
            # Kept across the park: XComs are not cleared when the task resumes with the answer.
            asked = context["ti"].xcom_pull(task_ids=self.asked_about_task_id, key="gate_decision")
            context["ti"].xcom_push(key="asked_about", value=asked)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        answer = HITLOperator.execute_complete(self, context=context, event=event)
        recorded = recorded_answer(context, {**event, **dict(answer)})
        if self.asked_about_task_id:
            recorded["asked_about"] = context["ti"].xcom_pull(task_ids=self.task_id, key="asked_about")
        context["ti"].xcom_push(key="answer", value=recorded)
        chosen = [self.options_mapping.get(option, option) for option in answer["chosen_options"]]
        self.hitl_summary_extra["branches_to_execute"] = chosen
        return self.do_branch(context=context, branches_to_execute=chosen)


class RecordedApprovalOperator(ApprovalOperator):
    """An ApprovalOperator whose answer survives a rejection, in XCom ``answer``.

    On "Reject" the stock operator skips its downstream by raising, so its return value is never
    stored — and a refusal is exactly what the evidence trail must show.
    """

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if "error" not in event:
            context["ti"].xcom_push(key="answer", value=recorded_answer(context, event))
        return super().execute_complete(context=context, event=event)


_ANSWER_KEYS: Sequence[str] = ("chosen_options", "params_input", "responded_at", "responded_by_user")


def recorded_answer(context: Context, event: dict[str, Any]) -> dict[str, Any]:
    """The answer to keep: the event's, with its responder, or ``timed_out`` when nobody answered.

    Raises :class:`~airflow.sdk.exceptions.AirflowFailException` for an answer that names no user
    and is not the timeout default, when the HITL detail record names none either.
    """
    answer = {key: event.get(key) for key in _ANSWER_KEYS}
    if not _names_user(answer.get("responded_by_user")):
        answer["responded_by_user"] = None
        if event.get("timedout"):
            answer["timed_out"] = True
        else:
            answer["responded_by_user"] = _responder_on_record(context, answer.get("chosen_options"))
    return _json_ready(answer)


def _names_user(user: Any) -> bool:
    return isinstance(user, dict) and bool(user.get("name") or user.get("id"))


def _responder_on_record(context: Context, chosen: Any) -> dict[str, str]:
    """Who gave this answer, from the HITL detail record itself; fail the step if it names nobody
    (or the record holds another answer, whose author did not choose this one)."""
    from airflow.sdk.exceptions import AirflowFailException

    responder: Any = None
    try:
        from airflow.sdk.execution_time.hitl import get_hitl_detail_content_detail

        detail = get_hitl_detail_content_detail(ti_id=context["ti"].id)
        if list(detail.chosen_options or []) == list(chosen or []):
            responder = detail.responded_by_user
    except Exception:  # no supervisor to ask (e.g. outside a task run): the answer stays anonymous
        responder = None
    user = {"id": getattr(responder, "id", None), "name": getattr(responder, "name", None)}
    if not _names_user(user):
        raise AirflowFailException(
            "the human answer arrived without the user who gave it, and it is not the timeout default; "
            "an anonymous answer is never recorded as a decision (answer again after clearing this task)"
        )
    return {"id": str(user["id"] or user["name"]), "name": str(user["name"] or user["id"])}


def _json_ready(answer: dict[str, Any]) -> dict[str, Any]:
    responded_at = answer.get("responded_at")
    if isinstance(responded_at, datetime):
        answer["responded_at"] = responded_at.isoformat()
    answer["params_input"] = dict(answer.get("params_input") or {})
    if isinstance(answer.get("responded_by_user"), dict):
        answer["responded_by_user"] = dict(answer["responded_by_user"])
    return answer
