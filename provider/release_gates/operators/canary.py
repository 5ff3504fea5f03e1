"""The canary stage of a promotion (``deployment.canary``): shift, wait, judge, route — per step.

::

    canary.step_1 (shift 5 %, wait, judge) ─┬─ PASS ─────────► canary.step_2 … ─► promote (full rollout)
                                             ├─ INCONCLUSIVE ─► canary.step_1_review (HITL: continue /
                                             │                   roll back; no answer in time → roll back)
                                             └─ FAIL / ERROR ─► canary.rollback (weights back to 0,
                                                                 remediation items)

* :class:`CanaryStepOperator` — under the target's lease: send ``weight`` % to the candidate, read
  the split back, then (lease still held: nothing else changes the target meanwhile) wait the
  interval, read both sides' CloudWatch metrics for it, the model metrics from the inference log,
  and judge (:func:`release_gates.checks.canary_judge.judge_canary`). Appends ``canary_shift`` as
  soon as traffic moved and ``canary_step`` (split, interval, queries, the judgement, the branch,
  the AWS calls) at the end. Any error after the shift routes to the rollback: fail closed.
* :class:`CanaryReviewOperator` — the human step; records ``canary_decision`` (who, what, or the
  timeout) before it routes.
* :class:`CanaryRollbackOperator` — weights back to 0 on the baseline, read back and confirmed;
  ``canary_rollback`` record and a remediation item per finding of the failed step. It runs when a
  step or review routes to it, and when one of them failed outright (trigger rule ALL_DONE), and
  skips itself when no traffic was ever shifted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseBranchOperator, BaseOperator

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.exceptions import DeploymentActionError
from release_gates.operators.base import DEFAULT_RELEASE_ID
from release_gates.operators.evidence import EvidenceWriterMixin
from release_gates.operators.hitl import RecordedHITLBranchOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.deploy import DeploymentTarget
    from release_gates.deploy.canary import TrafficSplit
    from release_gates.policy import ReleasePolicy
    from release_gates.policy.canary import Canary
    from release_gates.results import CheckResult

#: Human choices of a canary review → what happens.
REVIEW_OPTIONS = {"Continue": "continue", "Roll back": "rollback"}


class _CanaryStep(EvidenceWriterMixin, BaseOperator):
    template_fields: Sequence[str] = ("target", "release_id", "candidate", "policy_path")
    template_fields_renderers = {"target": "json"}
    ui_color = "#fff4e5"

    def __init__(
        self,
        *,
        policy_path: str,
        target: dict[str, Any],
        candidate: str = "{{ params.model_version }}",
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        lease_wait: float | str = "30m",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy_path = policy_path
        self.target = target
        self.candidate = candidate
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id
        self.lease_wait = lease_wait

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def _policy(self) -> tuple[ReleasePolicy, Canary]:
        from release_gates.policy import load_policy

        policy = load_policy(self.policy_path)
        if policy.deployment is None or policy.deployment.canary is None:
            raise ValueError(f"{self.policy_path}: the policy has no deployment.canary section")
        return policy, policy.deployment.canary

    def _deployment(self) -> DeploymentTarget:
        from release_gates.operators.aws import deployment_target
        from release_gates.policy import DeploymentTargetSpec

        return deployment_target(DeploymentTargetSpec.model_validate(self.target))

    def _records(self, kind: str) -> list[dict[str, Any]]:
        from release_gates.evidence import EvidenceNotFoundError

        try:
            return [r.payload for r in self.evidence_store.records(self.release_id, kind=kind)]
        except EvidenceNotFoundError:
            return []

    def _split(self, target: DeploymentTarget, canary: Canary) -> tuple[TrafficSplit, str]:
        """The split, with the baseline the first shift recorded (else what the target serves now)."""
        from release_gates.deploy.canary import traffic_split

        shifts = [s for s in self._records("canary_shift") if s.get("target") == target.identity()]
        baseline = str(shifts[0]["baseline"]) if shifts else target.current_version()
        return traffic_split(target, canary, baseline=baseline, candidate=str(self.candidate)), baseline

    def _lease(self, target: DeploymentTarget, context: Context, purpose: str, ttl: float) -> Any:
        from release_gates.deploy.target_journal import TargetJournal
        from release_gates.operators.aws import duration_seconds, target_lease

        return target_lease(
            TargetJournal(self.evidence_store, target.identity()),
            f"{self.release_id}:{self.evidence_task_name}",
            purpose=purpose,
            release_id=self.release_id,
            ttl=ttl,
            wait=duration_seconds(self.lease_wait),
            actor=self.evidence_actor(context),
        )


class CanaryStepOperator(_CanaryStep, BaseBranchOperator):
    """One canary step: shift ``weight`` %, wait, judge, and branch (see the module docstring).

    :param step: 1-based index of the step; :param weight: canary traffic in percent.
    :param on_pass: the task that follows a PASS (the next step, or ``promote`` after the last).
    :param on_review: the human step of this step; :param on_rollback: the canary rollback task.
    """

    def __init__(
        self, *, step: int, weight: int, on_pass: str, on_review: str, on_rollback: str, **kwargs: Any
    ) -> None:
        kwargs.setdefault("trigger_rule", "none_failed_min_one_success")
        super().__init__(**kwargs)
        self.step = step
        self.weight = weight
        self.on_pass = on_pass
        self.on_review = on_review
        self.on_rollback = on_rollback

    def choose_branch(self, context: Context) -> str:
        from release_gates.results import CheckResult, Status

        record: dict[str, Any] = {"step": self.step, "weight": self.weight, "candidate": str(self.candidate)}
        target: DeploymentTarget | None = None
        try:
            policy, canary = self._policy()
            target = self._deployment()
            record["target"] = target.identity()
            result = self._run(policy, canary, target, record, context)
        except Exception as exc:  # fail closed: whatever broke, the canary rolls back
            self.log.exception("Canary step %d could not be judged", self.step)
            result = CheckResult.error(
                check_id=f"canary.step_{self.step}",
                kind="canary",
                message=f"canary step {self.step} ({self.weight}%): {type(exc).__name__}: {exc}",
                metrics={"step": {"index": self.step, "weight": self.weight}},
            )
        branch = {
            Status.PASS: self.on_pass,
            Status.WARN: self.on_pass,
            Status.INCONCLUSIVE: self.on_review,
        }.get(result.status, self.on_rollback)
        record.update(
            result=result.to_dict(),
            status=result.status.value,
            classification=result.metrics.get("classification", "error"),
            branch=branch,
            api_calls=target.calls.drain() if target is not None else [],
        )
        seq = self.append_evidence("canary_step", record, context).seq
        self.log.info("Canary step %d (%d%%): %s → %s (evidence #%d)", self.step, self.weight,
                      result.summary, branch, seq)  # fmt: skip
        context["ti"].xcom_push(
            key="canary_step",
            value={"step": self.step, "weight": self.weight, "status": result.status.value,
                   "summary": result.summary, "evidence_seq": seq},
        )  # fmt: skip
        return branch

    def _run(
        self,
        policy: ReleasePolicy,
        canary: Canary,
        target: DeploymentTarget,
        record: dict[str, Any],
        context: Context,
    ) -> CheckResult:
        from release_gates.checks.canary_judge import judge_canary
        from release_gates.deploy.calls import TargetError

        interval = canary.interval.total_seconds()
        purpose = f"canary step {self.step}: {self.weight}% to {self.candidate}"
        with self._lease(target, context, purpose, ttl=interval + 900):
            split, baseline = self._split(target, canary)
            record["baseline"] = baseline
            split.shift(self.weight)
            after = split.read()
            record["split"] = after
            if abs(float(after["canary_weight"]) - self.weight) > 0.01:
                raise TargetError(
                    f"{target.description}: after the shift the canary has {after['canary_weight']}% of the "
                    f"traffic, not {self.weight}%",
                    operation="read_split",
                    code="SplitMismatch",
                )
            start = datetime.now(UTC)
            self.append_evidence(
                "canary_shift",
                {"step": self.step, "weight": self.weight, "target": target.identity(), "baseline": baseline,
                 "candidate": str(self.candidate), "split": after, "at": start.isoformat()},
                context,
            )  # fmt: skip
            time.sleep(interval)
            end = datetime.now(UTC)
        record["interval"] = {"start": start.isoformat(), "end": end.isoformat()}
        samples, queries, errors = self._operational(canary, split, start, end)
        record["queries"] = queries
        model_results = self._model_metrics(policy, canary, baseline, start, end)
        return judge_canary(
            samples,
            canary.metrics,
            confidence=canary.confidence,
            thresholds=canary.thresholds,
            check_id=f"canary.step_{self.step}",
            model_results=model_results,
            model_critical=canary.model_metrics.critical if canary.model_metrics else True,
            step={"index": self.step, "weight": self.weight, "of": len(canary.steps)},
            errors=errors,
            inputs={"baseline": baseline, "candidate": str(self.candidate), **record["interval"]},
        )

    def _operational(
        self, canary: Canary, split: TrafficSplit, start: datetime, end: datetime
    ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
        """Both sides' CloudWatch values of every metric; a read error names all metrics (ERROR)."""
        from release_gates.deploy.calls import TargetError
        from release_gates.deploy.canary import metric_queries, read_samples
        from release_gates.hooks.aws import AwsDeploymentHook
        from release_gates.policy import DeploymentTargetSpec

        queries = metric_queries(split, canary.metrics)
        spec = DeploymentTargetSpec.model_validate(self.target)
        cloudwatch = AwsDeploymentHook(spec.aws_conn_id, region_name=spec.region).get_client("cloudwatch")
        try:
            samples = read_samples(
                cloudwatch, queries, start=start, end=end, period=canary.period, calls=split.target.calls
            )
        except TargetError as exc:
            return {}, [q.to_dict() for q in queries], {q.name: exc.message for q in queries}
        return dict(samples), [q.to_dict() for q in queries], {}

    def _model_metrics(
        self, policy: ReleasePolicy, canary: Canary, baseline: str, start: datetime, end: datetime
    ) -> list[CheckResult]:
        from release_gates.checks.canary_model import prediction_drift, selection_rates, split_rows
        from release_gates.monitoring.source import load_window

        spec = canary.model_metrics
        if spec is None:
            return []
        if policy.monitoring is None:
            raise ValueError(
                "deployment.canary.model_metrics reads the inference log monitoring.source: none"
            )
        log = policy.monitoring.source
        frame = load_window(log, start, end, base_dir=policy.base_dir)
        ours, theirs = split_rows(frame, spec.version_column, canary=str(self.candidate), baseline=baseline)
        results = []
        if spec.prediction_drift:
            columns = [c for c in (log.score, log.prediction) if c]
            check_id = f"canary.step_{self.step}.prediction_drift"
            results.append(prediction_drift(ours, theirs, spec, columns=columns, check_id=check_id))
        if spec.sensitive_features:
            if not log.prediction:
                raise ValueError("selection rates need the inference log's prediction column")
            results.append(selection_rates(ours, theirs, spec, prediction=log.prediction,
                                           positive=log.positive_label,
                                           check_id=f"canary.step_{self.step}.selection_rates"))  # fmt: skip
        return results


class CanaryReviewOperator(EvidenceWriterMixin, RecordedHITLBranchOperator):
    """A human decides a marginal or inconclusive canary step: continue, or roll back (the default
    when nobody answers in time). The answer is recorded (``canary_decision``) before it routes."""

    template_fields: Sequence[str] = (*RecordedHITLBranchOperator.template_fields, "release_id")

    def __init__(
        self,
        *,
        step: int,
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.step = step
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow.providers.standard.operators.hitl import HITLOperator

        from release_gates.operators.hitl import recorded_answer

        if "error" not in event:
            answer = HITLOperator.execute_complete(self, context=context, event=event)
            recorded = recorded_answer(context, {**event, **dict(answer)})
            chosen = list(answer["chosen_options"])
            user = recorded.get("responded_by_user") or {}
            self.append_evidence(
                "canary_decision",
                {"step": self.step, "choice": REVIEW_OPTIONS.get(chosen[0], chosen[0]) if chosen else None,
                 "options": chosen, "user": user.get("name"), "timed_out": bool(recorded.get("timed_out")),
                 "responded_at": recorded.get("responded_at")},
                context,
            )  # fmt: skip
        return super().execute_complete(context, event)


class CanaryRollbackOperator(_CanaryStep):
    """All traffic back on the baseline (canary weight 0), confirmed by reading the split back."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from release_gates.deploy.calls import TargetError
        from release_gates.deploy.factory import spec_identity
        from release_gates.policy import DeploymentTargetSpec

        policy, canary = self._policy()
        identity = spec_identity(DeploymentTargetSpec.model_validate(self.target))
        shifts = [s for s in self._records("canary_shift") if s.get("target") == identity]
        if not shifts:  # decided before any AWS client exists: a held release never reaches AWS here
            raise AirflowSkipException(f"no canary traffic was shifted on {identity}: nothing to undo")
        target = self._deployment()
        steps = [s for s in self._records("canary_step") if s.get("target") == target.identity()]
        last = steps[-1] if steps else None
        decisions = self._records("canary_decision")
        reason = (
            f"human decision at step {decisions[-1].get('step')}: {decisions[-1].get('choice')}"
            + (" (timed out)" if decisions[-1].get("timed_out") else "")
            if decisions and last is not None and last.get("status") == "INCONCLUSIVE"
            else (last or {}).get("result", {}).get("summary") or "a canary step did not finish"
        )
        record: dict[str, Any] = {"target": target.identity(), "baseline": shifts[0]["baseline"],
                                  "candidate": shifts[0].get("candidate"), "reason": reason}  # fmt: skip
        try:
            with self._lease(target, context, "canary rollback", ttl=900):
                split, _ = self._split(target, canary)
                record["split_before"] = split.read()
                record["split_after"] = after = split.rollback()
            record["status"] = "done" if float(after["canary_weight"]) == 0.0 else "error"
        except TargetError as exc:
            record.update(status="error", error=exc.to_dict())
        record["api_calls"] = target.calls.drain()
        seq = self.append_evidence("canary_rollback", record, context).seq
        if record["status"] != "done":
            raise DeploymentActionError(
                f"canary rollback of {target.description} did not confirm weight 0 "
                f"(evidence {self.release_id} #{seq})"
            )
        items = self._remediation(policy, canary, last, context) if last is not None else 0
        self.log.info("Canary rolled back on %s: %s (evidence #%d, %d remediation item(s))",
                      target.description, reason, seq, items)  # fmt: skip
        return {"status": "done", "reason": reason, "evidence_seq": seq, "remediation_items": items}

    def _remediation(
        self, policy: ReleasePolicy, canary: Canary, step: dict[str, Any], context: Context
    ) -> int:
        """One item per active finding of the step that failed, to the canary's deciders (or the
        first gate's owner), deadline by the policy's SLA."""
        from release_gates.gates import RemediationItem
        from release_gates.results import Severity

        result = step.get("result") or {}
        if result.get("status") not in ("FAIL", "ERROR"):
            return 0
        role = canary.decision_roles[0] if canary.decision_roles else policy.gates[0].owner
        owner = policy.owners[role]
        now = datetime.now(UTC)
        findings = result.get("findings") or [
            {"id": result.get("check_id", "canary"), "severity": "HIGH", "title": result.get("summary", "")}
        ]
        for finding in findings:
            severity = Severity(finding["severity"])
            item = RemediationItem(
                gate_id="canary",
                check_id=str(result.get("check_id", "canary")),
                finding_id=str(finding["id"]),
                title=str(finding["title"]),
                severity=severity,
                owner_role=role,
                owners=tuple(owner.users),
                contact=owner.email,
                found_at=now,
                deadline=now + policy.remediation_sla.for_severity(severity),
                rationale="The canary was judged against the live baseline and rolled back.",
                mitigations=(),
                detail=str(finding.get("detail") or ""),
            )
            self.append_evidence("remediation_item", item.to_payload(), context)
        return len(findings)


def canary_steps(policy: ReleasePolicy, common: dict[str, Any], promote: BaseOperator) -> tuple[Any, Any]:
    """The canary stage before ``promote`` (the full rollout), for the DAG factory: a TaskGroup
    ``canary`` with one step per weight, each with its human review, and the rollback. Returns the
    stage's entry task and its rollback task (upstream of the seal)."""
    from airflow.sdk import TaskGroup, TriggerRule

    from release_gates.pools import target_pool_name

    assert policy.deployment is not None and policy.deployment.canary is not None
    deployment, canary = policy.deployment, policy.deployment.canary
    target = deployment.target.model_dump(mode="json", exclude_none=True)
    pool = target_pool_name(deployment.target)
    shared = {"policy_path": common["policy_path"], "release_id": common["release_id"],
              "evidence_conn_id": common["evidence_conn_id"], "target": target,
              "candidate": deployment.version}  # fmt: skip
    roles = canary.decision_roles or [r for a in policy.approvals.values() for r in a.roles]
    roles = list(dict.fromkeys(roles or [g.owner for g in policy.gates]))
    users = [{"id": u, "name": u} for role in roles for u in policy.users_of(role)]
    steps: list[BaseOperator] = []
    reviews: list[BaseOperator] = []
    with TaskGroup(group_id="canary", tooltip=f"Canary: {', '.join(map(str, canary.steps))} % of traffic"):
        rollback = CanaryRollbackOperator(task_id="rollback", pool=pool, retries=2, **shared)
        ids = [f"canary.step_{i}" for i in range(1, len(canary.steps) + 1)]
        for i, weight in enumerate(canary.steps, start=1):
            on_pass = ids[i] if i < len(ids) else promote.task_id
            step = CanaryStepOperator(
                task_id=f"step_{i}",
                step=i,
                weight=weight,
                on_pass=on_pass,
                on_review=f"canary.step_{i}_review",
                on_rollback=rollback.task_id,
                pool=pool,
                retries=0,
                doc_md=f"Canary step {i}: {weight} % of the traffic to the candidate for "
                f"{canary.interval}, then judged against the baseline.",
                **shared,
            )
            review = CanaryReviewOperator(
                task_id=f"step_{i}_review",
                step=i,
                release_id=common["release_id"],
                evidence_conn_id=common["evidence_conn_id"],
                subject=f"{policy.release.model}: canary step {i} ({weight} %) is undecided — continue?",
                body=(
                    f"The canary at {weight} % of the traffic was judged **marginal or inconclusive** "
                    "against the baseline (too few samples, or a score between the thresholds). "
                    "The judgement is in the Release gates tab and the task log of "
                    f"`canary.step_{i}`. No answer within {canary.decision_timeout} rolls back."
                ),
                options=list(REVIEW_OPTIONS),
                options_mapping={"Continue": on_pass, "Roll back": rollback.task_id},
                defaults=["Roll back"],
                assigned_users=users,
                response_timeout=canary.decision_timeout,
                trigger_rule="none_failed_min_one_success",
            )
            if steps:
                steps[-1] >> step
                reviews[-1] >> step
            step >> [review, rollback]
            review >> rollback
            steps.append(step)
            reviews.append(review)
    steps[-1] >> promote
    reviews[-1] >> promote
    # The last step or its review starts the rollout; the other one is skipped.
    promote.trigger_rule = TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    return steps[0], rollback
