"""The release-gates UI app behind Airflow's real auth manager, and how Airflow loads the plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from release_gates_testing.airflow import TEST_USERS, migrate_airflow_db, sync_dag
from tests.report_fixtures import RecordedReleases, recorded_releases

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> RecordedReleases:
    return recorded_releases(tmp_path_factory.mktemp("ui"))


@pytest.fixture(scope="module")
def client(recorded: RecordedReleases) -> Iterator[Any]:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.sdk import DAG
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from release_gates.ui.app import EVIDENCE, create_app

    migrate_airflow_db()
    # The releases belong to DAG "release_credit": it must exist for read access to be granted.
    sync_dag(DAG(dag_id="release_credit", schedule=None))
    app = FastAPI()
    init_auth_manager(app)
    app.mount("/release-gates", create_app())
    EVIDENCE.reset(recorded.store)
    with TestClient(app) as test_client:
        yield test_client
    EVIDENCE.reset()


@pytest.fixture(scope="module")
def auth(client: Any) -> dict[str, str]:
    response = client.post("/auth/token", json={"username": "marta", "password": TEST_USERS["marta"]})
    assert response.status_code in (200, 201), response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


ROUTES = [
    "/release-gates/runs/release_credit/rel-2",
    "/release-gates/api/runs/release_credit/rel-2",
    "/release-gates/releases",
    "/release-gates/api/releases",
    f"/release-gates/files/{quote('release_credit__rel-2')}/summary.html",
    f"/release-gates/api/releases/{quote('release_credit__rel-2')}/records/1",
]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_an_authenticated_user(client: Any, route: str) -> None:
    response = client.get(route)
    assert response.status_code == 401
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert client.get(route, headers={"Authorization": "Bearer not-a-jwt"}).status_code in (401, 403)


def test_run_tab_shows_gates_findings_items_decisions_and_chain(client: Any, auth: dict[str, str]) -> None:
    response = client.get("/release-gates/runs/release_credit/rel-2", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "frame-ancestors 'self'"
    html = response.text
    for verdict in ('data-verdict="remediate"', 'data-verdict="passed"'):
        assert verdict in html
    assert 'class="badge d-held"' in html and "HELD" in html
    assert "Selection rate for g=b is 0.50 of g=a&#39;s (needs ≥ 0.80)" in html
    assert '<td class="s-FAIL">2 FAIL (+1 waived)</td>' in html  # findings by severity, with words
    assert html.count('<tr class="overdue">') == 4  # every deadline is in the past by now
    assert "Retrain with reweighting first." in html and "aisha" in html
    assert "verified</span> — 18 records, sealed" in html
    assert "/release-gates/files/release_credit__rel-2/summary.html" in html
    assert "No earlier" not in html and "decision: released → held" in html


def test_run_json_and_an_unknown_run(client: Any, auth: dict[str, str]) -> None:
    data = client.get("/release-gates/api/runs/release_credit/rel-2", headers=auth).json()
    assert {g["gate_id"]: g["verdict"] for g in data["gates"]} == {
        "ethics": "remediate", "data": "passed", "security": "remediate", "operations": "passed",
    }  # fmt: skip
    assert data["decision"] == "held" and data["verify"]["ok"] is True
    assert data["heatmap"]["counts"][2] == [1, 2, 0, 0, 0]
    assert "fairness" not in data  # chart data stays in report.json
    missing = client.get("/release-gates/runs/release_credit/nope", headers=auth)
    assert missing.status_code == 200 and 'id="no-release"' in missing.text


def test_releases_page_lists_releases_and_open_items_by_deadline(client: Any, auth: dict[str, str]) -> None:
    page = client.get("/release-gates/releases", headers=auth)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == "frame-ancestors 'self'"
    assert page.text.count('<tr data-release="') == 2
    assert 'href="/dags/release_credit/runs/rel-2/plugin/release_gates"' in page.text
    data = client.get("/release-gates/api/releases", headers=auth).json()
    assert [(r["release_id"], r["decision"]) for r in data["releases"]] == [
        ("release_credit__rel-2", "held"), ("release_credit__rel-1", "released"),
    ]  # fmt: skip
    # These chains predate release_started naming its DAG: only users who may read every DAG see them.
    assert [r["dag_id_recorded"] for r in data["releases"]] == [False, False]
    deadlines = [i["deadline"] for i in data["open_items"]]
    assert deadlines == sorted(deadlines) and len(deadlines) == 4
    assert all(i["overdue"] and i["release_id"] == "release_credit__rel-2" for i in data["open_items"])


def test_report_files_are_served_only_while_they_match_evidence(
    client: Any, auth: dict[str, str], recorded: RecordedReleases
) -> None:
    base = f"/release-gates/files/{quote('release_credit__rel-2')}"
    summary = client.get(f"{base}/summary.html", headers=auth)
    assert summary.status_code == 200 and summary.headers["content-type"].startswith("text/html")
    assert summary.text == (recorded.report_dir / "summary.html").read_text()
    assert client.get(f"{base}/heatmap.svg", headers=auth).headers["content-type"].startswith("image/svg")
    assert client.get(f"{base}/..%2Fevidence.db", headers=auth).status_code == 404
    record = client.get(
        f"/release-gates/api/releases/{quote('release_credit__rel-2')}/records/2", headers=auth
    )
    assert record.json()["payload"]["check_id"] == "ethics.fairness"
    csv_path = recorded.report_dir / "checklist.csv"
    original = csv_path.read_bytes()
    try:
        csv_path.write_bytes(original.replace(b"FAIL", b"PASS"))
        assert client.get(f"{base}/checklist.csv", headers=auth).status_code == 409
    finally:
        csv_path.write_bytes(original)


def _plugins(tmp_path: Path, **env: str) -> tuple[list[Any], str]:
    code = (
        "import json; from airflow import plugins_manager as pm; p, e = pm._get_plugins(); "
        "print(json.dumps([[x.name, str(getattr(x, 'source', None))] for x in p])); print(json.dumps(e))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path),
            **env,
        },
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-2]), lines[-1]


def test_airflow_loads_the_plugin_once_from_the_provider_or_plugins_folder(tmp_path: Path) -> None:
    def ours(plugins: list[Any]) -> list[str]:
        # Other installed providers bring plugins of their own (OpenLineage's, with the extra), and
        # their own complaints: OpenLineage's plugin says "already registered" under eager discovery.
        return [name for name, _ in plugins if name == "release_gates"]

    def our_errors(errors: str) -> dict[str, str]:
        return {k: v for k, v in json.loads(errors).items() if "OpenLineage" not in k}

    eager = {"AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False"}
    plugins, errors = _plugins(tmp_path, **eager)
    assert ours(plugins) == ["release_gates"] and our_errors(errors) == {}
    folder = {"AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins")}
    plugins, errors = _plugins(tmp_path, **folder)
    assert ours(plugins) == ["release_gates"] and our_errors(errors) == {}
    # Both at once: still one plugin, and no "already registered" import error in the UI.
    plugins, errors = _plugins(tmp_path, **folder, **eager)
    assert ours(plugins) == ["release_gates"] and our_errors(errors) == {}


def test_plugin_declares_the_run_tab_the_nav_page_and_a_lazy_app() -> None:
    from release_gates.ui.plugin import ReleaseGatesPlugin

    views = {v["destination"]: v for v in ReleaseGatesPlugin.external_views}
    assert views["dag_run"]["href"] == "/release-gates/runs/{DAG_ID}/{RUN_ID}"
    assert views["dag_run"]["url_route"] == "release_gates" and views["dag_run"]["name"] == "Release gates"
    assert views["nav"]["name"] == "Releases" and views["nav"]["url_route"] == "releases"
    assert ReleaseGatesPlugin.fastapi_apps[0]["url_prefix"] == "/release-gates"
    code = "import sys, release_gates.ui.plugin; print('fastapi' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split()[-1] == "False"


def test_gate_tasks_carry_the_release_report_link(tmp_path: Path) -> None:
    from airflow.models.taskinstancekey import TaskInstanceKey
    from airflow.serialization.serialized_objects import DagSerialization

    from release_gates.dag_factory import build_release_dag
    from release_gates.ui.links import ReleaseReportLink

    dag = build_release_dag(REPO / "include" / "release_policy.yaml")
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert serialized.get_task("ethics.decide").extra_links == ["Release report"]
    assert serialized.get_task("ethics.remediate").extra_links == []
    key = TaskInstanceKey(
        dag_id=dag.dag_id, task_id="ethics.decide", run_id="manual__2026-01-05T09:00:00+00:00"
    )
    assert (
        ReleaseReportLink()
        .get_link(dag.get_task("ethics.decide"), ti_key=key)
        .endswith(
            "/dags/release_mortgage_approval/runs/manual__2026-01-05T09%3A00%3A00%2B00%3A00/plugin/release_gates"
        )
    )
