"""The aggregate engine on a real PostgreSQL server: quoting, the timeout, and what crosses over."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from release_gates.aggregates.engine import EngineSettings, open_source
from release_gates.exceptions import AggregateTimeoutError, DatasetError, is_transient
from release_gates.policy import Dataset

pytestmark = pytest.mark.integration


def _table(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text('CREATE TABLE "Decisions" ("Group" text, "select" int)'))
        conn.execute(sa.text("""INSERT INTO "Decisions" VALUES ('a', 1), ('a', 0), ('b', 1), (NULL, 1)"""))
    engine.dispose()


def test_mixed_case_and_reserved_identifiers_are_quoted(postgres_url: str) -> None:
    _table(postgres_url)
    with open_source(Dataset(uri=f"{postgres_url}&table=Decisions"), settings=EngineSettings()) as source:
        assert source.dialect == "postgresql" and source.relation == '"Decisions"'
        assert source.columns() == ["Group", "select"]
        group, chosen = source.quote("Group"), source.quote("select")
        rows = source.fetch(
            f"SELECT {group}, SUM({chosen}) FROM {source.relation} WHERE {chosen} >= :low GROUP BY {group}",
            {"low": 0},
        )
    assert set(rows) == {("a", 1), ("b", 1), (None, 1)}


def test_a_query_past_the_timeout_is_cancelled_in_the_database(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _table(postgres_url)
    settings = EngineSettings(timeout_seconds=1.0, progress_every=0.3)
    caplog.set_level(logging.INFO, logger="release_gates.aggregates.engine")
    dataset = Dataset(uri=f"{postgres_url}&table=Decisions")
    with open_source(dataset, name="decisions", settings=settings) as source:
        with pytest.raises(
            AggregateTimeoutError, match=r"dataset 'decisions'.*past the timeout of 1 s"
        ) as caught:
            source.fetch(f"SELECT pg_sleep(5), COUNT(*) FROM {source.relation}")
        # The connection stays usable for the next query of the same check.
        assert source.fetch(f"SELECT COUNT(*) FROM {source.relation}") == [(4,)]
    assert is_transient(caught.value)
    assert any("aggregate query running" in r.getMessage() for r in caplog.records)


def test_a_failing_query_names_the_dataset_without_the_password(postgres_url: str) -> None:
    _table(postgres_url)
    with (
        open_source(Dataset(uri=f"{postgres_url}&table=Decisions"), name="decisions") as source,
        pytest.raises(DatasetError, match=r"dataset 'decisions'.*aggregate query failed") as caught,
    ):
        source.fetch(f"SELECT CAST('secret-cell' AS int) FROM {source.relation}")
    assert "secret-cell" not in str(caught.value)
