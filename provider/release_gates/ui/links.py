"""The "Release report" button on gate tasks: opens the run's Release gates tab in the Airflow UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from release_gates.ui.routes import RUN_TAB_ROUTE

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey


def run_tab_url(dag_id: str, run_id: str, base_url: str = "") -> str:
    """The UI path of a run's Release gates tab (``/dags/<dag>/runs/<run>/plugin/release_gates``)."""
    run = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{base_url.rstrip('/')}{run}/plugin/{RUN_TAB_ROUTE}"


class ReleaseReportLink(BaseOperatorLink):
    """Computed on the worker when the task finishes (Airflow 3 stores extra links in XCom)."""

    name = "Release report"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk import conf

        base = conf.get("api", "base_url", fallback="") or ""
        return run_tab_url(ti_key.dag_id, ti_key.run_id, base)
