"""Gate routing and release decisions: pure functions over evidence payloads, fail closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from release_gates.gates import (
    FinalDecision,
    GateOutcome,
    HumanChoice,
    decide_gate,
    final_decision,
    fold,
    read_answer,
    remediation_items,
)
from release_gates.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
POLICY = load_policy(REPO / "include/release_policy.yaml")
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@dataclass
class Record:
    kind: str
    payload: dict[str, Any]
    seq: int | None = None
    hash: str | None = None


def result(check_id: str, status: str, findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "check_id": check_id,
        "status": status,
        "summary": f"{check_id} {status}",
        "findings": findings or [],
    }


@pytest.mark.parametrize(
    ("statuses", "outcome"),
    [
        ({"a": "PASS", "b": "WARN"}, GateOutcome.PASSED),
        ({"a": "PASS", "b": "FAIL"}, GateOutcome.REMEDIATE),
        ({"a": "INCONCLUSIVE", "b": "PASS"}, GateOutcome.REVIEW),
        ({"a": "FAIL", "b": "INCONCLUSIVE"}, GateOutcome.REMEDIATE),
        ({"a": "FAIL", "b": "ERROR"}, GateOutcome.BLOCKED),
        ({"a": "PASS"}, GateOutcome.BLOCKED),  # b has no result at all
        ({"a": "PASS", "b": "MAYBE"}, GateOutcome.BLOCKED),
    ],
)
def test_gate_routing_fails_closed(statuses: dict[str, str], outcome: GateOutcome) -> None:
    results = {cid: result(cid, status) for cid, status in statuses.items()}
    verdict = decide_gate("g", ["a", "b"], results)
    assert verdict.outcome is outcome
    if outcome is GateOutcome.BLOCKED:
        assert verdict.reason


def test_a_gate_without_checks_is_blocked() -> None:
    assert decide_gate("g", [], {}).outcome is GateOutcome.BLOCKED


def test_remediation_items_carry_owner_sla_rationale_and_mitigations() -> None:
    findings = [
        {"id": "f1", "severity": "HIGH", "title": "selection rate ratio 0.59"},
        {"id": "f2", "severity": "CRITICAL", "title": "x", "waived_by": "W-1"},  # waived: no item
        {"id": "f3", "severity": "MEDIUM", "title": "fnr gap"},
    ]
    items = remediation_items(
        POLICY,
        POLICY.gate("ethics"),
        {"ethics.fairness": result("ethics.fairness", "FAIL", findings)},
        now=NOW,
    )
    assert [(i.finding_id, i.severity.value) for i in items] == [("f1", "HIGH"), ("f3", "MEDIUM")]
    high = items[0]
    assert high.owner_role == "ethics_reviewer" and high.owners == ("aisha",)
    assert high.deadline - NOW == timedelta(days=3)
    assert items[1].deadline - NOW == timedelta(days=10)
    assert "four-fifths" in high.rationale and "resample" in high.mitigations


def test_a_fail_without_findings_still_gets_an_item() -> None:
    items = remediation_items(
        POLICY, POLICY.gate("ethics"), {"ethics.fairness": result("ethics.fairness", "FAIL")}, now=NOW
    )
    assert len(items) == 1 and items[0].finding_id == "ethics.fairness"


OPTIONS = {"Release with waiver": HumanChoice.WAIVE, "Delay release": HumanChoice.DELAY}


def answer(option: str, user: str, rationale: str = "") -> dict[str, Any]:
    return {"chosen_options": [option], "responded_by_user": {"id": user, "name": user},
            "responded_at": NOW.isoformat(), "params_input": {"rationale": rationale}}  # fmt: skip


@pytest.mark.parametrize(
    ("xcom", "authorized", "problem"),
    [
        (None, False, "no answer"),
        (answer("Release with waiver", "aisha", "explained by a fixed upstream data error"), True, None),
        (answer("Release with waiver", "aisha", "ok"), False, "rationale"),
        (
            answer("Release with waiver", "mallory", "explained by a fixed upstream data error"),
            False,
            "not one of",
        ),
        (
            answer("Ship it anyway", "aisha", "explained by a fixed upstream data error"),
            False,
            "unknown option",
        ),
        (answer("Delay release", "aisha"), True, None),
    ],
)
def test_human_answers_are_checked(xcom: Any, authorized: bool, problem: str | None) -> None:
    got = read_answer(
        "ethics.decision", "ethics", xcom, OPTIONS, ["aisha"], needs_rationale=(HumanChoice.WAIVE,)
    )
    assert got.authorized is authorized
    assert (problem is None and got.problem is None) or (problem and problem in (got.problem or ""))


def gates(outcome: str = "passed") -> list[Record]:
    return [Record("gate_decision", {"gate": g.id, "outcome": outcome}) for g in POLICY.gates]


APPROVALS = ["signoff.release_ethics_reviewer", "signoff.release_release_manager"]


def approvals(*choices: str) -> list[Record]:
    # Two people: each approval step answered by another user.
    return [Record("human_decision", {"task_id": t, "choice": c, "authorized": True, "user": f"u{i}"})
            for i, (t, c) in enumerate(zip(APPROVALS, choices, strict=True))]  # fmt: skip


PROMOTED = [Record("promotion", {"status": "done"})]


@pytest.mark.parametrize(
    ("records", "decision"),
    [
        (gates() + approvals("approve", "approve") + PROMOTED, FinalDecision.RELEASED),
        (gates() + approvals("approve", "approve"), FinalDecision.HELD),  # not promoted
        (gates() + approvals("approve", "reject") + PROMOTED, FinalDecision.HELD),
        (
            gates() + approvals("approve", "approve")[:1] + PROMOTED,
            FinalDecision.HELD,
        ),  # one approver missing
        (gates("remediate") + approvals("approve", "approve") + PROMOTED, FinalDecision.HELD),
        (
            gates() + approvals("approve", "approve") + PROMOTED + [Record("rollback", {"status": "done"})],
            FinalDecision.ROLLED_BACK,
        ),
        (
            [
                *gates("remediate"),
                Record("human_decision", {"gate": "ethics", "choice": "abort", "authorized": True}),
            ],
            FinalDecision.ABORTED,
        ),
        ([], FinalDecision.HELD),
    ],
)
def test_final_decision(records: list[Record], decision: FinalDecision) -> None:
    assert final_decision(POLICY, fold(records), APPROVALS)[0] is decision  # type: ignore[arg-type]


def bound_gates(outcome: str) -> list[Record]:
    """Gate decisions as the chain holds them: each with its seq and hash."""
    return [Record("gate_decision", {"gate": g.id, "outcome": outcome}, seq=i, hash=f"h{i}")
            for i, g in enumerate(POLICY.gates, start=1)]  # fmt: skip


def test_waivers_clear_only_authorized_gates() -> None:
    decided = bound_gates("remediate")
    waived = [Record("human_decision", {"gate": d.payload["gate"], "choice": "waive", "authorized": True,
                                        "user": "x", "answers_decision": {"seq": d.seq, "hash": d.hash}})
              for d in decided]  # fmt: skip
    records = decided + waived + approvals("approve", "approve") + PROMOTED
    assert final_decision(POLICY, fold(records), APPROVALS)[0] is FinalDecision.RELEASED  # type: ignore[arg-type]
    waived[0].payload["authorized"] = False
    assert final_decision(POLICY, fold(records), APPROVALS)[0] is FinalDecision.HELD  # type: ignore[arg-type]
