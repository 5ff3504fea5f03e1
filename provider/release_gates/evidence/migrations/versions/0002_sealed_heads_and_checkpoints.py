"""Heads derived from the records, seals the database enforces, and signed checkpoints.

* ``release_gates_chain`` keeps one row per chain (its id and creation time), written once: the head
  is the chain's last record and "sealed" is its ``release_sealed`` record, so there is no head row to
  rewind or unseal. The table refuses UPDATE and DELETE.
* Every inserted record must extend its chain — the next seq, the previous record's hash — and a
  sealed chain takes none (the database refuses both, before ``verify`` would find them).
* ``release_gates_checkpoint``: signatures of chain heads by a key held outside the database
  (:mod:`release_gates.evidence.checkpoints`), append-only too.
* PostgreSQL: TRUNCATE is refused on all three tables. Who may do what (an owner role, a runtime role
  with INSERT and SELECT only) is set by ``release-gates evidence migrate --runtime-role``
  (:func:`release_gates.evidence.migrate.lock_down_postgres`), not here: it needs an administrator.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from release_gates.evidence.canonical import GENESIS_HASH

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EVIDENCE = "release_gates_evidence"
CHAIN = "release_gates_chain"
CHECKPOINT = "release_gates_checkpoint"
SEALED = "release_gates_evidence: the chain is sealed; it takes no records"
UNLINKED = "release_gates_evidence: a record must extend its chain (next seq, previous hash)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch rebuild would drop the table the
    # records reference, which SQLite refuses with foreign keys on.
    for column in ("head_seq", "head_hash", "sealed_at"):
        op.execute(f"ALTER TABLE {CHAIN} DROP COLUMN {column}")
    op.create_table(
        CHECKPOINT,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("release_id", sa.String(250), sa.ForeignKey(f"{CHAIN}.release_id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("record_kind", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(128), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.Column("signed_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("release_id", "seq", "key_id", name="uq_release_gates_checkpoint"),
    )
    if dialect == "sqlite":
        _sqlite_triggers()
    elif dialect == "postgresql":
        _postgres_triggers()


def _sqlite_triggers() -> None:
    for table in (CHAIN, CHECKPOINT):
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    op.execute(
        f"CREATE TRIGGER {EVIDENCE}_sealed BEFORE INSERT ON {EVIDENCE} "
        f"WHEN EXISTS (SELECT 1 FROM {EVIDENCE} WHERE release_id = NEW.release_id "
        "AND kind = 'release_sealed') "
        f"BEGIN SELECT RAISE(ABORT, '{SEALED}'); END"
    )
    op.execute(
        f"CREATE TRIGGER {EVIDENCE}_links BEFORE INSERT ON {EVIDENCE} "
        f"WHEN NEW.seq != COALESCE((SELECT MAX(seq) FROM {EVIDENCE} "
        "WHERE release_id = NEW.release_id), 0) + 1 "
        f"OR NEW.prev_hash != COALESCE((SELECT hash FROM {EVIDENCE} WHERE release_id = NEW.release_id "
        f"ORDER BY seq DESC LIMIT 1), '{GENESIS_HASH}') "
        f"BEGIN SELECT RAISE(ABORT, '{UNLINKED}'); END"
    )


def _postgres_triggers() -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION release_gates_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in (CHAIN, CHECKPOINT):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION release_gates_append_only()"
        )
    for table in (EVIDENCE, CHAIN, CHECKPOINT):
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION release_gates_append_only()"
        )
    op.execute(
        "CREATE OR REPLACE FUNCTION release_gates_evidence_extends() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE last_seq integer; last_hash text; sealed boolean; "
        "BEGIN "
        f"SELECT seq, hash, kind = 'release_sealed' INTO last_seq, last_hash, sealed FROM {EVIDENCE} "
        "WHERE release_id = NEW.release_id ORDER BY seq DESC LIMIT 1; "
        f"IF sealed THEN RAISE EXCEPTION '{SEALED}'; END IF; "
        f"IF NEW.seq <> COALESCE(last_seq, 0) + 1 OR NEW.prev_hash <> COALESCE(last_hash, '{GENESIS_HASH}') "
        f"THEN RAISE EXCEPTION '{UNLINKED}'; END IF; "
        "RETURN NEW; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {EVIDENCE}_extends BEFORE INSERT ON {EVIDENCE} "
        "FOR EACH ROW EXECUTE FUNCTION release_gates_evidence_extends()"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in (CHAIN, CHECKPOINT):
            for action in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action}")
        op.execute(f"DROP TRIGGER IF EXISTS {EVIDENCE}_sealed")
        op.execute(f"DROP TRIGGER IF EXISTS {EVIDENCE}_links")
    elif dialect == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {EVIDENCE}_extends ON {EVIDENCE}")
        for table in (EVIDENCE, CHAIN, CHECKPOINT):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        for table in (CHAIN, CHECKPOINT):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute("DROP FUNCTION IF EXISTS release_gates_evidence_extends()")
        op.execute("DROP FUNCTION IF EXISTS release_gates_append_only()")
    op.drop_table(CHECKPOINT)
    # The heads come back from the records (the last one of each chain, and its seal).
    op.add_column(CHAIN, sa.Column("head_seq", sa.Integer, nullable=False, server_default="0"))
    op.add_column(CHAIN, sa.Column("head_hash", sa.String(64), nullable=False, server_default=GENESIS_HASH))
    op.add_column(CHAIN, sa.Column("sealed_at", sa.String(40), nullable=True))
    op.execute(
        f"UPDATE {CHAIN} SET "
        f"head_seq = COALESCE((SELECT MAX(seq) FROM {EVIDENCE} e "
        f"WHERE e.release_id = {CHAIN}.release_id), 0), "
        f"head_hash = COALESCE((SELECT hash FROM {EVIDENCE} e WHERE e.release_id = {CHAIN}.release_id "
        f"ORDER BY seq DESC LIMIT 1), '{GENESIS_HASH}'), "
        f"sealed_at = (SELECT recorded_at FROM {EVIDENCE} e WHERE e.release_id = {CHAIN}.release_id "
        "AND kind = 'release_sealed')"
    )
