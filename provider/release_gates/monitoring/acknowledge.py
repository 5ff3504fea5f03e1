"""Acknowledgements: a person on the escalation path takes (or dismisses) an incident or overdue item."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from release_gates.monitoring.plan import monitor_chain_id
from release_gates.monitoring.remediation_items import remediation_items
from release_gates.policy import GATE_OWNER

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord, EvidenceStore
    from release_gates.policy import ReleasePolicy

#: The shortest note a dismissal may carry: calling an alarm false needs a reason someone can check.
MIN_NOTE = 10
#: A note or rationale calling an alarm false (the retro counts these as false positives).
FALSE_POSITIVE = re.compile(r"false[\s_-]*(positive|alarm)", re.IGNORECASE)


def acknowledgement_users(policy: ReleasePolicy, owner_role: str | None) -> list[str]:
    """Who may acknowledge: the users of every role on the escalation path (gate owner resolved)."""
    assert policy.monitoring is not None
    users: list[str] = []
    for entry in policy.monitoring.escalation.path:
        role = owner_role if entry == GATE_OWNER else entry
        if role is not None and role in policy.owners:
            users += [u for u in policy.users_of(role) if u not in users]
    return users


def acknowledge_incident(
    store: EvidenceStore,
    policy: ReleasePolicy,
    subject_id: str,
    user: str,
    note: str = "",
    *,
    action: str = "acknowledge",
) -> EvidenceRecord:
    """Record that ``user`` acknowledged (or dismissed, as a false alarm) an incident or overdue item.

    ``subject_id`` is an incident id (``<check>@<window end>``) or a remediation item
    (``<release_id>#<seq>``). Only users of the escalation path's roles are authorized; a dismissal
    needs a note of at least 10 characters. Unauthorized attempts are recorded too, and change nothing.
    """
    from release_gates.monitoring.history import load_history
    from release_gates.monitoring.snapshot import incident_owner, load_state

    if action not in ("acknowledge", "dismiss"):
        raise ValueError(f"action must be 'acknowledge' or 'dismiss', not {action!r}")
    chain = monitor_chain_id(policy.release.model)
    state = load_state(store, chain).state
    owner_role: str | None
    if subject_id in state.incidents:
        owner_role = state.incidents[subject_id].owner_role
    else:
        # An incident resolved long ago is no longer in the (bounded) state; its chain still has it.
        opened, owner_role = incident_owner(store, chain, subject_id)
        if not opened:
            history = load_history(store, model=policy.release.model, monitoring=False)
            items = {i.item_id: i for i in remediation_items(history.releases)}
            if subject_id not in items:
                raise KeyError(f"no incident or remediation item {subject_id!r} for {policy.release.model}")
            owner_role = items[subject_id].owner_role
    allowed = acknowledgement_users(policy, owner_role)
    problem = None
    if user not in allowed:
        problem = f"{user} is not on the escalation path ({', '.join(allowed) or 'nobody'})"
    elif action == "dismiss" and len(note.strip()) < MIN_NOTE:
        problem = f"a dismissal needs a note of at least {MIN_NOTE} characters"
    payload = {
        "subject_id": subject_id,
        "action": action,
        "user": user,
        "note": note.strip(),
        "authorized": problem is None,
        "problem": problem,
    }
    return store.append(chain, "acknowledgement", payload, actor=user)
