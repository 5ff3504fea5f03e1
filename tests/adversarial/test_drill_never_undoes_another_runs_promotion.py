"""Attack: a drill's restore undoes a promotion another run made while the drill was on.

Two ways in. (1) Run B promotes while run A drills: B's promotion holds the target's lease, so it
waits until A restored, then promotes — production ends on B's version. (2) Someone changes the
target without any lease (the console, a script) while A is rolled back: A's restore is a
compare-and-set, sees a version it did not set, leaves it, and ends ERROR without retry.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from release_gates.deploy.target_journal import TargetJournal
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import RollbackDrillOperator
from release_gates.operators.deployment import PromoteModelOperator
from tests.adversarial.drill_support import drill_spec, evidence, hook, lambda_target, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda

__all__ = ["evidence", "hook", "moto_endpoint"]
pytestmark = pytest.mark.integration


def _slow_rollback(monkeypatch: pytest.MonkeyPatch, pause: float) -> threading.Event:
    """Pause every drill on its rolled-back version (after the rollback step) for ``pause`` s."""
    from release_gates.deploy.lambda_alias import LambdaAliasTarget

    rolled_back = threading.Event()
    original = LambdaAliasTarget.wait_stable

    def wait_stable(self: LambdaAliasTarget, timeout: float, *, version: str | None = None) -> Any:
        if version == "2":
            rolled_back.set()
            time.sleep(pause)
        return original(self, timeout, version=version)

    monkeypatch.setattr(LambdaAliasTarget, "wait_stable", wait_stable)
    return rolled_back


def test_a_promotion_waits_for_the_drill_and_stands(
    hook: AwsDeploymentHook, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(hook.get_client, versions=4, live="3")
    rolled_back = _slow_rollback(monkeypatch, pause=1.5)
    outcome: dict[str, Any] = {}

    def drill() -> None:
        op = RollbackDrillOperator(
            task_id="drill", check_id="operations.drill", spec=drill_spec(function), release_id="release__a"
        )
        outcome["drill"] = op.execute(context={})

    thread = threading.Thread(target=drill)
    thread.start()
    assert rolled_back.wait(60)
    promote = PromoteModelOperator(
        task_id="promote", target=lambda_target(function), version="4", release_id="release__b",
        stable_timeout=30, lease_wait=120,
    )  # fmt: skip
    promoted = promote.execute(context={})
    thread.join(60)
    assert outcome["drill"]["status"] == "PASS"
    assert promoted["from_version"] == "3"  # the drill had restored 3 before the promotion read it
    assert alias_version(hook.get_client, function) == "4"  # and the drill did not undo 4
    kinds = [r.kind for r in TargetJournal(evidence, promoted["target"]).records()]
    assert kinds.index("drill_finished") < kinds.index("lease_acquired", kinds.index("drill_finished"))


def test_a_change_made_without_the_lease_is_never_overwritten(
    hook: AwsDeploymentHook, evidence: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(hook.get_client, versions=4, live="3")

    from release_gates.deploy.lambda_alias import LambdaAliasTarget

    original = LambdaAliasTarget.health

    def someone_moves_the_alias_first(self: LambdaAliasTarget) -> Any:
        # While the drill is on 2 (stable), someone points the alias at 4 without taking the lease.
        hook.get_client("lambda").update_alias(FunctionName=function, Name="live", FunctionVersion="4")
        return original(self)

    monkeypatch.setattr(LambdaAliasTarget, "health", someone_moves_the_alias_first)
    op = RollbackDrillOperator(
        task_id="drill", check_id="operations.drill", spec=drill_spec(function), release_id="release__a"
    )
    with pytest.raises(AirflowFailException, match="by someone else"):
        op.execute(context={})
    assert alias_version(hook.get_client, function) == "4"
    result = evidence.records("release__a")[-1].payload
    assert result["status"] == "ERROR" and result["findings"][0]["id"] == "target_changed_during_drill"
