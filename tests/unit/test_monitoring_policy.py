"""The policy's ``monitoring:`` section: structure, inherited tolerances, cross-field rules, windows."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from release_gates.monitoring.plan import (
    ErrorRateSpec,
    gate_check_for,
    monitoring_plan,
    schedule_period,
    window_for,
)
from release_gates.policy import (
    DEFAULT_PRIORITY_RULES,
    DriftCheck,
    FairnessCheck,
    PolicyError,
    ReleasePolicy,
    load_policy,
    parse_policy,
)

REPO_ROOT = Path(__file__).parents[2]
EXAMPLE = REPO_ROOT / "include" / "release_policy.yaml"

BASE = textwrap.dedent(
    """\
    policy_version: 1
    release: {model: scorer}
    owners:
      ethics_reviewer: {users: [aisha]}
      data_steward: {users: [tomas]}
      ops_oncall: {users: [marta]}
      release_manager: {users: [admin]}
      nobody: {users: []}
    datasets:
      train: {uri: train.parquet, label: y}
      eval: {uri: eval.parquet, label: y, prediction: p, score: s}
    gates:
      - id: data
        owner: data_steward
        rationale: Inputs look like the evaluation data.
        checks:
          - {kind: drift, reference: train, current: eval, drift_share: 0.3, severity: MEDIUM}
      - id: ethics
        owner: ethics_reviewer
        rationale: Groups are treated alike.
        checks:
          - kind: fairness
            data: eval
            sensitive_features: [g]
            min_group_size: 40
            criteria: [{metric: selection_rate, ratio_min: 0.8, severity: HIGH}]
          - kind: stress_safety
            data: eval
            model: {uri: model.skops}
            sensitive_features: [g]
            ceiling: 0.25
            scenarios: [{name: baseline, kind: baseline}]
    deployment:
      target: {type: lambda, name: scorer, alias: live}
    monitoring:
      schedule: "@daily"
      source: {uri: logs, timestamp: ts, label: y, prediction: p, score: s}
      reference: eval
      owner: data_steward
      escalation:
        path: [ops_oncall, gate_owner, release_manager]
      rollback_on:
        - {check: fairness, consecutive_windows: 2}
    """
)


def parse(text: str) -> ReleasePolicy:
    return parse_policy(text, source="policy.yaml")


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as excinfo:
        parse(text)
    return [str(p) for p in excinfo.value.problems]


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def line_of(text: str, marker: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if marker in line)


# --------------------------------------------------------------------------------------------------
# Valid sections and inherited tolerances
# --------------------------------------------------------------------------------------------------


def test_example_monitoring_policy_validates_and_inherits_the_gates_thresholds() -> None:
    policy = load_policy(EXAMPLE)
    plan = monitoring_plan(policy)
    assert [c.check_id for c in plan.checks] == [
        "data.drift",
        "ethics.fairness",
        "monitor.error_rate",
        "monitor.volume",
        "monitor.freshness",
    ]
    fairness = plan.check("fairness")
    assert fairness is not None
    gate_check = policy.gate("ethics").checks[0]
    assert isinstance(gate_check, FairnessCheck) and isinstance(fairness.spec, FairnessCheck)
    # "Agreed tolerances" are literally the gate's criteria.
    assert fairness.spec.criteria == gate_check.criteria
    assert fairness.spec.reference_group == gate_check.reference_group
    assert policy.monitoring is not None and policy.monitoring.label_delay == timedelta(days=30)


def test_base_section_resolves_every_check_with_owner_and_gate() -> None:
    plan = monitoring_plan(parse(BASE))
    by_name = {c.name: c for c in plan.checks}
    assert set(by_name) == {"drift", "fairness", "error_rate", "volume", "freshness"}
    drift = by_name["drift"]
    assert isinstance(drift.spec, DriftCheck)
    assert (drift.check_id, drift.gate_id, drift.owner_role) == ("data.drift", "data", "data_steward")
    assert drift.spec.drift_share == 0.3 and drift.spec.reference == "eval"
    assert drift.severity.value == "MEDIUM"
    error_rate = by_name["error_rate"]
    assert error_rate.spec == ErrorRateSpec(metric="error_rate", ceiling=0.25, sensitive_features=("g",))
    assert (error_rate.check_id, error_rate.inherits_from) == ("monitor.error_rate", "ethics.stress_safety")
    assert by_name["fairness"].spec.min_group_size == 40
    assert by_name["volume"].owner_role == "data_steward" and by_name["volume"].gate_id is None
    assert plan.chain_id == "monitor__scorer" and plan.reference == "eval"


def test_overrides_replace_single_tolerances_and_keep_the_rest() -> None:
    text = edit(
        BASE,
        "  rollback_on:",
        "  checks:\n    drift: {drift_share: 0.5, threshold: 0.2}\n    fairness: {min_group_size: 100}\n"
        "    error_rate: {ceiling: 0.4}\n    freshness: {enabled: false}\n  rollback_on:",
    )
    plan = monitoring_plan(parse(text))
    drift, fairness, error_rate = plan.check("drift"), plan.check("fairness"), plan.check("error_rate")
    assert drift is not None and (drift.spec.drift_share, drift.spec.threshold) == (0.5, 0.2)
    assert fairness is not None and fairness.spec.min_group_size == 100
    assert fairness.spec.criteria[0].ratio_min == 0.8  # inherited
    assert error_rate is not None and error_rate.spec.ceiling == 0.4
    assert plan.check("freshness") is None


STRESS_CHECK = """\
      - kind: stress_safety
        data: eval
        model: {uri: model.skops}
        sensitive_features: [g]
        ceiling: 0.25
        scenarios: [{name: baseline, kind: baseline}]
"""
FAIRNESS_CHECK = """\
      - kind: fairness
        data: eval
        sensitive_features: [g]
        min_group_size: 40
        criteria: [{metric: selection_rate, ratio_min: 0.8, severity: HIGH}]
"""


def test_checks_with_nothing_to_inherit_are_off_unless_configured() -> None:
    named = edit(BASE, "      - kind: stress_safety", "      - kind: stress_safety\n        id: stress")
    named = edit(
        named, "  rollback_on:", "  checks:\n    error_rate: {gate_check: ethics.stress}\n  rollback_on:"
    )
    assert monitoring_plan(parse(named)).check("error_rate") is not None
    without = edit(BASE, STRESS_CHECK, "")
    assert monitoring_plan(parse(without)).check("error_rate") is None
    explicit = edit(
        without,
        "  rollback_on:",
        "  checks:\n    error_rate: {ceiling: 0.3, sensitive_features: [g]}\n  rollback_on:",
    )
    error_rate = monitoring_plan(parse(explicit)).check("error_rate")
    assert error_rate is not None and error_rate.spec.ceiling == 0.3 and error_rate.gate_id is None


def test_defaults_priorities_delays_and_label_delay() -> None:
    policy = parse(BASE)
    monitoring = policy.monitoring
    assert monitoring is not None
    assert tuple(monitoring.priorities) == DEFAULT_PRIORITY_RULES
    assert monitoring.escalation.delay("P1") == timedelta(minutes=30)
    assert monitoring.escalation.delay("P4") == timedelta(days=3)
    assert monitoring.label_delay == timedelta(0) and monitoring.min_label_coverage == 0.9
    custom = parse(edit(BASE, "    path: [ops_oncall", "    after: {P1: 2h}\n    path: [ops_oncall"))
    assert custom.monitoring is not None and custom.monitoring.escalation.delay("P1") == timedelta(hours=2)
    assert custom.monitoring.escalation.delay("P2") == timedelta(hours=4)


@pytest.mark.parametrize("schedule", ["@hourly", "@daily", "0 */6 * * *", "6h", "1d"])
def test_schedules(schedule: str) -> None:
    policy = parse(edit(BASE, 'schedule: "@daily"', f'schedule: "{schedule}"'))
    assert policy.monitoring is not None and policy.monitoring.schedule == schedule


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("every day", "must be a cron expression"),
        ("61 * * * *", "invalid cron expression"),
        ("0h", "positive"),
    ],
)
def test_bad_schedules_are_reported_at_their_line(schedule: str, message: str) -> None:
    text = edit(BASE, 'schedule: "@daily"', f'schedule: "{schedule}"')
    (problem,) = problems_of(text)
    assert problem.startswith(f"policy.yaml:{line_of(text, 'schedule:')} monitoring.schedule: ")
    assert message in problem


def test_label_delay_zero_and_durations() -> None:
    for value, expected in (("0", timedelta(0)), ("7d", timedelta(days=7)), ("12h", timedelta(hours=12))):
        policy = parse(edit(BASE, "  reference: eval", f"  reference: eval\n  label_delay: {value}"))
        assert policy.monitoring is not None and policy.monitoring.label_delay == expected
    (problem,) = problems_of(edit(BASE, "  reference: eval", "  reference: eval\n  label_delay: -1d"))
    assert "monitoring.label_delay" in problem


# --------------------------------------------------------------------------------------------------
# Cross-field rules
# --------------------------------------------------------------------------------------------------

CROSS_FIELD = [
    (
        "reference: eval",
        "reference: evl",
        "reference: evl",
        "monitoring.reference: unknown dataset 'evl' (did you mean 'eval'?)",
    ),
    (
        "  owner: data_steward\n  escalation",
        "  owner: data_stewart\n  escalation",
        "owner: data_stewart",
        "monitoring.owner: unknown owner role 'data_stewart' (did you mean 'data_steward'?)",
    ),
    (
        "path: [ops_oncall, gate_owner, release_manager]",
        "path: [ops_oncal, gate_owner, release_manager]",
        "path:",
        "monitoring.escalation.path[0]: unknown owner role 'ops_oncal' (did you mean 'ops_oncall'?)",
    ),
    (
        "path: [ops_oncall, gate_owner, release_manager]",
        "path: [ops_oncall, gate_owner, nobody]",
        "path:",
        "monitoring.escalation.path[2]: escalation role 'nobody' has no users to notify",
    ),
    (
        "- {check: fairness, consecutive_windows: 2}",
        "- {check: error_rate, consecutive_windows: 2}\n  checks: {error_rate: {enabled: false}}",
        "check: error_rate",
        "monitoring.rollback_on[0].check: error_rate is not monitored",
    ),
    (
        "source: {uri: logs, timestamp: ts, label: y, prediction: p, score: s}",
        "source: {uri: logs, timestamp: ts, score: s}",
        "source:",
        "monitoring.source: the inference log declares no label / prediction column, which fairness, "
        "error_rate monitoring needs",
    ),
    (
        "source: {uri: logs, timestamp: ts, label: y, prediction: p, score: s}",
        "source: {uri: 'sqlite:///log.db?table=t', timestamp: ts, label: y, prediction: p, "
        "partition: {column: day}}",
        "partition",
        "monitoring.source.partition: partitions apply to a Parquet log, not a SQL table",
    ),
]


@pytest.mark.parametrize(("old", "new", "marker", "expected"), CROSS_FIELD)
def test_cross_field_problem_is_reported_at_its_line(old: str, new: str, marker: str, expected: str) -> None:
    text = edit(BASE, old, new)
    problems = problems_of(text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"policy.yaml:{line_of(text, marker)} {expected}"), problems[0]


def test_gate_check_must_exist_and_be_of_the_right_kind() -> None:
    text = edit(
        BASE,
        "  rollback_on:",
        "  checks:\n    drift: {gate_check: ethics.fairness}\n"
        "    fairness: {gate_check: ethics.fairnes}\n  rollback_on:",
    )
    problems = problems_of(text)
    wrong_kind = "'ethics.fairness' is a fairness check; drift inherits from a drift check"
    assert any(f"monitoring.checks.drift.gate_check: {wrong_kind}" in p for p in problems), problems
    assert any(
        "monitoring.checks.fairness.gate_check: unknown gate check 'ethics.fairnes'" in p for p in problems
    )


def test_a_check_switched_on_without_anything_to_inherit_is_a_problem() -> None:
    no_fairness = edit(
        edit(BASE, FAIRNESS_CHECK, ""), "{check: fairness, consecutive_windows: 2}", "{check: volume}"
    )
    assert monitoring_plan(parse(no_fairness)).check("fairness") is None  # off: nothing to inherit
    switched_on = edit(no_fairness, "  rollback_on:", "  checks: {fairness: {enabled: true}}\n  rollback_on:")
    (problem,) = problems_of(switched_on)
    assert "monitoring.checks.fairness.enabled: fairness monitoring needs a fairness gate check" in problem


def test_gate_owner_needs_an_owner_for_monitoring_only_checks() -> None:
    text = edit(BASE, "\n  owner: data_steward\n", "\n")
    (problem,) = problems_of(text)
    assert "monitoring.escalation.path[1]: no owner for monitor.volume, monitor.freshness" in problem


def test_automatic_rollback_needs_a_deployment_target() -> None:
    text = edit(BASE, "deployment:\n  target: {type: lambda, name: scorer, alias: live}\n", "")
    (problem,) = problems_of(text)
    assert "monitoring.rollback_on: automatic rollback needs a deployment target" in problem


def test_unknown_fields_in_the_section_suggest_the_nearest() -> None:
    (problem,) = problems_of(edit(BASE, "  reference: eval", "  reference: eval\n  label_dealy: 1d"))
    assert "monitoring.label_dealy: unknown field (did you mean 'label_delay'?)" in problem
    (problem,) = problems_of(
        edit(
            BASE, "- {check: fairness, consecutive_windows: 2}", "- {check: fairness, consecutive_window: 2}"
        )
    )
    assert "monitoring.rollback_on[0].consecutive_window: unknown field" in problem


def test_gate_check_for_picks_the_named_or_the_first_of_its_kind() -> None:
    policy = parse(BASE)
    found = gate_check_for(policy, "fairness")
    assert found is not None and found[0] == "ethics.fairness"
    assert gate_check_for(policy, "volume") is None


# --------------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------------

D = datetime(2025, 3, 2, tzinfo=UTC)


def test_window_is_the_data_interval_shifted_by_the_label_delay() -> None:
    policy = parse(edit(BASE, "  reference: eval", "  reference: eval\n  label_delay: 7d"))
    assert policy.monitoring is not None
    window = window_for(policy.monitoring, D - timedelta(days=1), D)
    assert (window.start, window.end) == (D - timedelta(days=1), D)
    assert (window.labelled_start, window.labelled_end) == (D - timedelta(days=8), D - timedelta(days=7))
    assert window.key == "2025-03-02T00:00:00+00:00"


def test_explicit_window_and_empty_intervals() -> None:
    policy = parse(edit(BASE, "  reference: eval", "  reference: eval\n  window: 3d"))
    assert policy.monitoring is not None
    assert window_for(policy.monitoring, D - timedelta(days=1), D).start == D - timedelta(days=3)
    plain = parse(BASE).monitoring
    assert plain is not None
    # A trigger timetable's empty interval falls back to one schedule period.
    assert window_for(plain, D, D).start == D - timedelta(days=1)
    naive = window_for(plain, None, datetime(2025, 3, 2))
    assert naive.end == D and naive.start.tzinfo is UTC


@pytest.mark.parametrize(
    ("schedule", "period"),
    [
        ("@hourly", timedelta(hours=1)),
        ("@daily", timedelta(days=1)),
        ("@weekly", timedelta(weeks=1)),
        ("*/15 * * * *", timedelta(minutes=15)),
        ("6h", timedelta(hours=6)),
    ],
)
def test_schedule_period(schedule: str, period: timedelta) -> None:
    assert schedule_period(schedule) == period
