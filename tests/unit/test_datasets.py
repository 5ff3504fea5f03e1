"""Dataset access: URI forms, fingerprints (files and SQL), frames and the errors that name the dataset."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from release_gates.datasets import (
    DatasetError,
    fingerprint,
    load_frame,
    locate,
    mask_password,
    sql_fingerprint,
)
from release_gates.policy import Dataset

ROWS = [("no", 0.25, 1), ("yes", 0.41, 3), ("no", 0.3, 2), ("no", None, 1)]


def _sqlite(path: Path, rows: list[tuple[object, ...]] = ROWS, table: str = "apps") -> str:
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {table} (deny TEXT, pirat REAL, chist INTEGER)")
        conn.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", rows)
    return f"sqlite:///{path}"


def test_local_paths_resolve_against_base_dir(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    dataset = Dataset(uri="d.csv")
    location = locate("d", dataset, base_dir=tmp_path)
    assert (location.kind, location.format, location.path) == ("file", "csv", tmp_path / "d.csv")
    printed = fingerprint("d", dataset, base_dir=tmp_path)
    assert printed["sha256"] == hashlib.sha256((tmp_path / "d.csv").read_bytes()).hexdigest()
    assert load_frame("d", dataset, base_dir=tmp_path, columns=["b"]).columns.tolist() == ["b"]


def test_file_errors_name_the_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"dataset 'gone': cannot read|dataset 'gone'.*cannot read"):
        fingerprint("gone", Dataset(uri=str(tmp_path / "gone.parquet")))
    with pytest.raises(DatasetError, match="dataset 'gone': file not found"):
        load_frame("gone", Dataset(uri=str(tmp_path / "gone.parquet")))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(DatasetError, match=r"dataset 'bad'.*unreadable parquet"):
        load_frame("bad", Dataset(uri=str(tmp_path / "bad.parquet")))
    with pytest.raises(DatasetError, match=r"dataset 'x'.*unsupported format 'txt'"):
        locate("x", Dataset(uri="notes.txt"))
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(DatasetError, match="dataset 'a': missing column\\(s\\) 'b'"):
        load_frame("a", Dataset(uri=str(tmp_path / "a.csv")), columns=["a", "b"])


@pytest.mark.parametrize(
    ("uri", "table", "schema", "query"),
    [
        ("sqlite:///{db}?table=apps", "apps", None, None),
        ("sqlite:///{db}?table=main.apps", "apps", "main", None),
        (
            "sqlite:///{db}?query=SELECT%20*%20FROM%20apps%20WHERE%20chist%20%3E%201",
            None,
            None,
            "SELECT * FROM apps WHERE chist > 1",
        ),
    ],
)
def test_sqlalchemy_urls_with_table_or_query(
    tmp_path: Path, uri: str, table: str | None, schema: str | None, query: str | None
) -> None:
    db = tmp_path / "a.db"
    _sqlite(db)
    location = locate("apps", Dataset(uri=uri.format(db=db)))
    assert location.kind == "sql" and location.sql is not None
    assert location.sql.url == f"sqlite:///{db}"  # table/query removed, four slashes kept
    assert (location.sql.table, location.sql.schema, location.sql.query) == (table, schema, query)


def test_sql_conn_uri_goes_through_the_resolver(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    url = _sqlite(db)
    seen = []

    def resolve(conn_id: str) -> str:
        seen.append(conn_id)
        return url

    location = locate("apps", Dataset(uri="sql://warehouse/apps"), resolve_connection=resolve)
    assert seen == ["warehouse"] and location.sql is not None and location.sql.table == "apps"

    def missing(conn_id: str) -> str:
        raise DatasetError(f"connection {conn_id!r} does not exist")

    with pytest.raises(DatasetError, match="connection 'nope' does not exist"):
        locate("apps", Dataset(uri="sql://nope/apps"), resolve_connection=missing)


def test_sql_uri_shape_errors() -> None:
    with pytest.raises(DatasetError, match="exactly one of a table"):
        locate("a", Dataset(uri="sqlite:///x.db"))
    with pytest.raises(DatasetError, match="not a plain SQL table"):
        locate("a", Dataset(uri="sqlite:///x.db?table=a;drop"))
    with pytest.raises(DatasetError, match="needs a connection id"):
        locate("a", Dataset(uri="sql:///apps"))


def test_sql_fingerprint_is_order_independent_and_content_sensitive(tmp_path: Path) -> None:
    one = locate("a", Dataset(uri=_sqlite(tmp_path / "one.db") + "?table=apps")).sql
    two = locate("a", Dataset(uri=_sqlite(tmp_path / "two.db", ROWS[::-1]) + "?table=apps")).sql
    edited = [*ROWS[:-1], ("no", 0.31, 1)]
    three = locate("a", Dataset(uri=_sqlite(tmp_path / "three.db", edited) + "?table=apps")).sql
    assert one and two and three
    first, second, third = (sql_fingerprint("a", s, batch_rows=2) for s in (one, two, three))
    assert first["sha256"] == second["sha256"]
    assert first["rows"] == 4 and first["columns"] == ["deny", "pirat", "chist"]
    assert third["sha256"] != first["sha256"] and third["schema_sha256"] == first["schema_sha256"]
    assert sql_fingerprint("a", one)["sha256"] == first["sha256"]  # batch size does not matter


def test_sql_frames_and_missing_tables(tmp_path: Path) -> None:
    url = _sqlite(tmp_path / "a.db")
    frame = load_frame("apps", Dataset(uri=f"{url}?table=apps"))
    assert frame.shape == (4, 3)
    queried = load_frame("q", Dataset(uri=f"{url}?query=SELECT%20deny%20FROM%20apps"))
    assert queried.columns.tolist() == ["deny"]
    with pytest.raises(DatasetError, match="dataset 'apps': table 'nope' does not exist"):
        fingerprint("apps", Dataset(uri=f"{url}?table=nope"))
    with pytest.raises(DatasetError, match="dataset 'apps': table 'nope' does not exist"):
        load_frame("apps", Dataset(uri=f"{url}?table=nope"))


def test_passwords_never_reach_messages() -> None:
    assert mask_password("postgresql://u:s3cret@db/x?table=t") == "postgresql://u:***@db/x?table=t"
    with pytest.raises(DatasetError) as caught:
        fingerprint("p", Dataset(uri="postgresql+psycopg2://u:s3cret@127.0.0.1:1/x?table=t"))
    assert "s3cret" not in str(caught.value) and "dataset 'p'" in str(caught.value)


def test_object_storage_uris_are_recognized_without_reading() -> None:
    location = locate("s3", Dataset(uri="s3://bucket/key/train.parquet"))
    assert (location.kind, location.format) == ("object", "parquet")


def test_parquet_reads_match_pandas_for_paths_bytes_and_column_subsets(tmp_path: Path) -> None:
    """The Arrow-native reader returns what ``pd.read_parquet`` returns: values, dtypes, a named index."""
    from release_gates.parquet import read_parquet_frame

    frame = pd.DataFrame(
        {"x": [1.5, 2.5, None], "g": ["a", "b", "a"], "n": [1, 2, 3]},
        index=pd.Index([10, 20, 30], name="row_id"),
    )
    path = tmp_path / "f.parquet"
    frame.to_parquet(path)
    pd.testing.assert_frame_equal(read_parquet_frame(path), pd.read_parquet(path))
    pd.testing.assert_frame_equal(read_parquet_frame(path.read_bytes()), pd.read_parquet(path))
    subset = read_parquet_frame(path, ["g", "missing", "x"])
    assert list(subset.columns) == ["g", "x"]  # absent columns are the caller's to report
    pd.testing.assert_frame_equal(subset, pd.read_parquet(path, columns=["g", "x"]))


def test_parquet_is_never_read_through_a_python_file_handle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``pd.read_parquet`` opens a local file with Python's ``open`` and hands Arrow that handle;
    Arrow's scan threads then release it after the read, taking the GIL, and a CLI command that
    exited right after printing its result aborted ("terminate called without an active exception")
    whenever that release raced interpreter finalization. Arrow must open the file itself."""
    import builtins

    from release_gates.datasets import load_frame
    from release_gates.parquet import read_parquet_frame

    path = tmp_path / "f.parquet"
    pd.DataFrame({"x": range(100), "g": ["a", "b"] * 50}).to_parquet(path)
    real_open = builtins.open

    def no_python_handles(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith(".parquet"):
            raise AssertionError(f"a Python file handle was opened on {file}")
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(builtins, "open", no_python_handles)
    with pytest.raises(AssertionError, match="Python file handle"):
        pd.read_parquet(path)  # the old reader: the guard above does catch it
    assert len(read_parquet_frame(path, ["x"])) == 100
    assert len(load_frame("d", Dataset(uri=str(path)))) == 100
