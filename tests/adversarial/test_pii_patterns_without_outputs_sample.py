"""PII patterns with nothing to scan look like a PII check and are none: a policy error.

The attack (or the slip): a posture check lists ``pii_patterns`` but no ``outputs_sample``; the
patterns are never matched against anything, yet a reader of the policy believes outputs are
checked. The policy validator names the file and line.
"""

from __future__ import annotations

import textwrap

import pytest

from release_gates.policy import PolicyError, parse_policy

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
    datasets:
      outputs:
        uri: data/outputs.parquet
    gates:
      - id: security
        owner: security_engineer
        rationale: Outputs carry no personal data.
        checks:
          - kind: posture
    {sample}        pii_patterns:
              - {{name: us_ssn, regex: '\\b\\d{{3}}-\\d{{2}}-\\d{{4}}\\b'}}
    approvals:
      release:
        roles: [security_engineer, release_manager]
        timeout: 24h
    """
)


def test_pii_patterns_without_an_outputs_sample_are_a_policy_error() -> None:
    text = POLICY.format(sample="")
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="policy.yaml")
    (problem,) = caught.value.problems
    assert problem.field == "gates[0].checks[0].pii_patterns"
    assert "outputs_sample" in problem.message
    assert problem.line is not None and "pii_patterns" in text.splitlines()[problem.line - 1]
    assert str(problem).startswith(f"policy.yaml:{problem.line} ")


def test_with_an_outputs_sample_the_policy_loads() -> None:
    policy = parse_policy(POLICY.format(sample="        outputs_sample: outputs\n"), source="policy.yaml")
    (check,) = policy.gates[0].checks
    assert check.kind == "posture" and check.outputs_sample == "outputs"
