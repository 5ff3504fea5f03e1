"""Evidence chain heads and append-only, hash-chained records.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY = "release_gates_evidence is append-only"


def upgrade() -> None:
    op.create_table(
        "release_gates_chain",
        sa.Column("release_id", sa.String(250), primary_key=True),
        sa.Column("head_seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("sealed_at", sa.String(40), nullable=True),
    )
    op.create_table(
        "release_gates_evidence",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "release_id", sa.String(250), sa.ForeignKey("release_gates_chain.release_id"), nullable=False
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(250), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("release_id", "seq", name="uq_release_gates_evidence_release_seq"),
    )
    op.create_index("ix_release_gates_evidence_kind", "release_gates_evidence", ["release_id", "kind"])

    # Defence in depth: the database itself refuses UPDATE and DELETE on records. The hash chain
    # still detects tampering by anyone who can drop these triggers.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER release_gates_evidence_no_{action.lower()} BEFORE {action} "
                f"ON release_gates_evidence BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION release_gates_evidence_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER release_gates_evidence_append_only BEFORE UPDATE OR DELETE "
            "ON release_gates_evidence FOR EACH ROW EXECUTE FUNCTION release_gates_evidence_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS release_gates_evidence_no_update")
        op.execute("DROP TRIGGER IF EXISTS release_gates_evidence_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS release_gates_evidence_append_only ON release_gates_evidence")
        op.execute("DROP FUNCTION IF EXISTS release_gates_evidence_append_only()")
    op.drop_index("ix_release_gates_evidence_kind", table_name="release_gates_evidence")
    op.drop_table("release_gates_evidence")
    op.drop_table("release_gates_chain")
