"""A real MLflow tracking/registry store on SQLite in a test's tmp_path, and models to register in it.

No server and no network: ``MlflowClient`` writes the registry to ``mlflow.db`` and artifacts to a
folder beside it. A model version's artifacts hold one skops file (the layout
``release_gates.scoring.registry`` reads).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.dag_factory import build_release_dag
from release_gates_testing.airflow import TEST_USERS, run_release
from release_gates_testing.humans import Answer

MODEL = "income-classifier"

POLICY = f"""\
policy_version: 1
release: {{model: {MODEL}, risk_tier: low}}
owners:
  ethics_reviewer: {{users: [aisha]}}
  release_manager: {{users: [admin]}}
datasets:
  eval: {{uri: eval.parquet, owner: t, description: d, legal_basis: l, label: y, prediction: pred,
         label_values: [0, 1]}}
candidate:
  uri: "{{{{ params.model_uri }}}}"
  trusted_types: [numpy.dtype]
  features: [x1, gb]
scoring: {{datasets: [eval]}}
gates:
  - id: ethics
    owner: ethics_reviewer
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
approvals:
  release: {{roles: [release_manager], timeout: 1h}}
deployment:
  target: {{type: mlflow_alias, name: {MODEL}, poll_interval: 0.05}}
  version: "{{{{ params.model_version }}}}"
  stable_timeout: 1m
"""

APPROVE = {"signoff.release_release_manager": Answer("admin", "Approve")}


def setup_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str = POLICY
) -> tuple[Registry, str]:
    registry = make_registry(tmp_path, monkeypatch)
    evaluation_frame().to_parquet(tmp_path / "eval.parquet", index=False)
    (tmp_path / "policy.yaml").write_text(policy)
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    return registry, evidence_url


def conf(version: str, sha256: str = "") -> dict[str, Any]:
    return {"model_version": version, "model_uri": f"models:/{MODEL}/{version}", "model_sha256": sha256,
            "image": "unused"}  # fmt: skip


def release(
    tmp_path: Path, name: str, run_conf: dict[str, Any], script: dict[str, Answer]
) -> tuple[Any, str]:
    dag = build_release_dag(
        tmp_path / "policy.yaml", dag_id=f"release_mlflow_{name}", default_args={"retries": 0}
    )
    run, _ = run_release(dag, run_conf, script, passwords=TEST_USERS)
    return run, f"{dag.dag_id}__{run.run_id}"


@dataclass
class Registry:
    uri: str
    client: Any
    experiment_id: str
    workdir: Path

    def register(self, model: Any, name: str = MODEL) -> tuple[str, str]:
        """Log ``model`` as a skops file in a run and register it: ``(version, sha256 of the file)``."""
        import skops.io as sio

        folder = self.workdir / f"m{len(list(self.workdir.glob('m*')))}"
        folder.mkdir()
        path = folder / "model.skops"
        sio.dump(model, path)
        run = self.client.create_run(self.experiment_id)
        self.client.log_artifact(run.info.run_id, str(path), "model")
        self.client.set_terminated(run.info.run_id)
        with contextlib.suppress(Exception):  # already registered: add a version
            self.client.create_registered_model(name)
        version = self.client.create_model_version(
            name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        return str(version.version), hashlib.sha256(path.read_bytes()).hexdigest()

    def reupload(self, version: str, model: Any, name: str = MODEL) -> None:
        """Log another model under the version's artifact name (the file is replaced in place)."""
        import skops.io as sio

        detail = self.client.get_model_version(name, version)
        folder = self.workdir / f"reupload-{version}"
        folder.mkdir()
        sio.dump(model, folder / "model.skops")
        self.client.log_artifact(detail.run_id, str(folder / "model.skops"), "model")

    def alias(self, alias: str = "champion", name: str = MODEL) -> str | None:
        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except Exception:
            return None

    def aliases(self, name: str = MODEL) -> list[str]:
        return sorted(self.client.get_registered_model(name).aliases)


def make_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, via: str = "connection") -> Registry:
    """A fresh registry; the provider finds it through the ``mlflow_default`` connection or the env."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    if via == "connection":
        monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "generic",
                           "extra": {"tracking_uri": uri}}))  # fmt: skip
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT", raising=False)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    artifacts = tmp_path / "mlartifacts"
    experiment = client.create_experiment("training", artifact_location=artifacts.as_uri())
    workdir = tmp_path / "models"
    workdir.mkdir()
    return Registry(uri, client, experiment, workdir)


def evaluation_frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = np.where(np.arange(n) % 2 == 0, "a", "b")
    x1 = rng.normal(size=n)
    return pd.DataFrame(
        {"g": g, "gb": (g == "b").astype(int), "x1": x1, "y": (x1 > 0).astype(int), "pred": 0}
    )


def fair_model(seed: int = 0) -> Any:
    """Decides on x1 only: both groups are selected at about the same rate."""
    from sklearn.linear_model import LogisticRegression

    frame = evaluation_frame(seed=seed + 1)
    return LogisticRegression().fit(frame[["x1", "gb"]], frame["y"])


def biased_model() -> Any:
    """Selects group a only: the four-fifths rule fails."""
    from sklearn.tree import DecisionTreeClassifier

    frame = evaluation_frame(seed=3)
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(frame[["x1", "gb"]], 1 - frame["gb"])
