"""An asset-triggered release on a real `airflow standalone`: Airflow's scheduler, not a test, starts it.

A producer DAG (a training pipeline's last step) announces a registered MLflow version with
``announce_model_version`` from a task whose outlet is the policy's ``release.trigger.asset``; the
scheduler turns that Asset event into an ``asset_triggered`` run of the release DAG, whose ``start``
step takes the candidate's URI, version and sha256 from the event (``dag.test()`` cannot show this: it
always creates a manual run). The registry is a real MLflow store on SQLite that the test, the
scheduler and the task processes share. An event for another registered model is refused at start.

The good release is left once ``start`` has recorded (it goes on to its checks and then waits for the
release manager's sign-off, which nobody gives); the refused one is followed to its seal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.operators.release_trigger import registry_event_extra
from release_gates_testing.airflow import Standalone
from tests.integration.mlflow_support import MODEL, Registry, evaluation_frame, fair_model, make_registry
from tests.integration.mlflow_support import POLICY as REGISTRY_POLICY

# Starting the standalone and parsing both DAGs can take minutes on a busy machine: more than the default.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

USERS = {"admin": "admin-e2e", "aisha": "aisha-e2e"}
ASSET = f"mlflow://registry/{MODEL}"
RELEASE_DAG = "release_asset_e2e"
PRODUCER_DAG = "train_income_e2e"

RELEASE_DAG_FILE = """\
# The Airflow release DAG, scheduled on the policy's registry Asset (release.trigger). Airflow's safe
# mode parses only files that mention both "airflow" and "dag": this comment does.
from release_gates.dag_factory import build_release_dag

dag = build_release_dag({policy!r}, dag_id={dag_id!r}, default_args={{"retries": 0}})
"""

# A training pipeline's last step: the version it registered (named in the run's conf here, since the
# test registers it) is announced on the Asset event Airflow records when the task succeeds.
PRODUCER_DAG_FILE = """\
from airflow.sdk import DAG, Asset, task

from release_gates.operators.release_trigger import announce_model_version

with DAG(dag_id={dag_id!r}, schedule=None, catchup=False):

    @task(outlets=[Asset({asset!r})], retries=0)
    def register_model(**context):
        conf = context["dag_run"].conf
        return announce_model_version(
            context, {asset!r}, conf["model"], conf["version"], sha256=conf.get("sha256") or None
        )

    register_model()
"""


def asset_policy() -> str:
    """The registry release policy of the MLflow tests, started by the registry Asset."""
    release_line = f"release: {{model: {MODEL}, risk_tier: low}}"
    assert release_line in REGISTRY_POLICY
    return REGISTRY_POLICY.replace(
        release_line, f'release: {{model: {MODEL}, risk_tier: low, trigger: {{asset: "{ASSET}"}}}}'
    )


@dataclass
class Deployment:
    server: Standalone
    registry: Registry
    evidence: EvidenceStore


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    work = tmp_path_factory.mktemp("asset-e2e")
    dags = work / "dags"
    dags.mkdir()
    evaluation_frame().to_parquet(work / "eval.parquet", index=False)
    (work / "policy.yaml").write_text(asset_policy())
    (dags / "release_asset_e2e.py").write_text(
        RELEASE_DAG_FILE.format(policy=str(work / "policy.yaml"), dag_id=RELEASE_DAG)
    )
    (dags / "train_income_e2e.py").write_text(PRODUCER_DAG_FILE.format(dag_id=PRODUCER_DAG, asset=ASSET))
    evidence_url = f"sqlite:///{work / 'evidence.db'}"
    with pytest.MonkeyPatch.context() as patch:
        # Sets the mlflow_default connection in this process's environment, which the standalone's
        # components inherit: the test and the release's tasks read one registry.
        registry = make_registry(work, patch)
        server = Standalone(
            work / "airflow", dags, USERS, extra_env={"RELEASE_GATES_EVIDENCE_URL": evidence_url}
        )
        server.start()
        try:
            server.wait_for_dag(RELEASE_DAG)  # unpaused before any event: the scheduler queues it
            server.wait_for_dag(PRODUCER_DAG)
            yield Deployment(server, registry, EvidenceStore(evidence_url))
        finally:
            server.stop()


# -- REST: runs of a DAG and what triggered them ---------------------------------------------------------


def dag_runs(server: Standalone, dag_id: str) -> list[dict[str, Any]]:
    response = server.client.get(
        f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 100}, headers=server.headers()
    )
    response.raise_for_status()
    runs: list[dict[str, Any]] = response.json()["dag_runs"]
    return runs


def upstream_asset_events(server: Standalone, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    response = server.client.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/upstreamAssetEvents", headers=server.headers()
    )
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()["asset_events"]
    return events


def task_state(server: Standalone, dag_id: str, run_id: str, task_id: str) -> str | None:
    states = {ti["task_id"]: ti["state"] for ti in server.task_instances(dag_id, run_id)}
    return states.get(task_id)


def wait_until(what: str, probe: Any, timeout: float, server: Standalone) -> Any:
    """``probe()`` until it returns something truthy; on timeout say what and show the server's log."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            tail = server.log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tail}")
        time.sleep(2)


def announce(deployment: Deployment, conf: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Run the producer DAG with ``conf``; wait for the release run its Asset event starts and for that
    run's ``start`` to end. Returns the producer's run id and the release run (REST)."""
    server = deployment.server
    before = {run["dag_run_id"] for run in dag_runs(server, RELEASE_DAG)}
    producer_run = server.trigger(PRODUCER_DAG, conf)
    wait_until(
        f"producer run {producer_run} finished",
        lambda: server.finished(PRODUCER_DAG, producer_run),
        300,
        server,
    )
    assert server.run_state(PRODUCER_DAG, producer_run) == "success"
    new_runs = wait_until(
        "a release run started by the Asset event",
        lambda: [run for run in dag_runs(server, RELEASE_DAG) if run["dag_run_id"] not in before],
        300,
        server,
    )
    assert len(new_runs) == 1, new_runs  # one event, one run
    run: dict[str, Any] = new_runs[0]
    wait_until(
        f"start of {run['dag_run_id']} ended",
        lambda: (
            task_state(server, RELEASE_DAG, run["dag_run_id"], "start")
            in ("success", "failed", "upstream_failed")
        ),
        300,
        server,
    )
    return producer_run, run


# -- tests ----------------------------------------------------------------------------------------------


def test_a_registered_version_announced_by_the_training_dag_starts_its_release(
    deployment: Deployment,
) -> None:
    server, registry, store = deployment.server, deployment.registry, deployment.evidence
    announced, sha = registry.register(fair_model())
    newest, _ = registry.register(fair_model(seed=1))  # the newest version is not the one announced
    assert announced != newest
    extra = registry_event_extra(MODEL, announced, sha256=sha)

    producer_run, run = announce(deployment, {"model": MODEL, "version": announced, "sha256": sha})

    run_id = run["dag_run_id"]
    # The scheduler made this run from the Asset event; nobody passed it parameters.
    assert run["run_type"] == "asset_triggered", run
    assert not run.get("conf"), run
    (event,) = upstream_asset_events(server, RELEASE_DAG, run_id)
    assert event["uri"] == ASSET and event["extra"] == extra
    assert (event["source_dag_id"], event["source_run_id"]) == (PRODUCER_DAG, producer_run)
    assert task_state(server, RELEASE_DAG, run_id, "start") == "success"

    release_id = f"{RELEASE_DAG}__{run_id}"
    assert not store.records(release_id, kind="release_refused")
    (started,) = store.records(release_id, kind="release_started")
    assert started.payload["run_id"] == run_id and started.payload["dag_id"] == RELEASE_DAG
    inputs = started.payload["inputs"]
    # URI, version and sha256 came from the event (the run's own parameters are empty) ...
    assert inputs["model_uri"] == f"models:/{MODEL}/{announced}"
    assert inputs["model_version"] == announced
    assert inputs["model_sha256"] == sha
    # ... and the registry's file was hashed against it and pinned for every later step.
    assert inputs["candidate_registry"]["sha256"] == sha == inputs["model_sha256_verified"]
    assert inputs["candidate_registry"]["version"] == announced
    trigger = inputs["trigger"]
    assert trigger["asset"] == ASSET and trigger["extra"] == extra
    assert (trigger["source_dag_id"], trigger["source_run_id"], trigger["source_task_id"]) == (
        PRODUCER_DAG,
        producer_run,
        "register_model",
    )
    assert store.verify(release_id).ok


def test_an_event_for_another_registered_model_is_refused_at_start(deployment: Deployment) -> None:
    server, registry, store = deployment.server, deployment.registry, deployment.evidence
    other, other_sha = registry.register(fair_model(), name="someone-else")
    champion_before = registry.alias()

    _, run = announce(deployment, {"model": "someone-else", "version": other, "sha256": other_sha})

    run_id = run["dag_run_id"]
    assert run["run_type"] == "asset_triggered", run
    assert task_state(server, RELEASE_DAG, run_id, "start") == "failed"
    release_id = f"{RELEASE_DAG}__{run_id}"
    (refused,) = store.records(release_id, kind="release_refused")
    assert refused.payload["stage"] == "candidate"
    assert f"models:/someone-else/{other}" in refused.payload["summary"]
    assert repr(MODEL) in refused.payload["summary"]
    # Nothing of the other model was taken in: no pin, no candidate named after it.
    inputs = store.records(release_id, kind="release_started")[0].payload["inputs"]
    assert "candidate_registry" not in inputs and "someone-else" not in str(inputs.get("model_uri"))

    wait_until("the refused release ended", lambda: server.finished(RELEASE_DAG, run_id), 300, server)
    sealed = store.records(release_id, kind="release_sealed")[0].payload
    assert sealed["decision"] == "held"
    assert not store.records(release_id, kind="promotion")
    states = {ti["task_id"]: ti["state"] for ti in server.task_instances(RELEASE_DAG, run_id)}
    assert states["promote"] != "success", states
    # Neither registered model's alias moved.
    assert registry.alias() == champion_before
    assert registry.aliases("someone-else") == []
    assert store.verify(release_id).ok
