"""Tests for the release policy loader: the shipped example, and precise errors for malformed policies."""

from __future__ import annotations

import hashlib
import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from release_gates.policy import PolicyError, PolicyProblem, load_policy, parse_duration, parse_policy

REPO_ROOT = Path(__file__).parents[2]
EXAMPLE_POLICY = REPO_ROOT / "include" / "release_policy.yaml"
SOURCE = "policy.yaml"

BASE = textwrap.dedent(
    """\
    # A small, valid policy; the malformed cases below each change one thing in it.
    policy_version: 1
    release:
      model: demo-model
    owners:
      ml_owner:
        users: [alice]
      security_engineer:
        users: [bob]
        email: security@example.org
      data_steward:
        users: [dora]
      release_manager:
        users: [carol]
    datasets:
      eval:
        uri: data/eval.parquet
        sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        label: deny
        prediction: pred
    gates:
      - id: fairness
        owner: ml_owner
        rationale: Groups must be treated alike.
        checks:
          - kind: fairness
            data: eval
            sensitive_features: [afam]
            reference_group: {afam: no}
            confidence: 0.9
            severity: high
            criteria:
              - metric: selection_rate
                ratio_min: 0.8
      - id: security
        owner: security_engineer
        rationale: No critical vulnerabilities ship.
        checks:
          - kind: image_scan
            image: demo:latest
            timeout: 10m
            waivers:
              - id: CVE-2025-0001
                owner: release_manager
                statement: The vulnerable code path is not reachable.
                expires: 2027-01-01
    waivers:
      - id: CVE-2025-0002
        owner: data_steward
        statement: Fixed upstream in the next sprint.
        expires: 2027-02-01
        gates: [security]
    approvals:
      release:
        roles: [ml_owner, release_manager]
        timeout: 24h
    """
)


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the ``occurrence``-th appearance of ``marker``."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) >= occurrence, f"{marker!r} appears {len(hits)} time(s) in the policy"
    return hits[occurrence - 1]


def edit(text: str, old: str, new: str) -> str:
    """Replace ``old``, which must occur exactly once, by ``new``."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once, found {text.count(old)}"
    return text.replace(old, new)


def remove_line(text: str, marker: str) -> str:
    """Drop the single line that holds ``marker``."""
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if marker in line]
    assert len(hits) == 1, f"{marker!r} must be on exactly one line, found {len(hits)}"
    del lines[hits[0]]
    return "".join(lines)


def insert_after(text: str, marker: str, new_line: str) -> str:
    """Insert ``new_line`` (indented like the marker's line) after the single line holding ``marker``."""
    lines = text.splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if marker in line]
    assert len(hits) == 1, f"{marker!r} must be on exactly one line, found {len(hits)}"
    anchor = lines[hits[0]]
    indent = anchor[: len(anchor) - len(anchor.lstrip())]
    lines.insert(hits[0] + 1, f"{indent}{new_line}\n")
    return "".join(lines)


def problems_of(text: str) -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as excinfo:
        parse_policy(text, source=SOURCE)
    return excinfo.value.problems


# --------------------------------------------------------------------------------------------------
# The shipped example and the base policy
# --------------------------------------------------------------------------------------------------


def test_example_policy_validates() -> None:
    policy = load_policy(EXAMPLE_POLICY)

    assert policy.source == str(EXAMPLE_POLICY)
    assert policy.sha256 == hashlib.sha256(EXAMPLE_POLICY.read_bytes()).hexdigest()
    assert [check_id for _, _, check_id in policy.iter_checks()] == [
        "data.lineage",
        "data.drift",
        "ethics.fairness",
        "ethics.stress_safety",
        "security.image_scan",
        "security.posture",
        "operations.ops_readiness",
        "operations.deployment_identity",
        "operations.rollback_drill",
    ]


def test_base_policy_validates() -> None:
    policy = parse_policy(BASE, source=SOURCE)

    assert policy.source == SOURCE
    assert policy.sha256 == hashlib.sha256(BASE.encode()).hexdigest()
    assert [check_id for _, _, check_id in policy.iter_checks()] == [
        "fairness.fairness",
        "security.image_scan",
    ]


def test_yaml_1_2_booleans_keep_no_as_a_string() -> None:
    policy = parse_policy(BASE, source=SOURCE)

    assert policy.gates[0].checks[0].reference_group == {"afam": "no"}


# --------------------------------------------------------------------------------------------------
# Malformed policies: one problem each, at an exact line and field
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Malformed:
    """A policy with one mistake, and where and how the loader must report it."""

    id: str
    text: str
    marker: str
    field: str
    message: str
    occurrence: int = 1

    @property
    def line(self) -> int:
        return line_of(self.text, self.marker, self.occurrence) if self.text else 1


MALFORMED = [
    Malformed(
        "ratio_min_out_of_range",
        edit(BASE, "ratio_min: 0.8", "ratio_min: 1.5"),
        marker="ratio_min: 1.5",
        field="gates[0].checks[0].criteria[0].ratio_min",
        message="must be between 0 and 1",
    ),
    Malformed(
        "ratio_min_zero",
        edit(BASE, "ratio_min: 0.8", "ratio_min: 0"),
        marker="- metric: selection_rate",
        field="gates[0].checks[0].criteria[0]",
        message="ratio_min of 0 accepts anything",
    ),
    Malformed(
        "criterion_with_two_rules",
        insert_after(BASE, "ratio_min: 0.8", "difference_max: 0.1"),
        marker="- metric: selection_rate",
        field="gates[0].checks[0].criteria[0]",
        message="give exactly one of ratio_min or difference_max",
    ),
    Malformed(
        "unknown_field_in_check",
        edit(BASE, "timeout: 10m", "timout: 10m"),
        marker="timout: 10m",
        field="gates[1].checks[0].timout",
        message="unknown field (did you mean 'timeout'?)",
    ),
    Malformed(
        "unknown_top_level_field",
        edit(BASE, "approvals:", "approval:"),
        marker="approval:",
        field="approval",
        message="unknown field (did you mean 'approvals'?)",
    ),
    Malformed(
        "unknown_field_in_criterion",
        insert_after(BASE, "ratio_min: 0.8", "rationalle: Four-fifths rule."),
        marker="rationalle:",
        field="gates[0].checks[0].criteria[0].rationalle",
        message="unknown field (did you mean 'rationale'?)",
    ),
    Malformed(
        "unknown_check_kind",
        edit(BASE, "kind: image_scan", "kind: image_scna"),
        marker="kind: image_scna",
        field="gates[1].checks[0].kind",
        message="unknown check kind 'image_scna' (did you mean 'image_scan'?)",
    ),
    Malformed(
        "check_without_kind",
        remove_line(BASE, "kind: image_scan").replace("    image: demo:latest", "  - image: demo:latest"),
        marker="- image: demo:latest",
        field="gates[1].checks[0].kind",
        message="check needs a 'kind'",
    ),
    Malformed(
        "gate_without_rationale",
        remove_line(BASE, "rationale: Groups must be treated alike."),
        marker="- id: fairness",
        field="gates[0].rationale",
        message="required field is missing",
    ),
    Malformed(
        "gate_id_not_snake_case",
        edit(BASE, "- id: security", "- id: Security"),
        marker="- id: Security",
        field="gates[1].id",
        message="must be lower_snake_case",
    ),
    Malformed(
        "bad_duration",
        edit(BASE, "timeout: 10m", "timeout: soon"),
        marker="timeout: soon",
        field="gates[1].checks[0].timeout",
        message="must be a duration like 30m, 24h or 3d, got 'soon'",
    ),
    Malformed(
        "zero_duration",
        edit(BASE, "timeout: 24h", "timeout: 0h"),
        marker="timeout: 0h",
        field="approvals.release.timeout",
        message="must be a positive duration",
    ),
    Malformed(
        "bad_severity",
        edit(BASE, "severity: high", "severity: urgent"),
        marker="severity: urgent",
        field="gates[0].checks[0].severity",
        message="input should be 'CRITICAL', 'HIGH', 'MEDIUM', 'LOW' or 'INFO'",
    ),
    Malformed(
        "confidence_of_one",
        edit(BASE, "confidence: 0.9", "confidence: 1.0"),
        marker="confidence: 1.0",
        field="gates[0].checks[0].confidence",
        message="must be strictly between 0 and 1",
    ),
    Malformed(
        "policy_version_2",
        edit(BASE, "policy_version: 1", "policy_version: 2"),
        marker="policy_version: 2",
        field="policy_version",
        message="2 is not allowed; expected 1",
    ),
    Malformed(
        "bad_sha256_pin",
        edit(BASE, "sha256: 0123456789abcdef", "sha256: 0123456789ABCDEF"),
        marker="sha256: 0123456789ABCDEF",
        field="datasets.eval.sha256",
        message="must be 64 lower-case hex characters (a sha256 digest)",
    ),
    Malformed(
        "bad_email",
        edit(BASE, "email: security@example.org", "email: security-at-example.org"),
        marker="email: security-at-example.org",
        field="owners.security_engineer.email",
        message="'security-at-example.org' is not an e-mail address",
    ),
    Malformed(
        "check_waiver_without_expiry",
        remove_line(BASE, "expires: 2027-01-01"),
        marker="- id: CVE-2025-0001",
        field="gates[1].checks[0].waivers[0].expires",
        message="required field is missing",
    ),
    Malformed(
        "waiver_without_expiry",
        remove_line(BASE, "expires: 2027-02-01"),
        marker="- id: CVE-2025-0002",
        field="waivers[0].expires",
        message="required field is missing",
    ),
    Malformed(
        "waiver_with_bad_expiry",
        edit(BASE, "expires: 2027-02-01", "expires: next year"),
        marker="expires: next year",
        field="waivers[0].expires",
        message="input should be a valid date",
    ),
    Malformed(
        "gate_with_unknown_owner_role",
        edit(BASE, "owner: ml_owner", "owner: ml_ownr"),
        marker="owner: ml_ownr",
        field="gates[0].owner",
        message="unknown owner role 'ml_ownr' (did you mean 'ml_owner'?)",
    ),
    Malformed(
        "gate_owner_role_without_users",
        edit(BASE, "users: [bob]", "users: []"),
        marker="owner: security_engineer",
        field="gates[1].owner",
        message="owner role 'security_engineer' has no users to own remediation",
    ),
    Malformed(
        "check_on_unknown_dataset",
        edit(BASE, "data: eval", "data: evl"),
        marker="data: evl",
        field="gates[0].checks[0].data",
        message="unknown dataset 'evl' (did you mean 'eval'?)",
    ),
    Malformed(
        "fairness_check_on_dataset_without_prediction",
        remove_line(BASE, "prediction: pred"),
        marker="data: eval",
        field="gates[0].checks[0].data",
        message="dataset 'eval' declares no prediction column, which a fairness check needs",
    ),
    Malformed(
        "fairness_check_on_dataset_without_label_or_prediction",
        remove_line(remove_line(BASE, "prediction: pred"), "label: deny"),
        marker="data: eval",
        field="gates[0].checks[0].data",
        message="dataset 'eval' declares no label / prediction column",
    ),
    Malformed(
        "duplicate_gate_id",
        edit(BASE, "- id: fairness", "- id: security"),
        marker="- id: security",
        occurrence=2,
        field="gates[1].id",
        message="duplicate gate id 'security' (also gates[0])",
    ),
    Malformed(
        "duplicate_check_in_gate",
        edit(
            BASE,
            "      - kind: image_scan\n",
            "      - kind: image_scan\n        image: demo:slim\n      - kind: image_scan\n",
        ),
        marker="- kind: image_scan",
        occurrence=2,
        field="gates[1].checks[1].kind",
        message="duplicate check 'image_scan' in gate 'security' (also checks[0]); give each an 'id'",
    ),
    Malformed(
        "check_waiver_with_unknown_owner",
        edit(BASE, "owner: release_manager", "owner: release_managers"),
        marker="owner: release_managers",
        field="gates[1].checks[0].waivers[0].owner",
        message="unknown owner role 'release_managers' (did you mean 'release_manager'?)",
    ),
    Malformed(
        "waiver_with_unknown_owner",
        edit(BASE, "owner: data_steward", "owner: data_stewart"),
        marker="owner: data_stewart",
        field="waivers[0].owner",
        message="unknown owner role 'data_stewart' (did you mean 'data_steward'?)",
    ),
    Malformed(
        "waiver_for_unknown_gate",
        edit(BASE, "gates: [security]", "gates: [securty]"),
        marker="gates: [securty]",
        field="waivers[0].gates[0]",
        message="unknown gate 'securty' (did you mean 'security'?)",
    ),
    Malformed(
        "approval_role_without_users",
        edit(BASE, "users: [carol]", "users: []"),
        marker="roles: [ml_owner, release_manager]",
        field="approvals.release.roles[1]",
        message="approval role 'release_manager' has no users who could sign off",
    ),
    Malformed(
        "approval_with_unknown_role",
        edit(BASE, "roles: [ml_owner, release_manager]", "roles: [ml_owner, release_mgr]"),
        marker="roles: [ml_owner, release_mgr]",
        field="approvals.release.roles[1]",
        message="unknown owner role 'release_mgr' (did you mean 'release_manager'?)",
    ),
    Malformed(
        "approval_role_listed_twice",
        edit(BASE, "roles: [ml_owner, release_manager]", "roles: [ml_owner, ml_owner]"),
        marker="roles: [ml_owner, ml_owner]",
        field="approvals.release.roles",
        message="a role is listed twice",
    ),
    Malformed(
        "duplicate_yaml_key",
        insert_after(BASE, "model: demo-model", "model: other-model"),
        marker="model: other-model",
        field="release.model",
        message=f"duplicate key (first defined at line {line_of(BASE, 'model: demo-model')})",
    ),
    Malformed(
        "yaml_syntax_error",
        edit(BASE, "rationale: Groups must", "rationale: Groups: must"),
        marker="rationale: Groups: must",
        field="(document)",
        message="YAML syntax error: mapping values are not allowed",  # libyaml and PyYAML word the rest apart
    ),
    Malformed(
        "empty_file",
        "",
        marker="",
        field="(document)",
        message="the policy must be a mapping, the file is empty",
    ),
    Malformed(
        "comments_only",
        "# nothing here yet\n",
        marker="# nothing here yet",
        field="(document)",
        message="the policy must be a mapping, the file is empty",
    ),
    Malformed(
        "top_level_list",
        "- policy_version: 1\n- gates: []\n",
        marker="- policy_version: 1",
        field="(document)",
        message="the policy must be a mapping, the file is a list",
    ),
]


def test_malformed_cases_are_distinct() -> None:
    assert len(MALFORMED) >= 18
    assert len({case.id for case in MALFORMED}) == len(MALFORMED)
    assert len({case.text for case in MALFORMED}) == len(MALFORMED)


@pytest.mark.parametrize("case", MALFORMED, ids=lambda case: case.id)
def test_malformed_policy_reports_one_precise_problem(case: Malformed) -> None:
    problems = problems_of(case.text)

    assert [str(p) for p in problems] == [str(problems[0])], "expected exactly one problem"
    problem = problems[0]
    assert f"{problem.source}:{problem.line}" == f"{SOURCE}:{case.line}"
    assert problem.field == case.field
    assert case.message in problem.message
    assert str(problem) == f"{SOURCE}:{case.line} {case.field}: {problem.message}"


def test_invalid_dataset_name_is_reported_at_the_name() -> None:
    text = edit(BASE, "  eval:\n", "  Eval:\n").replace("data: eval", "data: Eval")

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].line == line_of(text, "Eval:")
    assert problems[0].field == "datasets.Eval"
    assert "must be lower_snake_case" in problems[0].message


def test_non_string_key_is_reported_at_its_line() -> None:
    text = BASE + "42: answer\n"

    problems = problems_of(text)

    assert len(problems) == 1
    assert problems[0].line == line_of(text, "42: answer")
    assert problems[0].field == "42"
    assert "keys should be strings" in problems[0].message


# --------------------------------------------------------------------------------------------------
# Several problems at once
# --------------------------------------------------------------------------------------------------


def test_all_structural_problems_are_reported_sorted_by_line() -> None:
    text = BASE
    text = edit(text, "ratio_min: 0.8", "ratio_min: 1.5")
    text = edit(text, "timeout: 10m", "timeout: soon")
    text = edit(text, "policy_version: 1", "policy_version: 2")
    text = edit(text, "severity: high", "severity: urgent")
    text = insert_after(text, "model: demo-model", "model: other-model")
    text = remove_line(text, "expires: 2027-02-01")

    with pytest.raises(PolicyError) as excinfo:
        parse_policy(text, source=SOURCE)
    problems = excinfo.value.problems

    assert [(p.line, p.field) for p in problems] == [
        (line_of(text, "policy_version: 2"), "policy_version"),
        (line_of(text, "model: other-model"), "release.model"),
        (line_of(text, "severity: urgent"), "gates[0].checks[0].severity"),
        (line_of(text, "ratio_min: 1.5"), "gates[0].checks[0].criteria[0].ratio_min"),
        (line_of(text, "timeout: soon"), "gates[1].checks[0].timeout"),
        (line_of(text, "- id: CVE-2025-0002"), "waivers[0].expires"),
    ]
    lines = [p.line for p in problems]
    assert lines == sorted(lines)

    message_lines = str(excinfo.value).splitlines()
    assert message_lines[0] == "6 problems in release policy:"
    assert message_lines[1:] == [f"  {p}" for p in problems]


def test_all_cross_field_problems_are_reported_sorted_by_line() -> None:
    text = BASE
    text = edit(text, "owner: ml_owner", "owner: ml_ownr")
    text = edit(text, "data: eval", "data: evl")
    text = edit(text, "- id: fairness", "- id: security")
    text = edit(text, "owner: data_steward", "owner: nobody")
    text = edit(text, "gates: [security]", "gates: [securty]")
    text = edit(text, "roles: [ml_owner, release_manager]", "roles: [ml_owner, release_mgr]")

    with pytest.raises(PolicyError) as excinfo:
        parse_policy(text, source=SOURCE)
    problems = excinfo.value.problems

    assert [(p.line, p.field) for p in problems] == [
        (line_of(text, "owner: ml_ownr"), "gates[0].owner"),
        (line_of(text, "data: evl"), "gates[0].checks[0].data"),
        (line_of(text, "- id: security", occurrence=2), "gates[1].id"),
        (line_of(text, "owner: nobody"), "waivers[0].owner"),
        (line_of(text, "gates: [securty]"), "waivers[0].gates[0]"),
        (line_of(text, "roles: [ml_owner, release_mgr]"), "approvals.release.roles[1]"),
    ]
    assert "unknown owner role 'nobody' (known: " in problems[3].message
    assert str(excinfo.value).splitlines()[1:] == [f"  {p}" for p in problems]


def test_single_problem_message_is_singular() -> None:
    with pytest.raises(PolicyError) as excinfo:
        parse_policy(edit(BASE, "timeout: 10m", "timeout: soon"), source=SOURCE)

    assert str(excinfo.value).splitlines()[0] == "1 problem in release policy:"


# --------------------------------------------------------------------------------------------------
# Durations and file loading
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        (" 45s ", timedelta(seconds=45)),
        (90, timedelta(seconds=90)),
        (0.5, timedelta(milliseconds=500)),
        (timedelta(hours=1), timedelta(hours=1)),
    ],
)
def test_parse_duration(value: object, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0h", "must be a positive duration"),
        (0, "must be a positive duration"),
        (-5, "must be a positive duration"),
        ("soon", "must be a duration like 30m, 24h or 3d, got 'soon'"),
        ("3 days", "must be a duration like 30m, 24h or 3d"),
        ("", "must be a duration like 30m, 24h or 3d"),
        (True, "must be a duration like 30m, 24h or 3d"),
    ],
)
def test_parse_duration_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_load_policy_on_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_policy.yaml"

    with pytest.raises(PolicyError, match="cannot read policy file") as excinfo:
        load_policy(missing)

    [problem] = excinfo.value.problems
    assert problem.source == str(missing)
    assert problem.line is None
    assert str(problem).startswith(f"{missing} (document): cannot read policy file")


def test_load_policy_reports_the_file_path_as_source(tmp_path: Path) -> None:
    path = tmp_path / "release_policy.yaml"
    path.write_text(edit(BASE, "ratio_min: 0.8", "ratio_min: 1.5"))

    with pytest.raises(PolicyError) as excinfo:
        load_policy(path)

    [problem] = excinfo.value.problems
    assert str(problem) == (
        f"{path}:{line_of(path.read_text(), 'ratio_min: 1.5')} "
        "gates[0].checks[0].criteria[0].ratio_min: must be between 0 and 1"
    )


def test_non_utf8_policy_is_rejected() -> None:
    with pytest.raises(PolicyError, match="not UTF-8 text"):
        parse_policy(b"policy_version: 1\nrelease: {model: \xff}\n", source=SOURCE)


@pytest.mark.parametrize(
    ("text", "shown"), [("30m", "30m"), ("24h", "1d"), ("36h", "36h"), ("14d", "2w"), (45, "45s")]
)
def test_format_duration_round_trips(text: object, shown: str) -> None:
    from release_gates.policy import format_duration

    assert format_duration(parse_duration(text)) == shown
    assert parse_duration(shown) == parse_duration(text)


def test_misspelled_kind_does_not_hide_the_checks_other_problems() -> None:
    text = edit(BASE, "kind: image_scan", "kind: image_scna")
    line = next(li for li in text.splitlines() if li.strip() == "image: demo:latest")
    indent = line[: len(line) - len(line.lstrip())]
    text = text.replace(line, f"{line}\n{indent}fixable_onyl: true", 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.yaml")
    messages = [p.message for p in caught.value.problems]
    assert "unknown check kind 'image_scna' (did you mean 'image_scan'?)" in messages
    assert any("fixable_only" in m and "read as kind 'image_scan'" in m for m in messages), messages


def test_unrecognisable_kind_lists_the_kinds() -> None:
    with pytest.raises(PolicyError, match="expected one of: lineage, drift"):
        parse_policy(edit(BASE, "kind: image_scan", "kind: zzzz"), source="p.yaml")


def test_a_candidate_only_check_without_a_candidate_and_an_unknown_document_owner_are_named() -> None:
    """They used to load and only ERROR at run time."""
    from tests.minimal_policy import MINIMAL_POLICY

    governance = [
        "  - id: governance",
        "    owner: steward",
        "    rationale: Only what has a purpose; the documents current.",
        "    checks:",
        "      - kind: data_minimization",
        "        allowed_features: {x: the signal}",
        "        data: eval",
        "      - kind: model_signature",
        "        public_key: signer.pub",
        "      - kind: documents",
        f'        documents: {{runbook: {{owner: securty, location: runbook.md, sha256: "{"0" * 64}", '
        "max_age: 30d}}",
    ]
    text = MINIMAL_POLICY.rstrip("\n") + "\n" + "\n".join(governance) + "\n"
    with pytest.raises(PolicyError) as raised:
        parse_policy(text, source="p.yaml")
    messages = [problem.message for problem in raised.value.problems]
    assert any("data_minimization check judges the pinned candidate" in m for m in messages), messages
    assert any("model_signature check judges the pinned candidate" in m for m in messages), messages
    assert any("securty" in m for m in messages), messages
