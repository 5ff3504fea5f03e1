"""Remediation items recorded by releases, and the one definition of when an item is open.

**An item is open until its check passes again after the item was found** — in a later release of
the model or in a production window. Shipping the release anyway (with a waiver) does not close it: a
waiver accepts a risk for a while, it does not fix it. ``release-gates retro``, the escalation of
overdue items, the UI's Releases page and the reports all use :func:`closed_at` / :func:`is_open`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from release_gates.monitoring.incidents import recorded_time
from release_gates.results import Severity, Status

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord


@dataclass(frozen=True)
class RemediationItemRef:
    """A remediation item recorded by a release, addressed as ``<release_id>#<seq>``."""

    release_id: str
    seq: int
    check_id: str
    finding_id: str
    title: str
    severity: Severity
    owner_role: str | None
    found_at: datetime
    deadline: datetime

    @property
    def item_id(self) -> str:
        return f"{self.release_id}#{self.seq}"


def remediation_items(releases: Mapping[str, Sequence[EvidenceRecord]]) -> list[RemediationItemRef]:
    items = []
    for release_id, records in releases.items():
        for record in records:
            if record.kind != "remediation_item":
                continue
            payload = record.payload
            items.append(
                RemediationItemRef(
                    release_id=release_id,
                    seq=record.seq,
                    check_id=payload["check_id"],
                    finding_id=payload.get("finding_id", ""),
                    title=payload.get("title", ""),
                    severity=Severity(payload.get("severity", Severity.HIGH.value)),
                    owner_role=payload.get("owner_role"),
                    found_at=recorded_time(payload["found_at"]),
                    deadline=recorded_time(payload["deadline"]),
                )
            )
    return items


def check_passes(
    releases: Mapping[str, Sequence[EvidenceRecord]], monitoring: Sequence[EvidenceRecord] = ()
) -> dict[str, list[datetime]]:
    """When each check passed (PASS or WARN): in a release (finished_at), in production (window end)."""
    passes: dict[str, list[datetime]] = {}
    for records in [*releases.values(), monitoring]:
        for record in records:
            payload = record.payload
            if record.kind != "check_result" or payload.get("status") not in (
                Status.PASS.value,
                Status.WARN.value,
            ):
                continue
            window = (payload.get("inputs") or {}).get("window")
            at = window["end"] if isinstance(window, dict) else payload["finished_at"]
            passes.setdefault(payload["check_id"], []).append(recorded_time(at))
    return passes


def closed_at(item: RemediationItemRef, passes: Mapping[str, Sequence[datetime]]) -> datetime | None:
    """An item is closed when its check passes again after it was found (in a release or production)."""
    return first_pass_after(item.check_id, item.found_at, passes)


def first_pass_after(
    check_id: str, found_at: datetime, passes: Mapping[str, Sequence[datetime]]
) -> datetime | None:
    later = [t for t in passes.get(check_id, []) if t > found_at]
    return min(later) if later else None


def is_open(item: Mapping[str, object], passes: Mapping[str, Sequence[datetime]]) -> bool:
    """Whether a recorded ``remediation_item`` payload is still open (see the module docstring)."""
    check_id, found = item.get("check_id"), item.get("found_at")
    if not isinstance(check_id, str) or not isinstance(found, str | datetime):
        return True  # an item we cannot place in time is never silently closed
    return first_pass_after(check_id, recorded_time(found), passes) is None


def passes_of_results(results: Sequence[Mapping[str, object]]) -> dict[str, list[datetime]]:
    """:func:`check_passes` for CheckResult payloads (the UI holds digests, not records)."""
    passes: dict[str, list[datetime]] = {}
    for payload in results:
        if payload.get("status") not in (Status.PASS.value, Status.WARN.value):
            continue
        inputs = payload.get("inputs")
        window = inputs.get("window") if isinstance(inputs, dict) else None
        at = window["end"] if isinstance(window, dict) else payload.get("finished_at")
        if isinstance(at, str) and isinstance(payload.get("check_id"), str):
            passes.setdefault(str(payload["check_id"]), []).append(recorded_time(at))
    return passes
