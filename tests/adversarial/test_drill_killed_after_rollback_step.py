"""Attack: the drill's task process is killed after its rollback step.

A real process runs the drill operator against the moto server (real HTTP) and stops on the
rolled-back version; the test kills it — ``kill -9`` (no ``finally``, no handler runs), or SIGTERM
as Airflow's supervisor sends it (the task runner calls ``on_kill``). Before the fix, production
stayed on the old version and the retry took that version for the original and reported PASS.
Now the retry (same task, new process) restores first and reports the interruption.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from release_gates.deploy.target_journal import TargetJournal, started_drills
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import RollbackDrillOperator
from tests.adversarial.drill_support import drill_spec, evidence, hook, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda

__all__ = ["evidence", "hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

#: The task process: the drill operator, held on the rolled-back version until it is killed. On
#: SIGTERM it does what Airflow's task runner does: call ``on_kill``.
TASK = """
import json, signal, sys, time
from pathlib import Path
from release_gates.deploy.lambda_alias import LambdaAliasTarget
from release_gates.operators.aws import RollbackDrillOperator

marker, spec = Path(sys.argv[1]), json.loads(sys.argv[2])
op = RollbackDrillOperator(task_id="drill", check_id="operations.drill", spec=spec, release_id="release__k")
original = LambdaAliasTarget.wait_stable

def wait_stable(self, timeout, *, version=None):
    if version == "2":  # the rollback step has changed the target
        marker.write_text("rolled back")
        while True:
            time.sleep(1)
    return original(self, timeout, version=version)

LambdaAliasTarget.wait_stable = wait_stable
signal.signal(signal.SIGTERM, lambda *_: (op.on_kill(), marker.write_text("on_kill done")))
op.execute(context={})
"""


def _task_stopped_after_rollback(tmp_path: Path, function: str) -> tuple[subprocess.Popen[bytes], Path]:
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", TASK, str(marker), json.dumps(drill_spec(function))])
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, "the task process ended before its rollback step"
        assert time.monotonic() < deadline, "the task never reached its rollback step"
        time.sleep(0.05)
    return proc, marker


def _retry(function: str) -> dict[str, object]:
    op = RollbackDrillOperator(
        task_id="drill", check_id="operations.drill", spec=drill_spec(function), release_id="release__k"
    )
    return op.execute(context={})


def test_drill_killed_after_rollback_step(
    hook: AwsDeploymentHook, evidence: EvidenceStore, tmp_path: Path
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    proc, _ = _task_stopped_after_rollback(tmp_path, function)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert alias_version(hook.get_client, function) == "2"  # production left on the old version

    retried = _retry(function)  # the next try: a new process view, the same task
    assert retried["status"] == "INCONCLUSIVE"  # never PASS
    assert alias_version(hook.get_client, function) == "3"  # restored to the recorded original
    journal = TargetJournal(evidence, {"type": "lambda", "name": function, "alias": "live"})
    [drill] = started_drills(journal.records())
    assert drill.end_kind == "drill_recovered" and drill.end is not None
    assert drill.end["outcome"] == "restored" and drill.end["serving_before"] == "2"
    result = evidence.records("release__k")[-1].payload
    assert result["metrics"]["interrupted_drills"] == [drill.drill_id]
    assert result["findings"][0]["id"] == "drill_interrupted"

    again = _retry(function)  # cleared by a human: the interruption was reported, so it drills afresh
    assert again["status"] == "PASS" and alias_version(hook.get_client, function) == "3"
    assert [d.payload["original_version"] for d in started_drills(journal.records())] == ["3", "3"]


def test_drill_terminated_after_rollback_step_restores_in_on_kill(
    hook: AwsDeploymentHook, evidence: EvidenceStore, tmp_path: Path
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    proc, marker = _task_stopped_after_rollback(tmp_path, function)
    os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while marker.read_text() != "on_kill done":
        assert time.monotonic() < deadline, "on_kill did not finish"
        time.sleep(0.05)
    assert alias_version(hook.get_client, function) == "3"  # restored synchronously, in on_kill
    os.kill(proc.pid, signal.SIGKILL)  # the supervisor's follow-up kill
    proc.wait(30)
    journal = TargetJournal(evidence, {"type": "lambda", "name": function, "alias": "live"})
    [drill] = started_drills(journal.records())
    assert drill.end is not None and drill.end["by"] == "on_kill" and drill.end["outcome"] == "restored"

    retried = _retry(function)
    assert retried["status"] == "INCONCLUSIVE"
    assert alias_version(hook.get_client, function) == "3"
