"""A user who may read DAG A only tries to read DAG B's releases through the release-gates UI.

The user ("dana") is not an admin. Airflow's SimpleAuthManager has roles but no per-DAG grants, so
the app runs behind :class:`DagScopedAuthManager`: SimpleAuthManager with one addition — a user in
``DAG_GRANTS`` may read (GET) only the DAGs listed there, and never "every DAG". This is the same
question (``is_authorized_dag`` with a method, an access entity and the DAG) a per-DAG auth manager
such as FAB's answers from its roles; the app only ever asks it that way. Everything else (login,
JWT, route dependencies) is Airflow's own.

The DAGs: ``release_a`` (dana's), ``release_b``, and ``release_a__shadow`` — a DAG whose run ``r2``
had, under the old ``<dag_id>__<run_id>`` ids, the chain ``release_a__shadow__r2``: exactly the
chain of a run ``shadow__r2`` of ``release_a``, a run id anyone allowed to trigger A may choose.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

from release_gates.evidence import EvidenceStore
from release_gates.policy import ReleasePolicy, load_policy
from release_gates.reports.seal import record_release_report
from release_gates.results import CheckResult, Status
from release_gates.ui.release_ids import release_id_for, split_release_id
from release_gates_testing.airflow import TEST_USERS, migrate_airflow_db, sync_dag
from tests.report_fixtures import POLICY, T0

pytestmark = pytest.mark.integration

DAG_A, DAG_B, DAG_SHADOW = "release_a", "release_b", "release_a__shadow"
VIEWER, VIEWER_PASSWORD = "dana", "dana-pw"


class DagScopedAuthManager(SimpleAuthManager):
    """SimpleAuthManager plus per-DAG read grants for the users in ``DAG_GRANTS`` (test only)."""

    DAG_GRANTS: dict[str, frozenset[str]] = {VIEWER: frozenset({DAG_A})}

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        grants = self.DAG_GRANTS.get(user.get_name())
        allowed = super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
        if grants is None:
            return allowed
        # A granted user reads listed DAGs only; "every DAG" (no details) is never granted.
        return allowed and method == "GET" and details is not None and details.id in grants


@dataclass
class Releases:
    store: EvidenceStore
    a: str  # release_a, run r1 (recorded its DAG)
    b: str  # release_b, run manual__1 (recorded its DAG), same model, earlier
    shadow: str  # release_a__shadow, run r2 (recorded its DAG)
    posing: str  # release_a__shadow's run "x" under a release id it chose: "release_a__x"
    legacy: str  # an older chain named like release_a's run "old", recording no DAG


def _release(
    store: EvidenceStore,
    policy: ReleasePolicy,
    policy_path: Path,
    out: Path,
    *,
    release_id: str,
    dag_id: str | None,
    run_id: str,
    marker: str,
) -> None:
    """A sealed release with one check result and its report files; ``marker`` is in its summary."""
    started: dict[str, Any] = {
        "model": policy.release.model,
        "risk_tier": policy.release.risk_tier,
        "policy": {"source": str(policy_path), "sha256": policy.sha256},
        "inputs": {"model_version": marker},
        "gates": [g.id for g in policy.gates],
        "checks": [cid for _, _, cid in policy.iter_checks()],
        "run_id": run_id,
        "triggered_by": "someone",
    }
    if dag_id is not None:
        started["dag_id"] = dag_id
    store.append(release_id, "release_started", started)
    result = CheckResult(
        check_id="data.drift",
        kind="drift",
        status=Status.PASS,
        summary=f"no drift in {marker}",
        started_at=T0,
        finished_at=T0,
    )
    store.append(release_id, "check_result", result.to_dict(), actor=f"{dag_id}.data.drift")
    summary = {
        "decision": "held",
        "reasons": [marker],
        "model": policy.release.model,
        "gates": {},
        "checks": {},
    }
    record_release_report(
        store, release_id, policy_path=policy_path, pending_seal=summary, actor="seal", out_dir=out / marker
    )
    store.append(release_id, "release_sealed", summary, actor="seal")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    tmp = tmp_path_factory.mktemp("dag-scoped")
    policy_path = tmp / "policy.yaml"
    policy_path.write_text(POLICY)
    policy = load_policy(policy_path)
    store = EvidenceStore(f"sqlite:///{tmp / 'evidence.db'}")
    ids = Releases(
        store,
        a=release_id_for(DAG_A, "r1"),
        b=release_id_for(DAG_B, "manual__1"),
        shadow=release_id_for(DAG_SHADOW, "r2"),
        posing=f"{DAG_A}__x",
        legacy=f"{DAG_A}__old",
    )
    chains = [
        # B's release of the same model comes first: A's report would show it as "the last release".
        (ids.b, DAG_B, "manual__1", "B-secret"),
        # release_a__shadow's run r2 under the id the old scheme gave it, and under today's.
        (f"{DAG_SHADOW}__r2", DAG_SHADOW, "r2", "SHADOW-secret"),
        (ids.shadow, DAG_SHADOW, "r2", "SHADOW2"),
        # A DAG's author chooses its release_id: this one names its chain as A's run "x" would be.
        (ids.posing, DAG_SHADOW, "x", "POSING"),
        (ids.legacy, None, "old", "LEGACY"),
        (ids.a, DAG_A, "r1", "A-visible"),
    ]
    for release_id, dag_id, run_id, marker in chains:
        _release(
            store,
            policy,
            policy_path,
            tmp,
            release_id=release_id,
            dag_id=dag_id,
            run_id=run_id,
            marker=marker,
        )
    return ids


@pytest.fixture(scope="module")
def client(releases: Releases) -> Iterator[Any]:
    from airflow.api_fastapi import app as airflow_app
    from airflow.configuration import conf
    from airflow.sdk import DAG
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from release_gates.ui.app import EVIDENCE, create_app

    passwords_file = Path(conf.get("core", "simple_auth_manager_passwords_file"))
    original_passwords = passwords_file.read_text()
    passwords = json.loads(original_passwords)
    passwords_file.write_text(json.dumps({**passwords, VIEWER: VIEWER_PASSWORD}))
    # Another module's in-process API client keeps using the auth manager it was built with:
    # put it back afterwards instead of leaving the process without one.
    previous_auth_manager = airflow_app._AuthManagerState.instance
    users = ",".join([*(f"{u}:admin" for u in TEST_USERS), f"{VIEWER}:viewer"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{__name__}.DagScopedAuthManager")
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", users)
        migrate_airflow_db()
        for dag_id in (DAG_A, DAG_B, DAG_SHADOW):
            sync_dag(DAG(dag_id=dag_id, schedule=None))
        app = FastAPI()
        airflow_app.purge_cached_app()  # drop another module's auth manager
        assert isinstance(airflow_app.init_auth_manager(app), DagScopedAuthManager)
        app.mount("/release-gates", create_app())
        EVIDENCE.reset(releases.store)
        try:
            with TestClient(app) as test_client:
                yield test_client
        finally:
            EVIDENCE.reset()
            airflow_app.purge_cached_app()
            airflow_app._AuthManagerState.instance = previous_auth_manager
            passwords_file.write_text(original_passwords)


def _login(client: Any, user: str, password: str) -> dict[str, str]:
    response = client.post("/auth/token", json={"username": user, "password": password})
    assert response.status_code in (200, 201), response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture(scope="module")
def viewer(client: Any) -> dict[str, str]:
    return _login(client, VIEWER, VIEWER_PASSWORD)


@pytest.fixture(scope="module")
def admin(client: Any) -> dict[str, str]:
    return _login(client, "admin", TEST_USERS["admin"])


def _file(release_id: str, name: str = "summary.html") -> str:
    return f"/release-gates/files/{quote(release_id, safe='')}/{name}"


def _record(release_id: str, seq: int = 2) -> str:
    return f"/release-gates/api/releases/{quote(release_id, safe='')}/records/{seq}"


def test_the_viewer_reads_dag_a_releases_reports_and_records(
    client: Any, viewer: dict[str, str], releases: Releases
) -> None:
    tab = client.get(f"/release-gates/runs/{DAG_A}/r1", headers=viewer)
    assert tab.status_code == 200 and "no drift in A-visible" in tab.text
    assert (
        client.get(f"/release-gates/api/runs/{DAG_A}/r1", headers=viewer).json()["release_id"] == releases.a
    )
    assert client.get(_file(releases.a), headers=viewer).status_code == 200
    assert (
        client.get(_record(releases.a), headers=viewer).json()["payload"]["summary"]
        == "no drift in A-visible"
    )
    listed = client.get("/release-gates/api/releases", headers=viewer).json()["releases"]
    assert [r["release_id"] for r in listed] == [releases.a]
    page = client.get("/release-gates/releases", headers=viewer).text
    assert (
        page.count('<tr data-release="') == 1 and f'href="/dags/{DAG_A}/runs/r1/plugin/release_gates"' in page
    )


def test_the_viewer_gets_403_for_dag_b_releases_reports_and_records(
    client: Any, viewer: dict[str, str], admin: dict[str, str], releases: Releases
) -> None:
    for route in (
        f"/release-gates/runs/{DAG_B}/manual__1",
        f"/release-gates/api/runs/{DAG_B}/manual__1",
        _file(releases.b),
        _record(releases.b),
        _file(releases.shadow),
        _record(releases.shadow),
    ):
        assert client.get(route, headers=viewer).status_code == 403, route
        assert client.get(route, headers=admin).status_code == 200, route  # the routes do serve them


def test_a_crafted_release_id_of_dag_b_that_parses_as_dag_a_gets_403(
    client: Any, viewer: dict[str, str], releases: Releases
) -> None:
    crafted = f"{DAG_SHADOW}__r2"  # "release_a" + "__" + "shadow__r2": A's DAG id by its first "__"
    assert split_release_id(crafted) == (DAG_A, "shadow__r2")
    assert split_release_id(releases.posing) == (DAG_A, "x")
    for release_id in (crafted, releases.posing):
        assert client.get(_file(release_id), headers=viewer).status_code == 403
        assert client.get(_record(release_id), headers=viewer).status_code == 403
    # The run tab of A's (possibly never triggered) runs "shadow__r2" and "x" is authorized on A,
    # and must not hand out the other DAG's chains named like them.
    for run_id in ("shadow__r2", "x"):
        for route in (f"/release-gates/runs/{DAG_A}/{run_id}", f"/release-gates/api/runs/{DAG_A}/{run_id}"):
            response = client.get(route, headers=viewer)
            assert response.status_code == 200, route
            assert "SHADOW" not in response.text and "POSING" not in response.text, route
            assert "no drift" not in response.text, route


def test_a_chain_that_recorded_no_dag_is_served_only_to_who_may_read_every_dag(
    client: Any, viewer: dict[str, str], admin: dict[str, str], releases: Releases
) -> None:
    for route in (f"/release-gates/runs/{DAG_A}/old", _file(releases.legacy), _record(releases.legacy)):
        refused = client.get(route, headers=viewer)
        assert refused.status_code == 403 and "every DAG" in refused.json()["detail"], route
        assert client.get(route, headers=admin).status_code == 200, route
    listed = {
        r["release_id"] for r in client.get("/release-gates/api/releases", headers=admin).json()["releases"]
    }
    assert releases.legacy in listed and releases.b in listed


def test_history_from_a_dag_the_viewer_may_not_read_is_left_out(
    client: Any, viewer: dict[str, str], admin: dict[str, str], releases: Releases
) -> None:
    seen = client.get(f"/release-gates/api/runs/{DAG_A}/r1", headers=viewer).json()
    assert seen["previous_release_id"] is None
    assert "B-secret" not in json.dumps(seen) and "SHADOW" not in json.dumps(seen)
    everything = client.get(f"/release-gates/api/runs/{DAG_A}/r1", headers=admin).json()
    assert everything["previous_release_id"] == releases.legacy  # the admin may read every chain


@pytest.mark.parametrize(
    ("dag_id", "run_id"),
    [
        (DAG_A, "shadow__r2"),
        (DAG_SHADOW, "r2"),
        ("a_", "_b"),
        ("a", "__b"),
        ("a__", "b"),
        ("_a", "b__c"),
        ("a.b-c", "manual__2026-01-05T09:00:00+00:00"),
    ],
)
def test_release_ids_name_one_dag_run_and_the_operators_render_the_same(dag_id: str, run_id: str) -> None:
    from airflow.sdk import DAG, BaseOperator

    from release_gates.operators.base import DEFAULT_RELEASE_ID

    release_id = release_id_for(dag_id, run_id)
    assert split_release_id(release_id) == (dag_id, run_id)
    for native in (False, True):  # the release DAG renders natively
        with DAG(dag_id=dag_id, schedule=None, render_template_as_native_obj=native) as dag:
            task = BaseOperator(task_id="t")
        context = {"dag": dag, "run_id": run_id}
        assert task.render_template(DEFAULT_RELEASE_ID, context) == release_id  # type: ignore[arg-type]
    if "__" not in dag_id and not dag_id.endswith("_"):
        assert release_id == f"{dag_id}__{run_id}"  # ids of ordinary DAGs did not change


def test_two_dag_runs_that_used_to_share_a_release_id_no_longer_do() -> None:
    assert release_id_for(DAG_A, "shadow__r2") != release_id_for(DAG_SHADOW, "r2")
    assert f"{DAG_A}__shadow__r2" == f"{DAG_SHADOW}__r2"  # what the old scheme did
