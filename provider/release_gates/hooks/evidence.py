"""Connection to the evidence store: an Airflow connection of type ``release_gates_evidence``.

Where the store lives, in order:

1. the connection ``evidence_conn_id`` (default ``release_gates_evidence_default``), if it exists:
   ``extra.url`` as a SQLAlchemy URL, else host/login/password/port/schema as PostgreSQL;
2. ``$RELEASE_GATES_EVIDENCE_URL``;
3. a SQLite file ``$AIRFLOW_HOME/release_gates_evidence.db`` (embedded default).

A connection id that was asked for explicitly and does not exist is an error, never a silent
fallback: evidence written to the wrong place is evidence lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseHook

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID

if TYPE_CHECKING:
    from release_gates.evidence import EvidenceStore


class EvidenceStoreHook(BaseHook):
    conn_name_attr = "evidence_conn_id"
    default_conn_name = DEFAULT_EVIDENCE_CONN_ID
    conn_type = "release_gates_evidence"
    hook_name = "Release Gates evidence store"

    def __init__(self, evidence_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evidence_conn_id = evidence_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from release_gates.get_provider_info import EVIDENCE_CONN_FIELDS

        return EVIDENCE_CONN_FIELDS

    def get_uri(self) -> str:
        from airflow.sdk.exceptions import AirflowNotFoundException

        from release_gates.evidence.store import default_url

        if not self.evidence_conn_id:
            return default_url()
        try:
            conn = self.get_connection(self.evidence_conn_id)
        except AirflowNotFoundException:
            if self.evidence_conn_id == self.default_conn_name:
                return default_url()
            raise
        return connection_to_url(
            extra=conn.extra_dejson,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            port=conn.port,
            schema=conn.schema,
        )

    def get_store(self) -> EvidenceStore:
        from release_gates.evidence import EvidenceStore

        return EvidenceStore(self.get_uri())


def connection_to_url(
    *,
    extra: dict[str, Any],
    host: str | None,
    login: str | None,
    password: str | None,
    port: int | None,
    schema: str | None,
) -> str:
    """SQLAlchemy URL from a connection's fields (``extra.url`` wins)."""
    if url := extra.get("url"):
        return str(url)
    if not host:
        if not schema:
            raise ValueError(
                "evidence connection needs extra.url, a host (PostgreSQL) or a schema (SQLite path)"
            )
        return f"sqlite:///{schema}"
    auth = ""
    if login:
        auth = quote(login, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        auth += "@"
    return f"postgresql+psycopg2://{auth}{host}:{port or 5432}/{schema or 'release_gates_evidence'}"
