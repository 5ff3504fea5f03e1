"""A local ``airflow standalone`` for the demo and end-to-end tests: start, talk REST, stop.

Runs on a free loopback port with the simple auth manager and known users, so scripts can log in
as each person. Everything it starts runs in its own process group and is stopped by :meth:`stop`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from release_gates.demo.aws import free_port


class Standalone:
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
        passwords = self.home / "passwords.json"
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            # `airflow standalone` starts its components by running `airflow` from PATH.
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:admin" for u in self.users),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
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
        import httpx

        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps(self.users))
        log = self.log_path.open("wb")
        airflow = Path(sys.executable).with_name("airflow")
        self.proc = subprocess.Popen(
            [str(airflow), "standalone"],
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
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        # The components (API server, scheduler, workers) share the process group and may outlive
        # the parent by a few seconds while they shut down: give them that, then end what is left.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

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
        self.client.patch(
            f"/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=self.headers()
        ).raise_for_status()

    def trigger(self, dag_id: str, conf: Mapping[str, Any]) -> str:
        response = self.client.post(
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"logical_date": None, "conf": dict(conf)},
            headers=self.headers(),
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
