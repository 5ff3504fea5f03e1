"""Attack: the user who triggered a release approves it.

The submitter's approval does not count unless the policy says so for that approval
(``approvals.<name>.allow_submitter: true``). The submitter is the run's triggering user as Airflow
recorded it (``release_started.triggered_by``), never something the run's parameters can set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from release_gates.results import Status
from release_gates_testing.humans import Answer
from tests.adversarial import release_support
from tests.adversarial.human_support import POLICY, approve, make_release

APPROVALS = {
    "signoff.release_ethics_reviewer": approve("aisha"),
    "signoff.release_release_manager": approve("admin"),
}


def _passed_gates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str) -> Any:
    release = make_release(tmp_path, monkeypatch, policy)
    release.triggered_by = "admin"
    release.start()
    release.check(Status.PASS)
    release.decide()
    assert release.release_decision() == ["signoff"]
    return release


def test_the_submitters_approval_does_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = _passed_gates(tmp_path, monkeypatch, POLICY)
    assert release.payloads("release_started")[0]["triggered_by"] == "admin"
    assert release.signoff(APPROVALS) == "hold"
    own = next(d for d in release.payloads("human_decision") if d["user"] == "admin")
    assert (own["choice"], own["authorized"]) == ("approve", False)
    assert "admin triggered this release" in own["problem"]


def test_allow_submitter_lets_the_submitter_approve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed = POLICY.replace("timeout: 1h}", "timeout: 1h, allow_submitter: true}")
    assert "allow_submitter: true" in allowed
    assert _passed_gates(tmp_path, monkeypatch, allowed).signoff(APPROVALS) == "promote"


@pytest.mark.integration
def test_dag_run_triggered_by_the_release_manager_is_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole DAG: admin triggers the run (as Airflow records it) and approves it as release manager."""
    import airflow.models.dagrun as dagrun_module

    create = dagrun_module.get_or_create_dagrun

    def triggered_by_admin(*args: Any, **kwargs: Any) -> Any:  # dag.test() names its own user
        return create(*args, **{**kwargs, "triggering_user_name": "admin"})

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", triggered_by_admin)
    monkeypatch.setitem(os.environ, "RELEASE_GATES_EVIDENCE_URL", "")
    frame = _fair_frame()
    frame.to_parquet(tmp_path / "eval.parquet")
    policy = release_support.OWNERS.replace("data_steward", "ethics_reviewer").replace("tomas", "aisha")
    script = {
        "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
        "signoff.release_release_manager": Answer("admin", "Approve"),
    }
    run = release_support.run(tmp_path, "submitter", _GATES + policy, {}, script)
    assert run.records("release_started")[0].payload["triggered_by"] == "admin"
    sealed = run.sealed()
    assert sealed["decision"] == "held", sealed
    assert any("admin triggered this release" in reason for reason in sealed["reasons"]), sealed["reasons"]
    assert not run.records("promotion")


_GATES = """\
policy_version: 1
release: {model: submitter-model}
datasets:
  eval: {uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
         label_values: [0, 1]}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
"""


def _fair_frame() -> Any:
    import pandas as pd

    return pd.DataFrame({"g": ["a"] * 1000 + ["b"] * 1000, "y": [0, 1] * 1000, "p": [1, 0] * 1000})
