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
    assert {r["status"] for r in results.values()} == {"PASS"}, [
        (r["status"], r["summary"], r.get("findings")) for r in results.values()
    ]
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


def test_a_first_try_that_read_another_drills_passing_state_drills_again_under_the_lease(
    hook: AwsDeploymentHook, evidence: EvidenceStore
) -> None:
    """Attack: another run's drill takes the target between this first try's look at the chain and its
    look at the target. It reads version 2 — the other drill's — as the original, finds "nothing to roll
    back to" (2 is the policy's previous version) and would report that INCONCLUSIVE without writing
    anything. The moved chain head gives it away: the drill runs again under the lease, on the truth."""
    function = make_lambda(hook.get_client, versions=3)
    lam = hook.get_client("lambda")
    identity = {"type": "lambda", "name": function, "alias": "live"}
    other = TargetJournal(evidence, identity)
    seen: list[Any] = []

    class Interleaved(RollbackDrillOperator):
        def _deferred_drill(self, *args: Any, **kwargs: Any) -> Any:
            lease = other.acquire("release__run-other:drill", purpose="another run's drill")
            lam.update_alias(FunctionName=function, Name="live", FunctionVersion="2")  # its drill
            result = super()._deferred_drill(*args, **kwargs)
            seen.append(result)
            lam.update_alias(FunctionName=function, Name="live", FunctionVersion="3")  # its restore
            other.release(lease)
            return result

    op = Interleaved(task_id="drill", check_id="operations.drill", spec=drill_spec(function),
                     release_id="release__run-a", lease_wait=60)  # fmt: skip
    result = op.execute(context={"ti": SimpleNamespace(try_number=1)})  # type: ignore[arg-type]
    assert seen == [None]  # the unjournaled attempt was discarded, not reported
    assert result["status"] == "PASS", result
    assert alias_version(hook.get_client, function) == "3"
    [drill] = started_drills(TargetJournal(evidence, identity).records())
    assert drill.payload["original_version"] == "3" and drill.payload["release_id"] == "release__run-a"
