"""Reading one window of the production inference log: only its rows, only the columns needed.

The log (``monitoring.source`` in the policy) is one row per scored request: the features, the
prediction and score, the sensitive attributes, a timestamp, and the label once it arrives (null
until then). Two kinds of store:

* a **SQL table** (``sql://<conn_id>/<table>`` or a SQLAlchemy URL with ``?table=``): the window is
  a ``WHERE ts >= :start AND ts < :end`` pushed down to the database;
* **Parquet** — one file or a directory of files, optionally Hive-partitioned
  (``date=2025-03-01/part-0.parquet``): read with ``pyarrow.dataset`` and the same filter, which
  skips row groups by their statistics and, with ``partition:`` declared, whole partitions.

Timestamps may be stored with or without a time zone; naive values are taken as UTC. The returned
frame's timestamp column is timezone-aware UTC. pandas, pyarrow and SQLAlchemy engines load inside
the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from release_gates.datasets import ConnectionResolver, describe_error, locate, mask_password
from release_gates.exceptions import InferenceLogError
from release_gates.monitoring.plan import as_utc
from release_gates.policy import Dataset

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.datasets import SqlSource
    from release_gates.policy import InferenceLog

LOG_NAME = "inference_log"


def log_dataset(log: InferenceLog) -> Dataset:
    """The log as a policy dataset (for locating it like any other dataset)."""
    from release_gates.datasets import is_sql_uri

    fmt = log.format or ("sql" if is_sql_uri(log.uri) else "parquet")
    return Dataset(uri=log.uri, format=fmt)


def load_window(
    log: InferenceLog,
    start: datetime,
    end: datetime,
    *,
    columns: Sequence[str] | None = None,
    base_dir: str | Path | None = None,
    resolve_connection: ConnectionResolver | None = None,
) -> pd.DataFrame:
    """The log's rows with ``start <= timestamp < end`` (aware datetimes), restricted to ``columns``.

    ``columns`` None reads every column. The timestamp column is always included.
    """
    wanted = None if columns is None else list(dict.fromkeys([log.timestamp, *columns]))
    location = locate(LOG_NAME, log_dataset(log), base_dir=base_dir, resolve_connection=resolve_connection)
    if location.kind == "sql":
        assert location.sql is not None
        frame = _load_sql(log, location.sql, start, end, wanted)
    else:
        target = str(location.path) if location.path is not None else location.uri
        frame = _load_parquet(log, target, start, end, wanted)
    return _utc_timestamps(frame, log.timestamp)


# --------------------------------------------------------------------------------------------------
# SQL
# --------------------------------------------------------------------------------------------------


def _load_sql(
    log: InferenceLog, source: SqlSource, start: datetime, end: datetime, columns: list[str] | None
) -> pd.DataFrame:
    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

    from release_gates.datasets import sql_engine

    where = f"{source.display_url} ({source.relation})"
    if source.table is None:
        raise InferenceLogError(f"inference log {where}: name a table (table=…), not a query")
    engine = sql_engine(LOG_NAME, source)
    try:
        with engine.connect() as conn:
            try:
                table = sa.Table(source.table, sa.MetaData(), schema=source.schema, autoload_with=conn)
            except NoSuchTableError as exc:
                raise InferenceLogError(f"inference log {where}: table does not exist") from exc
            _require(columns or [log.timestamp], list(table.c.keys()), where)
            ts = table.c[log.timestamp]
            if not isinstance(ts.type, sa.DateTime):
                raise InferenceLogError(
                    f"inference log {where}: timestamp column {log.timestamp!r} is {ts.type}, not a timestamp"
                )
            selected = [table.c[c] for c in columns] if columns is not None else list(table.c)
            query = sa.select(*selected).where(*_sql_window(conn.dialect.name, ts, start, end))
            return pd.read_sql_query(query, conn)
    except InferenceLogError:
        raise
    except SQLAlchemyError as exc:
        raise InferenceLogError(f"inference log {where}: cannot read: {describe_error(exc)}") from None
    finally:
        engine.dispose()


def _sql_window(dialect: str, ts: Any, start: datetime, end: datetime) -> tuple[Any, Any]:
    import sqlalchemy as sa

    if dialect == "sqlite":
        # SQLite keeps timestamps as text, in whatever form the writer chose ("…00:00:00+00:00" from
        # pandas, "…00:00:00.000000" from SQLAlchemy): compare its normalized UTC form, to the ms.
        normalized = sa.func.strftime("%Y-%m-%d %H:%M:%f", ts)
        low, high = (_sqlite_text(v) for v in (start, end))
        return normalized >= low, normalized < high
    # Bind values in the column's own convention: aware for TIMESTAMPTZ, naive UTC otherwise.
    low_dt, high_dt = (_bound(v, aware=bool(ts.type.timezone)) for v in (start, end))
    return ts >= low_dt, ts < high_dt


def _sqlite_text(value: datetime) -> str:
    utc = _bound(value, aware=False)
    return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d}"


def _bound(value: datetime, *, aware: bool) -> datetime:
    utc = as_utc(value)
    return utc if aware else utc.replace(tzinfo=None)


# --------------------------------------------------------------------------------------------------
# Parquet
# --------------------------------------------------------------------------------------------------


def _load_parquet(
    log: InferenceLog, target: str, start: datetime, end: datetime, columns: list[str] | None
) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.dataset as ds

    where = mask_password(target)
    partitioning = None
    if log.partition is not None:
        partitioning = ds.partitioning(pa.schema([(log.partition.column, pa.string())]), flavor="hive")
    if "://" not in target and not Path(target).exists():
        raise InferenceLogError(f"inference log {where}: no such file or directory")
    try:
        dataset = ds.dataset(target, format="parquet", partitioning=partitioning)
    except (OSError, pa.ArrowException) as exc:
        raise InferenceLogError(f"inference log {where}: cannot open: {describe_error(exc)}") from None
    if isinstance(dataset, ds.FileSystemDataset) and not dataset.files:
        return _empty(log, columns)  # the log exists but holds nothing yet: an empty window
    names = list(dataset.schema.names)
    _require(columns or [log.timestamp], names, where)
    ts_type = dataset.schema.field(log.timestamp).type
    if not pa.types.is_timestamp(ts_type):
        raise InferenceLogError(
            f"inference log {where}: timestamp column {log.timestamp!r} is {ts_type}, not a timestamp"
        )
    low, high = (_bound(v, aware=ts_type.tz is not None) for v in (start, end))
    field = ds.field(log.timestamp)
    condition = (field >= pa.scalar(low, type=ts_type)) & (field < pa.scalar(high, type=ts_type))
    if log.partition is not None:
        condition &= ds.field(log.partition.column).isin(partition_values(log.partition.format, start, end))
    try:
        table = dataset.to_table(columns=columns, filter=condition)
    except (OSError, pa.ArrowException) as exc:
        raise InferenceLogError(f"inference log {where}: cannot read: {describe_error(exc)}") from None
    return table.to_pandas()


def _empty(log: InferenceLog, columns: list[str] | None) -> pd.DataFrame:
    import pandas as pd

    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in columns or [log.timestamp]})
    frame[log.timestamp] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def partition_values(pattern: str, start: datetime, end: datetime) -> list[str]:
    """Every partition value (``strftime(pattern)``) of an hour in ``[start, end)``."""
    hour = as_utc(start).replace(minute=0, second=0, microsecond=0)
    stop = as_utc(end)
    values: dict[str, None] = {}
    while hour < stop:
        values[hour.strftime(pattern)] = None
        hour += timedelta(hours=1)
    return list(values)


# --------------------------------------------------------------------------------------------------
# Shared
# --------------------------------------------------------------------------------------------------


def _require(columns: Sequence[str], available: Sequence[str], where: str) -> None:
    missing = [c for c in columns if c not in available]
    if missing:
        raise InferenceLogError(
            f"inference log {where}: missing column(s) {', '.join(map(repr, missing))} "
            f"(has: {', '.join(list(available)[:20])})"
        )


def _utc_timestamps(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    import pandas as pd

    values = frame[column]
    if not isinstance(values.dtype, pd.DatetimeTZDtype) or str(values.dt.tz) != "UTC":
        frame[column] = pd.to_datetime(values, utc=True)
    return frame


def newest_timestamp(frame: pd.DataFrame, column: str) -> datetime | None:
    """The latest timestamp in the frame as an aware datetime, None when it is empty."""
    if frame.empty:
        return None
    import pandas as pd

    value: Any = frame[column].max()
    return None if pd.isna(value) else value.to_pydatetime(warn=False)
