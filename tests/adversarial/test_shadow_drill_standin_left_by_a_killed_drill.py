"""Attack: a shadow drill's task process is killed while its stand-in exists.

A real process runs the drill operator (shadow mode, the default) against the moto server (real
HTTP) and stops after it created its stand-in alias and rolled it back; the test kills it — ``kill -9``
(no ``finally`` runs, the stand-in stays), or SIGTERM as Airflow's supervisor sends it (``on_kill``).
The live alias must never have moved, and the stand-in must not outlive the drill: the journal named
it before it was created, so the next try (or ``on_kill``) finds and removes it, and reports the
interruption (INCONCLUSIVE, never PASS).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from release_gates.deploy.target_journal import TargetJournal, started_drills
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import RollbackDrillOperator
from tests.adversarial.drill_support import evidence, hook, lambda_target, moto_endpoint
from tests.integration.aws_test_support import alias_version, make_lambda

__all__ = ["evidence", "hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

#: The task process: the shadow drill, held once the stand-in serves the previous version.
TASK = """
import json, signal, sys, time
from pathlib import Path
from release_gates.deploy.lambda_alias import LambdaAliasTarget
from release_gates.operators.aws import RollbackDrillOperator

marker, spec = Path(sys.argv[1]), json.loads(sys.argv[2])
op = RollbackDrillOperator(task_id="drill", check_id="operations.drill", spec=spec, release_id="release__s")
original = LambdaAliasTarget.wait_stable

def wait_stable(self, timeout, *, version=None):
    if version == "2":  # the stand-in was created and rolled back
        marker.write_text(self.alias)
        while True:
            time.sleep(1)
    return original(self, timeout, version=version)

LambdaAliasTarget.wait_stable = wait_stable
signal.signal(signal.SIGTERM, lambda *_: (op.on_kill(), marker.write_text("on_kill done")))
op.execute(context={})
"""


def shadow_spec(function: str) -> dict[str, Any]:
    return {"target": lambda_target(function), "rto_budget": "5m", "previous_version": "2"}


def aliases(hook: AwsDeploymentHook, function: str) -> list[str]:
    return sorted(a["Name"] for a in hook.get_client("lambda").list_aliases(FunctionName=function)["Aliases"])


def _task_stopped_with_its_standin(
    tmp_path: Path, function: str
) -> tuple[subprocess.Popen[bytes], Path, str]:
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", TASK, str(marker), json.dumps(shadow_spec(function))])
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None, "the task process ended before its stand-in was rolled back"
        assert time.monotonic() < deadline, "the task never rolled its stand-in back"
        time.sleep(0.05)
    return proc, marker, marker.read_text()


def _retry(function: str) -> dict[str, object]:
    op = RollbackDrillOperator(
        task_id="drill", check_id="operations.drill", spec=shadow_spec(function), release_id="release__s"
    )
    return op.execute(context={})


def test_shadow_drill_standin_left_by_a_killed_drill(
    hook: AwsDeploymentHook, evidence: EvidenceStore, tmp_path: Path
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    proc, _, standin = _task_stopped_with_its_standin(tmp_path, function)
    assert standin.startswith("rg-drill-")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert aliases(hook, function) == sorted(["live", standin])  # left behind by the killed drill
    assert alias_version(hook.get_client, function) == "3"  # live never moved

    retried = _retry(function)  # the next try: finds the stand-in in the journal, removes it
    assert retried["status"] == "INCONCLUSIVE"  # never PASS
    assert aliases(hook, function) == ["live"] and alias_version(hook.get_client, function) == "3"
    journal = TargetJournal(evidence, {"type": "lambda", "name": function, "alias": "live"})
    [drill] = started_drills(journal.records())
    assert drill.payload["mode"] == "shadow" and drill.payload["standin"]["name"] == standin
    assert drill.end_kind == "drill_recovered" and drill.end is not None
    assert drill.end["outcome"] == "standin_removed"
    result = evidence.records("release__s")[-1].payload
    assert result["metrics"]["interrupted_drills"] == [drill.drill_id]
    assert result["metrics"]["standins_removed"][0]["name"] == standin
    assert result["findings"][0]["id"] == "drill_interrupted"

    again = _retry(function)  # cleared by a human: drills afresh on a new stand-in, removed again
    assert again["status"] == "PASS" and aliases(hook, function) == ["live"]
    last = evidence.records("release__s")[-1].payload["metrics"]["standin"]
    assert last["created"] and last["removed"] and last["name"] != standin
    assert alias_version(hook.get_client, function) == "3"


def test_shadow_drill_terminated_removes_its_standin_in_on_kill(
    hook: AwsDeploymentHook, evidence: EvidenceStore, tmp_path: Path
) -> None:
    function = make_lambda(hook.get_client, versions=3)
    proc, marker, standin = _task_stopped_with_its_standin(tmp_path, function)
    os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while marker.read_text() != "on_kill done":
        assert time.monotonic() < deadline, "on_kill did not finish"
        time.sleep(0.05)
    assert aliases(hook, function) == ["live"]  # removed synchronously, in on_kill
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    journal = TargetJournal(evidence, {"type": "lambda", "name": function, "alias": "live"})
    [drill] = started_drills(journal.records())
    assert drill.end is not None and drill.end["by"] == "on_kill"
    assert drill.end["outcome"] == "standin_removed" and drill.end["standin"]["name"] == standin
    assert _retry(function)["status"] == "INCONCLUSIVE"
    assert alias_version(hook.get_client, function) == "3"
