"""A run parameter must not carry SQL or a database URL: those belong in the reviewed policy file.

The attack: ``datasets: {eval: "sql://warehouse?query=SELECT …; DROP TABLE …"}`` or a raw SQLAlchemy
URL with credentials of the attacker's choosing. Before, the query went into a subquery verbatim
(stacked statements ran on psycopg2). Now it is refused at start, in the catalog, and the
``{uri, sha256}`` form admits no extra keys at trigger time.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.overrides import DatasetOverrideError
from tests.adversarial.release_support import run, warehouse_policy

ALLOW = {"connections": ["warehouse"], "tables": ["scored_eval"], "uri_prefixes": ["data/"]}
DATASETS = {
    "eval": {"uri": "sql://warehouse/scored_eval", "overrides": ALLOW},
    "raw": {"uri": "data/eval.parquet", "format": "sql", "overrides": ALLOW},
}
QUERY = "SELECT 1 AS g; DROP TABLE scored_eval"


@pytest.mark.parametrize(
    ("override", "rule"),
    [
        ({"eval": f"sql://warehouse?query={QUERY}"}, "query= in a run parameter"),
        ({"eval": f"sql://warehouse/scored_eval?query={QUERY}"}, "query= in a run parameter"),
        ({"eval": f"sql://warehouse/scored_eval?QUERY={QUERY}"}, "query= in a run parameter"),
        ({"eval": "postgresql+psycopg2://admin:hunter2@db.internal/prod?table=users"}, "credentials"),
        ({"eval": "postgresql://db.internal/prod?table=scored_eval"}, "raw database URL"),
        ({"eval": "sqlite:////var/lib/airflow/airflow.db?table=connection"}, "raw database URL"),
        ({"eval": "duckdb:///data/x.duckdb?table=scored_eval"}, "raw database URL"),
        ({"raw": "data/other.db?table=scored_eval"}, "raw database URL"),  # format: sql reads it as a URL
        ({"eval": "sql://warehouse/scored_eval?password=x"}, "credentials"),
    ],
)
def test_queries_and_database_urls_are_refused(tmp_path: Path, override: dict[str, str], rule: str) -> None:
    with pytest.raises(DatasetOverrideError, match="run override refused") as caught:
        DatasetCatalog.build(DATASETS, overrides=override, base_dir=tmp_path)
    assert rule in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_reviewed_policy_file_may_still_use_a_query(tmp_path: Path) -> None:
    declared = {"eval": {"uri": "sql://warehouse?query=SELECT g, y, p FROM scored_eval"}}
    catalog = DatasetCatalog.build(declared, base_dir=tmp_path, resolve_connection=lambda _: "sqlite://")
    assert catalog.locate("eval").sql is not None and catalog.locate("eval").sql.query  # type: ignore[union-attr]


def test_the_trigger_form_admits_no_extra_keys() -> None:
    from airflow.sdk.exceptions import ParamValidationError

    from release_gates.dag_factory import release_params

    param = release_params()["datasets"]
    param.resolve({"eval": {"uri": "sql://warehouse/scored_eval", "sha256": "a" * 64}})
    for bad in (
        {"eval": {"uri": "sql://warehouse/scored_eval", "query": QUERY}},
        {"eval": {"uri": "x", "sha256": "not-a-digest"}},
        {"eval": {"sha256": "a" * 64}},
        {"eval": 42},
    ):
        with pytest.raises(ParamValidationError):
            param.resolve(bad)


POLICY = warehouse_policy("query-model")


@pytest.mark.integration
@pytest.mark.slow
def test_a_stacked_query_in_the_trigger_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "warehouse.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE scored_eval (g TEXT, y INTEGER, p INTEGER)")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"sqlite:///{database}")
    release = run(tmp_path, "stacked_query", POLICY, {"eval": f"sql://warehouse/scored_eval?query={QUERY}"})
    assert release.task_states()["start"] == "failed"
    assert not release.records("check_result")
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'scored_eval'").fetchone()
    assert release.sealed()["decision"] == "held"
