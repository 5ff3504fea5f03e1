"""The Releases page a page at a time, behind Airflow's real auth manager: paging by number and by
cursor, the run tab of a release deep in the store, caches that follow the chain's head, and remediation
items closed by production passes read from the monitoring chain's snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.monitoring.snapshot import SNAPSHOT_KIND, load_state, record_snapshot_if_due
from release_gates_testing.airflow import TEST_USERS, migrate_airflow_db, sync_dag
from tests.unit.test_trail_queries import release

pytestmark = pytest.mark.integration
DAG_ID = "release_credit"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EvidenceStore]:
    store = EvidenceStore(f"sqlite:///{tmp_path_factory.mktemp('pages') / 'evidence.db'}")
    store.migrate()
    for n in range(1, 8):
        release(store, n, dag_id=DAG_ID)
    release(store, 8, dag_id=DAG_ID, seal=False)  # still running: its chain moves
    store.append("target__lambda-x", "lease_acquired", {"holder": "h"})  # not a release
    yield store
    store.dispose()


@pytest.fixture(scope="module")
def client(store: EvidenceStore) -> Iterator[Any]:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.sdk import DAG
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from release_gates.ui.app import EVIDENCE, create_app

    migrate_airflow_db()
    sync_dag(DAG(dag_id=DAG_ID, schedule=None))  # read access to its runs needs the DAG to exist
    app = FastAPI()
    init_auth_manager(app)
    app.mount("/release-gates", create_app())
    EVIDENCE.reset(store)
    with TestClient(app) as test_client:
        token = test_client.post("/auth/token", json={"username": "marta", "password": TEST_USERS["marta"]})
        test_client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield test_client
    EVIDENCE.reset()


def ids(page: dict[str, Any]) -> list[str]:
    return [r["release_id"] for r in page["releases"]]


def test_releases_come_a_page_at_a_time_by_number_or_by_cursor(client: Any) -> None:
    first = client.get("/release-gates/api/releases?limit=3").json()
    assert ids(first) == [f"{DAG_ID}__run-{n}" for n in (8, 7, 6)]
    assert (first["page"], first["limit"]) == (1, 3) and first["next_before"]
    assert (
        first["releases"][0]["decision"] == "in progress" and first["releases"][1]["decision"] == "released"
    )
    after = client.get(f"/release-gates/api/releases?limit=3&before={quote(first['next_before'])}").json()
    assert ids(after) == [f"{DAG_ID}__run-{n}" for n in (5, 4, 3)] and after["page"] is None
    assert ids(client.get("/release-gates/api/releases?limit=3&page=2").json()) == ids(after)
    last = client.get("/release-gates/api/releases?limit=3&page=3").json()
    assert ids(last) == [f"{DAG_ID}__run-{n}" for n in (2, 1)] and last["next_before"] is None
    everything = client.get("/release-gates/api/releases?limit=9999").json()  # capped, not refused
    assert len(ids(everything)) == 8 and not any(
        i.startswith(("target__", "monitor__")) for i in ids(everything)
    )


def test_a_bad_cursor_is_a_400_that_names_it(client: Any) -> None:
    response = client.get("/release-gates/api/releases?before=garbage")
    assert response.status_code == 400 and "not a page cursor" in response.json()["detail"]


def test_the_html_page_links_to_the_older_releases(client: Any) -> None:
    page = client.get("/release-gates/releases?limit=3")
    assert page.status_code == 200 and page.text.count('<tr data-release="') == 3
    assert 'id="older" href="/release-gates/releases?limit=3&amp;before=' in page.text
    end = client.get("/release-gates/releases?limit=3&page=3")
    assert end.status_code == 200 and 'id="older"' not in end.text


def test_the_run_tab_of_an_old_release_and_a_moving_chain(client: Any, store: EvidenceStore) -> None:
    old = client.get(f"/release-gates/api/runs/{DAG_ID}/run-2")
    assert old.status_code == 200 and old.json()["decision"] == "held"
    running = f"{DAG_ID}__run-8"
    before = client.get(f"/release-gates/api/runs/{DAG_ID}/run-8").json()
    assert before["decision"] is None  # not sealed yet
    store.append(running, "release_sealed", {"decision": "released", "reasons": []})
    # The head moved: the digest and the records are read again, on the run tab and on the page.
    assert client.get(f"/release-gates/api/runs/{DAG_ID}/run-8").json()["decision"] == "released"
    first = client.get("/release-gates/api/releases?limit=1").json()["releases"][0]
    assert (first["release_id"], first["decision"]) == (running, "released")
    assert client.get(f"/release-gates/api/runs/{DAG_ID}/run-99").json()["release"] is None


def test_production_passes_close_items_and_are_read_from_the_snapshot(
    client: Any, store: EvidenceStore
) -> None:
    assert len(client.get("/release-gates/api/releases?limit=2").json()["open_items"]) == 2
    chain = "monitor__m"
    window = {"start": "2025-01-31T23:00:00+00:00", "end": "2025-02-01T00:00:00+00:00"}
    store.append(chain, "check_result", {"check_id": "g.c", "status": "PASS", "inputs": {"window": window}})
    store.append(chain, "monitoring_window", {"window": window, "verdicts": []})

    def append(kind: str, payload: dict[str, Any]) -> int:
        return store.append(chain, kind, payload).seq

    assert record_snapshot_if_due(load_state(store, chain), append, every=1) is not None
    store.append(
        chain, "check_result", {"check_id": "other.check", "status": "PASS", "finished_at": "2025-03-01"}
    )
    assert load_state(store, chain).snapshot_seq == store.records(chain, kind=SNAPSHOT_KIND)[-1].seq
    # The items were found on 2025-01-01; the check passed in production a month later: closed.
    assert client.get("/release-gates/api/releases?limit=2").json()["open_items"] == []
    assert "None open." in client.get("/release-gates/releases?limit=2").text
