"""Gate and release decisions as pure functions over evidence records (no Airflow here).

The release DAG's branch operators call these; so do reports and tests. Every rule fails closed:
a missing, errored or undecidable result never clears a gate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from release_gates.results import Severity, Status

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.policy import Gate, ReleasePolicy


class GateOutcome(StrEnum):
    PASSED = "passed"
    REMEDIATE = "remediate"
    REVIEW = "review"
    BLOCKED = "blocked"


class HumanChoice(StrEnum):
    DELAY = "delay"
    WAIVE = "waive"
    ABORT = "abort"
    ACCEPT_RISK = "accept_risk"
    REMEDIATE = "remediate"
    APPROVE = "approve"
    REJECT = "reject"


class FinalDecision(StrEnum):
    RELEASED = "released"
    HELD = "held"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"


def latest_results(records: Iterable[EvidenceRecord]) -> dict[str, dict[str, Any]]:
    """The last recorded CheckResult per check id (a retried check's final attempt wins)."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.kind == "check_result" and "check_id" in record.payload:
            latest[record.payload["check_id"]] = record.payload
    return latest


@dataclass(frozen=True)
class GateVerdict:
    gate_id: str
    outcome: GateOutcome
    statuses: dict[str, str]
    reason: str

    def to_payload(self) -> dict[str, Any]:
        return {
            "gate": self.gate_id,
            "outcome": self.outcome.value,
            "statuses": self.statuses,
            "reason": self.reason,
        }


def decide_gate(gate_id: str, check_ids: Sequence[str], results: dict[str, dict[str, Any]]) -> GateVerdict:
    """all PASS/WARN → passed; any ERROR or missing → blocked; any FAIL → remediate; else review."""
    statuses = {cid: results[cid]["status"] if cid in results else "MISSING" for cid in check_ids}
    missing = [cid for cid, s in statuses.items() if s == "MISSING"]
    errored = [cid for cid, s in statuses.items() if s == Status.ERROR.value]
    failed = [cid for cid, s in statuses.items() if s == Status.FAIL.value]
    undecided = [cid for cid, s in statuses.items() if s == Status.INCONCLUSIVE.value]
    unknown = [cid for cid, s in statuses.items() if s not in {m.value for m in Status} and s != "MISSING"]
    if not check_ids:
        return GateVerdict(gate_id, GateOutcome.BLOCKED, statuses, "the gate has no checks")
    if missing or errored or unknown:
        parts = [f"no result for {', '.join(missing)}" if missing else "",
                 f"{', '.join(errored)} could not run" if errored else "",
                 f"unknown status from {', '.join(unknown)}" if unknown else ""]  # fmt: skip
        return GateVerdict(gate_id, GateOutcome.BLOCKED, statuses, "; ".join(p for p in parts if p))
    if failed:
        return GateVerdict(gate_id, GateOutcome.REMEDIATE, statuses, f"{', '.join(failed)} failed")
    if undecided:
        return GateVerdict(gate_id, GateOutcome.REVIEW, statuses, f"{', '.join(undecided)} inconclusive")
    return GateVerdict(gate_id, GateOutcome.PASSED, statuses, "all checks passed")


# --------------------------------------------------------------------------------------------------
# Remediation items
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemediationItem:
    gate_id: str
    check_id: str
    finding_id: str
    title: str
    severity: Severity
    owner_role: str
    owners: tuple[str, ...]
    contact: str | None
    found_at: datetime
    deadline: datetime
    rationale: str
    mitigations: tuple[str, ...]
    detail: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {
            "gate": self.gate_id,
            "check_id": self.check_id,
            "finding_id": self.finding_id,
            "title": self.title,
            "severity": self.severity.value,
            "owner_role": self.owner_role,
            "owners": list(self.owners),
            "contact": self.contact,
            "found_at": self.found_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "rationale": self.rationale,
            "mitigations": list(self.mitigations),
            "detail": self.detail[:2000],
        }


def remediation_items(
    policy: ReleasePolicy, gate: Gate, results: dict[str, dict[str, Any]], *, now: datetime
) -> list[RemediationItem]:
    """One item per active (unwaived) finding of each failed check, deadline = now + SLA(severity).

    The item goes to the gate's owner role, or to the role the finding names (``data.owner_role``, e.g.
    a document's owner) when that is a role of the policy.
    """
    items: list[RemediationItem] = []
    for _, check, check_id in policy.iter_checks():
        if not check_id.startswith(f"{gate.id}.") or results.get(check_id, {}).get("status") != "FAIL":
            continue
        findings = [f for f in results[check_id].get("findings", []) if not f.get("waived_by")]
        if not findings:  # a FAIL without findings still needs an owner
            findings = [
                {"id": check_id, "severity": check.severity.value, "title": results[check_id]["summary"]}
            ]
        for finding in findings:
            severity = Severity(finding["severity"])
            if severity is Severity.INFO or (
                severity is Severity.LOW and "undecided" in finding.get("title", "")
            ):
                continue
            named = (finding.get("data") or {}).get("owner_role")
            role = named if isinstance(named, str) and named in policy.owners else gate.owner
            owner = policy.owners[role]
            items.append(
                RemediationItem(
                    gate_id=gate.id,
                    check_id=check_id,
                    finding_id=finding["id"],
                    title=finding["title"],
                    severity=severity,
                    owner_role=role,
                    owners=tuple(owner.users),
                    contact=owner.email or owner.slack_channel,
                    found_at=now,
                    deadline=now + policy.remediation_sla.for_severity(severity),
                    rationale=gate.rationale,
                    mitigations=tuple(gate.mitigations),
                    detail=finding.get("detail", ""),
                )
            )
    return sorted(items, key=lambda i: (i.severity.rank, i.check_id, i.finding_id))


# --------------------------------------------------------------------------------------------------
# Human decisions and the release decision
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HumanAnswer:
    """What a HITL task returned, checked against who was allowed to answer."""

    task_id: str
    gate_id: str | None
    choice: HumanChoice | None
    user: str | None
    responded_at: str | None
    rationale: str
    authorized: bool
    problem: str | None = None
    #: No one answered: the step's default option applied when its time ran out (``user`` is None).
    timed_out: bool = False
    #: The gate-decision record (``seq``, ``hash``) the person was asked about; a waiver or an
    #: acceptance clears that decision only, and dies with it.
    answers_decision: dict[str, Any] | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "task_id": self.task_id,
            "gate": self.gate_id,
            "choice": self.choice.value if self.choice else None,
            "user": self.user,
            "responded_at": self.responded_at,
            "rationale": self.rationale,
            "authorized": self.authorized,
            "problem": self.problem,
            "timed_out": self.timed_out,
        }
        if self.answers_decision is not None:
            payload["answers_decision"] = self.answers_decision
        return payload


MIN_RATIONALE = 10


def read_answer(
    task_id: str,
    gate_id: str | None,
    xcom: Any,
    options: dict[str, HumanChoice],
    allowed_users: Sequence[str],
    *,
    needs_rationale: Sequence[HumanChoice] = (),
) -> HumanAnswer:
    """Validate a HITL result. No answer, an unknown option or an unauthorized user decides nothing.

    A timed-out step (``timed_out`` in the recorded answer) keeps its default option, with no user
    and not authorized. An answer that names no user and did not time out is never a decision: its
    choice is dropped, so nothing anonymous is ever recorded as someone's approval or rejection.
    """
    if not isinstance(xcom, dict) or not xcom.get("chosen_options"):
        return HumanAnswer(task_id, gate_id, None, None, None, "", False, "no answer was recorded")
    option = xcom["chosen_options"][0]
    choice = options.get(option)
    user_info = xcom.get("responded_by_user") or {}
    user = user_info.get("name") or user_info.get("id") or None
    responded_at = xcom.get("responded_at")
    responded = responded_at.isoformat() if isinstance(responded_at, datetime) else responded_at
    rationale = str((xcom.get("params_input") or {}).get("rationale") or "").strip()
    asked_about = xcom.get("asked_about")
    asked = (
        {"seq": asked_about.get("seq"), "hash": asked_about.get("hash")}
        if isinstance(asked_about, dict)
        else None
    )
    if user is None:
        if xcom.get("timed_out") and choice is not None:
            return HumanAnswer(task_id, gate_id, choice, None, responded, "", False,
                               f"no answer within the time allowed: the default {option!r} applies",
                               timed_out=True, answers_decision=asked)  # fmt: skip
        return HumanAnswer(task_id, gate_id, None, None, responded, rationale, False,
                           f"the answer {option!r} names no user: an anonymous answer decides nothing",
                           answers_decision=asked)  # fmt: skip
    if choice is None:
        return HumanAnswer(
            task_id, gate_id, None, user, responded, rationale, False, f"unknown option {option!r}"
        )
    if user not in allowed_users and str(user_info.get("id")) not in allowed_users:
        return HumanAnswer(
            task_id, gate_id, choice, user, responded, rationale, False,
            f"{user} is not one of {', '.join(allowed_users)}",
        )  # fmt: skip
    if choice in needs_rationale and len(rationale) < MIN_RATIONALE:
        return HumanAnswer(
            task_id, gate_id, choice, user, responded, rationale, False,
            f"{choice.value} needs a rationale of at least {MIN_RATIONALE} characters",
            answers_decision=asked,
        )  # fmt: skip
    return HumanAnswer(task_id, gate_id, choice, user, responded, rationale, True, answers_decision=asked)


#: What each clearing choice may clear: a waiver answers a failed gate, an acceptance an inconclusive
#: one. A blocked gate (a check errored or left no result) is cleared by nothing a person says.
CLEARS = {HumanChoice.WAIVE: "remediate", HumanChoice.ACCEPT_RISK: "review"}


def decision_ref(record: EvidenceRecord) -> dict[str, Any]:
    """How a human answer names the gate-decision record it answered."""
    return {"seq": record.seq, "hash": record.hash}


def binding_problem(answer: HumanAnswer, records: Sequence[EvidenceRecord]) -> str | None:
    """Why a waiver or an acceptance cannot clear its gate, judged against the chain as it is now.

    It must name the gate's latest decision (a re-decision after the person was asked voids the
    answer), and that decision must be one it can clear (``CLEARS``): never a blocked gate.
    """
    if answer.choice not in CLEARS:
        return None
    decisions = [r for r in records if r.kind == "gate_decision" and r.payload.get("gate") == answer.gate_id]
    if not decisions:
        return f"no decision of gate {answer.gate_id} is recorded"
    current = decisions[-1]
    asked = answer.answers_decision or {}
    if (asked.get("seq"), asked.get("hash")) != (current.seq, current.hash):
        said = f"gate decision #{asked['seq']}" if asked.get("seq") is not None else "no gate decision"
        return f"it answers {said}, but the gate's decision is now #{current.seq}; it clears nothing"
    return _clears_problem(answer.choice, str(current.payload.get("outcome")))


def _clears_problem(choice: HumanChoice, outcome: str) -> str | None:
    if outcome == GateOutcome.BLOCKED:
        return "the gate is blocked (a check errored or left no result): no waiver or acceptance clears it"
    if CLEARS.get(choice) != outcome:
        return f"{choice.value} cannot clear a gate whose decision is {outcome}"
    return None


def approval_problem(
    answer: HumanAnswer, *, submitter: str | None, allow_submitter: bool, approved_by: Mapping[str, str]
) -> str | None:
    """Why an otherwise valid approval does not count: the person who triggered the release (unless
    the policy allows it), or a person who already approved another step of this release."""
    if answer.choice is not HumanChoice.APPROVE or not answer.authorized or answer.user is None:
        return None
    if submitter and answer.user == submitter and not allow_submitter:
        return f"{answer.user} triggered this release; the policy does not let the submitter approve it"
    if answer.user in approved_by:
        return (
            f"{answer.user} already approved this release at {approved_by[answer.user]}; "
            "sign-off needs distinct people"
        )
    return None


@dataclass
class ReleaseState:
    """Everything the release decision needs, folded from the evidence chain."""

    gates: dict[str, str] = field(default_factory=dict)  # gate → outcome
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)  # gate → its latest decision's ref
    cleared_by: dict[str, dict[str, Any]] = field(default_factory=dict)  # gate → authorized waiver/acceptance
    voided: list[dict[str, Any]] = field(default_factory=list)  # waivers/acceptances that clear nothing
    aborted_by: dict[str, Any] | None = None
    open_items: list[dict[str, Any]] = field(default_factory=list)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)  # approval task → answer
    promoted: bool = False
    rolled_back: bool = False
    canary_rolled_back: dict[str, Any] | None = None  # the canary's rollback record, when traffic went back


def fold(records: Iterable[EvidenceRecord]) -> ReleaseState:
    """The release's state from its records, in chain order.

    A gate decision voids every earlier waiver or acceptance of its gate; a waiver or an acceptance
    counts only if it names the gate's current decision (``answers_decision``: seq and hash) and
    that decision is one it may clear (:data:`CLEARS`) — a blocked gate never is.
    """
    state = ReleaseState()
    for record in records:
        payload = record.payload
        if record.kind == "gate_decision":
            _fold_gate_decision(state, record)
        elif record.kind == "remediation_item":
            state.open_items.append(payload)
        elif record.kind == "human_decision" and payload.get("authorized"):
            choice = payload.get("choice")
            if choice in (HumanChoice.WAIVE, HumanChoice.ACCEPT_RISK) and payload.get("gate"):
                _fold_clearing(state, HumanChoice(choice), payload)
            elif choice == HumanChoice.ABORT:
                state.aborted_by = payload
            elif choice in (HumanChoice.APPROVE, HumanChoice.REJECT):
                state.approvals[payload["task_id"]] = payload
        elif record.kind == "human_decision" and (
            payload.get("choice") in (HumanChoice.APPROVE, HumanChoice.REJECT) or payload.get("role")
        ):
            state.approvals[payload["task_id"]] = payload  # kept so the report shows the refusal
        elif record.kind == "promotion" and payload.get("status") == "done":
            state.promoted = True
        elif record.kind == "rollback" and payload.get("status") == "done":
            state.rolled_back = True
        elif record.kind == "canary_rollback":
            state.canary_rolled_back = payload
    return state


def _fold_gate_decision(state: ReleaseState, record: EvidenceRecord) -> None:
    gate = record.payload["gate"]
    state.gates[gate] = record.payload["outcome"]
    state.decisions[gate] = {"seq": getattr(record, "seq", None), "hash": getattr(record, "hash", None)}
    if gate in state.cleared_by:  # re-decided: what a person said about the old decision is void
        state.voided.append(state.cleared_by.pop(gate))


def _fold_clearing(state: ReleaseState, choice: HumanChoice, payload: dict[str, Any]) -> None:
    gate = payload["gate"]
    bound = gate in state.decisions and payload.get("answers_decision") == state.decisions[gate]
    if bound and _clears_problem(choice, state.gates.get(gate, "")) is None:
        state.cleared_by[gate] = payload
    else:
        state.voided.append(payload)


def gates_cleared(policy: ReleasePolicy, state: ReleaseState) -> tuple[bool, list[str]]:
    """Every gate passed, or was waived/accepted by an authorized user. Returns (cleared, reasons)."""
    reasons = []
    for gate in policy.gates:
        outcome = state.gates.get(gate.id)
        if outcome == GateOutcome.PASSED:
            continue
        if gate.id in state.cleared_by and outcome != GateOutcome.BLOCKED:
            continue
        reasons.append(f"gate {gate.id}: {outcome or 'no decision recorded'}, not waived")
    if state.aborted_by is not None:
        reasons.insert(0, f"aborted by {state.aborted_by.get('user')} at gate {state.aborted_by.get('gate')}")
    return not reasons, reasons


def signed_off(approval_tasks: Sequence[str], state: ReleaseState) -> tuple[bool, list[str]]:
    """Every approval step approved, each by an authorized and different person."""
    reasons = []
    approved_by: dict[str, str] = {}
    for task_id in approval_tasks:
        answer = state.approvals.get(task_id)
        if answer is None:
            reasons.append(f"{task_id}: no answer")
        elif not answer.get("authorized") or answer.get("choice") != HumanChoice.APPROVE:
            reasons.append(f"{task_id}: {answer.get('choice') or 'no answer'} by {answer.get('user')}"
                           + (f" ({answer['problem']})" if answer.get("problem") else ""))  # fmt: skip
        elif not answer.get("user") or answer["user"] in approved_by:
            earlier = approved_by.get(answer.get("user") or "", "another step")
            reasons.append(f"{task_id}: approve by {answer.get('user')} (already approved at {earlier}; "
                           "sign-off needs distinct people)")  # fmt: skip
        else:
            approved_by[answer["user"]] = task_id
    return not reasons, reasons


def final_decision(
    policy: ReleasePolicy, state: ReleaseState, approval_tasks: Sequence[str]
) -> tuple[FinalDecision, list[str]]:
    if state.aborted_by is not None:
        return FinalDecision.ABORTED, gates_cleared(policy, state)[1]
    if state.rolled_back:
        return FinalDecision.ROLLED_BACK, ["the smoke check failed after promotion; rolled back"]
    cleared, reasons = gates_cleared(policy, state)
    if not cleared:  # sign-off was never asked for: its absence is not a reason of its own
        return FinalDecision.HELD, reasons
    approved, approval_reasons = signed_off(approval_tasks, state)
    if cleared and approved and state.promoted:
        return FinalDecision.RELEASED, []
    if cleared and approved and state.canary_rolled_back is not None:
        canary = state.canary_rolled_back
        done = "" if canary.get("status") == "done" else f" ({canary.get('status')}: weight not confirmed 0)"
        reasons.append(f"canary rolled back{done}: {canary.get('reason') or 'no reason recorded'}")
    elif cleared and approved:
        reasons.append("not promoted")
    return FinalDecision.HELD, reasons + approval_reasons


def overdue(items: Iterable[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    return [i for i in items if datetime.fromisoformat(i["deadline"]) < now]
