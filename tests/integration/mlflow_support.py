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

MODEL = "income-classifier"


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


def evaluation_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
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
