"""A migrated, throw-away Airflow home for integration tests that run DAGs with ``dag.test()``.

Import the fixture explicitly in a test module (pytest allows ``pytest_plugins`` only in the root
conftest)::

    from tests.integration.airflow_env import AirflowEnv, airflow_home  # noqa: F401

    def test_my_dag(airflow_home: AirflowEnv) -> None:
        airflow_home.write_dag("my_dag.py", source)
        run = airflow_home.run_dag("my_dag", env={"RELEASE_GATES_EVIDENCE_URL": url})
        assert run.tasks["check"].state == "success"

One home per test session (``airflow db migrate`` takes a while). Each ``run_dag`` runs in a fresh
interpreter with ``AIRFLOW_HOME`` and friends set before Airflow loads its configuration, so the
pytest process's own Airflow settings (if any) never leak into the run and vice versa. The DAG file
must sit in :attr:`AirflowEnv.dags_folder`: ``dag.test()`` only runs DAGs it can find in a bundle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent
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
    home: Path
    dags_folder: Path
    env: dict[str, str]

    def write_dag(self, filename: str, source: str) -> Path:
        path = self.dags_folder / filename
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
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
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    airflow_env = AirflowEnv(home=home, dags_folder=dags, env=env)
    proc = airflow_env.airflow("db", "migrate", timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return airflow_env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnv]:
    """A migrated Airflow home shared by every test of the session that asks for it."""
    yield make_airflow_env(tmp_path_factory.mktemp("airflow_home"))
