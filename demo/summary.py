"""A terminal summary of one release, built from its evidence chain only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from release_gates.evidence import EvidenceStore
from release_gates.evidence.signing import PublicKeys
from release_gates.gates import fold, latest_results


def print_release(
    release_id: str, label: str, say: Callable[[str], None] = print, *, keys: PublicKeys | None = None
) -> str | None:
    """Print gates → verdict → top findings, remediation items, human decisions and the decision."""
    store = EvidenceStore()
    records = store.records(release_id)
    if not records:
        say(f"\n[{label}] {release_id}: no evidence recorded")
        return None
    state = fold(records)
    results = latest_results(records)
    sealed = next((r.payload for r in records if r.kind == "release_sealed"), None)
    say(f"\n[{label}] {release_id}")
    say(f"  {'gate':<12} {'verdict':<10} {'check':<28} {'status':<13} top findings")
    for gate, outcome in state.gates.items():
        shown_gate, shown_outcome = gate, outcome
        for check_id, result in results.items():
            if not check_id.startswith(f"{gate}."):
                continue
            findings = sorted(
                (f for f in result.get("findings", []) if not f.get("waived_by")),
                key=lambda f: ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"].index(f["severity"]),
            )
            top = "; ".join(f"{f['severity']} {f['title']}"[:70] for f in findings[:2])
            top = top or result["summary"][:70]
            say(f"  {shown_gate:<12} {shown_outcome:<10} {check_id:<28} {result['status']:<13} {top}")
            shown_gate = shown_outcome = ""
    if state.open_items and (sealed or {}).get("decision") != "released":
        say("  remediation items:")
        for item in state.open_items[:8]:
            say(
                f"    [{item['severity']}] {item['title'][:60]} — owner {item['owner_role']} "
                f"({', '.join(item['owners'])}), due {item['deadline'][:16]}"
            )
    decisions = [r.payload for r in records if r.kind == "human_decision"]
    for decision in decisions:
        note = "" if decision.get("authorized") else f" (not accepted: {decision.get('problem')})"
        who = decision.get("user") or "-"
        say(f"  human: {who} chose {decision.get('choice')} at {decision['task_id']}{note}")
    report = store.verify(release_id, keys=keys)
    decision_text: Any = (sealed or {}).get("decision", "not sealed")
    why = f" — {'; '.join(sealed['reasons'][:3])}" if sealed and sealed["reasons"] else ""
    say(f"  decision: {str(decision_text).upper()}{why}")
    say(f"  {report}")
    return str(decision_text) if sealed else None


def engine_seconds(release_ids: list[str]) -> float:
    """Time spent inside check engines, from the results' own timestamps in the evidence trail."""
    store = EvidenceStore()
    total = 0.0
    for release_id in release_ids:
        for record in store.records(release_id, kind="check_result"):
            started, finished = record.payload.get("started_at"), record.payload.get("finished_at")
            if started and finished:
                total += (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return total
