"""Automatic rollback: when an open incident calls for one, and which released version to roll back to.

An open incident meeting a ``rollback_on`` rule (check, priority, streak of consecutive FAIL windows)
is rolled back once — never again for the same incident — to the last released good version
(:func:`rollback_version`); when no such version is known it escalates to the whole path instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates.monitoring.incidents import recorded_time
from release_gates.monitoring.priority import PRIORITY_RANK

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord
    from release_gates.monitoring.incidents import Incident, MonitorState
    from release_gates.policy import Monitoring, RollbackRule


def last_rollback_at(state: MonitorState) -> datetime | None:
    """When the deployment was last rolled back by monitoring (the run's clock), if ever."""
    done = [
        recorded_time(r["clock"]) for r in state.rollbacks if r.get("status") == "done" and r.get("clock")
    ]
    return max(done) if done else None


def rollback_rule_for(
    monitoring: Monitoring, incident: Incident, *, since: datetime | None = None
) -> RollbackRule | None:
    """The ``rollback_on`` rule an open incident meets, unless it was rolled back (or dismissed) already.

    Only a measured breach (FAIL) counts — an ERROR escalates instead — and, after an earlier
    rollback at ``since``, only windows of traffic served since then: the version rolled back to must
    breach on its own before it is rolled back in turn.
    """
    if not incident.open or incident.dismissed_by is not None or incident.rolled_back:
        return None
    streak = incident.streak_since(since)
    for rule in monitoring.rollback_on:
        if (
            rule.check == incident.name
            and PRIORITY_RANK[incident.priority] <= PRIORITY_RANK[rule.min_priority]
            and streak >= rule.consecutive_windows
        ):
            return rule
    return None


@dataclass(frozen=True)
class ReleasedVersion:
    release_id: str
    version: str
    from_version: str | None
    recorded_at: str


def released_versions(
    releases: Mapping[str, Sequence[EvidenceRecord]], target: Mapping[str, Any]
) -> list[ReleasedVersion]:
    """Versions promoted to ``target`` by releases that ended ``released``, oldest first."""
    out = []
    for release_id, records in releases.items():
        sealed = [r for r in records if r.kind == "release_sealed"]
        if not sealed or sealed[-1].payload.get("decision") != "released":
            continue
        for record in records:
            payload = record.payload
            if (
                record.kind == "promotion"
                and payload.get("status") == "done"
                and payload.get("target") == dict(target)
            ):
                out.append(
                    ReleasedVersion(
                        release_id,
                        str(payload["to_version"]),
                        payload.get("from_version"),
                        record.recorded_at,
                    )
                )
    return sorted(out, key=lambda v: v.recorded_at)


def rollback_version(
    released: Sequence[ReleasedVersion], rollbacks: Sequence[Mapping[str, Any]], current: str
) -> tuple[str | None, str]:
    """The last released good version to roll back to from ``current``, and how it is known.

    Candidates are versions released before the release that made ``current`` live, newest first,
    skipping ``current`` and any version monitoring already rolled back from. Failing that, the
    version ``current`` replaced (its promotion's ``from_version``). None when neither is known.
    """
    bad = {str(r.get("from_version")) for r in rollbacks if r.get("status") == "done"}
    live = [i for i, v in enumerate(released) if v.version == current]
    earlier = released[: live[-1]] if live else list(released)
    for candidate in reversed(earlier):
        if candidate.version not in (current, *bad):
            return candidate.version, f"released by {candidate.release_id}"
    if live:
        replaced = released[live[-1]].from_version
        if replaced and replaced != current and replaced not in bad:
            return str(replaced), f"served before {released[live[-1]].release_id} promoted {current}"
    return None, (
        f"no released version before {current} is recorded in evidence"
        + ("" if live else f", and no release promoted {current}")
    )
