"""One aggregate engine for every check: SQL runs where the data lives, only aggregates come back.

:func:`open_source` turns a policy dataset into an :class:`AggregateSource`:

* **files** — a local Parquet or CSV file, a folder of Parquet files (Hive partitions such as
  ``date=2025-03-01/`` become columns), or an object (``s3://…``, any scheme Airflow's object
  storage knows) — are queried with DuckDB, embedded in the worker, out-of-core: it holds at most
  ``memory_limit`` and spills the rest of a large ``GROUP BY`` to ``temp_directory``. Local files are
  read with DuckDB's own ``read_parquet``/``read_csv``; objects through a pyarrow dataset over the
  filesystem Airflow's ``ObjectStoragePath`` resolves (credentials from the Airflow connection), which
  DuckDB scans in batches with projection and filter push-down.
* **SQL datasets** (``sql://<conn>/<table>``, SQLAlchemy URLs) are queried in their own database
  through SQLAlchemy; the relation is the validated, quoted ``[schema.]table`` (or the policy's
  ``query=`` as a sub-select).

Callers write one ``SELECT … FROM {source.relation} … GROUP BY …`` with identifiers through
:meth:`AggregateSource.quote` and values as named parameters (``:name``, SQLAlchemy style; the DuckDB
source rewrites them to ``$name``). Only the result rows cross into Python.

A long query logs its progress every ``progress_every`` seconds (the rows it covers, DuckDB's
progress estimate and the elapsed time; for a database the elapsed time). A query that hits the
memory limit or the timeout raises :class:`~release_gates.exceptions.AggregateMemoryError` /
:class:`~release_gates.exceptions.AggregateTimeoutError`, never a partial result; the check becomes
an ERROR. No Airflow here; ``duckdb``, ``pyarrow`` and SQLAlchemy load inside the functions.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from release_gates.aggregates.settings import EngineSettings
from release_gates.exceptions import (
    AggregateMemoryError,
    AggregateTimeoutError,
    DatasetError,
)

if TYPE_CHECKING:
    from release_gates.datasets import ConnectionResolver, DatasetLocation, SqlSource
    from release_gates.policy import Dataset

__all__ = [
    "REGISTERED",
    "AggregateSource",
    "DuckDBSource",
    "EngineSettings",
    "SqlAlchemySource",
    "open_frame",
    "open_source",
    "prefers_pandas",
    "require_columns",
    "row_count_hint",
]

log = logging.getLogger(__name__)

#: Relation name of a registered pyarrow dataset or in-memory table in the DuckDB connection.
REGISTERED = "rg_source"

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class AggregateSource(Protocol):
    """A dataset the engine can run one aggregate ``SELECT`` on (see the module docstring)."""

    #: ``"duckdb"`` for files, else the SQLAlchemy dialect name (``"postgresql"``, ``"sqlite"``, …).
    dialect: str
    #: SQL text usable after ``FROM``.
    relation: str
    #: The dataset's name, for messages.
    name: str

    def columns(self) -> list[str]: ...

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def quote(self, identifier: str) -> str: ...


# --------------------------------------------------------------------------------------------------
# Opening a source
# --------------------------------------------------------------------------------------------------


@contextmanager
def open_source(
    dataset: Dataset | DatasetLocation,
    *,
    name: str = "dataset",
    columns: Sequence[str] | None = None,
    settings: EngineSettings | None = None,
    base_dir: str | Path | None = None,
    resolve_connection: ConnectionResolver | None = None,
) -> Iterator[AggregateSource]:
    """An :class:`AggregateSource` over ``dataset`` (a policy :class:`Dataset` or its resolved location).

    ``columns``, when given, must all exist (else :class:`DatasetError` naming the missing ones).
    ``settings`` None reads them from configuration (:func:`~release_gates.aggregates.config.
    configured_settings`). The DuckDB connection or database engine is closed on exit.
    """
    from release_gates.datasets import DatasetLocation, locate

    if settings is None:
        from release_gates.aggregates.config import configured_settings

        settings = configured_settings()
    if isinstance(dataset, DatasetLocation):
        location = dataset
        name = dataset.name
    else:
        location = locate(name, dataset, base_dir=base_dir, resolve_connection=resolve_connection)
    opener = _open_sql if location.kind == "sql" else _open_files
    with opener(location, settings) as source:
        if columns:
            require_columns(source, columns)
        yield source


@contextmanager
def open_frame(
    frame: Any, *, name: str = "frame", settings: EngineSettings | None = None
) -> Iterator[AggregateSource]:
    """A DuckDB source over a pandas frame or pyarrow table already in memory (zero-copy scan)."""
    settings = settings or EngineSettings()
    with _duckdb(settings) as con:
        con.register(REGISTERED, frame)
        yield DuckDBSource(con, f'"{REGISTERED}"', name=name, settings=settings, where=name)


def require_columns(source: AggregateSource, columns: Sequence[str]) -> None:
    available = source.columns()
    missing = [c for c in columns if c not in available]
    if missing:
        raise DatasetError(
            f"dataset {source.name!r}: missing column(s) {', '.join(map(repr, missing))} "
            f"(has: {', '.join(available[:20])})"
        )


def row_count_hint(location: DatasetLocation) -> int | None:
    """Rows of a local Parquet file or folder from its footers (no data read); None when unknown."""
    if location.kind != "file" or location.format != "parquet" or location.path is None:
        return None
    import pyarrow.parquet as pq

    files = [location.path] if location.path.is_file() else sorted(location.path.rglob("*.parquet"))
    try:
        return sum(int(pq.ParquetFile(f).metadata.num_rows) for f in files)
    except Exception:  # unreadable footers: let the engine report it when it reads the data
        return None


def prefers_pandas(location: DatasetLocation, settings: EngineSettings) -> bool:
    """Whether a file is small enough that reading it into pandas costs less than starting DuckDB.

    Only a local Parquet file whose footer says at most ``pandas_max_rows`` rows; a CSV, a folder or
    an object goes to the engine (a CSV's size in rows is not known without reading it).
    """
    if location.path is None or not location.path.is_file():
        return False
    rows = row_count_hint(location)
    return rows is not None and rows <= settings.pandas_max_rows


# --------------------------------------------------------------------------------------------------
# DuckDB (files)
# --------------------------------------------------------------------------------------------------


@contextmanager
def _duckdb(settings: EngineSettings) -> Iterator[Any]:
    import duckdb

    spill = settings.temp_directory
    owned = None
    if spill is None:
        owned = tempfile.mkdtemp(prefix="rg-duckdb-")
        spill = owned
    config: dict[str, Any] = {
        "memory_limit": settings.memory_limit.strip(),
        "temp_directory": spill,
        # Order of rows is irrelevant to an aggregate; keeping it costs memory on large scans.
        "preserve_insertion_order": False,
    }
    if settings.threads is not None:
        config["threads"] = settings.threads
    con = duckdb.connect(":memory:", config=config)
    try:
        # Naive timestamps are UTC here as everywhere in the provider (monitoring.source).
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = true")
        con.execute("SET enable_progress_bar_print = false")
        yield con
    finally:
        con.close()
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def _open_files(location: DatasetLocation, settings: EngineSettings) -> Iterator[AggregateSource]:
    from release_gates.datasets import mask_password

    where = mask_password(location.uri) if location.path is None else str(location.path)
    with _duckdb(settings) as con:
        dataset = None
        if location.kind == "object":
            dataset = _object_dataset(location)
            con.register(REGISTERED, dataset)
            relation = f'"{REGISTERED}"'
        else:
            relation = _file_relation(location)
        source = DuckDBSource(con, relation, name=location.name, settings=settings, where=where)
        source.columns()  # opens the files: a missing or unreadable one is reported here
        # Row counts from the Parquet footers, no data read: progress lines say how many rows were read.
        if location.format == "parquet" and dataset is not None:
            source.known_rows = int(dataset.count_rows())
        elif location.format == "parquet":
            source.rows()
        yield source


def _file_relation(location: DatasetLocation) -> str:
    assert location.path is not None
    path = location.path.absolute()
    if path.is_dir():
        if location.format != "parquet":
            raise DatasetError(f"dataset {location.name!r} ({path}): a folder is read as Parquet only")
        if not any(path.rglob("*.parquet")):
            raise DatasetError(f"dataset {location.name!r} ({path}): no Parquet files in the folder")
        pattern = _literal(str(path / "**" / "*.parquet"))
        # Partition values stay text, as pyarrow reads them for pandas (hour=07 is "07", not 7).
        options = "hive_partitioning = true, hive_types_autocast = false, union_by_name = true"
        return f"read_parquet([{pattern}], {options})"
    if not path.is_file():
        raise DatasetError(f"dataset {location.name!r}: file not found: {path}")
    if location.format == "parquet":
        return f"read_parquet([{_literal(str(path))}])"
    # Types as pandas infers them: DuckDB alone would also read yes/no, t/f as BOOLEAN (pandas keeps
    # the text), so a group called "yes" would be spelled "True" on one path and "yes" on the other.
    types = "auto_type_candidates = ['BIGINT', 'DOUBLE', 'VARCHAR']"
    return f"read_csv([{_literal(str(path))}], header = true, {types})"


def _object_dataset(location: DatasetLocation) -> Any:
    """A pyarrow dataset over the object (or a prefix of Hive partitions), scanned in batches."""
    import pyarrow.dataset as ds
    from pyarrow.fs import FileType

    from release_gates.datasets import arrow_filesystem, describe_error, mask_password

    filesystem, path = arrow_filesystem(location.name, location.uri)
    try:
        folder = filesystem.get_file_info(path).type == FileType.Directory
        return ds.dataset(
            path, filesystem=filesystem, format=location.format, partitioning="hive" if folder else None
        )
    except Exception as exc:
        raise DatasetError(
            f"dataset {location.name!r} ({mask_password(location.uri)}): cannot open: {describe_error(exc)}"
        ) from None


class DuckDBSource:
    """Files (or a frame) in an embedded DuckDB connection; see :class:`AggregateSource`."""

    dialect = "duckdb"

    def __init__(self, con: Any, relation: str, *, name: str, settings: EngineSettings, where: str) -> None:
        self.con = con
        self.relation = relation
        self.name = name
        self.settings = settings
        self.where = where
        self._columns: list[str] | None = None
        #: Rows of the relation when known cheaply (Parquet footers); shown in progress lines.
        self.known_rows: int | None = None

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def columns(self) -> list[str]:
        if self._columns is None:
            rows = self._execute(f"DESCRIBE SELECT * FROM {self.relation}", None, watch=False)
            self._columns = [str(row[0]) for row in rows]
        return list(self._columns)

    def rows(self) -> int:
        """Row count (from Parquet footers or Arrow metadata where DuckDB can; a scan for CSV)."""
        if self.known_rows is None:
            rows = self._execute(f"SELECT count(*) FROM {self.relation}", None, watch=False)
            self.known_rows = int(rows[0][0])
        return self.known_rows

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._execute(_PARAM.sub(r"$\1", sql) if params else sql, params, watch=True)

    def _execute(self, sql: str, params: Mapping[str, Any] | None, *, watch: bool) -> list[tuple[Any, ...]]:
        import duckdb

        from release_gates.datasets import describe_error

        watcher = _Watcher(self, interrupt=self.con.interrupt, progress=self.con.query_progress)
        try:
            with watcher.running(enabled=watch):
                result = self.con.execute(sql, dict(params) if params else None).fetchall()
        except duckdb.OutOfMemoryException:
            raise AggregateMemoryError(_memory_message(self.name, self.where, self.settings)) from None
        except duckdb.InterruptException:
            if watcher.timed_out:
                raise AggregateTimeoutError(
                    _timeout_message(self.name, self.where, self.settings, watcher.elapsed)
                ) from None
            raise
        except duckdb.IOException as exc:
            raise DatasetError(
                f"dataset {self.name!r} ({self.where}): cannot read: {describe_error(exc)}"
            ) from None
        except duckdb.Error as exc:
            raise DatasetError(
                f"dataset {self.name!r} ({self.where}): aggregate query failed: {describe_error(exc)}"
            ) from None
        return [tuple(row) for row in result]


# --------------------------------------------------------------------------------------------------
# SQL databases
# --------------------------------------------------------------------------------------------------


@contextmanager
def _open_sql(location: DatasetLocation, settings: EngineSettings) -> Iterator[AggregateSource]:
    from release_gates.datasets import sql_engine

    assert location.sql is not None
    engine = sql_engine(location.name, location.sql)
    try:
        with engine.connect() as conn:
            source = SqlAlchemySource(conn, location.sql, name=location.name, settings=settings)
            source.columns()  # a clear "does not exist" before any query
            yield source
    finally:
        engine.dispose()


class SqlAlchemySource:
    """A table (or the policy's query) in its own database; see :class:`AggregateSource`."""

    def __init__(self, conn: Any, sql: SqlSource, *, name: str, settings: EngineSettings) -> None:
        self.conn = conn
        self.sql = sql
        self.name = name
        self.settings = settings
        self.dialect = str(conn.dialect.name)
        self.where = f"{sql.display_url}, {sql.relation}"
        self._preparer = conn.dialect.identifier_preparer
        if sql.query is not None:
            self.relation = f"({sql.query}) AS rg_source"
        else:
            table = self._preparer.quote(str(sql.table))
            self.relation = f"{self._preparer.quote_schema(sql.schema)}.{table}" if sql.schema else table
        self._columns: list[str] | None = None

    def quote(self, identifier: str) -> str:
        return str(self._preparer.quote(identifier))

    def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = self._reflect()
        return list(self._columns)

    def _reflect(self) -> list[str]:
        import sqlalchemy as sa

        from release_gates.datasets import describe_error

        try:
            if self.sql.table is not None:
                inspector = sa.inspect(self.conn)
                if not inspector.has_table(self.sql.table, schema=self.sql.schema):
                    raise DatasetError(f"dataset {self.name!r}: table {self.sql.relation!r} does not exist")
                return [str(c["name"]) for c in inspector.get_columns(self.sql.table, schema=self.sql.schema)]
            probe = self.conn.execute(sa.text(f"SELECT * FROM {self.relation} WHERE 1 = 0"))
            names = list(map(str, probe.keys()))
            probe.close()
            return names
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(
                f"dataset {self.name!r} ({self.where}): cannot read: {describe_error(exc)}"
            ) from None

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        import sqlalchemy as sa

        from release_gates.datasets import describe_error

        timeout = self.settings.timeout_seconds
        watcher = _Watcher(self, interrupt=None, progress=None)
        try:
            with watcher.running(enabled=True):
                if timeout is not None and self.dialect == "postgresql":
                    # Session-wide for this connection, which lives only as long as the source.
                    self.conn.exec_driver_sql(f"SET statement_timeout = {int(timeout * 1000)}")
                rows = self.conn.execute(sa.text(sql), dict(params or {})).all()
        except Exception as exc:
            # A failed statement aborts the transaction: end it, so the source answers the next query.
            with contextlib.suppress(Exception):
                self.conn.rollback()
            if _is_statement_timeout(exc):
                raise AggregateTimeoutError(
                    _timeout_message(self.name, self.where, self.settings, watcher.elapsed)
                ) from None
            raise DatasetError(
                f"dataset {self.name!r} ({self.where}): aggregate query failed: {describe_error(exc)}"
            ) from None
        return [tuple(row) for row in rows]


def _is_statement_timeout(exc: BaseException) -> bool:
    """PostgreSQL's ``query_canceled`` (SQLSTATE 57014), as raised for ``statement_timeout``."""
    original = getattr(exc, "orig", None)
    return getattr(original, "pgcode", None) == "57014"


# --------------------------------------------------------------------------------------------------
# Progress, timeout and messages
# --------------------------------------------------------------------------------------------------


class _Watcher:
    """Logs a running query's progress every few seconds and interrupts it at the timeout.

    A side thread, because the query blocks the calling one; DuckDB's ``query_progress`` and
    ``interrupt`` are the calls it documents as safe from another thread.
    """

    def __init__(
        self,
        source: DuckDBSource | SqlAlchemySource,
        *,
        interrupt: Callable[[], None] | None,
        progress: Callable[[], float] | None,
    ) -> None:
        self.source = source
        self.interrupt = interrupt
        self.progress = progress
        self.timed_out = False
        self.started = time.monotonic()
        self._done = threading.Event()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @contextmanager
    def running(self, *, enabled: bool) -> Iterator[None]:
        if not enabled:
            yield
            return
        self.started = time.monotonic()
        thread = threading.Thread(target=self._watch, name="rg-aggregate-watch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._done.set()
            thread.join()
            if self.elapsed >= self.source.settings.progress_every:
                log.info("dataset %r: aggregate query done in %.1f s", self.source.name, self.elapsed)

    def _watch(self) -> None:
        settings = self.source.settings
        timeout = settings.timeout_seconds
        next_report = self.started + settings.progress_every
        while not self._done.wait(0.1):
            now = time.monotonic()
            if timeout is not None and now - self.started >= timeout and self.interrupt is not None:
                self.timed_out = True
                self.interrupt()
                return
            if now >= next_report:
                next_report = now + settings.progress_every
                log.info("dataset %r: %s", self.source.name, self._progress_line(now - self.started))

    def _progress_line(self, elapsed: float) -> str:
        percent = self.progress() if self.progress is not None else -1.0
        if percent is None or percent < 0:
            return f"aggregate query running, {elapsed:.0f} s elapsed"
        rows = getattr(self.source, "known_rows", None)
        # DuckDB's percentage spans every pipeline of the plan (a GROUP BY's scan ends near 50%), so
        # it is shown as its estimate next to the rows the scan covers, not turned into rows read.
        over = f" over {rows:,} rows" if rows else ""
        return f"aggregate query{over}: {percent:.0f}% by DuckDB's estimate, {elapsed:.0f} s elapsed"


def _memory_message(name: str, where: str, settings: EngineSettings) -> str:
    return (
        f"dataset {name!r} ({where}): the aggregate query needs more memory than the limit of "
        f"{settings.memory_limit} and could not spill to disk; no result was computed. Raise "
        "[release_gates] aggregate_memory_limit (or $RELEASE_GATES_AGGREGATE_MEMORY_LIMIT), or give "
        "it a spill folder with free space (aggregate_temp_directory)"
    )


def _timeout_message(name: str, where: str, settings: EngineSettings, elapsed: float) -> str:
    return (
        f"dataset {name!r} ({where}): the aggregate query was stopped after {elapsed:.1f} s, past the "
        f"timeout of {settings.timeout_seconds:g} s; no result was computed. Raise [release_gates] "
        "aggregate_timeout (or $RELEASE_GATES_AGGREGATE_TIMEOUT)"
    )
