"""Incidents from verdicts: priority by impact, no duplicate pages, escalation, acknowledgement, rollback."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from release_gates.checks.fairness import count_outcomes, evaluate_subgroup_fairness
from release_gates.evidence import EvidenceRecord, EvidenceStore
from release_gates.monitoring.acknowledge import acknowledge_incident
from release_gates.monitoring.escalation import due_incident_steps, due_item_steps, escalation_steps
from release_gates.monitoring.incidents import MonitorState, fold_monitoring, plan_incidents
from release_gates.monitoring.plan import Window, monitor_chain_id, monitoring_plan, window_for
from release_gates.monitoring.priority import Verdict, breach_severity, priority_for, traffic_share
from release_gates.monitoring.remediation_items import check_passes, remediation_items
from release_gates.monitoring.rollback import (
    last_rollback_at,
    released_versions,
    rollback_rule_for,
    rollback_version,
)
from release_gates.policy import DEFAULT_PRIORITY_RULES, FairnessCheck, ReleasePolicy, parse_policy
from release_gates.results import Severity

D0 = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
CHAIN = monitor_chain_id("scorer")

POLICY = textwrap.dedent(
    """\
    policy_version: 1
    release: {model: scorer}
    owners:
      ethics_reviewer: {users: [aisha]}
      data_steward: {users: [tomas]}
      ops_oncall: {users: [marta]}
      release_manager: {users: [admin]}
    datasets:
      eval: {uri: eval.parquet, label: y, prediction: p}
    gates:
      - id: ethics
        owner: ethics_reviewer
        rationale: Groups are treated alike.
        checks:
          - kind: fairness
            data: eval
            sensitive_features: [g]
            criteria: [{metric: fnr, difference_max: 0.1, severity: HIGH}]
    deployment:
      target: {type: lambda, name: scorer, alias: live}
    monitoring:
      source: {uri: logs, timestamp: ts, label: y, prediction: p}
      owner: data_steward
      escalation:
        path: [ops_oncall, gate_owner, release_manager]
        after: {P1: 1h, P2: 1d}
      rollback_on:
        - {check: fairness, min_priority: P1, consecutive_windows: 2}
    """
)


@pytest.fixture(scope="module")
def policy() -> ReleasePolicy:
    return parse_policy(POLICY, source="policy.yaml")


def window(day: int, policy: ReleasePolicy) -> Window:
    assert policy.monitoring is not None
    return window_for(policy.monitoring, D0 + (day - 1) * DAY, D0 + day * DAY)


def verdict(status: str, *, check_id: str = "ethics.fairness", priority: str | None = "P1") -> Verdict:
    breach = status in ("FAIL", "ERROR")
    return Verdict(
        check_id=check_id,
        name="fairness" if check_id == "ethics.fairness" else "volume",
        kind="fairness" if check_id == "ethics.fairness" else "volume",
        status=status,
        summary=f"{status} summary",
        severity="HIGH",
        traffic_share=0.2,
        priority=priority if breach else None,
        owner_role="ethics_reviewer" if check_id == "ethics.fairness" else "data_steward",
        gate_id="ethics",
    )


class Chain:
    """An in-memory monitoring chain: records as the DAG's steps would append them."""

    def __init__(self) -> None:
        self.records: list[EvidenceRecord] = []

    def append(self, kind: str, payload: dict[str, Any]) -> None:
        seq = len(self.records) + 1
        self.records.append(EvidenceRecord(CHAIN, seq, kind, D0.isoformat(), None, payload, "", "", ""))

    def state(self) -> MonitorState:
        return fold_monitoring(self.records)

    def judge(self, win: Window, *verdicts: Verdict) -> list[dict[str, Any]]:
        planned = plan_incidents(win, verdicts, self.state())
        for record in planned:
            self.append("incident", record)
        return planned


# --------------------------------------------------------------------------------------------------
# Priority and impact
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "share", "priority"),
    [
        (Severity.CRITICAL, 0.5, "P1"),
        (Severity.HIGH, 0.10, "P1"),
        (Severity.HIGH, 0.09, "P2"),
        (Severity.MEDIUM, 0.5, "P2"),
        (Severity.MEDIUM, 0.2, "P3"),
        (Severity.LOW, 0.6, "P3"),
        (Severity.LOW, 0.2, "P4"),
        (Severity.INFO, 1.0, "P4"),
    ],
)
def test_priority_from_severity_and_share_of_traffic(severity: Severity, share: float, priority: str) -> None:
    assert priority_for(DEFAULT_PRIORITY_RULES, severity, share) == priority


def fairness_result(rows: dict[str, tuple[int, float]]) -> dict[str, Any]:
    """A fairness result where group ``g`` has (rows, FNR) — everyone's label is positive."""
    frames = []
    for group, (n, fnr) in rows.items():
        denied = round(n * fnr)
        frames.append(pd.DataFrame({"g": group, "y": 1, "p": [0] * denied + [1] * (n - denied)}))
    counts = count_outcomes(pd.concat(frames), label="y", prediction="p", sensitive=["g"])
    spec = FairnessCheck.model_validate(
        {
            "kind": "fairness",
            "data": "w",
            "sensitive_features": ["g"],
            "criteria": [{"metric": "fnr", "difference_max": 0.1, "severity": "HIGH"}],
        }
    )
    return evaluate_subgroup_fairness(counts, spec).to_dict()


def test_traffic_share_is_the_disadvantaged_groups_share_of_the_window() -> None:
    result = fairness_result({"a": (850, 0.05), "b": (150, 0.6)})
    assert result["status"] == "FAIL"
    assert traffic_share(result) == 0.15  # group b is the one wrongly denied
    assert breach_severity(result, Severity.LOW) is Severity.HIGH
    assert priority_for(DEFAULT_PRIORITY_RULES, Severity.HIGH, traffic_share(result)) == "P1"
    small = fairness_result({"a": (950, 0.05), "b": (50, 0.9)})
    assert traffic_share(small) == 0.05
    assert priority_for(DEFAULT_PRIORITY_RULES, Severity.HIGH, traffic_share(small)) == "P2"


def test_traffic_share_is_all_traffic_for_other_breaches() -> None:
    assert traffic_share({"kind": "drift", "status": "FAIL", "metrics": {}}) == 1.0
    assert traffic_share({"kind": "volume", "status": "FAIL", "metrics": {"rows": 0}}) == 1.0
    error_rate = {
        "kind": "error_rate",
        "status": "FAIL",
        "metrics": {
            "rows": 1000,
            "groups": [
                {"group": {"g": "a"}, "n": 700, "status": "PASS"},
                {"group": {"g": "b"}, "n": 300, "status": "FAIL"},
            ],
        },
    }
    assert traffic_share(error_rate) == 0.3


# --------------------------------------------------------------------------------------------------
# One incident per breaching check
# --------------------------------------------------------------------------------------------------


def test_a_persisting_breach_updates_its_incident_and_a_recovery_resolves_it(policy: ReleasePolicy) -> None:
    chain = Chain()
    assert chain.judge(window(1, policy), verdict("PASS")) == []  # nothing open, nothing to do
    (opened,) = chain.judge(window(2, policy), verdict("FAIL"))
    assert opened["action"] == "opened" and opened["incident_id"] == "ethics.fairness@20250303T0000Z"
    (updated,) = chain.judge(window(3, policy), verdict("FAIL"))
    assert (updated["action"], updated["incident_id"], updated["streak"]) == (
        "updated",
        opened["incident_id"],
        2,
    )
    (resolved,) = chain.judge(window(4, policy), verdict("PASS"))
    assert resolved["action"] == "resolved"
    incident = chain.state().incidents[opened["incident_id"]]
    assert incident.state == "resolved" and incident.resolved_at == D0 + 4 * DAY
    assert incident.windows == [(D0 + d * DAY).isoformat() for d in (2, 3, 4)]
    # A new breach after recovery is a new incident.
    (again,) = chain.judge(window(5, policy), verdict("FAIL"))
    assert again["action"] == "opened" and again["incident_id"] != opened["incident_id"]


def test_an_inconclusive_window_keeps_the_incident_open_and_resets_its_streak(policy: ReleasePolicy) -> None:
    chain = Chain()
    chain.judge(window(1, policy), verdict("FAIL"))
    (update,) = chain.judge(window(2, policy), verdict("INCONCLUSIVE"))
    assert update["action"] == "updated" and update["streak"] == 0
    incident = next(iter(chain.state().incidents.values()))
    assert incident.open and incident.streak == 0
    chain.judge(window(3, policy), verdict("FAIL"))
    assert next(iter(chain.state().incidents.values())).streak == 1


def test_a_window_is_never_counted_twice(policy: ReleasePolicy) -> None:
    chain = Chain()
    chain.judge(window(1, policy), verdict("FAIL"))
    chain.judge(window(2, policy), verdict("FAIL"))
    assert chain.judge(window(2, policy), verdict("FAIL")) == []  # a retry or re-run of window 2
    assert chain.judge(window(1, policy), verdict("PASS")) == []  # a late re-run of an older window
    assert next(iter(chain.state().incidents.values())).streak == 2


def test_priority_of_an_open_incident_only_rises(policy: ReleasePolicy) -> None:
    chain = Chain()
    chain.judge(window(1, policy), verdict("FAIL", priority="P2"))
    chain.judge(window(2, policy), verdict("FAIL", priority="P1"))
    chain.judge(window(3, policy), verdict("FAIL", priority="P3"))
    assert next(iter(chain.state().incidents.values())).priority == "P1"


def test_inconclusive_without_an_incident_opens_nothing(policy: ReleasePolicy) -> None:
    assert Chain().judge(window(1, policy), verdict("INCONCLUSIVE")) == []


# --------------------------------------------------------------------------------------------------
# Escalation
# --------------------------------------------------------------------------------------------------


def notify(chain: Chain, steps: list[Any]) -> None:
    for step in steps:
        chain.append("notification", {"purpose": "escalation", **step.to_dict()})


def test_each_step_is_due_once_after_its_delay(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    chain = Chain()
    chain.judge(window(1, policy), verdict("FAIL"))  # P1: steps an hour apart from the window end
    opened = D0 + DAY
    due = due_incident_steps(policy.monitoring, chain.state(), opened)
    assert [(s.step, s.role) for s in due] == [(0, "ops_oncall")]
    notify(chain, due)
    assert due_incident_steps(policy.monitoring, chain.state(), opened + timedelta(minutes=59)) == []
    due = due_incident_steps(policy.monitoring, chain.state(), opened + timedelta(hours=2))
    assert [(s.step, s.role, s.due_at) for s in due] == [
        (1, "ethics_reviewer", opened + timedelta(hours=1)),  # gate_owner: the ethics gate's owner
        (2, "release_manager", opened + timedelta(hours=2)),
    ]
    notify(chain, due)
    assert due_incident_steps(policy.monitoring, chain.state(), opened + DAY) == []


def test_an_acknowledged_incident_escalates_no_further(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    chain = Chain()
    (opened,) = chain.judge(window(1, policy), verdict("FAIL"))
    notify(chain, due_incident_steps(policy.monitoring, chain.state(), D0 + DAY))
    chain.append(
        "acknowledgement",
        {"subject_id": opened["incident_id"], "action": "acknowledge", "user": "marta", "authorized": True},
    )
    assert due_incident_steps(policy.monitoring, chain.state(), D0 + 3 * DAY) == []
    # An unauthorized acknowledgement changes nothing.
    other = Chain()
    (incident,) = other.judge(window(1, policy), verdict("FAIL"))
    other.append(
        "acknowledgement", {"subject_id": incident["incident_id"], "user": "li", "authorized": False}
    )
    assert len(due_incident_steps(policy.monitoring, other.state(), D0 + 3 * DAY)) == 3


def test_everything_now_sends_every_step_left(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    steps = escalation_steps(
        policy.monitoring.escalation,
        subject_id="x",
        start=D0,
        priority="P2",
        owner_role="data_steward",
        notified=[0],
        now=D0,
        everything="automatic rollback impossible",
    )
    assert [(s.step, s.role, s.reason) for s in steps] == [
        (1, "data_steward", "automatic rollback impossible"),
        (2, "release_manager", "automatic rollback impossible"),
    ]


def release_chain(release_id: str, records: list[tuple[str, dict[str, Any]]]) -> list[EvidenceRecord]:
    return [
        EvidenceRecord(release_id, seq, kind, D0.isoformat(), None, payload, "", "", "")
        for seq, (kind, payload) in enumerate(records, start=1)
    ]


def test_overdue_remediation_items_escalate_until_their_check_passes(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    item = {
        "check_id": "ethics.fairness",
        "finding_id": "fnr",
        "title": "FNR gap",
        "severity": "CRITICAL",
        "owner_role": "ethics_reviewer",
        "found_at": D0.isoformat(),
        "deadline": (D0 + DAY).isoformat(),
    }
    releases = {
        "r1": release_chain("r1", [("release_started", {"model": "scorer"}), ("remediation_item", item)])
    }
    items = remediation_items(releases)
    assert [i.item_id for i in items] == ["r1#2"]
    state = MonitorState()
    assert due_item_steps(policy.monitoring, items, {}, state, D0 + DAY / 2) == []  # not due yet
    steps = due_item_steps(policy.monitoring, items, {}, state, D0 + DAY + timedelta(minutes=90))
    assert [(s.subject_id, s.step, s.role, s.priority) for s in steps] == [
        ("r1#2", 0, "ops_oncall", "P2"),  # CRITICAL but no traffic share: P2 (delay 1d)
    ]
    later = release_chain(
        "r2",
        [
            ("release_started", {"model": "scorer"}),
            (
                "check_result",
                {"check_id": "ethics.fairness", "status": "PASS", "finished_at": (D0 + 2 * DAY).isoformat()},
            ),
        ],
    )
    passes = check_passes({**releases, "r2": later})
    assert due_item_steps(policy.monitoring, items, passes, state, D0 + 5 * DAY) == []


# --------------------------------------------------------------------------------------------------
# Automatic rollback
# --------------------------------------------------------------------------------------------------


def test_rollback_at_the_policys_threshold_and_never_twice(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    chain = Chain()
    (opened,) = chain.judge(window(1, policy), verdict("FAIL"))
    incident = chain.state().incidents[opened["incident_id"]]
    assert rollback_rule_for(policy.monitoring, incident) is None  # one window: below the threshold
    chain.judge(window(2, policy), verdict("FAIL"))
    incident = chain.state().incidents[opened["incident_id"]]
    rule = rollback_rule_for(policy.monitoring, incident)
    assert rule is not None and rule.consecutive_windows == 2
    chain.append(
        "rollback",
        {
            "incident_id": opened["incident_id"],
            "status": "done",
            "from_version": "3",
            "to_version": "2",
            "clock": (D0 + 2 * DAY).isoformat(),
        },
    )
    chain.judge(window(3, policy), verdict("FAIL"))
    state = chain.state()
    assert rollback_rule_for(policy.monitoring, state.incidents[opened["incident_id"]]) is None
    assert last_rollback_at(state) == D0 + 2 * DAY


def test_a_failed_rollback_attempt_may_be_retried_but_a_skipped_one_not(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    for status, again in (("error", True), ("skipped", False), ("unhealthy", False), ("covered", False)):
        chain = Chain()
        (opened,) = chain.judge(window(1, policy), verdict("FAIL"))
        chain.judge(window(2, policy), verdict("FAIL"))
        chain.append("rollback", {"incident_id": opened["incident_id"], "status": status})
        incident = chain.state().incidents[opened["incident_id"]]
        assert (rollback_rule_for(policy.monitoring, incident) is not None) is again, status


def test_no_rollback_for_errors_lower_priorities_or_dismissed_incidents(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    cases = {
        "errors": [verdict("ERROR"), verdict("ERROR")],
        "P2": [verdict("FAIL", priority="P2"), verdict("FAIL", priority="P2")],
        "interrupted": [verdict("FAIL"), verdict("INCONCLUSIVE"), verdict("FAIL")],
    }
    for name, verdicts in cases.items():
        chain = Chain()
        for day, v in enumerate(verdicts, start=1):
            chain.judge(window(day, policy), v)
        incident = next(iter(chain.state().incidents.values()))
        assert rollback_rule_for(policy.monitoring, incident) is None, name
    chain = Chain()
    (opened,) = chain.judge(window(1, policy), verdict("FAIL"))
    chain.judge(window(2, policy), verdict("FAIL"))
    chain.append(
        "acknowledgement",
        {
            "subject_id": opened["incident_id"],
            "action": "dismiss",
            "user": "aisha",
            "note": "false alarm: a test cohort",
            "authorized": True,
        },
    )
    incident = chain.state().incidents[opened["incident_id"]]
    assert rollback_rule_for(policy.monitoring, incident) is None
    assert due_incident_steps(policy.monitoring, chain.state(), D0 + 9 * DAY) == []  # dismissed: quiet


def test_after_a_rollback_only_traffic_served_since_counts(policy: ReleasePolicy) -> None:
    assert policy.monitoring is not None
    chain = Chain()
    for day in (1, 2, 3):
        chain.judge(window(day, policy), verdict("FAIL", check_id="monitor.volume"))
    incident = next(iter(chain.state().incidents.values()))
    assert incident.streak == 3
    assert incident.streak_since(D0 + 2 * DAY) == 1  # only window 3 began after the rollback


def promotion(release_id: str, from_version: str, to_version: str, decision: str = "released") -> list[Any]:
    target = {"type": "lambda", "name": "scorer", "alias": "live"}
    return release_chain(
        release_id,
        [
            ("release_started", {"model": "scorer"}),
            (
                "promotion",
                {"status": "done", "target": target, "from_version": from_version, "to_version": to_version},
            ),
            ("release_sealed", {"decision": decision}),
        ],
    )


TARGET = {"type": "lambda", "name": "scorer", "alias": "live"}


def test_rollback_goes_to_the_last_released_good_version() -> None:
    releases = {
        "r2": promotion("r2", "1", "2"),
        "held": promotion("held", "2", "9", "held"),
        "r3": promotion("r3", "2", "3"),
    }
    released = released_versions(releases, TARGET)
    assert [v.version for v in released] == ["2", "3"]  # the held release's promotion does not count
    assert rollback_version(released, [], "3") == ("2", "released by r2")
    # A version monitoring already rolled back from is never chosen again.
    assert rollback_version(released, [{"status": "done", "from_version": "2"}], "3")[0] is None
    # Only the release of the live version is known: the version it replaced.
    only = released_versions({"r3": promotion("r3", "2", "3")}, TARGET)
    assert rollback_version(only, [], "3") == ("2", "served before r3 promoted 3")
    # Another target's promotions are not this target's history.
    assert released_versions(releases, {**TARGET, "alias": "canary"}) == []


def test_unknown_previous_version_is_none_with_the_reason() -> None:
    version, why = rollback_version([], [], "7")
    assert version is None and "no release promoted 7" in why


# --------------------------------------------------------------------------------------------------
# Acknowledging through the evidence store
# --------------------------------------------------------------------------------------------------


def test_acknowledge_and_dismiss_are_recorded_and_checked(tmp_path: Path, policy: ReleasePolicy) -> None:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    plan = monitoring_plan(policy)
    (opened,) = plan_incidents(window(1, policy), [verdict("FAIL")], MonitorState())
    store.append(plan.chain_id, "incident", opened)
    incident_id = opened["incident_id"]
    intruder = acknowledge_incident(store, policy, incident_id, "li", "on it")
    assert (
        intruder.payload["authorized"] is False
        and "not on the escalation path" in intruder.payload["problem"]
    )
    terse = acknowledge_incident(store, policy, incident_id, "aisha", "no", action="dismiss")
    assert terse.payload["authorized"] is False and "note of at least 10" in terse.payload["problem"]
    assert fold_monitoring(store.records(plan.chain_id)).incidents[incident_id].quiet is False
    ack = acknowledge_incident(store, policy, incident_id, "marta", "looking into it")
    assert ack.payload["authorized"] and ack.actor == "marta"
    state = fold_monitoring(store.records(plan.chain_id))
    assert state.incidents[incident_id].acknowledged_by is not None and state.incidents[incident_id].quiet
    with pytest.raises(KeyError, match="no incident or remediation item"):
        acknowledge_incident(store, policy, "nope@20250101T0000Z", "marta")
    with pytest.raises(ValueError, match="action must be"):
        acknowledge_incident(store, policy, incident_id, "marta", action="ignore")
    assert store.verify(plan.chain_id).ok
