"""Tables of the evidence store. Changed only through the Alembic migrations next to this module."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, Text, UniqueConstraint

# Own prefix and own Alembic version table: the store may share a database with Airflow's metadata.
metadata = MetaData()

# One row per chain, written once. The head is the chain's last record and "sealed" its
# ``release_sealed`` record: nothing here can be rewound or reopened.
chains = Table(
    "release_gates_chain",
    metadata,
    Column("release_id", String(250), primary_key=True),
    Column("created_at", String(40), nullable=False),
)

records = Table(
    "release_gates_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", String(250), ForeignKey("release_gates_chain.release_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    # ISO 8601 text, not a DateTime column: the hash covers these exact characters, and a database
    # must not be able to change them by converting time zones.
    Column("recorded_at", String(40), nullable=False),
    Column("actor", String(250), nullable=True),
    Column("payload", Text, nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("release_id", "seq", name="uq_release_gates_evidence_release_seq"),
)

# Signatures of chain heads by keys held outside the database (release_gates.evidence.checkpoints).
checkpoints = Table(
    "release_gates_checkpoint",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("release_id", String(250), ForeignKey("release_gates_chain.release_id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("record_hash", String(64), nullable=False),
    Column("record_kind", String(64), nullable=False),
    Column("key_id", String(128), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("signed_at", String(40), nullable=False),
    UniqueConstraint("release_id", "seq", "key_id", name="uq_release_gates_checkpoint"),
)

VERSION_TABLE = "release_gates_alembic_version"
