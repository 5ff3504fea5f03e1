"""What each demo candidate must end with, judged from its evidence chain only.

* ``fair``: released, and nothing the demo itself set up raises a warning — lineage PASS (every
  dataset pinned and its pin verified) and drift PASS (prediction drift measured against the live
  version's outputs, and none found);
* ``biased``: held by the ethics gate, judged on its own (verified) predictions;
* ``swapped`` (the biased model with the fair model's evaluation file): held, because its declared
  predictions do not come from this model.

The runner's exit status and ``tests/e2e/test_demo_outcomes.py`` both use :func:`judge`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from release_gates.evidence import EvidenceStore
from release_gates.gates import fold, latest_results
from release_gates.inputs.scored import NOT_FROM_MODEL

EXPECTED = {"fair": "released", "biased": "held", "swapped": "held"}
PREDICTION_REFERENCE = "eval_live"


@dataclass(frozen=True)
class Outcome:
    candidate: str
    release_id: str
    decision: str | None
    #: Gate → its outcome (passed, remediate, review, blocked); check id → status.
    gates: Mapping[str, str]
    checks: Mapping[str, str]
    #: Why it ended as it did, in one line, from the evidence.
    reason: str
    #: What differs from what this candidate must end with; empty when it is as expected.
    problems: tuple[str, ...]

    @property
    def as_expected(self) -> bool:
        return not self.problems


def judge(candidate: str, release_id: str, store: EvidenceStore | None = None) -> Outcome:
    """The candidate's outcome from the release's evidence chain, and whether it is the expected one."""
    records = (store or EvidenceStore()).records(release_id)
    results: dict[str, dict[str, Any]] = latest_results(records)
    state = fold(records)
    sealed = next((r.payload for r in records if r.kind == "release_sealed"), None)
    decision = str(sealed["decision"]) if sealed else None
    gates = {gate: str(outcome) for gate, outcome in state.gates.items()}
    checks = {check_id: str(result["status"]) for check_id, result in results.items()}
    problems: list[str] = []
    if decision != EXPECTED.get(candidate):
        problems.append(f"decision {decision or 'not sealed'}, expected {EXPECTED.get(candidate)}")
    reason = {"fair": _fair, "biased": _biased, "swapped": _swapped}[candidate](results, gates, problems)
    return Outcome(candidate, release_id, decision, gates, checks, reason, tuple(problems))


def _status(results: Mapping[str, Mapping[str, Any]], check_id: str) -> str:
    return str(results.get(check_id, {}).get("status", "missing"))


def _fair(results: Mapping[str, Mapping[str, Any]], gates: Mapping[str, str], problems: list[str]) -> str:
    for check_id in ("data.lineage", "data.drift"):
        if (status := _status(results, check_id)) != "PASS":
            problems.append(f"{check_id} is {status}, expected PASS (a warning caused by the demo's setup)")
    lineage = results.get("data.lineage", {}).get("metrics", {}).get("datasets", {})
    pinned = [name for name, facts in lineage.items() if facts.get("fingerprint_match") is True]
    prediction = results.get("data.drift", {}).get("metrics", {}).get("prediction", {})
    if not prediction.get("measured") or prediction.get("reference") != PREDICTION_REFERENCE:
        problems.append(f"prediction drift was not measured against {PREDICTION_REFERENCE!r}")
    distances = ", ".join(
        f"{column} {facts['method']} {facts['score']:.3f} < {facts['threshold']:g}"
        for column, facts in (prediction.get("columns") or {}).items()
    )
    return (
        f"lineage {_status(results, 'data.lineage')} (pins verified: {', '.join(pinned) or 'none'}); "
        f"drift {_status(results, 'data.drift')} (prediction drift against {PREDICTION_REFERENCE}: "
        f"{distances or 'not measured'})"
    )


def _biased(results: Mapping[str, Mapping[str, Any]], gates: Mapping[str, str], problems: list[str]) -> str:
    fairness = results.get("ethics.fairness", {})
    if gates.get("ethics") == "passed":
        problems.append("the ethics gate passed")
    if fairness.get("status") != "FAIL" or NOT_FROM_MODEL in str(fairness.get("summary")):
        problems.append("fairness did not FAIL on the candidate's own predictions")
    held_by = [gate for gate, outcome in gates.items() if outcome != "passed"]
    return f"held by {', '.join(held_by) or 'no gate'}; fairness: {str(fairness.get('summary'))[:110]}"


def _swapped(results: Mapping[str, Mapping[str, Any]], gates: Mapping[str, str], problems: list[str]) -> str:
    refused = sorted(
        check_id
        for check_id, result in results.items()
        if result.get("status") == "FAIL" and NOT_FROM_MODEL in str(result.get("summary"))
    )
    if "ethics.fairness" not in refused:
        problems.append(f"ethics.fairness did not FAIL with {NOT_FROM_MODEL!r}")
    if gates.get("ethics") == "passed":
        problems.append("the ethics gate passed")
    return f"{NOT_FROM_MODEL} ({', '.join(refused) or 'no check said so'})"
