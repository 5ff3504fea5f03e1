"""The SQLAlchemy engine of an evidence store: serialized appends on SQLite, fork-safe pools.

* SQLite: WAL, every write transaction ``BEGIN IMMEDIATE`` (one writer at a time; readers never
  wait), connections kept open per thread;
* PostgreSQL: a small pool (appends serialize on an advisory lock, see :mod:`.store`);
* both: a pooled connection inherited through ``fork()`` is never used in the child.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError


def make_engine(url: str) -> Engine:
    """An engine configured for serialized appends on the given backend."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:" and "mode=memory" not in url:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One pooled connection per thread at a time, kept open: opening one costs its PRAGMAs, and
        # closing the last one checkpoints the WAL — together over a third of an append. A connection
        # is never used in a process other than the one that opened it (forked workers, see below).
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see "begin").
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
            record.info["pid"] = os.getpid()

        _forget_connections_of_other_processes(engine)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Take the write lock up front: two writers can't both read the same head. Reads (see
            # EvidenceStore._read) begin deferred and never wait for a writer (WAL).
            conn.exec_driver_sql(
                "BEGIN" if conn.get_execution_options().get("rg_read") else "BEGIN IMMEDIATE"
            )

        return engine
    # No pre-ping: a dropped connection surfaces as OperationalError, which append() retries.
    engine = create_engine(url, pool_size=2, max_overflow=2)
    event.listen(engine, "connect", lambda _conn, record: record.info.__setitem__("pid", os.getpid()))
    _forget_connections_of_other_processes(engine)
    return engine


def _forget_connections_of_other_processes(engine: Engine) -> None:
    """A pooled connection inherited through fork() is dropped, never used or closed, in the child
    (SQLAlchemy's documented pattern for pools and multiprocessing): a task process forked from a
    worker that had used the store opens its own."""

    @event.listens_for(engine, "checkout")
    def _checkout(_dbapi_conn: Any, record: Any, proxy: Any) -> None:
        pid = os.getpid()
        if record.info.get("pid") != pid:
            record.dbapi_connection = proxy.dbapi_connection = None
            raise DisconnectionError(f"connection opened by process {record.info.get('pid')}, not {pid}")
