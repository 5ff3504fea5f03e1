"""The canary stage of a release as rows for the run tab: every shift, judgement, human decision and
rollback, in chain order, from the evidence records alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceRecord

#: The record kinds the canary stage writes (release_gates.operators.canary).
CANARY_KINDS = ("canary_shift", "canary_step", "canary_decision", "canary_rollback")


def canary_rows(records: Iterable[EvidenceRecord]) -> list[dict[str, Any]]:
    """One row per canary record: seq, what happened, the weight, the verdict and a one-line detail."""
    rows = []
    for record in records:
        if record.kind not in CANARY_KINDS:
            continue
        p = record.payload
        row: dict[str, Any] = {"seq": record.seq, "kind": record.kind, "at": record.recorded_at, "next": None}
        if record.kind == "canary_shift":
            split = p.get("split") or {}
            row.update(what=f"step {p.get('step')}: shift", weight=p.get("weight"), verdict="",
                       detail=f"{split.get('canary_weight')} % to {p.get('candidate')}, baseline "
                       f"{p.get('baseline')}")  # fmt: skip
        elif record.kind == "canary_step":
            result = p.get("result") or {}
            metrics = result.get("metrics") or {}
            flagged = [m["name"] for m in metrics.get("metrics") or [] if m.get("outcome") != "pass"]
            row.update(what=f"step {p.get('step')}: judged", weight=p.get("weight"),
                       verdict=str(p.get("classification") or p.get("status") or "").upper(),
                       detail=f"{result.get('summary', '')}" + (f" · not passing: {', '.join(flagged)}"
                                                                 if flagged else ""),
                       next=p.get("branch"))  # fmt: skip
        elif record.kind == "canary_decision":
            who = "nobody (timed out)" if p.get("timed_out") else p.get("user") or "unknown"
            row.update(what=f"step {p.get('step')}: human decision", weight=None,
                       verdict=str(p.get("choice") or "").upper(), detail=f"by {who}")  # fmt: skip
        else:
            after = p.get("split_after") or {}
            row.update(what="rollback", weight=after.get("canary_weight"),
                       verdict=str(p.get("status") or "").upper(),
                       detail=f"back on {p.get('baseline')}: {p.get('reason', '')}")  # fmt: skip
        rows.append(row)
    return rows
