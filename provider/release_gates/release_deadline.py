"""Remediation deadlines through Airflow's own deadline mechanism, where it fits.

Airflow 3.3's deadline alerts belong to a DAG run: a ``DeadlineAlert`` on the DAG gives each run one
need-by time, computed when the run is queued (``DeadlineReference.DAGRUN_QUEUED_AT`` + interval),
and the scheduler queues its callback (here an async one, run by the triggerer) when the run is
still not finished by then. A deadline cannot be set per remediation item, nor from a task at run
time, and it is dropped once the run succeeds.

So the release DAG gets one alert: the run is queued + the policy's shortest remediation SLA. A
release run still open then is waiting on people — a gate decision while its remediation items fall
due, or a sign-off — and :func:`release_deadline_missed` tells the owners which items of the
release are overdue (or, if none is yet, that the release is still undecided), through the policy's
notification channels. Items of a release run that has ended (held, with items still open) are not
Airflow deadlines: the monitoring DAG escalates those (``release_gates.monitoring.escalation``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID

if TYPE_CHECKING:
    from airflow.sdk.definitions.deadline import DeadlineAlert

    from release_gates.policy import ReleasePolicy

log = logging.getLogger(__name__)


def shortest_sla(policy: ReleasePolicy) -> timedelta:
    """The earliest a remediation item of this policy can fall due after it is found."""
    sla = policy.remediation_sla
    return min(sla.critical, sla.high, sla.medium, sla.low, sla.info)


def release_deadline(
    policy: ReleasePolicy, policy_path: str | Path, *, evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID
) -> DeadlineAlert:
    """The release DAG's deadline alert (see the module docstring)."""
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=shortest_sla(policy),
        callback=AsyncCallback(
            release_deadline_missed,
            kwargs={"policy_path": str(policy_path), "evidence_conn_id": evidence_conn_id},
        ),
    )


async def release_deadline_missed(
    policy_path: str, evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID, context: dict[str, Any] | None = None
) -> str:
    """The deadline callback (in the triggerer): notify the owners of the release's overdue items.

    ``context`` is what Airflow passes a deadline callback: ``dag_run`` (its REST form) and
    ``deadline``. Returns the notice's subject, which Airflow records as the callback's result.
    """
    import asyncio

    return await asyncio.to_thread(deadline_notice, policy_path, evidence_conn_id, context or {})


def deadline_notice(
    policy_path: str, evidence_conn_id: str, context: dict[str, Any], *, now: datetime | None = None
) -> str:
    """The blocking part of :func:`release_deadline_missed`: read, decide who is told, notify."""
    from release_gates.evidence import EvidenceNotFoundError
    from release_gates.hooks.evidence import EvidenceStoreHook
    from release_gates.notify import notify
    from release_gates.policy import load_policy
    from release_gates.ui.release_ids import release_id_for

    now = now or datetime.now(UTC)
    policy = load_policy(policy_path)
    run = context.get("dag_run") or {}
    release_id = release_id_for(str(run.get("dag_id")), str(run.get("dag_run_id") or run.get("run_id")))
    store = EvidenceStoreHook(evidence_conn_id).get_store()
    try:
        items = [r.payload for r in store.records(release_id, kind="remediation_item")]
    except EvidenceNotFoundError:
        items = []
    overdue = [i for i in items if datetime.fromisoformat(str(i["deadline"])) <= now]
    lines = [
        f"- [{i.get('severity')}] {i.get('title')} ({i.get('check_id')}) — "
        f"{', '.join(i.get('owners') or [])}, due {i.get('deadline')}"
        for i in overdue
    ]
    if overdue:
        subject = f"[{policy.release.model}] release {release_id}: {len(overdue)} remediation item(s) overdue"
        roles = list(dict.fromkeys(str(i.get("owner_role")) for i in overdue))
    else:
        subject = f"[{policy.release.model}] release {release_id} is still undecided past its deadline"
        roles = list(dict.fromkeys(g.owner for g in policy.gates))
    body = (
        f"The release run {release_id} is still open {shortest_sla(policy)} after it was queued "
        "(Airflow deadline alert of the release DAG).\n\n"
        + (
            "Overdue remediation items:\n" + "\n".join(lines)
            if lines
            else "No remediation item is overdue yet."
        )
        + "\n\nDecide in Airflow (Required Actions), or open the run's Release gates tab."
    )
    for role in roles:
        if role in policy.owners:
            notify(policy, role, subject, body, logger=log)
    return subject
