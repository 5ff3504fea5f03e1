"""Alembic environment for the evidence store. Run through ``release_gates.evidence.migrate``."""

from __future__ import annotations

from alembic import context

from release_gates.evidence.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs `alembic` by hand without our runner
    raise RuntimeError("run evidence migrations with `release-gates evidence migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
