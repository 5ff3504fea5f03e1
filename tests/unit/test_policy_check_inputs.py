"""``release-gates policy validate --check-inputs``: the pre-flight ``start`` runs, from the CLI."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from release_gates import cli

POLICY = """\
policy_version: 1
release: {model: inputs-model}
owners:
  ethics_reviewer: {users: [aisha]}
datasets:
  eval: {uri: data/eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p}
candidate:
  uri: "{{ params.model_uri }}"
  sha256: "{{ params.model_sha256 }}"
  format: skops
scoring: {datasets: [eval]}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
approvals:
  release: {roles: [ethics_reviewer], timeout: 1h}
"""


def _validate(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(["policy", "validate", *argv], out=out), out.getvalue()


def test_inputs_are_checked_with_the_run_parameters(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "policy.yaml").write_text(POLICY)
    model = tmp_path / "model.skops"
    model.write_bytes(b"model bytes")
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    params = ["--param", f"model_uri={model}", "--param", f"model_sha256={digest}"]
    policy = str(tmp_path / "policy.yaml")

    code, out = _validate(policy, "--check-inputs", *params, "--json")
    assert code == 1
    problems = json.loads(out)["inputs"]["problems"]
    assert problems == [
        {"input": "dataset 'eval'", "problem": f"file not found: {tmp_path / 'data' / 'eval.parquet'}"}
    ]

    # The scored dataset needs no prediction column of its own; the sensitive column it must have.
    pd.DataFrame({"y": [0, 1]}).to_parquet(tmp_path / "data" / "eval.parquet")
    code, out = _validate(policy, "--check-inputs", *params)
    assert code == 1 and "eval.parquet lacks column(s) the checks need: g" in out
    pd.DataFrame({"y": [0, 1], "g": ["a", "b"]}).to_parquet(tmp_path / "data" / "eval.parquet")
    assert _validate(policy, "--check-inputs", *params)[0] == 0

    code, out = _validate(
        policy, "--check-inputs", "--param", f"model_uri={model}", "--param", "model_sha256=" + "0" * 64
    )
    assert code == 1 and "candidate model: model.skops has sha256" in out
    code, out = _validate(policy, "--check-inputs", "--json")
    assert code == 1 and "needs --param for {{ params.model_uri }}" in out  # templated: its parameters
    assert _validate(policy)[0] == 0  # without --check-inputs only the policy is validated
