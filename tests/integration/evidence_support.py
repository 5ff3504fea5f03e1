"""Acting as someone with full rights over the evidence database, for the tamper tests."""

from __future__ import annotations

from sqlalchemy import Connection


def switch_off_guards(conn: Connection) -> None:
    """Within ``conn``'s transaction, the store's triggers no longer apply: on SQLite the file's owner
    drops them; on PostgreSQL a superuser turns triggers off for the transaction."""
    if conn.dialect.name == "sqlite":
        names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").all()
        for (name,) in names:
            conn.exec_driver_sql(f"DROP TRIGGER {name}")
    else:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
