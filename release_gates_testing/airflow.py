"""Airflow on one machine for tests, the demo and benchmarks, three ways.

* :class:`Standalone` — a real ``airflow standalone`` (scheduler, LocalExecutor, API server) on a
  free loopback port with the simple auth manager and known users, so scripts can log in as each
  person and talk REST. Everything it starts runs in one process group, stopped by :meth:`~Standalone.stop`.
  :class:`~release_gates_testing.cluster.Cluster` is its production-topology sibling.
* :class:`AirflowEnv` — a migrated, throw-away home whose DAG files run with ``dag.test()`` in a fresh
  interpreter (:meth:`~AirflowEnv.run_dag`), so the calling process's Airflow settings never leak into
  the run and vice versa. The DAG file must sit in :attr:`AirflowEnv.dags_folder`: ``dag.test()`` only
  runs DAGs it can find in a bundle. Tests get one per session from the ``airflow_home`` fixture.
* :func:`run_release` — ``dag.test()`` of a DAG built in this very process (the pytest session, whose
  conftest points Airflow at a temp home) while scripted humans answer its HITL steps through the API
  app in-process, sharing the metadata DB.
"""

from __future__ import annotations

import _thread
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from release_gates_testing.humans import Answer, HitlResponder
from release_gates_testing.processes import BIN, free_port, path_with_bin, stop_group

#: This interpreter's ``airflow`` command.
AIRFLOW = BIN / "airflow"

#: Airflow users of the in-process test deployment (simple auth manager) and their passwords.
TEST_USERS = {
    "admin": "admin-pw",
    "aisha": "aisha-pw",
    "tomas": "tomas-pw",
    "li": "li-pw",
    "marta": "marta-pw",
}


def home_env(home: Path, dags_folder: Path, *, inherit: Mapping[str, str] | None = None) -> dict[str, str]:
    """What every Airflow started here needs: its home, its DAGs, no examples, and ``airflow`` on PATH.

    ``inherit`` is the environment to start from (default: this process's).
    """
    return {
        **(os.environ if inherit is None else inherit),
        # `airflow standalone` starts its components by running `airflow` from PATH.
        "PATH": path_with_bin(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }


def users_env(users: Mapping[str, str], passwords_file: Path) -> dict[str, str]:
    """Simple-auth-manager settings: every user an admin, passwords read from ``passwords_file``."""
    return {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{user}:admin" for user in users),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
    }


def migrate_db(env: Mapping[str, str] | None, *, timeout: float = 600, log_path: Path | None = None) -> None:
    """``airflow db migrate`` with ``env`` (``None``: this process's); :class:`RuntimeError` if it fails.

    The output goes to ``log_path`` when given; the error shows its end either way.
    """
    argv = [str(AIRFLOW), "db", "migrate"]
    environment = None if env is None else dict(env)
    if log_path is None:
        captured = subprocess.run(
            argv, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
        returncode, output = captured.returncode, captured.stdout + captured.stderr
    else:
        with log_path.open("wb") as log:
            returncode = subprocess.run(
                argv, env=environment, stdout=log, stderr=subprocess.STDOUT, timeout=timeout,
                check=False, start_new_session=True,
            ).returncode  # fmt: skip
        output = log_path.read_text(errors="replace")
    if returncode != 0:
        raise RuntimeError(f"airflow db migrate failed ({returncode}):\n{output[-4000:]}")


# -- airflow standalone ------------------------------------------------------------------------------


class Standalone:
    """A local ``airflow standalone``: start, talk REST, stop (see the module docstring).

    :param home: ``AIRFLOW_HOME``; the server's output goes to ``home/airflow-standalone.log``.
    :param dags_folder: the DAGs folder it reads.
    :param users: simple-auth-manager users and their passwords (every user is an admin).
    :param extra_env: more environment (connections, evidence settings, …); wins over the defaults.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        users: Mapping[str, str],
        *,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.users = dict(users)
        self.port = free_port()
        self.base_url = f"http://localhost:{self.port}"
        self.log_path = home / "airflow-standalone.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra_env = dict(extra_env or {})
        self._tokens: dict[str, str] = {}
        self._client: Any = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **home_env(self.home, self.dags_folder),
            **users_env(self.users, self.home / "passwords.json"),
            "AIRFLOW__API__PORT": str(self.port),
            # Workers reach the execution API here; without it they call :8080 and every task fails.
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": "release-gates-local-" + "x" * 48,
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
            **self.extra_env,
        }

    def start(self, timeout: float = 300) -> Standalone:
        """Start and wait until the API server reports healthy; stops everything if it does not."""
        import httpx

        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps(self.users))
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(AIRFLOW), "standalone"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"airflow standalone did not come up:\n{tail}")
            time.sleep(2)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        # The components (API server, scheduler, workers) share the process group and may outlive
        # the parent by a few seconds while they shut down: give them that, then end what is left.
        stop_group(proc, grace=30, linger=20)

    def __enter__(self) -> Standalone:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # -- REST -------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.Client(base_url=self.base_url, timeout=30)
        return self._client

    def headers(self, user: str = "admin") -> dict[str, str]:
        if user not in self._tokens:
            response = self.client.post("/auth/token", json={"username": user, "password": self.users[user]})
            response.raise_for_status()
            self._tokens[user] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        """Wait until the DAG is parsed, then unpause it."""
        deadline = time.monotonic() + timeout
        while self.client.get(f"/api/v2/dags/{dag_id}", headers=self.headers()).status_code != 200:
            if time.monotonic() > deadline:
                errors = self.client.get("/api/v2/importErrors", headers=self.headers()).json()
                raise RuntimeError(f"DAG {dag_id} was not parsed: {errors}")
            time.sleep(2)
        self.ensure_target_pools(dag_id)
        self.client.patch(
            f"/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=self.headers()
        ).raise_for_status()

    def ensure_target_pools(self, dag_id: str) -> list[str]:
        """Create the one-slot target pools (``release_gates_target_…``) the DAG's tasks name and
        Airflow lacks — as an operator would with ``airflow pools set`` (see ``release_gates.pools``)."""
        tasks = self.client.get(f"/api/v2/dags/{dag_id}/tasks", headers=self.headers())
        tasks.raise_for_status()
        wanted = {t.get("pool") for t in tasks.json().get("tasks", [])}
        created = []
        for name in sorted(p for p in wanted if p and p.startswith("release_gates_target_")):
            if self.client.get(f"/api/v2/pools/{name}", headers=self.headers()).status_code == 200:
                continue
            response = self.client.post(
                "/api/v2/pools",
                json={"name": name, "slots": 1, "description": f"release-gates target pool ({dag_id})"},
                headers=self.headers(),
            )
            if response.status_code not in (200, 201, 409):
                raise RuntimeError(f"pool {name} not created: {response.status_code} {response.text[:300]}")
            created.append(name)
        return created

    def trigger(self, dag_id: str, conf: Mapping[str, Any], *, as_user: str = "admin") -> str:
        """Trigger a run as ``as_user`` (the release's submitter); returns its run id."""
        response = self.client.post(
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": dict(conf)},
            headers=self.headers(as_user),
        )
        if response.status_code >= 300:
            raise RuntimeError(f"trigger of {dag_id} refused: {response.status_code} {response.text[:500]}")
        run_id: str = response.json()["dag_run_id"]
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        response = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=self.headers())
        state: str | None = response.json().get("state") if response.status_code == 200 else None
        return state

    def finished(self, dag_id: str, run_id: str) -> bool:
        return self.run_state(dag_id, run_id) in ("success", "failed")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
            params={"limit": 500},
            headers=self.headers(),
        )
        response.raise_for_status()
        instances: list[dict[str, Any]] = response.json()["task_instances"]
        return instances


# -- dag.test() in a fresh interpreter ----------------------------------------------------------------

_RESULT_MARK = "DAG_TEST_RESULT:"

# Runs in the child interpreter: load the DAG file, dag.test() it, print states and XComs as JSON.
_RUNNER = textwrap.dedent(
    """
    import json, sys

    from airflow.dag_processing.dagbag import DagBag

    path, dag_id, conf, pattern = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] or None
    bag = DagBag(dag_folder=path)
    if bag.import_errors or dag_id not in bag.dags:
        sys.exit(f"no DAG {dag_id!r} in {path}: {bag.import_errors}")
    run = bag.dags[dag_id].test(run_conf=conf or None, mark_success_pattern=pattern)
    tasks = {}
    for ti in run.get_task_instances():
        try:
            xcom = ti.xcom_pull(task_ids=ti.task_id)
        except Exception as exc:  # a failed task has no return value to pull
            xcom = {"xcom_error": repr(exc)}
        tasks[ti.task_id] = {"state": str(ti.state), "xcom": xcom, "try_number": ti.try_number}
    print(MARK + json.dumps({"state": str(run.state), "run_id": run.run_id, "tasks": tasks}, default=str))
    """
)


@dataclass(frozen=True)
class TaskRun:
    state: str
    xcom: Any
    try_number: int


@dataclass(frozen=True)
class DagRunResult:
    state: str
    run_id: str
    tasks: dict[str, TaskRun]
    log: str = field(repr=False)


@dataclass(frozen=True)
class AirflowEnv:
    """A migrated Airflow home (SQLite, LocalExecutor) whose DAG files run with ``dag.test()``."""

    home: Path
    dags_folder: Path
    env: dict[str, str]

    def write_dag(self, filename: str, source: str) -> Path:
        path = self.dags_folder / filename
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def run_dag(
        self,
        dag_file: Path,
        dag_id: str,
        *,
        conf: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        mark_success_pattern: str | None = None,
        timeout: float = 300,
    ) -> DagRunResult:
        """``dag.test()`` the DAG in ``dag_file`` in a fresh interpreter; task states and XComs back."""
        runner = _RUNNER.replace("MARK", repr(_RESULT_MARK))
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                runner,
                str(dag_file),
                dag_id,
                json.dumps(dict(conf or {})),
                mark_success_pattern or "",
            ],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        log = proc.stdout + proc.stderr
        lines = [line for line in proc.stdout.splitlines() if line.startswith(_RESULT_MARK)]
        if proc.returncode != 0 or not lines:
            raise AssertionError(
                f"dag.test() of {dag_id} did not finish (exit {proc.returncode}):\n{log[-6000:]}"
            )
        data = json.loads(lines[-1][len(_RESULT_MARK) :])
        tasks = {task_id: TaskRun(**facts) for task_id, facts in data["tasks"].items()}
        return DagRunResult(state=data["state"], run_id=data["run_id"], tasks=tasks, log=log)


def make_airflow_env(home: Path) -> AirflowEnv:
    """Create ``home`` (dags folder, SQLite metadata DB) and migrate it."""
    dags = home / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    env = {
        **home_env(home, dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    migrate_db(env, timeout=600)
    return AirflowEnv(home=home, dags_folder=dags, env=env)


# -- dag.test() in this process, humans through the in-process API app --------------------------------

_state: dict[str, Any] = {}


def migrate_airflow_db() -> None:
    """Migrate this process's Airflow metadata DB, once per process."""
    if _state.get("migrated"):
        return
    migrate_db(None, timeout=600)
    _state["migrated"] = True


def api_client() -> Any:
    """Airflow's own API app (core API + auth routes) behind a TestClient.

    The client is rebuilt when something in this process purged Airflow's auth manager since it
    was made (the API's routes look the manager up globally at each request).
    """
    from airflow.api_fastapi.app import _AuthManagerState

    if "client" not in _state or _AuthManagerState.instance is None:
        from airflow.api_fastapi.app import create_app, purge_cached_app
        from fastapi.testclient import TestClient

        purge_cached_app()
        _state["client"] = TestClient(create_app(apps="core"))
    return _state["client"]


def sync_dag(dag: Any) -> None:
    """Serialize a DAG built in this process so dag.test() and the API can find it."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    with create_session() as session:
        session.merge(DagBundleModel(name="release_gates_tests"))
    bag = DagBag(dag_folder="/nonexistent", collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, bundle_name="release_gates_tests", bundle_version=None)


def run_release(
    dag: Any,
    conf: Mapping[str, Any],
    script: Mapping[str, Answer],
    *,
    passwords: Mapping[str, str],
    timeout: float = 600,
) -> tuple[Any, list[dict[str, Any]]]:
    """dag.test() the release DAG while scripted humans answer its HITL steps through REST.

    A step the script does not cover is answered with its default option by its first assigned
    user and reported as ``unscripted`` (dag.test() would otherwise wait forever).
    """
    migrate_airflow_db()
    sync_dag(dag)
    responder = HitlResponder(api_client(), passwords, log=lambda _: None)
    finished = threading.Event()
    errors: list[BaseException] = []

    def humans() -> None:
        try:
            responder.play(
                dag.dag_id, script, done=finished.is_set, timeout=timeout, poll=0.5, fallback=True, settle=1.0
            )
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)
        if not finished.is_set():
            # dag.test() waits for a HITL answer forever: with nobody left to answer, stop it now and
            # say why, instead of hanging the test session.
            errors.append(RuntimeError(f"the scripted humans stopped before the run ended: {errors[:1]}"))
            _thread.interrupt_main()

    thread = threading.Thread(target=humans, name="hitl-humans", daemon=True)
    thread.start()
    try:
        run = dag.test(run_conf=dict(conf))
    except KeyboardInterrupt:
        if not errors:
            raise
        run = None
    finally:
        finished.set()
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    return run, responder.answered
