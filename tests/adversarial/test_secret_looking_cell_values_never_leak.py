"""Bad data must not carry its cells into the evidence trail, XCom, the logs or the UI.

The attack (or accident): the evaluation extract holds secrets in its label, prediction and
sensitive columns — an access key, a password — and the checks that read it fail on them. Before,
the fairness error echoed up to five raw values into its summary, which was recorded in evidence
and shown in the UI. Messages now carry counts and column names only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest

from release_gates_testing.airflow import TEST_USERS
from tests.adversarial.release_support import OWNERS, ReleaseRun, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRETS = ("AKIAIOSFODNN7EXAMPLE", "hunter2-SECRET", "AKIA-SENSITIVE-GROUP")

POLICY = f"""\
policy_version: 1
release: {{model: leak-model, risk_tier: low}}
{OWNERS}
datasets:
  train:
    uri: train.parquet
    owner: data_steward
    description: training set
    legal_basis: synthetic
    label: y
    label_values: [0, 1]
  eval:
    uri: eval.parquet
    owner: data_steward
    description: evaluation set
    legal_basis: synthetic
    label: y
    prediction: p
    label_values: [0, 1]
gates:
  - id: data
    owner: data_steward
    rationale: Labels follow the standard; eval looks like train.
    checks:
      - kind: lineage
        datasets: [train, eval]
      - kind: drift
        reference: train
        current: eval
  - id: ethics
    owner: data_steward
    rationale: Four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        min_group_size: 5
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
"""


def write_data(root: Path) -> None:
    n = 60
    groups = ["a", "b", SECRETS[2]] * (n // 3)
    pd.DataFrame({"g": groups, "x": range(n), "y": [0, 1] * (n // 2)}).to_parquet(root / "train.parquet")
    # Text columns (as a CSV-born extract would be): "0"/"1" still match the declared labels.
    labels: list[Any] = ["0", "1"] * (n // 2)
    predictions: list[Any] = ["1", "0"] * (n // 2)
    labels[3], labels[7] = SECRETS[0], SECRETS[1]
    predictions[5] = SECRETS[1]
    pd.DataFrame({"g": groups, "x": range(n), "y": labels, "p": predictions}).to_parquet(
        root / "eval.parquet"
    )


def ui_json(release: ReleaseRun) -> str:
    """The release's run and record JSON as the Release gates UI API serves it."""
    from airflow.api_fastapi.app import init_auth_manager
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from release_gates.ui.app import EVIDENCE, create_app

    app = FastAPI()
    init_auth_manager(app)
    app.mount("/release-gates", create_app())
    EVIDENCE.reset(release.store)
    try:
        with TestClient(app) as client:
            token = client.post("/auth/token", json={"username": "admin", "password": TEST_USERS["admin"]})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            bodies = [
                client.get(
                    f"/release-gates/api/runs/{release.run.dag_id}/{release.run.run_id}", headers=headers
                )
            ]
            for record in release.records():
                route = f"/release-gates/api/releases/{quote(release.release_id)}/records/{record.seq}"
                bodies.append(client.get(route, headers=headers))
            assert all(b.status_code == 200 for b in bodies), [b.text[:200] for b in bodies]
            return "\n".join(b.text for b in bodies)
    finally:
        EVIDENCE.reset()


def test_secret_looking_cells_appear_in_no_result_record_xcom_log_or_ui(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    write_data(tmp_path)
    caplog.set_level(logging.DEBUG)
    release = run(tmp_path, "leak", POLICY, {})

    results = release.results()
    # The bad cells did make the checks fail or error: the attack reached the error paths.
    assert results["ethics.fairness"]["status"] == "ERROR"
    assert "column 'y' has 2 value(s)" in results["ethics.fairness"]["summary"]
    assert results["data.lineage"]["status"] in ("FAIL", "ERROR")
    assert results["data.drift"]["status"] in ("INCONCLUSIVE", "ERROR", "FAIL", "WARN")

    captured = capfd.readouterr()
    places = {
        "check results": "\n".join(map(str, results.values())),
        "evidence": release.evidence_text(),
        "xcom": release.xcom_text(),
        "task log": caplog.text + captured.out + captured.err,
        "ui api": ui_json(release),
    }
    assert "ethics.fairness" in places["task log"]  # the log was captured, so its absence means something
    for where, text in places.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into the {where}"


def test_unexpected_third_party_error_is_recorded_without_the_value_it_quotes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception from a library (not ours) may quote a cell: the ERROR result, its evidence record
    and the task log keep the kind of problem and lose the value."""
    from release_gates.evidence import EvidenceStore
    from release_gates.exceptions import CheckErrorException
    from release_gates.operators.fairness import SubgroupFairnessCheckOperator

    secret = "AKIAIOSFODNN7EXAMPLE"
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", url)

    class Crashing(SubgroupFairnessCheckOperator):
        def run_check(self, spec: Any, policy: Any, context: Any) -> Any:
            raise ValueError(f"could not convert string to float: '{secret}'")

    operator = Crashing(
        task_id="fairness",
        check_id="ethics.fairness",
        spec={
            "data": "eval",
            "sensitive_features": ["g"],
            "criteria": [{"metric": "selection_rate", "ratio_min": 0.8}],
        },
        release_id="rel-1",
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(CheckErrorException) as raised:
        operator.execute({})  # type: ignore[arg-type]
    (record,) = EvidenceStore(url).records("rel-1")
    assert record.payload["status"] == "ERROR"
    assert "could not convert string to float" in record.payload["summary"]
    for text in (str(raised.value), json.dumps(record.payload), caplog.text):
        assert secret not in text
