"""The canary stage in whole release runs (``dag.test()``; humans answer through the REST API) on the
moto server: the Lambda alias's weighted routing moves for real, and the CloudWatch metric data and
the inference log the judge reads are put there by each test, with timestamps covering the run.

No shift → every step passes → full rollout; a planted latency or error shift → automatic rollback
with the weights back at 0; a planted subgroup shift in the canary's inference log rows → rollback;
a thin canary (too few data points) → a human decides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer
from tests.adversarial.identity_support import evidence, hook, model_file, moto_endpoint
from tests.integration.aws_test_support import make_lambda

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {{model: canary-model}}
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
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
approvals:
  release: {{roles: [release_manager], timeout: 1h}}
deployment:
  target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.05}}
  version: "{{{{ params.model_version }}}}"
  stable_timeout: 1m
  canary:
    steps: [{steps}]
    interval: 5s
    period: 1s
    decision_roles: [release_manager]
    decision_timeout: 10m
    metrics:
      - {{name: latency, min_samples: 3}}
      - {{name: errors, critical: true, tolerance: 0, tolerance_type: absolute, min_samples: 3}}
{extra}"""

MODEL_METRICS = """\
    model_metrics:
      prediction_drift: false
      sensitive_features: [g]
      min_group_size: 20
      selection_rate_difference_max: 0.1
monitoring:
  source: {uri: inference.parquet, prediction: p, label: y, label_values: [0, 1]}
  escalation: {path: [release_manager]}
"""

APPROVE = {"signoff.release_release_manager": Answer("admin", "Approve")}
BASELINE, CANDIDATE = "2", "3"

Shape = Callable[[int, str], float]


def _eval_frame(tmp_path: Path) -> None:
    n = 1000
    pd.DataFrame({"g": ["a"] * n + ["b"] * n, "y": [0, 1] * n, "p": [1, 0] * n}).to_parquet(
        tmp_path / "eval.parquet"
    )


def _put_metrics(
    hook: AwsDeploymentHook, function: str, *, latency: Shape, errors: Shape, every: int = 1
) -> None:
    """One Duration and one Errors value per second (or per ``every`` s) and version, from a minute
    ago to ten minutes ahead: whenever the canary's intervals fall, they hold data."""
    cloudwatch = hook.get_client("cloudwatch")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    data = []
    for second in range(0, 11 * 60, every):
        for version in (BASELINE, CANDIDATE):
            side = "canary" if version == CANDIDATE else "baseline"
            named = {"FunctionName": function, "Resource": f"{function}:live", "ExecutedVersion": version}
            dims = [{"Name": k, "Value": v} for k, v in named.items()]
            when = start + timedelta(seconds=second)
            data.append({"MetricName": "Duration", "Dimensions": dims, "Timestamp": when,
                         "Value": latency(second, side), "StorageResolution": 1})  # fmt: skip
            data.append({"MetricName": "Errors", "Dimensions": dims, "Timestamp": when,
                         "Value": errors(second, side), "StorageResolution": 1})  # fmt: skip
    for i in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/Lambda", MetricData=data[i : i + 500])


def steady_latency(second: int, side: str) -> float:
    return 120.0 + (second * 7) % 11  # the same values on both sides: no shift


def no_errors(second: int, side: str) -> float:
    return 0.0


def _run(
    hook: AwsDeploymentHook,
    tmp_path: Path,
    name: str,
    *,
    latency: Shape = steady_latency,
    errors: Shape = no_errors,
    every: int = 1,
    steps: str = "10, 50",
    extra: str = "",
    script: dict[str, Answer] | None = None,
    template: str = POLICY,
) -> tuple[EvidenceStore, str, dict[str, str], list[dict[str, Any]], str]:
    _eval_frame(tmp_path)
    model, model_sha = model_file(tmp_path)
    function = make_lambda(hook.get_client, versions=3, live=BASELINE)
    _put_metrics(hook, function, latency=latency, errors=errors, every=every)
    (tmp_path / "policy.yaml").write_text(template.format(function=function, steps=steps, extra=extra))
    store = evidence(tmp_path)
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id=f"release_canary_{name}", default_args={"retries": 0}
    )
    conf = {"model_version": CANDIDATE, "model_uri": str(model), "model_sha256": model_sha, "image": "unused"}
    run, answered = run_release(dag, conf, {**APPROVE, **(script or {})}, passwords=TEST_USERS)
    states = {ti.task_id: str(ti.state).rsplit(".", 1)[-1].lower() for ti in run.get_task_instances()}
    return store, f"{dag.dag_id}__{run.run_id}", states, answered, function


def _payloads(store: EvidenceStore, release_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in store.records(release_id, kind=kind)]


class _ReaderOfEveryRun:
    """Stands in for the auth manager's answer (the UI's authorization has its own tests in
    test_release_gates_ui.py): this test reads what the run tab shows of the canary."""

    def __init__(self) -> None:
        from release_gates.ui.app import Access

        self.access = Access(user=None)
        self.access.may_read_runs_of = lambda dag_id: True  # type: ignore[method-assign]


def _run_tab(store: EvidenceStore, release_id: str) -> str:
    from release_gates.ui.app import EVIDENCE, _page, run_view

    dag_id, _, run_id = release_id.partition("__")
    EVIDENCE.reset(store)
    try:
        view = run_view(_ReaderOfEveryRun().access, dag_id, run_id)
        return bytes(_page("run.html.j2", **view, now=datetime.now(UTC)).body).decode()
    finally:
        EVIDENCE.reset()


def _alias(hook: AwsDeploymentHook, function: str) -> tuple[str, dict[str, Any]]:
    alias = hook.get_client("lambda").get_alias(FunctionName=function, Name="live")
    return str(alias["FunctionVersion"]), dict(
        (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    )


def test_no_shift_passes_every_step_and_rolls_out(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    store, release_id, states, answered, function = _run(hook, tmp_path, "pass")
    assert not [a for a in answered if a.get("unscripted")], answered
    steps = _payloads(store, release_id, "canary_step")
    assert [(s["step"], s["weight"], s["status"], s["branch"]) for s in steps] == [
        (1, 10, "PASS", "canary.step_2"),
        (2, 50, "PASS", "promote"),
    ], [s["result"]["summary"] for s in steps]
    shifts = _payloads(store, release_id, "canary_shift")
    assert [s["split"]["canary_weight"] for s in shifts] == [10.0, 50.0]
    assert all(s["baseline"] == BASELINE for s in shifts)
    judged = steps[0]["result"]["metrics"]["metrics"]
    assert {m["name"]: m["canary_samples"] >= 3 for m in judged} == {"latency": True, "errors": True}
    assert states["promote"] == "success" and states["canary.rollback"] == "skipped"
    assert _alias(hook, function) == (CANDIDATE, {})  # full rollout: the candidate alone
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "released", sealed
    assert store.verify(release_id).ok


@pytest.mark.parametrize(
    ("name", "latency", "errors", "critical"),
    [
        (
            "latency",
            lambda s, side: steady_latency(s, side) * (1.6 if side == "canary" else 1.0),
            no_errors,
            [],
        ),
        ("errors", steady_latency, lambda s, side: 3.0 if side == "canary" else 0.0, ["errors"]),
    ],
)
def test_a_planted_shift_rolls_back_to_weight_zero(  # noqa: PLR0917 - fixtures and parameters
    hook: AwsDeploymentHook, tmp_path: Path, name: str, latency: Shape, errors: Shape, critical: list[str]
) -> None:
    store, release_id, states, _, function = _run(
        hook, tmp_path, f"shift_{name}", latency=latency, errors=errors
    )
    steps = _payloads(store, release_id, "canary_step")
    assert [(s["step"], s["status"], s["branch"]) for s in steps] == [(1, "FAIL", "canary.rollback")]
    judged = {m["name"]: m for m in steps[0]["result"]["metrics"]["metrics"]}
    assert judged[name]["outcome"] == "high", judged
    assert steps[0]["result"]["metrics"]["critical_failed"] == critical
    assert states["canary.rollback"] == "success"
    assert states["canary.step_2"] == "skipped" and states["promote"] == "skipped"
    rollback = _payloads(store, release_id, "canary_rollback")[-1]
    assert rollback["status"] == "done" and rollback["split_after"]["canary_weight"] == 0.0
    # The attack: weights left shifted after a failed judgement. They are back at 0, on the baseline.
    assert _alias(hook, function) == (BASELINE, {})
    items = [i for i in _payloads(store, release_id, "remediation_item") if i["gate"] == "canary"]
    assert any(name in i["finding_id"] for i in items), items
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held", sealed
    # The reason says what happened, not just "not promoted".
    assert any(r.startswith("canary rolled back: ") for r in sealed["reasons"]), sealed
    assert store.verify(release_id).ok
    # The run tab shows every shift, judgement and the rollback.
    html = _run_tab(store, release_id)
    assert '<table id="canary">' in html
    kinds = [k for k in ("canary_shift", "canary_step", "canary_rollback") if f'data-kind="{k}"' in html]
    assert kinds == ["canary_shift", "canary_step", "canary_rollback"]
    assert "step 1: judged" in html and "FAIL" in html and "10 %" in html


def test_unreadable_metric_data_rolls_back_and_never_passes(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    """The attack of the unreadable canary: a statistic the metric store cannot compute comes back
    as no number (moto answers null; CloudWatch refuses the query) — the step is ERROR, not a pass
    on the metrics that are left, and the traffic goes back to the baseline."""
    p99 = "cloudwatch: {{namespace: AWS/Lambda, metric_name: Duration, stat: p99}}"
    template = POLICY.replace(
        "{{name: latency, min_samples: 3}}", f"{{{{name: latency, min_samples: 3, {p99}}}}}"
    )
    assert template != POLICY
    store, release_id, states, _, function = _run(hook, tmp_path, "unreadable", template=template)
    steps = _payloads(store, release_id, "canary_step")
    assert [(s["step"], s["status"], s["branch"]) for s in steps] == [(1, "ERROR", "canary.rollback")]
    assert any(f["id"].startswith("metric_unreadable:") for f in steps[0]["result"]["findings"])
    assert states["canary.rollback"] == "success" and states["promote"] == "skipped"
    assert _alias(hook, function) == (BASELINE, {})


def test_a_subgroup_shift_in_the_canary_rows_rolls_back(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    """Operational metrics identical; the canary selects group b far less often than the baseline."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    rows = []
    for tick in range(11 * 60 * 20):  # twenty rows per second and version
        when = start + timedelta(milliseconds=50 * tick)
        group = "ab"[tick % 2]
        for version in (BASELINE, CANDIDATE):
            rate = 0.1 if (version == CANDIDATE and group == "b") else 0.6
            selected = int((tick // 2) % 10 < rate * 10)
            rows.append(
                {"timestamp": when, "model_version": version, "g": group, "p": selected, "y": selected}
            )
    pd.DataFrame(rows).to_parquet(tmp_path / "inference.parquet")
    store, release_id, states, _, function = _run(hook, tmp_path, "subgroup", extra=MODEL_METRICS)
    steps = _payloads(store, release_id, "canary_step")
    assert [(s["step"], s["status"], s["branch"]) for s in steps] == [(1, "FAIL", "canary.rollback")]
    judged = {m["name"]: m for m in steps[0]["result"]["metrics"]["metrics"]}
    assert judged["latency"]["outcome"] == "pass" and judged["errors"]["outcome"] == "pass"
    assert judged["selection_rates"]["outcome"] == "high"
    assert "selection_rates" in steps[0]["result"]["metrics"]["critical_failed"]
    assert "g=b" in judged["selection_rates"]["reason"]
    assert states["canary.rollback"] == "success"
    assert _alias(hook, function) == (BASELINE, {})


def test_a_thin_canary_asks_a_human(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    """One data point per 30 s: an interval of 5 s holds at most one sample per side — the judge cannot
    decide, so the release manager is asked; they let it continue and the rollout goes on."""
    script = {"canary.step_1_review": Answer("admin", "Continue")}
    store, release_id, states, answered, function = _run(
        hook, tmp_path, "thin", every=30, steps="20", script=script
    )
    steps = _payloads(store, release_id, "canary_step")
    assert [(s["status"], s["classification"], s["branch"]) for s in steps] == [
        ("INCONCLUSIVE", "inconclusive", "canary.step_1_review")
    ]
    assert sorted(steps[0]["result"]["metrics"]["unmeasured"]) == ["errors", "latency"]
    decision = _payloads(store, release_id, "canary_decision")
    assert [(d["step"], d["choice"], d["user"], d["timed_out"]) for d in decision] == [
        (1, "continue", "admin", False)
    ]
    assert any(a["task_id"] == "canary.step_1_review" for a in answered)
    assert states["promote"] == "success" and states["canary.rollback"] == "skipped"
    assert _alias(hook, function) == (CANDIDATE, {})
    assert store.records(release_id, kind="release_sealed")[0].payload["decision"] == "released"
    assert store.verify(release_id).ok
    assert "step 1: human decision" in _run_tab(store, release_id) and "by admin" in _run_tab(
        store, release_id
    )


def test_nobody_answers_the_canary_review_in_time_so_it_rolls_back(
    hook: AwsDeploymentHook, tmp_path: Path
) -> None:
    """A thin canary and a 3 s decision timeout; the release manager signs off but never answers the
    canary review. dag.test() has no scheduler, so the test runs the scheduler's HITL timeout sweep
    beside it: the default (roll back) applies on time, recorded as nobody's answer."""
    import logging
    import threading
    from types import SimpleNamespace

    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    from release_gates_testing.airflow import api_client, migrate_airflow_db, sync_dag
    from release_gates_testing.humans import HitlResponder

    _eval_frame(tmp_path)
    model, model_sha = model_file(tmp_path)
    function = make_lambda(hook.get_client, versions=3, live=BASELINE)
    _put_metrics(hook, function, latency=steady_latency, errors=no_errors, every=30)
    policy = POLICY.format(function=function, steps="20", extra="").replace(
        "decision_timeout: 10m", "decision_timeout: 3s"
    )
    (tmp_path / "policy.yaml").write_text(policy)
    store = evidence(tmp_path)
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id="release_canary_timeout", default_args={"retries": 0}
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
        args=(dag.dag_id, APPROVE),
        kwargs={"done": finished.is_set, "timeout": 600, "poll": 0.5, "fallback": False},
        daemon=True,
    )
    clock = threading.Thread(target=scheduler_sweep, daemon=True)
    humans.start()
    clock.start()
    conf = {"model_version": CANDIDATE, "model_uri": str(model), "model_sha256": model_sha, "image": "unused"}
    try:
        run = dag.test(run_conf=conf)
    finally:
        finished.set()
        humans.join(timeout=30)
        clock.join(timeout=30)
    release_id = f"{dag.dag_id}__{run.run_id}"
    assert [a["task_id"] for a in responder.answered] == ["signoff.release_release_manager"]
    decision = _payloads(store, release_id, "canary_decision")
    assert [(d["choice"], d["user"], d["timed_out"]) for d in decision] == [("rollback", None, True)]
    rollback = _payloads(store, release_id, "canary_rollback")[-1]
    assert rollback["status"] == "done" and "timed out" in rollback["reason"]
    assert _alias(hook, function) == (BASELINE, {})
    assert store.records(release_id, kind="release_sealed")[0].payload["decision"] == "held"


def test_the_canary_stage_sits_between_sign_off_and_the_rollout(tmp_path: Path) -> None:
    """The DAG's shape (no run): three steps with a review each, the rollback after all of them, the
    rollout after the last step or its review, and every task that changes the target in its pool."""
    _eval_frame(tmp_path)
    (tmp_path / "policy.yaml").write_text(POLICY.format(function="scorer", steps="5, 25, 50", extra=""))
    dag = build_release_dag(tmp_path / "policy.yaml", dag_id="release_canary_shape")
    steps = [dag.get_task(f"canary.step_{i}") for i in (1, 2, 3)]
    assert [(s.weight, s.on_pass) for s in steps] == [
        (5, "canary.step_2"),
        (25, "canary.step_3"),
        (50, "promote"),
    ]
    assert dag.get_task("signoff.check").downstream_task_ids == {"canary.step_1", "hold"}
    promote, rollback = dag.get_task("promote"), dag.get_task("canary.rollback")
    assert promote.upstream_task_ids == {"canary.step_3", "canary.step_3_review"}
    assert promote.trigger_rule == "none_failed_min_one_success"
    assert rollback.trigger_rule == "all_done" and "seal" in rollback.downstream_task_ids
    assert rollback.upstream_task_ids == {f"canary.step_{i}{r}" for i in (1, 2, 3) for r in ("", "_review")}
    review = dag.get_task("canary.step_2_review")
    assert review.defaults == ["Roll back"] and review.options_mapping == {
        "Continue": "canary.step_3",
        "Roll back": "canary.rollback",
    }
    assert [u["name"] for u in review.assigned_users] == ["admin"]  # decision_roles: release_manager
    assert {s.pool for s in [*steps, rollback]} == {promote.pool}
