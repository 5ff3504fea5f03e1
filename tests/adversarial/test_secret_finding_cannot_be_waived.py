"""A secret baked into the image cannot be waived: it is live until rotated.

The attack: an insider with policy write access adds a waiver for the secret finding (by its Trivy
rule id, in any spelling), so the leaked credential ships. The policy validator refuses such a waiver
with file and line; a waiver that still reaches a secret at run time (a custom rule id, other
capitalisation) is ignored, and a finding says so.
"""

from __future__ import annotations

import json
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from release_gates.checks.image_scan import evaluate_trivy_report
from release_gates.policy import ImageScanCheck, PolicyError, Waiver, parse_policy
from release_gates.results import Status

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trivy"

POLICY = textwrap.dedent(
    """\
    policy_version: 1
    release:
      model: demo-model
    owners:
      security_engineer:
        users: [bob]
      release_manager:
        users: [carol]
    gates:
      - id: security
        owner: security_engineer
        rationale: No secrets ship.
        checks:
          - kind: image_scan
            image: demo@sha256:{digest}
            waivers:
              - id: {check_waiver}
                owner: security_engineer
                statement: accepted
                expires: 2099-01-01
    waivers:
      - id: {policy_waiver}
        owner: security_engineer
        statement: accepted
        expires: 2099-01-01
    approvals:
      release:
        roles: [security_engineer, release_manager]
        timeout: 24h
    """
)


def _policy(check_waiver: str = "CVE-2025-0001", policy_waiver: str = "DS-0002") -> str:
    return POLICY.format(digest="ab" * 32, check_waiver=check_waiver, policy_waiver=policy_waiver)


def test_the_valid_baseline_loads() -> None:
    policy = parse_policy(_policy(), source="policy.yaml")
    assert [w.id for w in policy.waivers] == ["DS-0002"]
    parse_policy(_policy(check_waiver="image-not-pinned", policy_waiver="MIT"), source="policy.yaml")


@pytest.mark.parametrize(
    "waiver_id",
    ["aws-access-key-id", "github-pat", "private-key", "mysecret", "secret", "SECRET", " jwt-token "],
)
def test_policy_load_refuses_a_waiver_naming_a_secret(waiver_id: str) -> None:
    text = _policy(check_waiver=json.dumps(waiver_id), policy_waiver=json.dumps(waiver_id))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    problems = caught.value.problems
    assert [p.field for p in problems] == ["gates[0].checks[0].waivers[0].id", "waivers[0].id"]
    lines = text.splitlines()
    for problem in problems:
        assert "secrets are never waived" in problem.message
        assert problem.line is not None and waiver_id.strip() in lines[problem.line - 1]
        assert str(problem).startswith(f"policy.yaml:{problem.line} ")


def _secrets_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads((FIXTURES / "secrets.json").read_text())
    return report


@pytest.mark.parametrize(
    "waiver_ids",
    [
        ["aws-access-key-id", "mysecret"],  # as Trivy reports them (refused at policy load)
        ["AWS-ACCESS-KEY-ID", "MYSECRET"],  # spelled to slip past the validator
    ],
)
def test_at_run_time_a_waiver_covering_a_secret_is_ignored_with_a_finding(waiver_ids: list[str]) -> None:
    waivers = [
        Waiver(id=i, owner="security_engineer", statement="accepted", expires=date(2099, 1, 1))
        for i in waiver_ids
    ]
    check = ImageScanCheck.model_validate(
        {"kind": "image_scan", "image": "r.json", "target": "report", "scanners": ["secret"]}
    )
    for spec, policy_waivers in ((check.model_copy(update={"waivers": waivers}), []), (check, waivers)):
        result = evaluate_trivy_report(
            _secrets_report(), spec, check_id="security.image_scan", policy_waivers=policy_waivers
        )
        assert result.status is Status.FAIL
        assert "2 secrets (secrets always fail)" in result.summary
        secrets = [f for f in result.findings if f.data.get("class") == "secret"]
        assert len(secrets) == 2 and all(f.waived_by is None for f in secrets)
        ignored = {f.id: f for f in result.findings if f.id.startswith("secret_waiver_ignored:")}
        assert set(ignored) == {f"secret_waiver_ignored:{i}" for i in waiver_ids}
        assert all("secrets are never waived" in f.title for f in ignored.values())
        assert sorted(result.metrics["waivers_ignored"]) == sorted(waiver_ids)
        assert result.metrics["waivers_applied"] == []
