"""Waivers: which finding a waiver covers, which waivers apply to a check, and which were used."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from fnmatch import fnmatchcase
from typing import Any

from release_gates.checks.image_scan.report import ScanItem
from release_gates.policy import ImageScanCheck, Waiver


def waiver_covers(waiver: Waiver, item: ScanItem) -> bool:
    """Same finding id (case-insensitive), and — when the waiver names them — a matching path glob
    (target, package path or file) and a matching purl (exact, any version of it, or a glob)."""
    if waiver.id.strip().upper() != item.id.upper():
        return False
    if waiver.paths and not any(fnmatchcase(p, pat) for p in item.paths for pat in waiver.paths):
        return False
    return not waiver.purls or (
        item.purl is not None and any(_purl_matches(item.purl, p) for p in waiver.purls)
    )


def _purl_matches(purl: str, pattern: str) -> bool:
    if purl == pattern or fnmatchcase(purl, pattern):
        return True
    # "pkg:deb/debian/openssl" covers every version and qualifier of that package.
    return "@" not in pattern and purl.split("@", 1)[0].split("?", 1)[0] == pattern


def waivers_for(spec: ImageScanCheck, policy_waivers: Iterable[Waiver], gate_id: str | None) -> list[Waiver]:
    """The check's own waivers, then the policy's that apply to this gate."""
    scoped = [w for w in policy_waivers if not w.gates or (gate_id is not None and gate_id in w.gates)]
    return [*spec.waivers, *scoped]


@dataclass
class WaiverBook:
    """Which waivers covered what, which had expired, which expire soon."""

    today: date
    warn_days: int
    applied: dict[int, tuple[Waiver, int]] = field(default_factory=dict)
    expired: dict[int, tuple[Waiver, int]] = field(default_factory=dict)

    def apply(self, waivers: Sequence[Waiver], item: ScanItem) -> Waiver | None:
        for waiver in waivers:
            if not waiver_covers(waiver, item):
                continue
            book = self.applied if waiver.is_active(self.today) else self.expired
            _, n = book.get(id(waiver), (waiver, 0))
            book[id(waiver)] = (waiver, n + 1)
            if waiver.is_active(self.today):
                return waiver
        return None

    def expiring(self) -> list[Waiver]:
        return sorted(
            (w for w, _ in self.applied.values() if (w.expires - self.today).days <= self.warn_days),
            key=lambda w: (w.expires, w.id),
        )

    def describe(self, book: dict[int, tuple[Waiver, int]]) -> list[dict[str, Any]]:
        return [
            {"id": w.id, "owner": w.owner, "expires": w.expires.isoformat(), "findings": n}
            for w, n in sorted(book.values(), key=lambda e: (e[0].expires, e[0].id))
        ]
