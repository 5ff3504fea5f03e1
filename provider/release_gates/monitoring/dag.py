"""``build_monitoring_dag(policy_path)``: the policy's ``monitoring:`` section as an Airflow DAG.

::

    evaluate ─► incidents ─► escalate ─► rollback
    (window: every monitored check → results + verdicts)
                 (open / update / resolve, deduplicated)
                              (due steps of open incidents and overdue remediation items)
                                          (rollback_on rules: once per incident, or escalate)

One run per window: the schedule is a data-interval timetable (cron, preset or duration from the
policy), so every run judges ``[data_interval_start, data_interval_end)`` and catch-up/backfill runs
judge their own windows, one at a time (``max_active_runs=1``: incidents and streaks are folded in
window order). The steps after ``evaluate`` run whatever happened to it (trigger rule ALL_DONE):
escalation and rollback must not stop because a window could not be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.kinds.fields import DURATION_PATTERN, parse_duration
from release_gates.policy import ReleasePolicy, load_policy
from release_gates.pools import target_pool_name


def monitoring_timetable(policy: ReleasePolicy) -> Any:
    """A data-interval timetable for ``monitoring.schedule`` (cron/preset → cron, duration → delta)."""
    from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable

    assert policy.monitoring is not None
    schedule = policy.monitoring.schedule
    if DURATION_PATTERN.match(schedule):
        return DeltaDataIntervalTimetable(parse_duration(schedule))
    return CronDataIntervalTimetable(schedule, timezone="UTC")


def _schedule(policy: ReleasePolicy) -> Any:
    """The window timetable, or — with ``follow_promotions`` — it or a promotion event, whichever
    comes first (Airflow's ``AssetOrTimeSchedule``): monitoring follows the version that is live."""
    assert policy.monitoring is not None
    if not policy.monitoring.follow_promotions:
        return monitoring_timetable(policy)
    asset = policy.deployment.promoted_asset if policy.deployment else None
    if not asset:
        raise ValueError(
            f"{policy.source}: monitoring.follow_promotions needs deployment.promoted_asset (the Asset the "
            "promote step emits)"
        )
    from airflow.sdk import Asset, AssetOrTimeSchedule

    return AssetOrTimeSchedule(timetable=monitoring_timetable(policy), assets=[Asset(asset)])


def build_monitoring_dag(
    policy_path: str | Path,
    *,
    dag_id: str | None = None,
    start_date: datetime | None = None,
    evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
    tags: Sequence[str] = ("release-gates", "monitoring"),
    default_args: dict[str, Any] | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """Build the monitoring DAG for the policy at ``policy_path`` (see the module docstring)."""
    from release_gates.monitoring.plan import as_utc, monitoring_plan

    path = str(Path(policy_path).resolve())
    policy = load_policy(path)
    if policy.monitoring is None:
        raise ValueError(f"{policy_path}: the policy has no monitoring section; add one to monitor the model")
    plan = monitoring_plan(policy)
    monitoring = policy.monitoring
    dag_id = dag_id or f"monitor_{policy.release.model.replace('-', '_')}"
    begin = start_date or (as_utc(monitoring.start_date) if monitoring.start_date else None)
    checks = ", ".join(f"**{c.check_id}**" for c in plan.checks)
    doc = (
        f"### Production monitoring of `{policy.release.model}`\n\n"
        f"Built from `{policy_path}` (sha256 `{policy.sha256[:12]}…`). Every window ({monitoring.schedule}) "
        f"runs {checks} with the release gates' tolerances. Breaches become incidents (P1–P4), escalate "
        f"along {' → '.join(monitoring.escalation.path)}"
        + (
            f", and roll back automatically on {', '.join(r.check for r in monitoring.rollback_on)}"
            if monitoring.rollback_on
            else ""
        )
        + f". Evidence: `release-gates evidence show {plan.chain_id}`."
    )
    with DAG(
        dag_id=dag_id,
        schedule=_schedule(policy),
        start_date=begin,
        catchup=dag_kwargs.pop("catchup", monitoring.catchup),
        max_active_runs=dag_kwargs.pop("max_active_runs", 1),
        tags=list(tags),
        doc_md=doc,
        default_args={"retries": 1, **(default_args or {})},
        **dag_kwargs,
    ) as dag:
        from release_gates.operators.monitoring import (
            AutoRollbackOperator,
            EscalateIncidentsOperator,
            EvaluateWindowOperator,
            ManageIncidentsOperator,
        )

        common: dict[str, Any] = {"policy_path": path, "evidence_conn_id": evidence_conn_id}
        evaluate = EvaluateWindowOperator(task_id="evaluate", **common)
        incidents = ManageIncidentsOperator(task_id="incidents", **common)
        escalate = EscalateIncidentsOperator(task_id="escalate", **common)
        # The rollback changes the target: it queues in the target's one-slot pool (release_gates.pools).
        pool: dict[str, Any] = (
            {"pool": target_pool_name(policy.deployment.target)} if policy.deployment else {}
        )
        rollback = AutoRollbackOperator(task_id="rollback", **common, **pool)
        evaluate >> incidents >> escalate >> rollback
    return dag
