"""The seal step went in (HELD: a sign-off was missing), but its task was retried — a worker lost, a
timeout after the commit. Between the tries the policy file changed (the missing sign-off dropped)
and the DAG was parsed again. The retry finds the chain sealed and appends nothing; before, it still
recomputed the decision under the new policy and returned and logged RELEASED — the run's result in
Airflow said released while the evidence says held. A retry must report what the seal recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from release_gates.operators.release import SealReleaseOperator
from tests.unit.test_attestation import APPROVALS, Release

TWO_ROLES = "roles: [ethics_reviewer, release_manager]"
THREE_ROLES = "roles: [ethics_reviewer, release_manager, security_engineer]"


def _seal(release: Release, approval_tasks: list[str]) -> dict[str, Any]:
    with DAG("release_credit", schedule=None):
        operator = SealReleaseOperator(
            task_id="seal",
            policy_path=str(release.policy_path),
            release_id=release.release_id,
            approval_tasks=approval_tasks,
        )
    result: dict[str, Any] = operator.execute({})  # type: ignore[arg-type]  # a bare context
    return result


def test_a_retry_returns_the_sealed_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", raising=False)
    release = Release(tmp_path, monkeypatch)
    policy = release.policy_path.read_text()
    assert TWO_ROLES in policy
    release.policy_path.write_text(policy.replace(TWO_ROLES, THREE_ROLES))  # li never signs off
    first = _seal(release, [*APPROVALS, "signoff.release_security_engineer"])
    assert first["decision"] == "held"
    (sealed,) = release.store.records(release.release_id, kind="release_sealed")
    count = release.store.count(release.release_id)

    release.policy_path.write_text(policy)  # the sign-off is dropped; the DAG is parsed again
    retried = _seal(release, APPROVALS)
    assert release.store.count(release.release_id) == count  # nothing appended
    assert retried["decision"] == "held" and retried["reasons"] == sealed.payload["reasons"]
    assert retried["release_id"] == release.release_id and retried["evidence"]["records"] == count
