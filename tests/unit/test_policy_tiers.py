"""Risk tiers: the table's shape, each refusal at its line, defaults where the policy is silent."""

from __future__ import annotations

import importlib.util
import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from release_gates.kinds import KIND_NAMES
from release_gates.policy import PolicyError, load_policy, parse_policy
from release_gates.policy.tiers import DEFAULT_TIER, TIERS, with_tier_defaults

ROOT = Path(__file__).resolve().parents[2]

HIGH = """\
policy_version: 1
release: {model: credit, risk_tier: high}
owners:
  ethics_reviewer: {users: [aisha]}
  release_manager: {users: [admin]}
datasets:
  eval: {uri: eval.parquet, owner: data team, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
approvals:
  release: {roles: [ethics_reviewer, release_manager]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_table_only_tightens_from_tier_to_tier() -> None:
    names = list(TIERS)
    assert names == ["low", "medium", "high", "critical"] and DEFAULT_TIER == "low"
    for lower, higher in itertools.pairwise(names):
        a, b = TIERS[lower], TIERS[higher]
        assert (a.confidence_min or 0) <= (b.confidence_min or 0)
        assert (a.min_group_size_min or 0) <= (b.min_group_size_min or 0)
        assert set(a.required_kinds) <= set(b.required_kinds)
        assert a.approvers_min <= b.approvers_min
        assert (a.document_max_age or timedelta.max) >= (b.document_max_age or timedelta.max)
    for tier in TIERS.values():  # a default never breaks its own minimum
        assert tier.confidence_default >= (tier.confidence_min or 0)
        assert tier.min_group_size_default >= (tier.min_group_size_min or 0)
    # Kinds are named by string; each must be a kind the policy language knows.
    assert {k for t in TIERS.values() for k in t.required_kinds} <= set(KIND_NAMES) | {"documents"}


def test_a_compliant_high_tier_policy_loads_and_the_examples_meet_their_tier() -> None:
    assert parse_policy(HIGH).release.risk_tier == "high"
    for path in (
        ROOT / "include" / "release_policy.yaml",
        ROOT / "provider/release_gates/examples/release_policy.yaml",
    ):
        policy = load_policy(path)
        assert policy.release.risk_tier == "high", path


def test_high_refuses_a_lower_confidence_at_its_line() -> None:
    text = HIGH.replace(
        "        sensitive_features: [g]\n", "        sensitive_features: [g]\n        confidence: 0.9\n"
    )
    assert problems(text) == [
        "policy.yaml:16 gates[0].checks[0].confidence: 0.9 is below the 0.95 that risk tier 'high' requires "
        "(release.risk_tier)"
    ]
    assert parse_policy(text.replace("risk_tier: high", "risk_tier: medium")).release.risk_tier == "medium"


def test_high_refuses_smaller_groups_at_their_line() -> None:
    text = HIGH.replace(
        "        sensitive_features: [g]\n", "        sensitive_features: [g]\n        min_group_size: 10\n"
    )
    assert problems(text) == [
        "policy.yaml:16 gates[0].checks[0].min_group_size: 10 is below the 30 that risk tier 'high' "
        "requires (release.risk_tier)"
    ]


def test_high_refuses_a_policy_without_a_fairness_check_at_the_tier_line() -> None:
    text = HIGH.replace(
        """      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
""",
        "      - {kind: lineage, datasets: [eval]}\n",
    )
    assert problems(text) == [
        "policy.yaml:2 release.risk_tier: risk tier 'high' requires a 'fairness' check in some gate, and no "
        "gate has one (the tier asks for: fairness)"
    ]


def test_high_refuses_a_one_person_sign_off_at_the_approvals_line() -> None:
    text = HIGH.replace("roles: [ethics_reviewer, release_manager]", "roles: [release_manager]")
    assert problems(text) == [
        "policy.yaml:17 approvals: risk tier 'high' requires sign-off by 2 distinct people (one per approval "
        "role), and the approvals ask 1"
    ]
    without = HIGH.split("approvals:", maxsplit=1)[0]
    assert problems(without) == [
        "policy.yaml:2 release.risk_tier: risk tier 'high' requires sign-off by 2 distinct people (one per "
        "approval role), and there are no approvals"
    ]


def test_every_shortfall_is_reported_at_once_also_for_stress_safety() -> None:
    text = HIGH.replace("roles: [ethics_reviewer, release_manager]", "roles: [release_manager]").replace(
        "        sensitive_features: [g]\n",
        "        sensitive_features: [g]\n        confidence: 0.8\n        min_group_size: 5\n",
    ) + (
        "  also:\n    roles: [ethics_reviewer]\n"  # two approvals of one role each: 2 people, enough
    )
    text = text.replace(
        "approvals:",
        """  - id: robustness
    owner: ethics_reviewer
    rationale: Errors stay low under noise.
    checks:
      - kind: stress_safety
        data: eval
        model: {uri: model.skops, sha256: "%s"}
        sensitive_features: [g]
        ceiling: 0.3
        confidence: 0.9
        scenarios: [{name: noise, kind: gaussian_noise, columns: [x], relative_std: 0.1}]
approvals:"""
        % ("a" * 64),
    )
    found = problems(text)
    assert [p.split(": ", 1)[0] for p in found] == [
        "policy.yaml:16 gates[0].checks[0].confidence",
        "policy.yaml:17 gates[0].checks[0].min_group_size",
        "policy.yaml:28 gates[1].checks[0].confidence",
    ]


def test_a_policy_that_names_no_tier_is_low_and_asked_for_nothing_more() -> None:
    silent = HIGH.replace("{model: credit, risk_tier: high}", "{model: credit}").split("approvals:")[0]
    silent = silent.replace(
        "sensitive_features: [g]\n", "sensitive_features: [g]\n        min_group_size: 5\n"
    )
    policy = parse_policy(silent)
    assert policy.release.risk_tier == "low"
    assert policy.gates[0].checks[0].min_group_size == 5  # type: ignore[union-attr]


def test_tier_defaults_fill_only_what_a_check_leaves_unsaid() -> None:
    raw = {
        "release": {"model": "m", "risk_tier": "critical"},
        "gates": [
            {
                "checks": [
                    {"kind": "fairness", "data": "eval"},
                    {"kind": "stress_safety", "confidence": 0.995},
                    {"kind": "lineage"},
                ]
            }
        ],
    }
    filled = with_tier_defaults(raw)
    fairness, stress, lineage = filled["gates"][0]["checks"]
    assert (fairness["confidence"], fairness["min_group_size"]) == (0.99, 50)
    assert (stress["confidence"], stress["min_group_size"]) == (0.995, 50)  # what it says stays
    assert lineage == {"kind": "lineage"}
    assert raw["gates"][0]["checks"][0] == {"kind": "fairness", "data": "eval"}  # the input is untouched
    # Not a tier, or no gates: nothing to fill (validation reports the tier).
    assert with_tier_defaults({"release": {"risk_tier": "extreme"}, "gates": []}) == {
        "release": {"risk_tier": "extreme"},
        "gates": [],
    }
    low = with_tier_defaults({"gates": [{"checks": [{"kind": "fairness"}]}]})
    assert low["gates"][0]["checks"][0] == {"kind": "fairness", "confidence": 0.95, "min_group_size": 30}


def test_an_unknown_tier_is_refused_by_name() -> None:
    assert problems(HIGH.replace("risk_tier: high", "risk_tier: extreme")) == [
        "policy.yaml:2 release.risk_tier: 'extreme' is not allowed; expected 'low', 'medium', 'high' or "
        "'critical'"
    ]


# --------------------------------------------------------------------------------------------------
# Critical: documents (kind: documents) reviewed within 90 days, three approvers, stricter statistics
# --------------------------------------------------------------------------------------------------

needs_documents = pytest.mark.skipif(
    importlib.util.find_spec("release_gates.kinds.documents") is None, reason="no documents kind"
)

CRITICAL = """\
policy_version: 1
release: {model: credit, risk_tier: critical}
owners:
  ethics_reviewer: {users: [aisha]}
  release_manager: {users: [admin]}
  data_steward: {users: [tomas]}
datasets:
  eval: {uri: eval.parquet, owner: data team, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: data
    owner: data_steward
    rationale: Documented data.
    checks:
      - {kind: lineage, datasets: [eval]}
      - kind: documents
        documents:
          DPIA: {owner: data_steward, location: https://wiki.example.org/dpia, sha256: "%s", max_age: %s}
  - id: ethics
    owner: ethics_reviewer
    rationale: Four-fifths rule, robust errors.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
      - kind: stress_safety
        data: eval
        model: {uri: model.skops, sha256: "%s"}
        sensitive_features: [g]
        ceiling: 0.3
        scenarios: [{name: noise, kind: gaussian_noise, columns: [x], relative_std: 0.1}]
approvals:
  release: {roles: [ethics_reviewer, release_manager, data_steward]}
"""


def critical(max_age: str = "60d") -> str:
    return CRITICAL % ("d" * 64, max_age, "a" * 64)


@needs_documents
def test_a_compliant_critical_policy_loads_with_the_tier_defaults() -> None:
    policy = parse_policy(critical())
    fairness, stress = policy.gates[1].checks
    assert (fairness.confidence, fairness.min_group_size) == (0.99, 50)  # type: ignore[union-attr]
    assert (stress.confidence, stress.min_group_size) == (0.99, 50)  # type: ignore[union-attr]


@needs_documents
def test_critical_refuses_a_document_reviewed_too_rarely_at_its_line() -> None:
    assert problems(critical("180d")) == [
        "policy.yaml:17 gates[0].checks[1].documents.DPIA.max_age: 180d between reviews is longer than the "
        "90d that risk tier 'critical' allows (release.risk_tier)"
    ]


def test_critical_refuses_a_policy_without_documents_or_robustness_and_two_approvers() -> None:
    found = problems(HIGH.replace("risk_tier: high", "risk_tier: critical"))
    assert found == [
        "policy.yaml:2 release.risk_tier: risk tier 'critical' requires a 'lineage' check in some gate, "
        "and no gate has one (the tier asks for: lineage, fairness, stress_safety, documents)",
        "policy.yaml:2 release.risk_tier: risk tier 'critical' requires a 'stress_safety' check in some "
        "gate, and no gate has one (the tier asks for: lineage, fairness, stress_safety, documents)",
        "policy.yaml:2 release.risk_tier: risk tier 'critical' requires a 'documents' check in some gate, "
        "and no gate has one (the tier asks for: lineage, fairness, stress_safety, documents)",
        "policy.yaml:17 approvals: risk tier 'critical' requires sign-off by 3 distinct people (one per "
        "approval role), and the approvals ask 2",
    ]
