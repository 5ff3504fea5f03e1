"""A stress test of a model file nobody pinned binds its verdict to nothing that ships: INCONCLUSIVE."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.stress_safety import run_stress_safety_check
from release_gates.policy import StressSafetyCheck
from release_gates.results import Status


def _data(tmp_path: Path) -> DatasetCatalog:
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {"group": rng.choice(["a", "b"], n), "x": rng.normal(size=n), "label": rng.integers(0, 2, n)}
    )
    frame.to_parquet(tmp_path / "eval.parquet")
    return DatasetCatalog.build({"eval": {"uri": "eval.parquet", "label": "label"}}, base_dir=tmp_path)


def _spec(model: dict[str, object], **extra: object) -> StressSafetyCheck:
    return StressSafetyCheck.model_validate(
        {
            "kind": "stress_safety",
            "data": "eval",
            "model": model,
            "sensitive_features": ["group"],
            "ceiling": 0.9,
            "scenarios": [{"name": "baseline", "kind": "baseline"}],
            **extra,
        }
    )


def _skops_model(tmp_path: Path) -> Path:
    from sklearn.linear_model import LogisticRegression
    from skops.io import dump

    frame = pd.read_parquet(tmp_path / "eval.parquet")
    model = LogisticRegression().fit(frame[["x"]], frame["label"])
    path = tmp_path / "model.skops"
    dump(model, path)
    return path


def test_unpinned_model_is_inconclusive_and_never_loaded(tmp_path: Path) -> None:
    catalog = _data(tmp_path)
    # The file does not even exist: the verdict is reached before anything would be loaded.
    result = run_stress_safety_check(
        _spec({"uri": str(tmp_path / "nowhere.skops")}), catalog, check_id="ethics.stress"
    )
    assert result.status is Status.INCONCLUSIVE
    assert [f.id for f in result.findings] == ["model_not_pinned"]
    assert "allow_unpinned_model" in result.summary


def test_blank_pin_from_an_unset_run_parameter_is_unpinned(tmp_path: Path) -> None:
    catalog = _data(tmp_path)
    path = _skops_model(tmp_path)
    result = run_stress_safety_check(_spec({"uri": str(path), "sha256": "  "}), catalog, check_id="e.s")
    assert result.status is Status.INCONCLUSIVE


def test_explicit_opt_out_judges_the_unpinned_model(tmp_path: Path) -> None:
    catalog = _data(tmp_path)
    path = _skops_model(tmp_path)
    result = run_stress_safety_check(
        _spec({"uri": str(path)}, allow_unpinned_model=True), catalog, check_id="e.s"
    )
    assert result.status in (Status.PASS, Status.FAIL, Status.WARN)
    assert result.inputs["model"]["sha256"]  # what was judged is still fingerprinted
