"""Risk tiers: what ``release.risk_tier`` asks of a policy, in one table.

A tier sets *minimums* a policy cannot go below (the confidence and ``min_group_size`` of every
statistical check, the check kinds some gate must run, the number of distinct people who sign off,
how long a required document may go unreviewed) and *defaults* for what a check leaves unsaid
(confidence, ``min_group_size``). The loader applies the defaults before validation
(:func:`with_tier_defaults`) and refuses, with file and line, a policy below its tier
(:func:`tier_problems`, one of the cross-field rules).

A policy that names no tier is ``low``: nothing beyond its own checks is required of it. Naming a
tier is a claim a reviewer can hold the policy to; the tier is recorded with every release.

Check kinds are named by their ``kind:`` strings, so the table can require a kind its module does
not import (``documents``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from release_gates.kinds.fields import format_duration

if TYPE_CHECKING:
    from release_gates._yaml import Path_
    from release_gates.policy.model import ReleasePolicy
    from release_gates.policy.problems import Problems

#: The tier of a policy that does not name one.
DEFAULT_TIER = "low"
#: Check kinds whose ``confidence`` and ``min_group_size`` the tier bounds and defaults.
STATISTICAL_KINDS = ("fairness", "stress_safety")


@dataclass(frozen=True)
class Tier:
    """What one risk tier requires; ``None`` = no minimum."""

    name: str
    #: Lowest ``confidence`` a fairness or stress safety check may set, and the value where it sets none.
    confidence_min: float | None
    confidence_default: float
    #: Smallest ``min_group_size`` such a check may set, and the value where it sets none.
    min_group_size_min: int | None
    min_group_size_default: int
    #: Check kinds at least one gate must run.
    required_kinds: tuple[str, ...]
    #: Distinct people who must sign off (the approval steps of all ``approvals``, one person each).
    approvers_min: int
    #: Longest ``max_age`` a ``documents`` check may allow between reviews of a document.
    document_max_age: timedelta | None

    def defaults(self) -> dict[str, Any]:
        return {"confidence": self.confidence_default, "min_group_size": self.min_group_size_default}

    def describe(self) -> str:
        parts = [
            f"confidence ≥ {self.confidence_min:g}" if self.confidence_min else "any confidence",
            f"min_group_size ≥ {self.min_group_size_min}" if self.min_group_size_min else "any group size",
            f"checks: {', '.join(self.required_kinds)}" if self.required_kinds else "no required checks",
            f"{self.approvers_min} distinct approver(s)",
        ]
        if self.document_max_age is not None:
            parts.append(f"documents reviewed within {format_duration(self.document_max_age)}")
        return "; ".join(parts)


#: Every tier, lowest first. The defaults of low, medium and high are the checks' own defaults, so
#: naming one of them changes no result, only what the policy must contain.
TIERS: Mapping[str, Tier] = {
    tier.name: tier
    for tier in (
        Tier("low", None, 0.95, None, 30, (), 0, None),
        Tier("medium", 0.90, 0.95, 20, 30, (), 0, timedelta(days=365)),
        Tier("high", 0.95, 0.95, 30, 30, ("fairness",), 2, timedelta(days=180)),
        Tier(
            "critical",
            0.99,
            0.99,
            50,
            50,
            ("lineage", "fairness", "stress_safety", "documents"),
            3,
            timedelta(days=90),
        ),
    )
}


def tier_of(data: Any) -> Tier | None:
    """The tier a raw policy mapping names (``low`` when silent); None for a name that is no tier
    (the model reports that)."""
    release = data.get("release") if isinstance(data, dict) else None
    name = release.get("risk_tier", DEFAULT_TIER) if isinstance(release, dict) else DEFAULT_TIER
    return TIERS.get(name) if isinstance(name, str) else None


def with_tier_defaults(data: Any) -> Any:
    """A copy of the raw policy mapping with the tier's defaults in every statistical check that does
    not set them (the input is not changed: the loader still maps its paths to lines)."""
    tier = tier_of(data)
    gates = data.get("gates") if isinstance(data, dict) else None
    if tier is None or not isinstance(gates, list):
        return data
    filled = []
    for gate in gates:
        checks = gate.get("checks") if isinstance(gate, dict) else None
        if isinstance(checks, list):
            filled.append({**gate, "checks": [_with_defaults(check, tier) for check in checks]})
        else:
            filled.append(gate)
    return {**data, "gates": filled}


def _with_defaults(check: Any, tier: Tier) -> Any:
    if not isinstance(check, dict) or check.get("kind") not in STATISTICAL_KINDS:
        return check
    missing = {name: value for name, value in tier.defaults().items() if name not in check}
    return {**check, **missing} if missing else check


def tier_problems(policy: ReleasePolicy) -> Problems:
    """Everything the policy lacks for its tier, each at the line that must change."""
    tier = TIERS[policy.release.risk_tier]
    return (
        _statistical_minimums(policy, tier)
        + _required_kinds(policy, tier)
        + _approvers(policy, tier)
        + _document_ages(policy, tier)
    )


def _statistical_minimums(policy: ReleasePolicy, tier: Tier) -> Problems:
    problems: Problems = []
    for gi, gate in enumerate(policy.gates):
        for ci, check in enumerate(gate.checks):
            if check.kind not in STATISTICAL_KINDS:
                continue
            base: Path_ = ("gates", gi, "checks", ci)
            confidence = float(getattr(check, "confidence"))  # noqa: B009 - both kinds declare it
            if tier.confidence_min is not None and confidence < tier.confidence_min:
                problems.append(
                    (
                        (*base, "confidence"),
                        f"{confidence:g} is below the {tier.confidence_min:g} that risk tier "
                        f"{tier.name!r} requires (release.risk_tier)",
                    )
                )
            size = int(getattr(check, "min_group_size"))  # noqa: B009
            if tier.min_group_size_min is not None and size < tier.min_group_size_min:
                problems.append(
                    (
                        (*base, "min_group_size"),
                        f"{size} is below the {tier.min_group_size_min} that risk tier {tier.name!r} "
                        "requires (release.risk_tier)",
                    )
                )
    return problems


def _required_kinds(policy: ReleasePolicy, tier: Tier) -> Problems:
    present = {check.kind for gate in policy.gates for check in gate.checks}
    return [
        (
            ("release", "risk_tier"),
            f"risk tier {tier.name!r} requires a {kind!r} check in some gate, and no gate has one "
            f"(the tier asks for: {', '.join(tier.required_kinds)})",
        )
        for kind in tier.required_kinds
        if kind not in present
    ]


def _approvers(policy: ReleasePolicy, tier: Tier) -> Problems:
    steps = sum(len(set(approval.roles)) for approval in policy.approvals.values())
    if steps >= tier.approvers_min:
        return []
    path: Path_ = ("approvals",) if policy.approvals else ("release", "risk_tier")
    asked = f"the approvals ask {steps}" if policy.approvals else "there are no approvals"
    return [
        (
            path,
            f"risk tier {tier.name!r} requires sign-off by {tier.approvers_min} distinct people "
            f"(one per approval role), and {asked}",
        )
    ]


def _document_ages(policy: ReleasePolicy, tier: Tier) -> Problems:
    if tier.document_max_age is None:
        return []
    problems: Problems = []
    for gi, gate in enumerate(policy.gates):
        for ci, check in enumerate(gate.checks):
            if check.kind != "documents":
                continue
            for name, document in (getattr(check, "documents", None) or {}).items():
                age = getattr(document, "max_age", None)
                if isinstance(age, timedelta) and age > tier.document_max_age:
                    problems.append(
                        (
                            ("gates", gi, "checks", ci, "documents", name, "max_age"),
                            f"{format_duration(age)} between reviews is longer than the "
                            f"{format_duration(tier.document_max_age)} that risk tier {tier.name!r} "
                            "allows (release.risk_tier)",
                        )
                    )
    return problems
