"""Human decisions in the release DAG, on the standard provider's HITL operators."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLBranchOperator, HITLOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class RecordedHITLBranchOperator(HITLBranchOperator):
    """A HITL branch that also keeps the answer — option, who, when, form input — in XCom ``answer``.

    The stock operator returns only the chosen branch; the evidence trail needs the person.
    """

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        answer = HITLOperator.execute_complete(self, context=context, event=event)
        context["ti"].xcom_push(key="answer", value=_json_ready(dict(answer)))
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
            answer = {
                k: event.get(k)
                for k in ("chosen_options", "params_input", "responded_at", "responded_by_user")
            }
            context["ti"].xcom_push(key="answer", value=_json_ready(answer))
        return super().execute_complete(context=context, event=event)


def _json_ready(answer: dict[str, Any]) -> dict[str, Any]:
    responded_at = answer.get("responded_at")
    if isinstance(responded_at, datetime):
        answer["responded_at"] = responded_at.isoformat()
    answer["params_input"] = dict(answer.get("params_input") or {})
    return answer
