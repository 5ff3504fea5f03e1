"""The aggregate engine: one SELECT over files (DuckDB) or a database (SQLAlchemy), limits enforced."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from release_gates.aggregates.config import configured_settings
from release_gates.aggregates.engine import EngineSettings, open_frame, open_source, prefers_pandas
from release_gates.datasets import fingerprint, locate
from release_gates.exceptions import (
    AggregateLimitError,
    AggregateMemoryError,
    AggregateTimeoutError,
    DatasetError,
    is_transient,
)
from release_gates.policy import Dataset

FRAME = pd.DataFrame(
    {"g": ["a", "b", None, "a", "b"], "y": [1, 0, 1, np.nan, 1], "p": [1, 1, 0, 0, 1]},
)
EXPECTED = [("a", 1.0, 1), ("a", None, 1), ("b", 0.0, 1), ("b", 1.0, 1), (None, 1.0, 1)]


def _grouped(dataset: Dataset, base: Path) -> tuple[str, list[tuple[object, ...]]]:
    with open_source(dataset, name="eval", settings=EngineSettings(), base_dir=base) as source:
        g, y, p = (source.quote(c) for c in ("g", "y", "p"))
        rows = source.fetch(
            f"SELECT {g}, {y}, count(*) FROM {source.relation} WHERE {p} >= :low GROUP BY {g}, {y}",
            {"low": 0},
        )
        return source.dialect, sorted(rows, key=lambda r: (r[0] is None, r[0] or "", r[1] is None, r[1] or 0))


def test_the_same_group_by_on_parquet_csv_a_partitioned_folder_and_sqlite(tmp_path: Path) -> None:
    FRAME.to_parquet(tmp_path / "eval.parquet")
    FRAME.to_csv(tmp_path / "eval.csv", index=False)
    for part in ("1", "2"):
        (tmp_path / "folder" / f"part={part}").mkdir(parents=True)
        FRAME.to_parquet(tmp_path / "folder" / f"part={part}" / "data.parquet")
    FRAME.to_sql("eval", sa.create_engine(f"sqlite:///{tmp_path / 'eval.db'}"), index=False)

    assert _grouped(Dataset(uri="eval.parquet"), tmp_path) == ("duckdb", EXPECTED)
    assert _grouped(Dataset(uri="eval.csv"), tmp_path) == ("duckdb", EXPECTED)
    assert _grouped(Dataset(uri=f"sqlite:///{tmp_path / 'eval.db'}?table=eval"), tmp_path) == (
        "sqlite",
        EXPECTED,
    )
    dialect, doubled = _grouped(Dataset(uri="folder", format="parquet"), tmp_path)
    assert (dialect, doubled) == ("duckdb", [(*row[:2], 2 * int(str(row[2]))) for row in EXPECTED])
    with open_source(
        Dataset(uri="folder", format="parquet"), settings=EngineSettings(), base_dir=tmp_path
    ) as s:
        assert s.columns() == ["g", "y", "p", "part"]  # the partition is a column


def test_a_folder_fingerprint_covers_every_file_and_its_name(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    (folder / "part=1").mkdir(parents=True)
    FRAME.to_parquet(folder / "part=1" / "data.parquet")
    dataset = Dataset(uri=str(folder), format="parquet")
    first = fingerprint("eval", dataset)
    assert first["files"] == 1 and first["bytes"] == (folder / "part=1" / "data.parquet").stat().st_size
    (folder / "part=1").rename(folder / "part=2")  # same bytes, another partition value
    assert fingerprint("eval", dataset)["sha256"] != first["sha256"]


def _open(dataset: Dataset, **options: object) -> None:
    with open_source(dataset, name="eval", **options):  # type: ignore[arg-type]
        pass


def test_missing_columns_files_and_tables_are_named(tmp_path: Path) -> None:
    FRAME.to_parquet(tmp_path / "eval.parquet")
    settings = EngineSettings()
    with pytest.raises(DatasetError, match=r"dataset 'eval': missing column\(s\) 'age' \(has: g, y, p\)"):
        _open(Dataset(uri="eval.parquet"), columns=["g", "age"], settings=settings, base_dir=tmp_path)
    with pytest.raises(DatasetError, match="file not found"):
        _open(Dataset(uri="gone.parquet"), settings=settings, base_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no Parquet files"):
        _open(Dataset(uri="empty", format="parquet"), settings=settings, base_dir=tmp_path)
    sa.create_engine(f"sqlite:///{tmp_path / 'e.db'}").connect().close()
    with pytest.raises(DatasetError, match="table 'eval' does not exist"):
        _open(Dataset(uri=f"sqlite:///{tmp_path / 'e.db'}?table=eval"), settings=settings)


def test_a_corrupt_parquet_file_is_a_dataset_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "eval.parquet").write_bytes(b"PAR1 not really parquet")
    with pytest.raises(DatasetError, match=r"dataset 'eval' \(.*eval.parquet\)"):
        _open(Dataset(uri="eval.parquet"), settings=EngineSettings(), base_dir=tmp_path)


def test_the_memory_limit_stops_the_query_with_a_clear_error() -> None:
    # No spill folder (""), 10MB: a GROUP BY over five million distinct keys cannot fit.
    settings = EngineSettings(memory_limit="10MB", temp_directory="")
    with (
        open_frame(FRAME, name="eval", settings=settings) as source,
        pytest.raises(AggregateMemoryError, match="more memory than the limit of 10MB") as caught,
    ):
        source.fetch("SELECT count(*) FROM (SELECT i, count(*) FROM range(5000000) t(i) GROUP BY i)")
    assert isinstance(caught.value, AggregateLimitError) and not is_transient(caught.value)
    assert "aggregate_memory_limit" in str(caught.value)


def test_the_timeout_interrupts_the_query_and_progress_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    settings = EngineSettings(timeout_seconds=1.0, progress_every=0.3)
    caplog.set_level(logging.INFO, logger="release_gates.aggregates.engine")
    with (
        open_frame(FRAME, name="eval", settings=settings) as source,
        pytest.raises(AggregateTimeoutError, match="past the timeout of 1 s") as caught,
    ):
        source.fetch("SELECT sum(hash(i) % 7) FROM range(3000000000) t(i)")
    assert is_transient(caught.value)
    lines = [r.getMessage() for r in caplog.records]
    assert any("% by DuckDB's estimate" in line and "elapsed" in line for line in lines), lines


def test_settings_refuse_what_is_not_a_size_and_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(DatasetError, match="not a size"):
        EngineSettings(memory_limit="1GB'; SET enable_external_access = true; --")
    with pytest.raises(DatasetError, match="threads"):
        EngineSettings(threads=0)
    config = {"memory_limit": "256MB", "threads": "2", "timeout": "30"}
    assert configured_settings(config.get) == EngineSettings(
        memory_limit="256MB", threads=2, timeout_seconds=30.0
    )
    monkeypatch.setenv("RELEASE_GATES_AGGREGATE_MEMORY_LIMIT", "2GiB")
    monkeypatch.setenv("RELEASE_GATES_AGGREGATE_PANDAS_MAX_ROWS", "10")
    settings = configured_settings(config.get)
    assert (settings.memory_limit, settings.threads, settings.pandas_max_rows) == ("2GiB", 2, 10)
    with pytest.raises(DatasetError, match="configuration"):
        configured_settings({"threads": "many"}.get)


def test_airflow_s_environment_form_counts_and_the_cli_does_not_import_airflow_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess
    import sys

    monkeypatch.setenv("AIRFLOW__RELEASE_GATES__AGGREGATE_THREADS", "3")
    assert configured_settings().threads == 3
    probe = (
        "import sys; from release_gates.aggregates.config import configured_settings; "
        "s = configured_settings(); print(s.threads, 'airflow.configuration' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["3", "False"]


def test_named_parameters_leave_casts_alone() -> None:
    with open_frame(FRAME, settings=EngineSettings()) as source:
        assert source.fetch("SELECT '7'::INTEGER + :n", {"n": 1}) == [(8,)]


def test_small_parquet_files_stay_on_pandas(tmp_path: Path) -> None:
    FRAME.to_parquet(tmp_path / "eval.parquet")
    FRAME.to_csv(tmp_path / "eval.csv", index=False)
    small, tiny = EngineSettings(pandas_max_rows=5), EngineSettings(pandas_max_rows=4)
    assert prefers_pandas(locate("e", Dataset(uri=str(tmp_path / "eval.parquet"))), small)
    assert not prefers_pandas(locate("e", Dataset(uri=str(tmp_path / "eval.parquet"))), tiny)
    assert not prefers_pandas(locate("e", Dataset(uri=str(tmp_path / "eval.csv"))), small)
