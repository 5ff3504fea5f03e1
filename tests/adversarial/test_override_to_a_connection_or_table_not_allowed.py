"""A run must not point a dataset at a connection, table or directory the policy does not allow.

The attack: ``datasets: {eval: "sql://<any connection>/<any table>"}`` (or a path that walks out of
the allowed directory). The allow-list in the policy decides; the release refuses the run at start,
and a check that builds its catalog from the same parameter fails closed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.overrides import DatasetOverrideError
from tests.adversarial.release_support import run, warehouse_policy

DATASETS = {
    "eval": {
        "uri": "sql://warehouse/scored_eval",
        "overrides": {"connections": ["warehouse"], "tables": ["scored_eval", "staging.scored_eval_v2"]},
    },
    "files": {
        "uri": "data/eval.parquet",
        "overrides": {"uri_prefixes": ["data/candidates/", "s3://ml-bucket/eval/"]},
    },
    "fixed": {"uri": "data/fixed.parquet"},
}


def build(tmp_path: Path, overrides: dict[str, object]) -> DatasetCatalog:
    return DatasetCatalog.build(DATASETS, overrides=overrides, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("override", "rule"),
    [
        ({"eval": "sql://airflow_db/scored_eval"}, "connection 'airflow_db' is not in"),
        ({"eval": "sql://warehouse/users"}, "table 'users' is not in"),
        ({"eval": "sql://warehouse/public.scored_eval"}, "table 'public.scored_eval' is not in"),
        ({"eval": "sql://warehouse/scored_eval?table=users"}, "takes no parameters"),
        ({"fixed": "data/candidates/x.parquet"}, "allows no run override"),
        ({"nope": "data/candidates/x.parquet"}, "no such dataset in the policy"),
        ({"files": "data/candidates/../../secrets/x.parquet"}, "under none of"),
        ({"files": "data/candidates-evil/x.parquet"}, "under none of"),
        ({"files": "/etc/passwd"}, "under none of"),
        ({"files": "file:///etc/passwd"}, "under none of"),
        ({"files": "s3://ml-bucket/eval/../private/x.parquet"}, "'..'"),
        ({"files": "s3://ml-bucket/evaluation/x.parquet"}, "under none of"),
        ({"files": "s3://other-bucket/eval/x.parquet"}, "under none of"),
        ({"files": "s3://ml-bucket/eval/x.parquet?versionId=1"}, "no query"),
    ],
)
def test_overrides_outside_the_allow_list_fail_closed(
    tmp_path: Path, override: dict[str, object], rule: str
) -> None:
    with pytest.raises(DatasetOverrideError, match="run override refused") as caught:
        build(tmp_path, override)
    assert rule in str(caught.value)
    assert str(caught.value).count("\n") == 0  # one line, naming the dataset and the rule
    assert f"dataset {next(iter(override))!r}" in str(caught.value)


def test_a_symlink_out_of_the_allowed_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data" / "candidates").mkdir(parents=True)
    (tmp_path / "outside.parquet").write_bytes(b"x")
    (tmp_path / "data" / "candidates" / "link.parquet").symlink_to(tmp_path / "outside.parquet")
    with pytest.raises(DatasetOverrideError, match="under none of"):
        build(tmp_path, {"files": "data/candidates/link.parquet"})


def test_allowed_overrides_are_applied(tmp_path: Path) -> None:
    absolute = tmp_path / "data" / "candidates" / "x.parquet"
    catalog = build(
        tmp_path,
        {
            "eval": "sql://warehouse/staging.scored_eval_v2",
            "files": {"uri": str(absolute), "sha256": "b" * 64},
        },
    )
    assert catalog.dataset("eval").uri == "sql://warehouse/staging.scored_eval_v2"
    assert (catalog.dataset("files").uri, catalog.dataset("files").sha256) == (str(absolute), "b" * 64)
    assert catalog.dataset("fixed").uri == "data/fixed.parquet"


POLICY = warehouse_policy("conn-model")


@pytest.mark.integration
@pytest.mark.slow
def test_a_run_naming_another_connection_is_refused_before_anything_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "metadata.db"
    with sqlite3.connect(database) as conn:
        conn.execute("CREATE TABLE scored_eval (g TEXT, y INTEGER, p INTEGER)")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_DB", f"sqlite:///{database}")
    release = run(tmp_path, "other_conn", POLICY, {"eval": "sql://other_db/scored_eval"})
    states = release.task_states()
    assert states["start"] == "failed"
    assert states["ethics.fairness"] == "upstream_failed"
    assert not release.records("check_result")
    assert release.sealed()["decision"] == "held"
