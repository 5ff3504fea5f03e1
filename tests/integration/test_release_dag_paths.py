"""The release DAG's other ways to end, each in a whole DAG run (``dag.test()``; humans answer through
the REST API): a gate decision nobody answers in time (→ delay, held), an abort (→ aborted), and a
promotion whose smoke check fails (→ automatic rollback, rolled back)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates_testing.airflow import TEST_USERS, api_client, migrate_airflow_db, run_release, sync_dag
from release_gates_testing.humans import Answer, HitlResponder
from tests.adversarial import release_support
from tests.adversarial.identity_support import evidence, hook, model_file, moto_endpoint
from tests.integration.aws_test_support import alias_version, health_server, make_lambda

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

GATES = """\
policy_version: 1
release: {{model: paths-model}}
owners:
  ethics_reviewer: {{users: [aisha]}}
  release_manager: {{users: [admin]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: p,
         label_values: [0, 1]}}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    decision_timeout: {timeout}
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
approvals:
  release: {{roles: [ethics_reviewer, release_manager], timeout: 1h}}
"""

APPROVE = {
    "signoff.release_ethics_reviewer": Answer("aisha", "Approve"),
    "signoff.release_release_manager": Answer("admin", "Approve"),
}


def _frame(tmp_path: Path, *, rate_b: float) -> None:
    n = 1000
    selected_b = [1] * round(n * rate_b) + [0] * (n - round(n * rate_b))
    pd.DataFrame(
        {"g": ["a"] * n + ["b"] * n, "y": [0, 1] * n, "p": [1, 0] * (n // 2) + selected_b}
    ).to_parquet(tmp_path / "eval.parquet")


def _run_without_fallback(tmp_path: Path, name: str, policy: str) -> release_support.ReleaseRun:
    """dag.test() with nobody answering and the scheduler's HITL timeout sweep running beside it:
    dag.test() has no scheduler, so the test plays the part that applies a step's default on time."""
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    (tmp_path / "policy.yaml").write_text(policy)
    model = tmp_path / "model.bin"
    model.write_bytes(b"candidate model bytes")
    store = evidence(tmp_path)
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id=f"release_paths_{name}", default_args={"retries": 0}
    )
    migrate_airflow_db()
    sync_dag(dag)
    finished = threading.Event()
    sweeper = SimpleNamespace(log=logging.getLogger("hitl-timeout-sweep"))

    def scheduler_sweep() -> None:
        while not finished.wait(1.0):
            SchedulerJobRunner.check_awaiting_input_timeouts(sweeper)  # type: ignore[arg-type]

    responder = HitlResponder(api_client(), TEST_USERS, log=lambda _: None)
    humans = threading.Thread(
        target=responder.play,
        args=(dag.dag_id, {}),
        kwargs={"done": finished.is_set, "timeout": 600, "poll": 0.5, "fallback": False},
        daemon=True,
    )
    clock = threading.Thread(target=scheduler_sweep, daemon=True)
    humans.start()
    clock.start()
    conf = {"model_version": "7", "model_uri": str(model), "model_sha256": release_support.sha256_of(model),
            "image": "registry.example.org/model@sha256:" + "a" * 64}  # fmt: skip
    try:
        run = dag.test(run_conf=conf)
    finally:
        finished.set()
        humans.join(timeout=30)
        clock.join(timeout=30)
    return release_support.ReleaseRun(run, store, f"{dag.dag_id}__{run.run_id}", responder.answered)


def test_a_gate_decision_nobody_answers_in_time_delays_the_release(tmp_path: Path) -> None:
    _frame(tmp_path, rate_b=0.25)
    run = _run_without_fallback(tmp_path, "timeout", GATES.format(timeout="3s"))
    assert run.answered == []  # nobody answered: the default applied when the time ran out
    decision = run.records("human_decision")[0].payload
    assert decision["task_id"] == "ethics.decision"
    assert (decision["choice"], decision["user"], decision["timed_out"]) == ("delay", None, True)
    assert decision["authorized"] is False  # a default is nobody's decision: it clears nothing
    states = run.task_states()
    assert states["ethics.delay"] == "success" and states["ethics.waive"] == "skipped"
    sealed = run.sealed()
    assert sealed["decision"] == "held" and sealed["gates"] == {"ethics": "remediate"}
    assert not run.records("promotion")
    assert run.store.verify(run.release_id).ok


def test_an_abort_ends_the_release_aborted(tmp_path: Path) -> None:
    _frame(tmp_path, rate_b=0.25)
    script = {"ethics.decision": Answer("aisha", "Abort release", "The model fails its fairness goal.")}
    run = release_support.run(tmp_path, "abort", GATES.format(timeout="1h"), {}, script)
    decision = run.records("human_decision")[0].payload
    assert (decision["choice"], decision["user"], decision["authorized"]) == ("abort", "aisha", True)
    sealed = run.sealed()
    assert sealed["decision"] == "aborted", sealed
    assert not [a for a in run.answered if a["task_id"].startswith("signoff")]  # never asked to sign off
    assert not run.records("promotion")
    assert run.store.verify(run.release_id).ok


@contextmanager
def _unhealthy_on(hook: AwsDeploymentHook, function: str, version: str, health: Any) -> Iterator[None]:
    """The target's health endpoint fails while the alias points at ``version`` (the broken release),
    decided at each request from the alias itself (a follower thread could answer a probe too late)."""
    health.status_now = lambda: 500 if alias_version(hook.get_client, function) == version else 200
    try:
        yield
    finally:
        health.status_now = None


DEPLOYMENT = """\
deployment:
  target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05, health_url: "{health}",
           health_timeout: 2s}}
  version: "{{{{ params.model_version }}}}"
  stable_timeout: 1m
"""


def test_a_failed_smoke_check_after_promotion_rolls_back(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    _frame(tmp_path, rate_b=0.5)
    model, model_sha = model_file(tmp_path)
    function = make_lambda(hook.get_client, versions=3, live="2")
    with health_server() as health, _unhealthy_on(hook, function, "3", health):
        policy = GATES.format(timeout="1h") + DEPLOYMENT.format(function=function, health=health.url)
        (tmp_path / "policy.yaml").write_text(policy)
        store = evidence(tmp_path)
        dag = build_release_dag(
            tmp_path / "policy.yaml", dag_id="release_paths_smoke", default_args={"retries": 0}
        )
        conf = {"model_version": "3", "model_uri": str(model), "model_sha256": model_sha, "image": "unused"}
        run, answered = run_release(dag, conf, APPROVE, passwords=TEST_USERS)
        assert health.requests > 0  # the smoke check asked the target's health URL
    assert not [a for a in answered if a.get("unscripted")]
    release_id = f"{dag.dag_id}__{run.run_id}"
    states: dict[str, Any] = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["promote"].endswith("failed") and states["rollback"].endswith("success")
    rollback = store.records(release_id, kind="rollback")[-1].payload
    assert rollback["status"] == "done", rollback
    assert alias_version(hook.get_client, function) == "2"  # back on the version live before
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "rolled_back", sealed
    assert store.verify(release_id).ok
