"""Where the MLflow tracking/registry server is: an Airflow connection, else ``MLFLOW_TRACKING_URI``.

In order:

1. the connection ``mlflow_conn_id`` (default ``mlflow_default``), if it exists: ``extra.tracking_uri``
   (any URI MLflow takes: ``http(s)://…``, ``databricks``, ``sqlite:///…``), else its host (with
   scheme and port) as an ``http(s)://`` server; ``extra.registry_uri`` when the registry lives
   elsewhere. Its login/password (or ``extra.token``) reach MLflow through the variables MLflow
   itself reads (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``/``_TOKEN``), in the task's process only;
2. ``$MLFLOW_TRACKING_URI`` (and ``$MLFLOW_REGISTRY_URI``).

A connection id that was asked for explicitly and does not exist is an error; with neither a
connection nor the variable there is no registry to ask (MLflow's own fallback, a local ``mlruns``
folder, would be an empty registry that judges nothing). URIs are shown with passwords masked.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.sdk import BaseHook

from release_gates.scoring.registry import RegistryError, mlflow_client

DEFAULT_MLFLOW_CONN_ID = "mlflow_default"


class MlflowRegistryHook(BaseHook):
    """An ``MlflowClient`` for the tracking/registry server an Airflow connection names.

    :param mlflow_conn_id: the Airflow connection (any type; see the module docstring).
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = DEFAULT_MLFLOW_CONN_ID
    hook_name = "Release Gates MLflow Model Registry"

    def __init__(self, mlflow_conn_id: str | None = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    def uris(self) -> tuple[str, str | None]:
        """``(tracking_uri, registry_uri or None)``; credentials exported for MLflow when given."""
        from airflow.sdk.exceptions import AirflowNotFoundException

        if self.mlflow_conn_id:
            try:
                conn = self.get_connection(self.mlflow_conn_id)
            except AirflowNotFoundException:
                if self.mlflow_conn_id != DEFAULT_MLFLOW_CONN_ID:
                    raise RegistryError(
                        f"MLflow connection {self.mlflow_conn_id!r} does not exist; create it or use "
                        f"{DEFAULT_MLFLOW_CONN_ID!r} / MLFLOW_TRACKING_URI"
                    ) from None
            else:
                return self._from_connection(conn)
        tracking = os.environ.get("MLFLOW_TRACKING_URI")
        if not tracking:
            raise RegistryError(
                f"no MLflow registry configured: create the Airflow connection {DEFAULT_MLFLOW_CONN_ID!r} "
                "(extra.tracking_uri or host) or set MLFLOW_TRACKING_URI"
            )
        return tracking, os.environ.get("MLFLOW_REGISTRY_URI") or None

    def _from_connection(self, conn: Any) -> tuple[str, str | None]:
        extra = conn.extra_dejson or {}
        tracking = str(extra.get("tracking_uri") or "")
        if not tracking:
            if not conn.host:
                raise RegistryError(
                    f"MLflow connection {self.mlflow_conn_id!r} has neither extra.tracking_uri nor a host"
                )
            host = str(conn.host)
            if "://" not in host:
                scheme = str(conn.schema or extra.get("scheme") or "https")
                host = f"{scheme}://{host}"
            tracking = f"{host}:{conn.port}" if conn.port else host
        # MLflow reads HTTP credentials from these variables only; set for this task's process.
        if conn.login:
            os.environ["MLFLOW_TRACKING_USERNAME"] = str(conn.login)
        if conn.password:
            os.environ["MLFLOW_TRACKING_PASSWORD"] = str(conn.password)
        if extra.get("token"):
            os.environ["MLFLOW_TRACKING_TOKEN"] = str(extra["token"])
        return tracking, (str(extra["registry_uri"]) if extra.get("registry_uri") else None)

    def get_conn(self) -> Any:
        tracking, registry = self.uris()
        return mlflow_client(tracking, registry)

    def display_uri(self) -> str:
        """The tracking URI for logs and evidence (password masked)."""
        from release_gates.datasets import mask_password

        return mask_password(self.uris()[0])
