"""The release DAG's own steps: start, gate branches, remediation, human decisions, sign-off, seal.

Each reads and writes the release's evidence chain; decisions are made by the pure functions in
:mod:`release_gates.gates`, so what the DAG does and what the report says always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseBranchOperator, BaseOperator

from release_gates.datasets import mask_password
from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.operators.base import DEFAULT_RELEASE_ID
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.evidence import EvidenceStore
    from release_gates.policy import ReleasePolicy


class _ReleaseStep(EvidenceWriterMixin, BaseOperator):
    """Shared plumbing: the policy (read at run time) and the release's evidence chain.

    :param policy_path: the release policy file.
    :param release_id: the evidence chain of this release (templated; default ``<dag_id>__<run_id>``).
    :param evidence_conn_id: connection of type ``release_gates_evidence`` (default: embedded SQLite).
    """

    template_fields: Sequence[str] = ("release_id", "policy_path")

    def __init__(
        self,
        *,
        policy_path: str,
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy_path = policy_path
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id

    def _policy(self) -> ReleasePolicy:
        from release_gates.policy import load_policy

        return load_policy(self.policy_path)

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def _records(self) -> list[Any]:
        from release_gates.evidence import EvidenceNotFoundError

        try:
            return self.evidence_store.records(self.release_id)
        except EvidenceNotFoundError:
            return []

    def _append(self, kind: str, payload: dict[str, Any], context: Context, actor: str | None = None) -> int:
        return self.append_evidence(kind, payload, context, actor=actor).seq


# --------------------------------------------------------------------------------------------------
# start
# --------------------------------------------------------------------------------------------------


class StartReleaseOperator(_ReleaseStep):
    """Validate the trigger inputs and open the evidence chain with ``release_started``.

    The candidate model's sha256 is checked against the file when it is local: a release of a file
    other than the one named must not start. The ``datasets`` overrides are checked against each
    dataset's allow-list in the policy (:mod:`release_gates.inputs.overrides`); a refused override
    fails the run here, before anything is checked, and the accepted ones are recorded (URIs masked).

    Then pre-flight (:mod:`release_gates.inputs.preflight`): every input the run will read — datasets
    after overrides (exist, match their pins, hold the columns the checks need), the candidate and
    stress-safety models (exist, match their pins), lineage suites, image scan targets on disk. Any
    problem refuses the release in seconds with one list: ``release_refused`` is recorded (the seal
    and the report say why) and the task fails without retries, so the release ends held.
    """

    template_fields: Sequence[str] = ("release_id", "release_inputs", "policy_path")
    template_fields_renderers = {"release_inputs": "json"}
    ui_color = "#fef7e0"

    def __init__(self, *, release_inputs: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release_inputs = release_inputs

    def execute(self, context: Context) -> dict[str, Any]:
        import hashlib
        import time
        from pathlib import Path

        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.evidence.snapshot import (
            PolicySnapshotError,
            check_recordable,
            read_policy_with_snapshot,
        )

        began = time.monotonic()
        # One read of the file: the policy text recorded below is the text parsed and hashed.
        policy, snapshot = read_policy_with_snapshot(self.policy_path)
        inputs = dict(self.release_inputs)
        # Before the chain opens: a run that asks for more than the policy allows never starts.
        inputs["datasets"] = self._allowed_overrides(policy, inputs.get("datasets"))
        # The registry event that triggered the run; a models:/ candidate pinned (operators.mlflow_registry).
        from release_gates.operators.mlflow_registry import refuse_start, start_registry_inputs

        registry_problem = start_registry_inputs(self, policy, inputs, context)
        model_uri, pinned = str(inputs.get("model_uri") or ""), str(inputs.get("model_sha256") or "")
        model_path = Path(model_uri.removeprefix("file://"))
        if model_uri and "://" not in model_uri.removeprefix("file://") and model_path.is_file():
            actual = hashlib.sha256(model_path.read_bytes()).hexdigest()
            if pinned and actual != pinned:
                raise AirflowFailException(
                    f"model {model_uri} has sha256 {actual}, but the release names {pinned}; not starting"
                )
            inputs["model_sha256_verified"] = actual
        dag_run = context.get("dag_run")
        for key in ("model_uri", "image"):  # recorded and shown: never with a password in them
            if isinstance(inputs.get(key), str):
                inputs[key] = mask_password(inputs[key])
        payload = {
            "model": policy.release.model,
            "risk_tier": policy.release.risk_tier,
            "policy": {"source": policy.source, "sha256": policy.sha256},
            # The rules themselves, so a replay a year later knows them (release_gates.evidence.snapshot).
            "policy_snapshot": snapshot,
            "inputs": inputs,
            "gates": [g.id for g in policy.gates],
            "checks": [check_id for _, _, check_id in policy.iter_checks()],
            # The DAG the UI authorizes readers of this release on (the release id can be crafted).
            "dag_id": getattr(dag_run, "dag_id", None) or getattr(context.get("ti"), "dag_id", None),
            "run_id": context.get("run_id"),
            "triggered_by": getattr(dag_run, "triggering_user_name", None),
        }
        try:  # a record too large for the store refuses the release here, before the chain opens
            check_recordable("release_started", payload, policy_source=policy.source)
        except PolicySnapshotError as exc:
            raise AirflowFailException(f"{exc}; the release does not start") from None
        seq = self._open_chain(payload, context)
        if registry_problem is not None:
            refuse_start(self, registry_problem, context)
        self._preflight(policy, context, began)
        self.log.info("Release %s of %s started (evidence #%d)", self.release_id, policy.release.model, seq)
        for name, override in inputs["datasets"].items():
            self.log.info("Dataset %s overridden for this run: %s (sha256 %s)", name, override["uri"],
                          override["sha256"] or "not pinned")  # fmt: skip
        return {"release_id": self.release_id, "model": policy.release.model, "evidence_seq": seq}

    def _preflight(self, policy: ReleasePolicy, context: Context, began: float) -> None:
        """Refuse the release, recorded, when an input it will read is not usable (see the class)."""
        import time

        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.inputs.preflight import RELEASE_REFUSED, format_problems, preflight_inputs
        from release_gates.operators.base import render_policy_values
        from release_gates.operators.candidate_pin import registry_pin

        problems = preflight_inputs(
            policy,
            overrides=self.release_inputs.get("datasets"),
            render=lambda value: render_policy_values(self, value, context),
            candidate_pinned=registry_pin(self._records()) is not None,
        )
        elapsed = time.monotonic() - began
        if not problems:
            self.log.info("Pre-flight: every input of the release is usable (%.1f s)", elapsed)
            return
        summary = format_problems(problems)
        if not any(r.kind == RELEASE_REFUSED for r in self._records()):  # a retried start: once
            self._append(
                RELEASE_REFUSED,
                {"stage": "preflight", "summary": summary, "problems": [p.to_dict() for p in problems]},
                context,
            )
        for problem in problems:
            self.log.error("Pre-flight: %s", problem)
        raise AirflowFailException(
            f"release refused at start after {elapsed:.1f} s: {summary} (evidence {self.release_id})"
        )

    def _open_chain(self, payload: dict[str, Any], context: Context) -> int:
        """Append ``release_started`` to a new chain, or find this run's own on a retry.

        A chain that already holds records of another DAG or run is refused: a DAG author must not be
        able to write a release into someone else's trail by choosing its ``release_id``.
        """
        from airflow.sdk.exceptions import AirflowFailException

        existing = self.evidence_store.records(self.release_id)
        if not existing:
            return self._append("release_started", payload, context)
        first = existing[0]
        same_run = (
            first.kind == "release_started"
            and first.payload.get("dag_id") == payload["dag_id"]
            and first.payload.get("run_id") == payload["run_id"]
        )
        if not same_run:
            raise AirflowFailException(
                f"evidence chain {self.release_id!r} already holds {len(existing)} record(s) of another "
                "release; a release never writes into another's trail"
            )
        self.log.info("Release %s already started (evidence #%d): a retry, not a new release",
                      self.release_id, first.seq)  # fmt: skip
        return first.seq

    def _allowed_overrides(self, policy: ReleasePolicy, raw: Any) -> dict[str, dict[str, str | None]]:
        """The run's dataset overrides the policy allows, URIs masked; anything else refuses the run."""
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.inputs.overrides import DatasetOverrideError, allowed_overrides

        try:
            accepted = allowed_overrides(policy.datasets, raw, base_dir=policy.base_dir)
        except DatasetOverrideError as exc:
            raise AirflowFailException(f"{exc}; the release does not start") from None
        return {name: override.masked() for name, override in accepted.items()}


# --------------------------------------------------------------------------------------------------
# gates
# --------------------------------------------------------------------------------------------------


class GateBranchOperator(_ReleaseStep, BaseBranchOperator):
    """Route a gate on its checks' results in evidence: passed / remediate / review / blocked.

    Runs with trigger rule ALL_DONE: a check task that failed or never ran has no result, which
    blocks the gate — it is never read as a pass.
    """

    ui_color = "#fce8e6"

    def __init__(
        self,
        *,
        gate_id: str,
        check_ids: Sequence[str],
        branches: dict[str, str],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.gate_id = gate_id
        self.check_ids = list(check_ids)
        self.branches = branches

    def choose_branch(self, context: Context) -> str:
        from release_gates.gates import decide_gate, latest_results

        verdict = decide_gate(self.gate_id, self.check_ids, latest_results(self._records()))
        record = self.append_evidence("gate_decision", verdict.to_payload(), context)
        # What the gate's human step asks about: a waiver or an acceptance names this record.
        context["ti"].xcom_push(
            key="gate_decision",
            value={
                "gate": self.gate_id,
                "outcome": verdict.outcome.value,
                "seq": record.seq,
                "hash": record.hash,
            },
        )
        self.log.info(
            "Gate %s: %s — %s (evidence #%d)", self.gate_id, verdict.outcome.value, verdict.reason, record.seq
        )
        return self.branches[verdict.outcome.value]


class RemediationOperator(_ReleaseStep):
    """Open remediation items for a failed gate, notify its owners and the stakeholders.

    One item per failed criterion/finding: owner role and users, severity, deadline (now + the
    policy's SLA for that severity), the gate's rationale and mitigations.
    """

    ui_color = "#fde2e4"

    def __init__(
        self,
        *,
        gate_id: str,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "none_failed_min_one_success")
        super().__init__(**kwargs)
        self.gate_id = gate_id

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.gates import latest_results, remediation_items
        from release_gates.notify import notify

        policy = self._policy()
        gate = policy.gate(self.gate_id)
        items = remediation_items(policy, gate, latest_results(self._records()), now=datetime.now(UTC))
        for item in items:
            self._append("remediation_item", item.to_payload(), context)
        lines = [
            f"- [{i.severity.value}] {i.title} — {', '.join(i.owners)}, due {i.deadline:%Y-%m-%d %H:%M} UTC"
            for i in items
        ]
        subject = f"[{policy.release.model}] gate '{gate.id}' needs remediation ({len(items)} item(s))"
        mitigations = f"\n\nSuggested mitigations: {', '.join(gate.mitigations)}" if gate.mitigations else ""
        body = (
            f"Release {self.release_id} is held at gate '{gate.title or gate.id}'.\n"
            f"Why this gate exists: {gate.rationale}\n\nItems:\n"
            + "\n".join(lines)
            + mitigations
            + "\n\nDecide in Airflow (Required Actions): delay the release, release with a waiver, or abort."
        )
        deliveries = notify(policy, gate.owner, subject, body, context=context, logger=self.log)
        for role in dict.fromkeys(i.owner_role for i in items if i.owner_role != gate.owner):
            # An item a finding assigned to another role (a document's owner) reaches that role too.
            deliveries += notify(policy, role, subject, body, context=context, logger=self.log)
        earliest = min((i.deadline for i in items), default=datetime.now(UTC))
        stakeholder_body = (
            f"The {policy.release.model} release ({self.release_id}) did not pass its "
            f"'{gate.title or gate.id}' check. {len(items)} issue(s) must be fixed by the "
            f"{gate.owner.replace('_', ' ')} before it can ship; earliest deadline {earliest:%Y-%m-%d}. "
            "The model currently in production is unchanged."
        )
        for role in policy.notifications.stakeholders:
            deliveries += notify(policy, role, f"[{policy.release.model}] release held: {gate.id}",
                                 stakeholder_body, context=context, logger=self.log)  # fmt: skip
        for delivery in deliveries:
            self._append("notification", {**delivery, "gate": gate.id}, context)
        return {"gate": gate.id, "items": len(items), "notified": [d["to"] for d in deliveries if d["ok"]]}


class RecordHumanDecisionOperator(_ReleaseStep):
    """Record a human answer (who, when, option, rationale) from a HITL task's result in evidence.

    An answer from someone outside the allowed users, or a waiver/acceptance without a rationale, is
    recorded as unauthorized and clears nothing. A waiver or an acceptance names the gate decision it
    answered (``answers_decision``); if the gate has been decided again since, or the decision is one
    it cannot clear (a blocked gate), it is recorded as unauthorized too, with the reason.
    """

    ui_color = "#e8eaf6"

    def __init__(
        self,
        *,
        hitl_task_id: str,
        gate_id: str | None,
        options: dict[str, str],
        allowed_role: str | Sequence[str],
        xcom_key: str = "answer",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hitl_task_id = hitl_task_id
        self.gate_id = gate_id
        self.options = options
        self.allowed_role = [allowed_role] if isinstance(allowed_role, str) else list(allowed_role)
        self.xcom_key = xcom_key

    def execute(self, context: Context) -> dict[str, Any]:
        from dataclasses import replace

        from release_gates.gates import HumanChoice, binding_problem, read_answer

        policy = self._policy()
        users = sorted({u for role in self.allowed_role for u in policy.users_of(role)})
        xcom = context["ti"].xcom_pull(task_ids=self.hitl_task_id, key=self.xcom_key)
        answer = read_answer(
            self.hitl_task_id,
            self.gate_id,
            xcom,
            {option: HumanChoice(choice) for option, choice in self.options.items()},
            users,
            # Every answer to a gate says why (the form requires it too): a delay or an abort is a
            # decision an auditor reads a year later as much as a waiver is.
            needs_rationale=tuple(HumanChoice(choice) for choice in self.options.values()),
        )
        if answer.authorized and (problem := binding_problem(answer, self._records())):
            answer = replace(answer, authorized=False, problem=problem)
        seq = self._append("human_decision", answer.to_payload(), context, actor=answer.user or None)
        self.log.info(
            "%s: %s by %s%s (evidence #%d)", self.hitl_task_id, answer.choice, answer.user,
            "" if answer.authorized else f" — NOT accepted: {answer.problem}", seq,
        )  # fmt: skip
        if not answer.authorized and not answer.timed_out:
            from airflow.sdk.exceptions import AirflowFailException

            # Recorded (who, what, why it did not count), and red: an ignored answer must not look done.
            raise AirflowFailException(
                f"{self.hitl_task_id}: the answer was recorded but NOT accepted: {answer.problem} "
                f"(evidence {self.release_id} #{seq})"
            )
        return answer.to_payload()


# --------------------------------------------------------------------------------------------------
# release decision, sign-off, seal
# --------------------------------------------------------------------------------------------------


class ReleaseDecisionOperator(_ReleaseStep, BaseBranchOperator):
    """Proceed to sign-off only when every gate passed or was waived by an authorized user."""

    ui_color = "#fff3cd"

    def __init__(
        self,
        *,
        proceed: str | Sequence[str],
        hold: str,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.proceed = [proceed] if isinstance(proceed, str) else list(proceed)
        self.hold = hold

    def choose_branch(self, context: Context) -> str | list[str]:
        from release_gates.gates import fold, gates_cleared

        policy = self._policy()
        state = fold(self._records())
        cleared, reasons = gates_cleared(policy, state)
        payload = {
            "stage": "gates",
            "cleared": cleared,
            "gates": state.gates,
            "waived": sorted(state.cleared_by),
            "reasons": reasons,
        }
        self._append("release_decision", payload, context)
        self.log.info(
            "Gates %s: %s", "cleared" if cleared else "NOT cleared", "; ".join(reasons) or "all passed"
        )
        return self.proceed if cleared else self.hold


class SignoffCheckOperator(_ReleaseStep, BaseBranchOperator):
    """Record every approval answer and proceed only if each approval role approved (two-person rule).

    Trigger rule ALL_DONE: an ApprovalOperator that was rejected skips its direct downstream, so this
    step sits behind per-approval markers and reads the answers itself. Two people means two people:
    an approval counts only from a user who approved no other step of this release, and not from the
    user who triggered it unless the approval's ``allow_submitter`` says so; an approval that does
    not count is recorded with the reason. No answer in time is a rejection (recorded ``timed_out``,
    with no user); an approval step that ended without any answer, or with one that names no user, is
    recorded as an error — never as somebody's rejection.

    :param approvals: approval task id → role.
    :param approval_names: approval task id → the policy's approval it belongs to (default: none,
        which lets no submitter approve).
    """

    ui_color = "#fff3cd"

    def __init__(
        self,
        *,
        approvals: dict[str, str],
        promote: str,
        hold: str,
        approval_names: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.approvals = approvals  # approval task id → role
        self.approval_names = dict(approval_names or {})
        self.promote = promote
        self.hold = hold

    def choose_branch(self, context: Context) -> str:
        from airflow.sdk.exceptions import AirflowSkipException

        from release_gates.gates import fold, gates_cleared, signed_off

        policy = self._policy()
        records = self._records()
        gates_stage = [r.payload for r in records if r.kind == "release_decision"]
        if not gates_stage or not gates_stage[-1].get("cleared"):
            # The release was held before sign-off: nobody was asked, so there is nothing to record.
            raise AirflowSkipException("gates not cleared; sign-off was not requested")
        started: dict[str, Any] = next((r.payload for r in records if r.kind == "release_started"), {})
        approved_by: dict[str, str] = {}
        for task_id, role in self.approvals.items():
            payload = self._approval_payload(
                policy, task_id, role, context, submitter=started.get("triggered_by"), approved_by=approved_by
            )
            self._append("human_decision", payload, context, actor=payload["user"] or None)
        state = fold(self._records())
        cleared, gate_reasons = gates_cleared(policy, state)
        approved, reasons = signed_off(list(self.approvals), state)
        self._append("release_decision", {"stage": "signoff", "approved": approved and cleared,
                                          "reasons": gate_reasons + reasons}, context)  # fmt: skip
        self.log.info(
            "Sign-off %s: %s", "complete" if approved else "REFUSED", "; ".join(reasons) or "all approved"
        )
        return self.promote if approved and cleared else self.hold

    def _approval_payload(
        self,
        policy: ReleasePolicy,
        task_id: str,
        role: str,
        context: Context,
        *,
        submitter: str | None,
        approved_by: dict[str, str],
    ) -> dict[str, Any]:
        """One approval step's answer as recorded: who, what, and — if it does not count — why."""
        from dataclasses import replace

        from release_gates.gates import HumanChoice, approval_problem, read_answer

        xcom = context["ti"].xcom_pull(task_ids=task_id, key="answer")
        options = {"Approve": HumanChoice.APPROVE, "Reject": HumanChoice.REJECT}
        answer = read_answer(task_id, None, xcom, options, policy.users_of(role))
        name = self.approval_names.get(task_id)
        allow = bool(name in policy.approvals and policy.approvals[name].allow_submitter)
        if problem := approval_problem(
            answer, submitter=submitter, allow_submitter=allow, approved_by=approved_by
        ):
            answer = replace(answer, authorized=False, problem=problem)
        if answer.authorized and answer.choice is HumanChoice.APPROVE and answer.user:
            approved_by[answer.user] = task_id
        payload = {**answer.to_payload(), "role": role, "approval": name}
        if answer.choice is None:
            # Nobody's decision: the step failed, was lost, or its answer names no user. It holds the
            # release like a rejection would, but is recorded as what it is.
            payload["status"] = "error"
            payload["problem"] = (
                answer.problem
                if xcom
                else (
                    f"the approval step ended without a recorded answer (state "
                    f"{self._task_state(context, task_id)}); nobody's decision is assumed"
                )
            )
        return payload

    @staticmethod
    def _task_state(context: Context, task_id: str) -> str:
        ti: Any = context["ti"]
        try:
            states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[task_id], run_ids=[ti.run_id])
            return str(states.get(ti.run_id, {}).get(task_id, "unknown"))
        except Exception:  # the state only improves the message
            return "unknown"


class SealReleaseOperator(_ReleaseStep):
    """Record the final decision, close the chain, verify it, and return the run's summary.

    Trigger rule ALL_DONE: it runs whatever happened upstream, and decides only from evidence —
    released needs cleared gates, every approval and a successful promotion; anything less is held.
    """

    ui_color = "#d2e3fc"

    def __init__(
        self,
        *,
        approval_tasks: Sequence[str],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.approval_tasks = list(approval_tasks)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.gates import final_decision as decide
        from release_gates.gates import fold, latest_results
        from release_gates.run_notes import RUN_NOTE_KEY, run_note

        policy = self._policy()
        records = self._records()
        state = fold(records)
        decision, reasons = decide(policy, state, self.approval_tasks)
        promotions = [r.payload for r in records if r.kind == "promotion"]
        refused = [p for p in promotions if p.get("status") == "refused"]
        if refused and decision is decision.HELD:
            # Held, not released: the promote step refused because the target no longer carries what
            # was judged (or changed since the gate). Say so instead of a bare "not promoted".
            reasons = [f"promotion refused: {refused[-1].get('summary')}"] + [
                r for r in reasons if r != "not promoted"
            ]
        refusals = [r.payload for r in records if r.kind == "release_refused"]
        if refusals:  # pre-flight refused the release at start: that is why nothing was decided
            reasons = [f"refused at start: {refusals[-1].get('summary')}", *reasons]
        results = latest_results(records)
        summary = {
            "decision": decision.value,
            "reasons": reasons,
            "model": policy.release.model,
            "gates": state.gates,
            "waived": {
                g: {"by": d.get("user"), "rationale": d.get("rationale")} for g, d in state.cleared_by.items()
            },
            "checks": {cid: r["status"] for cid, r in results.items()},
            "open_items": len(state.open_items) if decision is not decision.RELEASED else 0,
        }
        store = self.evidence_store
        report_files: list[str] = []
        if store.chain(self.release_id).sealed_at is not None:
            # A retry after the seal went in appends nothing, and reports the decision the chain
            # holds — never one recomputed now (the policy may have changed since the seal).
            summary = dict(store.records(self.release_id, kind="release_sealed")[0].payload)
        else:
            from release_gates.operators.sagemaker_registry import seal_registry
            from release_gates.reports.seal import attestation_until_sealed

            summary.update(seal_registry(self, policy, decision.value, reasons, context))
            attestation = self._attest(store, policy, records, summary)  # first: the report lists it
            report_files = self._report(store, summary)
            with attestation_until_sealed(attestation):
                store.append(self.release_id, "release_sealed", summary, actor=self.evidence_task_name)
        report, recorded = store.verify(self.release_id), summary.get("reasons")
        said = [str(r) for r in recorded] if isinstance(recorded, list) else []
        self.log.info(
            "Release %s: %s. %s", self.release_id, str(summary.get("decision")).upper(), "; ".join(said)
        )
        self.log.info("%s", report)
        if not report.ok:
            raise AirflowFailException(
                f"evidence chain of {self.release_id} does not verify: {report.problem}"
            )
        if (ti := context.get("ti")) is not None:  # the run's note (no task instance outside a run)
            ti.xcom_push(key=RUN_NOTE_KEY, value=run_note(summary, self.release_id))
        return {**summary, "release_id": self.release_id, "report": report_files,
                "evidence": {"records": report.records, "head": report.head_hash}}  # fmt: skip

    def _report(self, store: EvidenceStore, summary: dict[str, Any]) -> list[str]:
        """Write the release report (artifacts) and record it, just before the seal closes the chain.

        A sealed chain takes no records, so the ``report`` record (each file's uri and sha256) goes in
        first and the seal covers it. A report failure is logged and recorded, never raised: the
        decision stands either way.
        """
        try:
            from release_gates.reports.seal import record_release_report

            return record_release_report(
                store, self.release_id, policy_path=self.policy_path, pending_seal=summary,
                actor=self.evidence_task_name, logger=self.log,
            )  # fmt: skip
        except Exception:  # e.g. the report module cannot be imported: still seal the decision
            self.log.exception("Report of %s failed; sealing the decision without it", self.release_id)
            return []

    def _attest(
        self, store: EvidenceStore, policy: ReleasePolicy, records: list[Any], summary: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Sign the release attestation from the records the decision was made from; its entry goes
        into ``summary``, so the seal names its sha256. ``evidence.signing.required`` and no signed
        attestation: the step fails before anything is appended, and the release is not sealed."""
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.reports.seal import AttestationRequiredError, attest_release

        try:
            entry = attest_release(
                store, self.release_id, records, signing=policy.evidence.signing, policy_sha256=policy.sha256,
                decision=summary["decision"], reasons=summary["reasons"], logger=self.log,
            )  # fmt: skip
        except AttestationRequiredError as exc:
            raise AirflowFailException(f"{exc} (evidence {self.release_id})") from None
        if entry is not None:
            summary["attestation"] = entry
        return entry


class ManualPromotionOperator(_ReleaseStep):
    """For policies without a ``deployment`` target: record that the release is cleared for manual rollout."""

    def execute(self, context: Context) -> dict[str, Any]:
        payload = {
            "status": "done",
            "target": None,
            "summary": "no deployment target in the policy: cleared for manual rollout",
        }
        seq = self._append("promotion", payload, context)
        self.log.info(
            "Nothing to promote: the policy has no deployment section, so no target is changed; the "
            "release is cleared for manual rollout (evidence #%d). Add deployment: to promote from here.",
            seq,
        )
        return {**payload, "evidence_seq": seq}
