"""Drift from aggregates asks for all columns at once — one statement per side for the statistics, the
categorical counts and each histogram pass — and every column's result is exactly what it is when
that column is measured alone, on DuckDB and on PostgreSQL (long tails that need refinement passes,
NaN and infinities, nulls, a categorical column past the cap)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from release_gates.aggregates.engine import AggregateSource, EngineSettings, open_frame, open_source
from release_gates.checks import drift_sources
from release_gates.checks.drift_sources import evaluate_drift_sources
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.policy import DriftCheck
from release_gates.results import CheckResult, Status

pytestmark = pytest.mark.integration


class _Counted:
    """A real source that records the statements it runs (to count round trips, not to fake them)."""

    def __init__(self, source: AggregateSource) -> None:
        self.source = source
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.statements.append(sql)
        return self.source.fetch(sql, params)


def _frames(rows: int = 6000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(17)

    def frame(shift: float, n: int) -> pd.DataFrame:
        values = pd.DataFrame(
            {
                "normal": rng.normal(shift, 1.0, n),
                "tail": rng.lognormal(shift, 3.0, n),  # a range of thousands of σ: refinement passes
                "dirty": rng.normal(0.0, 1.0, n),
                "flat": np.full(n, 2.5),  # one value on both sides: W = 0
                "grade": rng.choice(list("abcd"), p=[0.4, 0.3, 0.2, 0.1] if shift else None, size=n),
                "city": rng.choice([f"c{i}" for i in range(40)], size=n),
            }
        )
        values.loc[rng.random(n) < 0.05, "dirty"] = np.nan
        values.loc[:3, "dirty"] = [np.inf, -np.inf, np.nan, 1e6]
        values.loc[rng.random(n) < 0.1, "grade"] = None
        return values

    return frame(0.0, rows), frame(0.2, rows + 500)


@contextmanager
def _sources(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[_Counted, _Counted]]:
    reference, current = _frames()
    if backend == "duckdb":
        with open_frame(reference, name="train") as ref, open_frame(current, name="eval") as cur:
            yield _Counted(ref), _Counted(cur)
        return
    url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    reference.to_sql("train", engine, index=False)
    current.to_sql("eval", engine, index=False)
    engine.dispose()
    catalog = DatasetCatalog.build(
        {"train": {"uri": f"{url}&table=train"}, "eval": {"uri": f"{url}&table=eval"}}
    )
    settings = EngineSettings()
    with (
        open_source(catalog.locate("train"), settings=settings) as ref,
        open_source(catalog.locate("eval"), settings=settings) as cur,
    ):
        yield _Counted(ref), _Counted(cur)


def _run(ref: _Counted, cur: _Counted, **fields: Any) -> CheckResult:
    spec = DriftCheck.model_validate({"kind": "drift", "reference": "train", "current": "eval", **fields})
    return evaluate_drift_sources(
        cast("AggregateSource", ref), cast("AggregateSource", cur), spec, check_id="d",
        reference_name="train", current_name="eval",
    )  # fmt: skip


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_one_statement_per_side_per_pass_and_the_same_results_as_alone(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with _sources(backend, tmp_path, request) as (ref, cur):
        together = _run(ref, cur)
        histogram_statements = [s for s in ref.statements if "rg_t" in s]
        alone = {c: _run(ref, cur, columns=[c]) for c in together.metrics["columns"]}
    facts = together.metrics["aggregates"]["columns"]
    assert set(together.metrics["columns"]) == {"normal", "tail", "dirty", "flat", "grade", "city"}
    assert facts["tail"]["passes"] >= 1  # the batch did refine
    # One statement per side for the first pass and one per refinement pass, whatever the columns.
    assert len(histogram_statements) == 1 + max(f.get("passes", 0) for f in facts.values())
    assert sum("GROUPING" in s for s in cur.statements) == (1 if backend in ("duckdb", "postgresql") else 2)
    for column, got in together.metrics["columns"].items():
        want = alone[column].metrics["columns"][column]
        assert (got["method"], got["drifted"]) == (want["method"], want["drifted"]), column
        assert got["score"] == pytest.approx(want["score"], abs=1e-9), column
        bound = facts[column].get("bound", 0.0)
        assert bound == pytest.approx(
            alone[column].metrics["aggregates"]["columns"][column].get("bound", 0.0)
        )
    # NaN and infinities are dropped, as Evidently drops them: 4 fewer values than rows minus nulls.
    assert together.metrics["columns"]["dirty"]["reference_rows"] < 6000 - 3
    assert together.metrics["columns"]["flat"]["score"] == 0.0


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_the_category_cap_holds_when_columns_are_counted_together(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drift_sources, "MAX_CATEGORIES", 10)  # city has 40 values, grade 4 (+ nulls)
    with _sources(backend, tmp_path, request) as (ref, cur):
        result = _run(ref, cur)
    assert result.status is Status.INCONCLUSIVE
    assert "city" not in result.metrics["columns"]
    assert any("'city' has more than 10 distinct values" in f.title for f in result.findings)
    assert result.metrics["columns"]["grade"]["method"] == "jensenshannon"  # nulls are not a category
    assert result.metrics["aggregates"]["columns"]["grade"] == {"from": "value counts", "exact": True}
