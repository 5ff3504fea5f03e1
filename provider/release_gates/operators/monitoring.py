"""The monitoring DAG's steps: evaluate a production window, manage incidents, escalate, roll back.

Each step reads the policy when it runs, takes its window from the run's data interval
(``data_interval_start``/``data_interval_end``, so backfills and catch-up runs judge their own window),
folds the model's monitoring chain (``monitor__<model>``) from the evidence store — from its latest
verified ``monitoring_state`` snapshot on (:mod:`release_gates.monitoring.snapshot`), recording a new
one every N windows, so a step's cost does not grow with the chain — and appends what it did. Decisions
come from :mod:`release_gates.monitoring.incidents`; statistics from the engines. The run's clock is its
window end: a catch-up replays escalations as they would have happened, not all at once.

* :class:`EvaluateWindowOperator` — every monitored check on the window → ``check_result`` records
  and one ``monitoring_window`` summary (verdicts with priority). A check that could not run is
  recorded as ERROR, then the task raises so Airflow retries it.
* :class:`ManageIncidentsOperator` — open, update or resolve ``incident`` records (no duplicates).
* :class:`EscalateIncidentsOperator` — due escalation steps of open incidents and of overdue
  remediation items of releases, each notified once (``notification`` records).
* :class:`AutoRollbackOperator` — the ``rollback_on`` rules: roll back once per incident to the last
  released good version (``rollback`` record, notices), or escalate when that version is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.exceptions import CheckErrorException
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.deploy import DeploymentTarget
    from release_gates.evidence import EvidenceStore
    from release_gates.monitoring.engines import WindowEvaluation
    from release_gates.monitoring.escalation import EscalationStep
    from release_gates.monitoring.incidents import Incident, MonitorState
    from release_gates.monitoring.plan import MonitoringPlan, Window
    from release_gates.policy import ReleasePolicy, RollbackRule


@dataclass
class _Run:
    """What one task of one run works with: the policy and plan, its window, the store."""

    policy: ReleasePolicy
    plan: MonitoringPlan
    window: Window
    store: EvidenceStore
    context: Context
    #: Appends a record to the monitoring chain as this step (kind, payload) → seq.
    append: Callable[[str, dict[str, Any]], int] | None = None

    def state(self) -> MonitorState:
        """The monitoring chain folded now (every step folds again: nothing is kept in memory), from
        its latest snapshot; records a new snapshot when enough windows came after that one."""
        from release_gates.monitoring.snapshot import load_state, record_snapshot_if_due

        folded = load_state(self.store, self.plan.chain_id)
        if self.append is not None:
            record_snapshot_if_due(folded, self.append)
        return folded.state


class _MonitorStep(EvidenceWriterMixin, BaseOperator):
    """Shared plumbing: policy and plan (read at run time), the window, evidence, notices."""

    template_fields: Sequence[str] = ("policy_path",)
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        policy_path: str,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.policy_path = policy_path
        self.evidence_conn_id = evidence_conn_id

    def _start(self, context: Context) -> _Run:
        from release_gates.monitoring.plan import monitoring_plan, window_for
        from release_gates.policy import load_policy

        policy = load_policy(self.policy_path)
        plan = monitoring_plan(policy)
        end: datetime | None = context.get("data_interval_end")
        if end is None:  # a run without a data interval: judge the period before it started
            dag_run = context.get("dag_run")
            end = getattr(dag_run, "run_after", None) or datetime.now().astimezone()
        window = window_for(plan.monitoring, context.get("data_interval_start"), end)
        run = _Run(policy=policy, plan=plan, window=window, store=self.evidence_store, context=context)
        run.append = lambda kind, payload: self._append(run, kind, payload)
        return run

    def _append(self, run: _Run, kind: str, payload: dict[str, Any]) -> int:
        return self.append_evidence(kind, payload, run.context, chain_id=run.plan.chain_id).seq

    def _notify(self, run: _Run, role: str, message: tuple[str, str], record: dict[str, Any]) -> int:
        """Send one notice through notify() and record it with every delivery's outcome."""
        from release_gates.notify import notify

        subject, body = message
        deliveries = notify(run.policy, role, subject, body, context=run.context, logger=self.log)
        payload = {
            **record,
            "role": role,
            "subject": subject,
            "deliveries": deliveries,
            "ok": any(d["ok"] for d in deliveries),
            "clock": run.window.end.isoformat(),
        }
        return self._append(run, "notification", payload)

    def _escalate(
        self, run: _Run, steps: Sequence[EscalationStep], state: MonitorState
    ) -> list[dict[str, Any]]:
        """Notify each step (incident or remediation item) and record it."""
        from release_gates.monitoring.escalation import incident_message, item_message
        from release_gates.monitoring.history import load_history
        from release_gates.monitoring.remediation_items import remediation_items

        plan = run.plan
        items = None
        sent = []
        for step in steps:
            if step.subject_id in state.incidents:
                incident = state.incidents[step.subject_id]
                message = incident_message(plan.model, incident, step, chain=plan.chain_id)
            else:
                if items is None:
                    history = load_history(run.store, model=plan.model, monitoring=False)
                    items = {i.item_id: i for i in remediation_items(history.releases)}
                message = item_message(plan.model, items[step.subject_id], step, chain=plan.chain_id)
            seq = self._notify(run, step.role, message, {"purpose": "escalation", **step.to_dict()})
            self.log.info(
                "Escalated %s to step %d/%d (%s, %s) — evidence #%d",
                step.subject_id,
                step.step + 1,
                step.steps,
                step.role,
                step.priority,
                seq,
            )
            sent.append({"subject_id": step.subject_id, "step": step.step, "role": step.role})
        return sent


# --------------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------------


class EvaluateWindowOperator(_MonitorStep):
    """Run every monitored check on this run's window and record the results and their verdicts.

    Reads the window (and the label-delayed window) from the inference log, and the reference
    dataset from the policy. Returns ``{"window", "rows", "statuses", "breaches"}``. When the data
    cannot be read, a single ERROR result ``monitor.source`` is recorded (one incident, not one per
    check); any ERROR raises after recording, so Airflow retries.
    """

    ui_color = "#fef7e0"

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.monitoring.priority import verdict_of

        run = self._start(context)
        plan, window = run.plan, run.window
        self.log.info(
            "Monitoring %s on window %s – %s (labelled window %s – %s)",
            plan.model,
            window.start,
            window.end,
            window.labelled_start,
            window.labelled_end,
        )
        try:
            evaluation = self._evaluate(run)
        except Exception as exc:  # the log or the reference could not be read: monitoring is blind
            self.log.exception("Could not read the data of window %s", window.key)
            evaluation = self._unreadable(run, exc)
        from release_gates.monitoring.registry_alias import alias_priority, watched_results

        # A registry alias must serve a version a sealed release promoted (P1 otherwise).
        evaluation.results.extend(watched_results(run))
        verdicts = []
        for check, raw in evaluation.results:
            result = raw.model_copy(update={"inputs": {**raw.inputs, "policy_sha256": run.policy.sha256}})
            seq = self._append(run, "check_result", result.to_dict())
            verdict = verdict_of(plan.monitoring.priorities, check, result.to_dict(), seq=seq)
            verdicts.append(alias_priority(verdict))
            self.log.info("%s %s: %s", result.status.value, result.check_id, result.summary)
        payload = {
            "window": window.to_dict(),
            "run_id": context.get("run_id"),
            "rows": evaluation.rows,
            "labels": evaluation.coverage.to_dict() if evaluation.coverage else None,
            "verdicts": [v.to_dict() for v in verdicts],
            "timings_s": {k: round(v, 4) for k, v in evaluation.timings.items()},
        }
        seq = self._append(run, "monitoring_window", payload)
        errored = [v.check_id for v in verdicts if v.status == "ERROR"]
        if errored:
            raise CheckErrorException(
                f"{', '.join(errored)} could not run on window {window.key} (evidence {plan.chain_id} #{seq})"
            )
        return {
            "window": window.to_dict(),
            "rows": evaluation.rows,
            "statuses": {v.check_id: v.status for v in verdicts},
            "breaches": [v.check_id for v in verdicts if v.breach],
            "evidence_seq": seq,
        }

    def _evaluate(self, run: _Run) -> WindowEvaluation:
        import time

        from release_gates.datasets import mask_password
        from release_gates.inputs.catalog import DatasetCatalog
        from release_gates.monitoring.engines import evaluate_window, window_columns
        from release_gates.monitoring.source import load_window
        from release_gates.monitoring.window_counts import count_window, counts_apply

        policy, plan, window = run.policy, run.plan, run.window
        log = plan.monitoring.source
        began = time.perf_counter()
        if counts_apply(plan):
            # Volume, freshness and the labelled checks need aggregates only: the engine counts the
            # log's window where it lies, and no row of it is read into the worker.
            counts = count_window(plan, window, base_dir=policy.base_dir)
            loaded = time.perf_counter() - began
            self.log.info(
                "Counted the window in the log: %d rows, %d of %d labelled-window rows labelled, in %.2f s",
                counts.rows,
                counts.labelled,
                counts.labelled_window_rows,
                loaded,
            )
            evaluation = evaluate_window(
                plan, window, None, counts=counts, inputs={"log": mask_password(log.uri)}
            )
            evaluation.timings["load"] = loaded
            return evaluation
        current = load_window(
            log, window.start, window.end, columns=window_columns(plan), base_dir=policy.base_dir
        )
        labelled = None
        if plan.monitoring.label_delay and any(c.labelled for c in plan.checks):
            labelled = load_window(
                log,
                window.labelled_start,
                window.labelled_end,
                columns=plan.labelled_columns(),
                base_dir=policy.base_dir,
            )
        reference = dataset = None
        if plan.reference is not None:
            # The release's drift check reads its reference through the same catalog: production
            # windows are compared with exactly the data the release was judged against.
            catalog = DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)
            dataset = catalog.dataset(plan.reference)
            reference = catalog.load(plan.reference)
        loaded = time.perf_counter() - began
        self.log.info(
            "Read %d window rows, %s labelled-window rows and %s reference rows in %.2f s",
            len(current),
            "the same" if labelled is None else len(labelled),
            "no" if reference is None else len(reference),
            loaded,
        )
        evaluation = evaluate_window(
            plan,
            window,
            current,
            labelled=labelled,
            reference=reference,
            reference_dataset=dataset,
            inputs={"log": mask_password(log.uri)},
        )
        evaluation.timings["load"] = loaded
        return evaluation

    def _unreadable(self, run: _Run, exc: Exception) -> WindowEvaluation:
        from release_gates.monitoring.engines import WindowEvaluation
        from release_gates.monitoring.plan import MonitoredCheck
        from release_gates.results import CheckResult, Severity

        check = MonitoredCheck(
            name="source",
            check_id="monitor.source",
            kind="source",
            gate_id=None,
            owner_role=run.plan.monitoring.owner,
            severity=Severity.HIGH,
            spec=None,
        )
        result = CheckResult.error(
            check_id=check.check_id,
            kind=check.kind,
            message=f"could not read the window's data: {type(exc).__name__}: {exc}"[:1000],
            inputs={"window": run.window.to_dict(), "monitored_check": "source"},
        )
        return WindowEvaluation(window=run.window, results=[(check, result)], rows=0, coverage=None)


# --------------------------------------------------------------------------------------------------
# incidents, escalation
# --------------------------------------------------------------------------------------------------


class ManageIncidentsOperator(_MonitorStep):
    """Open, update or resolve incidents from this window's verdicts (trigger rule ALL_DONE)."""

    ui_color = "#fde2e4"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.monitoring.incidents import plan_incidents
        from release_gates.monitoring.priority import Verdict

        run = self._start(context)
        state = run.state()
        changes: dict[str, list[str]] = {"opened": [], "updated": [], "resolved": []}
        summary = state.windows.get(run.window.key)
        if summary is None:  # evaluated long before this step ran: older than the state keeps
            from release_gates.monitoring.snapshot import window_summary

            summary = window_summary(run.store, run.plan.chain_id, run.window.key)
        if summary is None:
            self.log.warning("No evaluation of window %s is recorded: no incident changes", run.window.key)
            return {"window": run.window.to_dict(), **changes}
        verdicts = [Verdict.from_dict(v) for v in summary["verdicts"]]
        for record in plan_incidents(run.window, verdicts, state):
            seq = self._append(run, "incident", record)
            changes[record["action"]].append(record["incident_id"])
            self.log.info(
                "Incident %s %s (%s, priority %s) — evidence #%d: %s",
                record["incident_id"],
                record["action"],
                record["status"],
                record.get("priority", "-"),
                seq,
                record["summary"],
            )
        return {"window": run.window.to_dict(), **changes}


class EscalateIncidentsOperator(_MonitorStep):
    """Notify every escalation step that is due (open incidents, overdue remediation items), once each."""

    ui_color = "#fce8e6"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.monitoring.escalation import due_incident_steps, due_item_steps
        from release_gates.monitoring.history import load_history
        from release_gates.monitoring.remediation_items import check_passes, remediation_items

        run = self._start(context)
        plan = run.plan
        state = run.state()
        now = run.window.end  # the run's clock: catch-up runs escalate as they would have on time
        steps = due_incident_steps(plan.monitoring, state, now)
        # Releases from their chains; production passes from the folded state (the latest pass per
        # check decides whether an item closed), not from every window's results.
        history = load_history(run.store, model=plan.model, monitoring=False)
        passes = check_passes(history.releases)
        for check_id, times in state.passes().items():
            passes.setdefault(check_id, []).extend(times)
        steps += due_item_steps(plan.monitoring, remediation_items(history.releases), passes, state, now)
        sent = self._escalate(run, steps, state)
        return {"clock": now.isoformat(), "notified": sent}


# --------------------------------------------------------------------------------------------------
# rollback
# --------------------------------------------------------------------------------------------------


class AutoRollbackOperator(_MonitorStep):
    """Roll the deployment back for incidents that meet a ``rollback_on`` rule — once per incident.

    The version comes from evidence: the last version a release of this model promoted and sealed as
    released before the live one (or, failing that, the version the live one replaced); versions
    monitoring rolled back from never count. With none known, nothing is changed: a ``rollback``
    record with status ``skipped`` is written and the incident escalates to its whole path at once.
    A rollback that cannot complete (an API error) raises :class:`DeploymentActionError` (retried).
    It holds the target's lease (:mod:`release_gates.deploy.target_journal`) while it reads and changes
    the target, so a release's drill or promotion on it finishes first; the DAG puts it in the target's
    one-slot pool.
    """

    ui_color = "#fde7e9"

    def __init__(self, *, lease_wait: float = 1800.0, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        #: Seconds to wait while a release's drill, promotion or rollback holds the target's lease.
        self.lease_wait = lease_wait

    def execute(self, context: Context) -> dict[str, Any]:
        from release_gates.monitoring.rollback import last_rollback_at, rollback_rule_for

        run = self._start(context)
        state = run.state()
        since = last_rollback_at(state)
        due = [
            (incident, rule)
            for incident in state.incidents.values()
            if (rule := rollback_rule_for(run.plan.monitoring, incident, since=since)) is not None
        ]
        records: list[dict[str, Any]] = []
        for incident, rule in due:
            if records and records[0]["status"] == "done":
                # One rollback per run: the other breaches came from the version it just removed.
                first = records[0]["incident_id"]
                covered = {
                    "incident_id": incident.incident_id,
                    "status": "covered",
                    "clock": run.window.end.isoformat(),
                    "covered_by": first,
                    "summary": f"covered by the rollback for {first}",
                }
                self._append(run, "rollback", covered)
                records.append(covered)
                continue
            records.append(self._rollback(run, state, incident, rule))
        return {
            "clock": run.window.end.isoformat(),
            "rollbacks": [
                {k: r.get(k) for k in ("incident_id", "status", "from_version", "to_version")}
                for r in records
            ],
        }

    def _rollback(
        self, run: _Run, state: MonitorState, incident: Incident, rule: RollbackRule
    ) -> dict[str, Any]:
        from release_gates.deploy.target_journal import TargetJournal
        from release_gates.hooks.aws import AwsDeploymentHook

        deployment = run.policy.deployment
        assert deployment is not None  # the policy loader requires one for rollback_on
        spec = deployment.target
        target = AwsDeploymentHook(spec.aws_conn_id, region_name=spec.region).deployment_target(spec)
        # One change at a time: a release's drill or promotion on the same target finishes first.
        journal = TargetJournal(run.store, target.identity())
        holder = f"{run.plan.chain_id}:{self.dag_id}.{self.task_id}"
        timeout = deployment.stable_timeout.total_seconds()
        with journal.hold(holder, purpose=f"automatic rollback for {incident.incident_id}",
                          ttl=max(900.0, 3 * timeout), wait=self.lease_wait):  # fmt: skip
            return self._rollback_held(run, state, incident, rule, target)

    def _rollback_held(
        self, run: _Run, state: MonitorState, incident: Incident, rule: RollbackRule, target: DeploymentTarget
    ) -> dict[str, Any]:
        from release_gates.deploy.actions import change_version
        from release_gates.exceptions import DeploymentActionError
        from release_gates.monitoring.history import load_history
        from release_gates.monitoring.rollback import released_versions, rollback_version

        deployment = run.policy.deployment
        assert deployment is not None
        current = target.current_version()
        history = load_history(run.store, model=run.plan.model, monitoring=False)
        released = released_versions(history.releases, target.identity())
        version, how = rollback_version(released, state.rollbacks, current)
        base = {
            "incident_id": incident.incident_id,
            "rule": rule.model_dump(mode="json"),
            "clock": run.window.end.isoformat(),
            "target": target.identity(),
            "version_source": how,
        }
        if version is None:
            record = {
                **base,
                "status": "skipped",
                "from_version": current,
                "to_version": None,
                "summary": f"automatic rollback of {target.description} not possible: {how}",
            }
            seq = self._append(run, "rollback", record)
            self.log.warning("%s (evidence #%d): escalating instead", record["summary"], seq)
            self._escalate_all(run, state, incident, f"automatic rollback impossible: {how}")
            return record
        change = change_version(
            target,
            version,
            action="rollback",
            stable_timeout=deployment.stable_timeout.total_seconds(),
            reason=f"incident {incident.incident_id}: {incident.summary}"[:500],
        )
        record = {**base, **change}
        seq = self._append(run, "rollback", record)
        self.log.info("%s (evidence %s #%d)", record["summary"], run.plan.chain_id, seq)
        self._announce(run, incident, record)
        if record["status"] == "error":
            raise DeploymentActionError(f"{record['summary']} (evidence {run.plan.chain_id} #{seq})")
        if record["status"] == "unhealthy":
            self._escalate_all(run, state, incident, "the version rolled back to is unhealthy")
        return record

    def _escalate_all(self, run: _Run, state: MonitorState, incident: Incident, reason: str) -> None:
        """Every step of the path not told yet, now."""
        from release_gates.monitoring.escalation import escalation_steps

        steps = escalation_steps(
            run.plan.monitoring.escalation,
            subject_id=incident.incident_id,
            start=incident.opened_at,
            priority=incident.priority,
            owner_role=incident.owner_role,
            notified=incident.notified,
            now=run.window.end,
            everything=reason,
        )
        self._escalate(run, steps, state)

    def _announce(self, run: _Run, incident: Incident, record: dict[str, Any]) -> None:
        """Tell ``rollback_notify`` (default: the escalation path) what was rolled back and why."""
        from release_gates.policy import GATE_OWNER

        monitoring = run.plan.monitoring
        path = [incident.owner_role if entry == GATE_OWNER else entry for entry in monitoring.escalation.path]
        roles: list[str | None] = list(monitoring.rollback_notify or path)
        rule = record["rule"]
        subject = f"[{run.plan.model}] automatic rollback: {record['summary']}"[:200]
        body = (
            f"Incident {incident.incident_id} met the policy's rollback rule ({rule['check']} at "
            f"{rule['min_priority']} or worse in {rule['consecutive_windows']} consecutive window(s)).\n"
            f"{record['summary']}\nVersion chosen: {record['to_version']} ({record['version_source']}). "
            f"Evidence: release-gates evidence show {run.plan.chain_id}."
        )
        notice = {
            "purpose": "rollback",
            "subject_id": incident.incident_id,
            "rollback_status": record["status"],
        }
        for role in dict.fromkeys(r for r in roles if r):
            self._notify(run, role, (subject, body), notice)
