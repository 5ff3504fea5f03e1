"""Run the evidence store's Alembic migrations (shipped inside the package) programmatically."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from release_gates.evidence.schema import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Arbitrary constant: the PostgreSQL advisory lock that serializes concurrent first-time migrations.
_PG_MIGRATION_LOCK = 7_203_114_551


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run(engine, "downgrade", revision)


def _run(engine: Engine, action: str, revision: str) -> None:
    config = _config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Many workers may start against an empty database at once; one migrates, the rest wait.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        getattr(command, action)(config, revision)
