"""The Release gates tab and the Releases page in a real browser against `airflow standalone`.

A demo-like release (two fairness gates, one fails; the ethics reviewer delays the release through the
HITL REST API) runs on a standalone Airflow that loads the plugin both from the provider registry and
from the repository's plugins/ folder. Headless Chromium logs in through the simple auth manager's
form, opens the run's "Release gates" tab and the "Releases" page, and saves screenshots.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from release_gates_testing.airflow import Standalone
from release_gates_testing.humans import Answer, HitlResponder

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USERS = {"admin": "admin-ui", "aisha": "aisha-ui"}
DAG_ID = "release_ui_e2e"
POLICY = """\
policy_version: 1
release: {model: ui-model, risk_tier: high}
owners:
  ethics_reviewer: {users: [aisha], email: ethics@example.org}
  release_manager: {users: [admin]}
remediation_sla: {high: 3d}
datasets:
  eval:
    uri: eval.parquet
    owner: t
    description: d
    legal_basis: l
    label: y
    prediction: p
    label_values: [0, 1]
gates:
  - id: ethics
    owner: ethics_reviewer
    title: Subgroup fairness
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    mitigations: [reweight]
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        reference_group: {g: a}
        criteria: [{metric: selection_rate, ratio_min: 0.8, severity: HIGH}]
  - id: quality
    owner: release_manager
    rationale: Selection rates by region stay within the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [region]
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
approvals:
  release: {roles: [ethics_reviewer, release_manager], timeout: 1h}
"""
DAG_FILE = """\
# The Airflow release DAG of the browser test (DagBag reads files that mention "airflow" and "dag").
from release_gates.dag_factory import build_release_dag

dag = build_release_dag({policy!r}, dag_id={dag_id!r}, default_args={{"retries": 0}})
"""


def _browser_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail(f"no Chromium at {CHROMIUM}: CI installs the Debian package 'chromium'")
    pytest.skip("no Chromium installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Standalone, str]]:
    """Standalone Airflow after one held release; yields the server and the run id."""
    _browser_or_skip()
    work = tmp_path_factory.mktemp("ui-e2e")
    dags = work / "dags"
    dags.mkdir()
    (work / "policy.yaml").write_text(POLICY)
    rng = np.random.default_rng(0)
    g = ["a"] * 1000 + ["b"] * 1000
    p = [1 if i % 2 == 0 else 0 for i in range(1000)] + [1 if i % 4 == 0 else 0 for i in range(1000)]
    region = rng.choice(["n", "s"], 2000)  # independent of the decisions: this gate passes
    frame = pd.DataFrame({"g": g, "region": region, "y": rng.integers(0, 2, 2000), "p": p})
    frame.to_parquet(work / "eval.parquet")
    (dags / "release_ui.py").write_text(DAG_FILE.format(policy=str(work / "policy.yaml"), dag_id=DAG_ID))
    model = work / "model.bin"
    model.write_bytes(b"model")
    env = {
        "RELEASE_GATES_EVIDENCE_URL": f"sqlite:///{work / 'evidence.db'}",
        # The plugin from both places a deployment may have it: Airflow must load it once.
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False",
    }
    server = Standalone(work / "airflow", dags, USERS, extra_env=env)
    server.start()
    try:
        server.wait_for_dag(DAG_ID)
        conf = {
            "model_version": "5",
            "model_uri": str(model),
            "model_sha256": hashlib.sha256(b"model").hexdigest(),
            "image": "registry.example.org/m@sha256:" + "c" * 64,
        }
        run_id = server.trigger(DAG_ID, conf)
        script = {"ethics.decision": Answer("aisha", "Delay release", "Retrain with reweighting first.")}
        responder = HitlResponder(server.client, USERS, log=lambda _: None)
        worker = threading.Thread(
            target=responder.play,
            args=(DAG_ID, script),
            kwargs={
                "done": lambda: server.finished(DAG_ID, run_id),
                "run_id": run_id,
                "timeout": 600,
                "poll": 1,
                "fallback": True,
            },
        )
        worker.start()
        worker.join(timeout=660)
        assert server.finished(DAG_ID, run_id), f"the run did not finish; see {server.log_path}"
        yield server, run_id
    finally:
        server.stop()


def test_plugin_is_registered_once(released: tuple[Standalone, str]) -> None:
    server, _ = released
    plugins = server.client.get("/api/v2/plugins", headers=server.headers()).json()["plugins"]
    assert [p["name"] for p in plugins].count("release_gates") == 1
    errors = server.client.get("/api/v2/plugins/importErrors", headers=server.headers()).json()
    # Only this provider's: the OpenLineage provider (a dev dependency here) registers its own plugin
    # through both its entry point and its provider info, and reports the second as "already registered".
    ours = [e for e in errors["import_errors"] if not e["source"].startswith("OpenLineage")]
    assert ours == [], errors


def test_unauthenticated_requests_get_401(released: tuple[Standalone, str]) -> None:
    server, run_id = released
    for path in (
        "/release-gates/releases",
        f"/release-gates/runs/{DAG_ID}/{run_id}",
        "/release-gates/api/releases",
    ):
        response = httpx.get(server.base_url + path, timeout=30)
        assert response.status_code == 401, path
        assert response.headers["content-security-policy"] == "frame-ancestors 'self'"


def test_release_gates_tab_and_releases_page_in_the_browser(
    released: tuple[Standalone, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    server, run_id = released
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_browser_or_skip(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            _log_in(page, server.base_url, "admin", USERS["admin"])

            page.goto(f"{server.base_url}/dags/{DAG_ID}/runs/{run_id}")
            page.get_by_role("tab", name="Release gates").or_(
                page.get_by_role("link", name="Release gates")
            ).first.click()
            tab = page.frame_locator("iframe").first
            expect(tab.locator("#decision")).to_have_text("HELD")
            expect(tab.locator('tr[data-gate="ethics"] [data-verdict]')).to_have_text("REMEDIATE")
            expect(tab.locator('tr[data-gate="quality"] [data-verdict]')).to_have_text("PASSED")
            expect(tab.locator("#chain")).to_contain_text("verified")
            expect(tab.locator("#decisions")).to_contain_text("Retrain with reweighting first.")
            expect(tab.locator("#files a").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "release-gates-tab.png"), full_page=True)

            page.goto(server.base_url + "/")
            page.get_by_role("link", name="Releases").or_(
                page.get_by_role("button", name="Releases")
            ).first.click()
            releases = page.frame_locator("iframe").first
            expect(releases.locator("#releases")).to_contain_text("ui-model")
            expect(releases.locator("#releases")).to_contain_text("HELD")
            expect(releases.locator("#open-items")).to_contain_text("ethics_reviewer")
            page.screenshot(path=str(tmp_path / "releases-page.png"), full_page=True)

            anonymous = browser.new_page()
            response = anonymous.goto(f"{server.base_url}/release-gates/releases")
            assert response is not None and response.status == 401
        finally:
            browser.close()
    print(f"screenshots: {tmp_path / 'release-gates-tab.png'} {tmp_path / 'releases-page.png'}")


def _log_in(page: Any, base_url: str, user: str, password: str) -> None:
    """Through the simple auth manager's login form, as a person would."""
    page.goto(base_url + "/")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/" not in url and "login" not in url)
