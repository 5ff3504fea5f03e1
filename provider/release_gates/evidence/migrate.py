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


#: The role that owns the evidence tables on PostgreSQL after :func:`lock_down_postgres`.
OWNER_ROLE = "release_gates_owner"
_TABLES = ("release_gates_chain", "release_gates_evidence", "release_gates_checkpoint")
_SEQUENCES = ("release_gates_evidence_id_seq", "release_gates_checkpoint_id_seq")
_FUNCTIONS = (
    "release_gates_evidence_append_only()",
    "release_gates_append_only()",
    "release_gates_evidence_extends()",
)


def lock_down_postgres(engine: Engine, runtime_role: str) -> list[str]:
    """Give the evidence tables to a NOLOGIN owner role and the runtime role INSERT and SELECT only.

    Run as an administrator (a superuser, or a role with CREATEROLE that may grant ownership) after
    :func:`upgrade`. The runtime role — the one Airflow workers connect as — can then append and read,
    and nothing else: no UPDATE, DELETE or TRUNCATE, no ALTER, no DROP TRIGGER (only an owner may),
    and it cannot become the owner. Idempotent. Returns the statements it ran.
    """
    from sqlalchemy.sql import quoted_name

    if engine.dialect.name != "postgresql":
        raise ValueError("lock_down_postgres is for PostgreSQL; SQLite has no roles (see the README)")
    prep = engine.dialect.identifier_preparer
    runtime = prep.quote(quoted_name(runtime_role, quote=True))
    owner = prep.quote(OWNER_ROLE)
    statements = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') "
        f"THEN CREATE ROLE {owner} NOLOGIN; END IF; END $$",
        *(f"ALTER TABLE {table} OWNER TO {owner}" for table in (*_TABLES, VERSION_TABLE)),
        *(f"ALTER SEQUENCE {sequence} OWNER TO {owner}" for sequence in _SEQUENCES),
        *(f"ALTER FUNCTION {function} OWNER TO {owner}" for function in _FUNCTIONS),
        *(f"REVOKE ALL ON {table} FROM PUBLIC, {runtime}" for table in (*_TABLES, VERSION_TABLE)),
        *(f"GRANT SELECT, INSERT ON {table} TO {runtime}" for table in _TABLES),
        f"GRANT SELECT ON {VERSION_TABLE} TO {runtime}",
        *(f"REVOKE ALL ON SEQUENCE {sequence} FROM PUBLIC, {runtime}" for sequence in _SEQUENCES),
        *(f"GRANT USAGE ON SEQUENCE {sequence} TO {runtime}" for sequence in _SEQUENCES),
    ]
    with engine.begin() as conn:
        role = conn.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": runtime_role}
        ).first()
        if role is None:
            raise ValueError(
                f"runtime role {runtime_role!r} does not exist: create it first (CREATE ROLE … LOGIN)"
            )
        if role[0]:
            raise ValueError(
                f"runtime role {runtime_role!r} is a superuser: it would bypass every restriction"
            )
        for statement in statements:
            conn.execute(text(statement))
    return statements
