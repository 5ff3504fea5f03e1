"""Cross-field rules, checked once the policy is structurally valid: roles, datasets, ids, waivers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release_gates._yaml import Path_
from release_gates.kinds import CheckSpec
from release_gates.kinds.fields import is_templated
from release_gates.policy.problems import Problems, role_problem, suggest

if TYPE_CHECKING:
    from release_gates.policy.model import ReleasePolicy


def cross_check(policy: ReleasePolicy) -> Problems:
    return (
        _check_gates(policy)
        + _check_waivers(policy)
        + _check_approvals(policy)
        + _check_notifications(policy)
        + _check_monitoring(policy)
    )


def _check_gates(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    first_gate: dict[str, int] = {}
    for gi, gate in enumerate(policy.gates):
        if gate.id in first_gate:
            problems.append(
                (("gates", gi, "id"), f"duplicate gate id {gate.id!r} (also gates[{first_gate[gate.id]}])")
            )
        first_gate.setdefault(gate.id, gi)
        problems += role_problem(
            policy,
            ("gates", gi, "owner"),
            gate.owner,
            empty="owner role {role!r} has no users to own remediation",
        )
        seen_checks: dict[str, int] = {}
        for ci, check in enumerate(gate.checks):
            base: Path_ = ("gates", gi, "checks", ci)
            name = check.check_name
            if name in seen_checks:
                problems.append(
                    (
                        (*base, "id" if check.id else "kind"),
                        f"duplicate check {name!r} in gate {gate.id!r} (also checks[{seen_checks[name]}]); "
                        "give each an 'id'",
                    )
                )
            seen_checks.setdefault(name, ci)
            problems += _check_datasets(policy, check, base)
            for wi, waiver in enumerate(getattr(check, "waivers", [])):
                problems += role_problem(policy, (*base, "waivers", wi, "owner"), waiver.owner)
    return problems


def _check_waivers(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    gate_ids = [g.id for g in policy.gates]
    for wi, waiver in enumerate(policy.waivers):
        problems += role_problem(policy, ("waivers", wi, "owner"), waiver.owner)
        for gi, gate_id in enumerate(waiver.gates):
            if gate_id not in gate_ids:
                problems.append(
                    (("waivers", wi, "gates", gi), f"unknown gate {gate_id!r}{suggest(gate_id, gate_ids)}")
                )
    return problems


def _check_notifications(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    for ri, role in enumerate(policy.notifications.stakeholders):
        problems += role_problem(policy, ("notifications", "stakeholders", ri), role)
    return problems


def _check_monitoring(policy: ReleasePolicy) -> Problems:
    if policy.monitoring is None:
        return []
    from release_gates.policy.monitoring_plan import monitoring_problems

    return monitoring_problems(policy)


def _check_approvals(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    for name, approval in policy.approvals.items():
        for ri, role in enumerate(approval.roles):
            path: Path_ = ("approvals", name, "roles", ri)
            problems += role_problem(
                policy, path, role, empty="approval role {role!r} has no users who could sign off"
            )
        if len(set(approval.roles)) != len(approval.roles):
            problems.append((("approvals", name, "roles"), "a role is listed twice"))
    return problems


def _check_datasets(policy: ReleasePolicy, check: CheckSpec, base: Path_) -> list[tuple[Path_, str]]:
    problems: list[tuple[Path_, str]] = []
    names = sorted(policy.datasets)
    for field_name, dataset in check.dataset_refs():
        if is_templated(dataset):
            continue
        path: Path_ = (*base, field_name)
        if field_name in ("datasets", "suites"):
            container = getattr(check, field_name)
            index: str | int = container.index(dataset) if isinstance(container, list) else dataset
            path = (*path, index)
        if dataset not in policy.datasets:
            problems.append((path, f"unknown dataset {dataset!r}{suggest(dataset, names)}"))
            continue
        declared = policy.datasets[dataset]
        needs = check.required_columns()
        missing = [col for col in needs if getattr(declared, col) is None]
        if missing:
            problems.append(
                (
                    path,
                    f"dataset {dataset!r} declares no {' / '.join(missing)} column, "
                    f"which a {check.kind} check needs",
                )
            )
    return problems
