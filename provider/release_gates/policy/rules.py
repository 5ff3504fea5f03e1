"""Cross-field rules, checked once the policy is structurally valid: roles, datasets, ids, waivers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from release_gates._yaml import Path_
from release_gates.kinds import CheckSpec
from release_gates.kinds.fields import is_templated
from release_gates.policy.candidate import scoring_problems
from release_gates.policy.problems import Problems, role_problem, suggest
from release_gates.policy.tiers import tier_problems

if TYPE_CHECKING:
    from release_gates.kinds.common import Waiver
    from release_gates.policy.model import ReleasePolicy


def cross_check(policy: ReleasePolicy) -> Problems:
    return (
        _check_gates(policy)
        + _check_waivers(policy)
        + _check_approvals(policy)
        + _check_notifications(policy)
        + _check_monitoring(policy)
        + _check_dataset_overrides(policy)
        + scoring_problems(policy)
        + _check_prediction_references(policy)
        + _check_scans(policy)
        + tier_problems(policy)
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
            if check.kind == "documents":  # each document's owner reviews it and owns its fix
                for name, document in check.documents.items():
                    problems += role_problem(policy, (*base, "documents", name, "owner"), document.owner)
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
    return problems + _check_distinct_approvers(policy)


def _check_distinct_approvers(policy: ReleasePolicy) -> Problems:
    """Every approval role of every approval is answered by another person: the roles' users must
    be able to fill all of them at once (a matching of people to approval steps, each person once)."""
    steps = [  # unknown, empty and repeated roles are problems of their own (above)
        (name, approval.roles.index(role), role)
        for name, approval in policy.approvals.items()
        for role in dict.fromkeys(approval.roles)
        if role in policy.owners and policy.owners[role].users
    ]
    person_of: dict[str, int] = {}  # user → the step they fill

    def place(step: int, tried: set[str]) -> bool:  # Kuhn's augmenting path
        for user in policy.users_of(steps[step][2]):
            if user in tried:
                continue
            tried.add(user)
            if user not in person_of or place(person_of[user], tried):
                person_of[user] = step
                return True
        return False

    unfilled = [step for step in range(len(steps)) if not place(step, set())]
    if not unfilled:
        return []
    people = sorted({u for _, _, role in steps for u in policy.users_of(role)})
    name, index, role = steps[unfilled[0]]
    return [
        (
            ("approvals", name, "roles", index),
            f"sign-off needs {len(steps)} distinct people (one per approval role), but the users of "
            f"these roles ({', '.join(people)}) can fill only {len(steps) - len(unfilled)}; "
            f"role {role!r} has nobody left — add users, or drop a role",
        )
    ]


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


def _check_prediction_references(policy: ReleasePolicy) -> Problems:
    """A drift check's ``prediction_reference`` holds outputs of another version (the live one) for
    every output column the current data declares, and is never the candidate's own."""
    problems: Problems = []
    scored = set(policy.scoring.datasets) if policy.scoring is not None else set()
    for gi, gate in enumerate(policy.gates):
        for ci, check in enumerate(gate.checks):
            name = getattr(check, "prediction_reference", None)
            if check.kind != "drift" or name is None or is_templated(name) or name not in policy.datasets:
                continue  # an unknown dataset is reported with the check's other dataset names
            path: Path_ = ("gates", gi, "checks", ci, "prediction_reference")
            declared, current = policy.datasets[name], policy.datasets.get(check.current)
            if not check.prediction_drift:
                problems.append((path, "is read only for prediction drift, which this check turns off"))
            if name == check.current:
                problems.append(
                    (path, "is the current dataset: its predictions would be compared with themselves")
                )
            if name in scored:
                problems.append(
                    (
                        path,
                        f"dataset {name!r} is in scoring.datasets, so its outputs would be the candidate's "
                        "own; a prediction reference holds the live version's outputs",
                    )
                )
            wanted = [c for c in ("score", "prediction") if current is not None and getattr(current, c)]
            missing = [c for c in wanted if getattr(declared, c) is None]
            if not (declared.prediction or declared.score):
                problems.append(
                    (path, f"dataset {name!r} declares no prediction or score column to compare with")
                )
            elif missing:
                problems.append(
                    (
                        path,
                        f"dataset {name!r} declares no {' / '.join(missing)} column, which the current "
                        f"dataset {check.current!r} has: its prediction drift could not be measured",
                    )
                )
    return problems


_CONNECTION_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)?$")


def _check_dataset_overrides(policy: ReleasePolicy) -> Problems:
    """An allow-list must say exactly where a run may point a dataset, and nothing a run may not."""
    problems: Problems = []
    for name, dataset in policy.datasets.items():
        allow = dataset.overrides
        if allow is None:
            continue
        base: Path_ = ("datasets", name, "overrides")
        if not (allow.uri_prefixes or allow.connections or allow.tables):
            problems.append((base, "lists nothing a run may use; remove it to forbid overrides"))
        if bool(allow.connections) != bool(allow.tables):
            problems.append((base, "connections and tables go together: an sql:// override names both"))
        for index, prefix in enumerate(allow.uri_prefixes):
            if problem := _prefix_problem(prefix):
                problems.append(((*base, "uri_prefixes", index), problem))
        for index, connection in enumerate(allow.connections):
            if not _CONNECTION_ID.match(connection):
                problems.append(((*base, "connections", index), f"{connection!r} is not a connection id"))
        for index, table in enumerate(allow.tables):
            if not _TABLE.match(table):
                problems.append(((*base, "tables", index), f"{table!r} is not a table or schema.table name"))
    return problems


def _prefix_problem(prefix: str) -> str | None:
    from urllib.parse import urlsplit

    from release_gates.datasets import is_sql_uri, mask_password

    if is_templated(prefix):
        return "a template; an allow-list is reviewed as written"
    if is_sql_uri(prefix):
        return "a database URL; allow SQL overrides with connections and tables"
    if mask_password(prefix) != prefix:
        return "carries credentials; name a connection in the URI's host part instead"
    parts = urlsplit(prefix)
    if "?" in prefix or "#" in prefix:
        return "has a query or fragment; a prefix is a directory"
    if ".." in parts.path.split("/"):
        return "contains '..'; name the directory itself"
    if parts.path.strip("/") == "" and "://" not in prefix:
        return "is the file system root: it would allow every file"
    if "://" in prefix and not parts.netloc:
        return "names no bucket or host"
    return None


#: The form of every Trivy built-in secret rule id (``aws-access-key-id``, ``github-pat``,
#: ``private-key``; trivy pkg/fanal/secret/builtin-rules.go) and of the custom rules its docs show:
#: lower-case letters and digits joined by hyphens. Ids of the other finding classes are written in
#: capitals as Trivy reports them (CVE-2024-1234, GHSA-…, DS-0002, AVD-KSV-0012, licenses such as MIT).
_SECRET_RULE_ID = re.compile(r"(?=[a-z0-9-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*")
#: Lower-case ids the image scan gives findings that are not secrets (checks/image_scan/image_identity.py).
_NOT_SECRET_IDS = frozenset({"image-not-pinned"})


def _check_scans(policy: ReleasePolicy) -> Problems:
    return _check_secret_waivers(policy) + _check_pii_samples(policy)


def _check_secret_waivers(policy: ReleasePolicy) -> Problems:
    """A secret found in an image is live until rotated, so no waiver may name one. Refused: the id
    ``secret`` (what a secret without a rule id is called) in any case, and any id written in the form
    of a Trivy secret rule id. Waivers only ever cover image scan findings, so every waiver is checked
    (the policy's own and each check's). At run time a waiver that still covers a secret is ignored."""
    located: list[tuple[Path_, Waiver]] = [(("waivers", wi), w) for wi, w in enumerate(policy.waivers)]
    for gi, gate in enumerate(policy.gates):
        for ci, check in enumerate(gate.checks):
            located += [
                (("gates", gi, "checks", ci, "waivers", wi), w)
                for wi, w in enumerate(getattr(check, "waivers", []))
            ]
    problems: Problems = []
    for path, waiver in located:
        written = waiver.id.strip()
        if written.lower() != "secret" and (
            written in _NOT_SECRET_IDS or not _SECRET_RULE_ID.fullmatch(written)
        ):
            continue
        problems.append(
            (
                (*path, "id"),
                f"{written!r} names a secret finding (Trivy secret rule ids are lower-case-with-hyphens): "
                "secrets are never waived; rotate the secret and rebuild the image. Write other finding "
                "ids as Trivy reports them (CVE-2024-1234, DS-0002, MIT)",
            )
        )
    return problems


def _check_pii_samples(policy: ReleasePolicy) -> Problems:
    """PII patterns are matched against the outputs sample; without one they would check nothing."""
    problems: Problems = []
    for gi, gate in enumerate(policy.gates):
        for ci, check in enumerate(gate.checks):
            if getattr(check, "pii_patterns", None) and not getattr(check, "outputs_sample", None):
                problems.append(
                    (
                        ("gates", gi, "checks", ci, "pii_patterns"),
                        "PII patterns need an outputs_sample dataset to scan; name one, or remove them",
                    )
                )
    return problems
