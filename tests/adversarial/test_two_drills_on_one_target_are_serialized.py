"""Attack: two release runs drill the same production target at the same time.

Without a lock, run B reads "original" while run A has rolled the target back, takes A's drill
version for the original, and leaves production on the old version. Both drills here run as real
operator executions in two threads against the moto server; the target's lease (its evidence
chain) makes the second wait until the first restored, and both restore the true original.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest

from release_gates.deploy.target_journal import TargetJournal, started_drills
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import RollbackDrillOperator
from tests.adversarial.drill_support import drill_spec, evidence, hook, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda

__all__ = ["evidence", "hook", "moto_endpoint"]
pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "try_number",
    [
        # A first try writes its lease together with drill_started (the two race for one head).
        pytest.param(1, id="first-tries"),
        # A retry takes the lease before anything else (it may have a drill of its own to restore).
        pytest.param(2, id="retries"),
    ],
)
def test_two_drills_on_one_target_are_serialized(
    hook: AwsDeploymentHook, evidence: EvidenceStore, try_number: int
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    results: dict[str, Any] = {}

    def drill(release_id: str) -> None:
        op = RollbackDrillOperator(
            task_id="drill",
            check_id="operations.drill",
            spec=drill_spec(function),
            release_id=release_id,
            lease_wait=120,
        )
        # The task instance's try number is all the operator reads from it here.
        results[release_id] = op.execute(context={"ti": SimpleNamespace(try_number=try_number)})  # type: ignore[arg-type]

    threads = [threading.Thread(target=drill, args=(rid,)) for rid in ("release__run-a", "release__run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert {r["status"] for r in results.values()} == {"PASS"}, results
    assert alias_version(hook.get_client, function) == "3"

    journal = TargetJournal(evidence, {"type": "lambda", "name": function, "alias": "live"})
    records = journal.records()
    kinds = [r.kind for r in records]
    # One at a time: lease, start, end, release — twice, never interleaved.
    assert kinds == ["lease_acquired", "drill_started", "drill_finished", "lease_released"] * 2
    drills = started_drills(records)
    assert [d.payload["original_version"] for d in drills] == ["3", "3"]  # B never saw A's rollback
    assert {d.payload["release_id"] for d in drills} == {"release__run-a", "release__run-b"}
    assert evidence.verify(journal.chain_id).ok
