"""Run release DAGs for real in tests: a migrated Airflow DB, dag.test(), and humans answering HITL
steps through Airflow's REST API (the API app in-process, sharing the metadata DB).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release_gates.demo.humans import Answer, HitlResponder

#: Airflow users of the test deployment (simple auth manager) and their passwords.
TEST_USERS = {
    "admin": "admin-pw",
    "aisha": "aisha-pw",
    "tomas": "tomas-pw",
    "li": "li-pw",
    "marta": "marta-pw",
}

_state: dict[str, Any] = {}


def migrate_airflow_db() -> None:
    if _state.get("migrated"):
        return
    airflow = Path(sys.executable).with_name("airflow")
    proc = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{proc.stderr[-3000:]}")
    _state["migrated"] = True


def api_client() -> Any:
    """Airflow's own API app (core API + auth routes) behind a TestClient."""
    if "client" not in _state:
        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        _state["client"] = TestClient(create_app(apps="core"))
    return _state["client"]


def sync_dag(dag: Any) -> None:
    """Serialize a DAG built in a test so dag.test() and the API can find it."""
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

    thread = threading.Thread(target=humans, name="hitl-humans", daemon=True)
    thread.start()
    try:
        run = dag.test(run_conf=dict(conf))
    finally:
        finished.set()
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    return run, responder.answered
