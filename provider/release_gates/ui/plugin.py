"""The Airflow plugin: mounts the release-gates app on the API server and adds its views to the UI.

Registered by the provider (``get_provider_info()["plugins"]``, which Airflow reads when providers are
discovered eagerly) and re-exported by ``plugins/release_gates_plugin.py`` for deployments that mount
the repository's ``plugins/`` folder. Airflow keeps one plugin per ``name`` (plugins/ is read first)
but records every duplicate as a plugin import error, shown in the UI; so the plugins/ file exports
the class only when the package is not loaded anyway (:func:`loaded_from_package`).

Importing this module is cheap: every Airflow component that loads plugins (scheduler, workers) reads
it, but only the API server serves requests, so the FastAPI app is built on its first request.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from release_gates import run_notes
from release_gates.ui.routes import RELEASES_ROUTE, RUN_TAB_ROUTE, URL_PREFIX

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


class LazyApp:
    """An ASGI app that builds ``release_gates.ui.app.create_app()`` when the first request arrives."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _build(self) -> Any:
        with self._lock:
            if self._app is None:
                from release_gates.ui.app import create_app

                self._app = create_app()
            return self._app

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        app = self._app or self._build()
        await app(scope, receive, send)


def loaded_from_package() -> bool:
    """Whether Airflow loads this plugin from the installed package (its ``airflow.plugins`` entry point)."""
    from importlib.metadata import entry_points

    return any(ep.value.startswith(__name__) for ep in entry_points(group="airflow.plugins"))


class ReleaseGatesPlugin(AirflowPlugin):
    name = "release_gates"
    # The release decision as each release run's note (release_gates.run_notes: why a listener).
    listeners = [run_notes]
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Release gates"}]
    external_views = [
        {
            "name": "Release gates",
            "href": URL_PREFIX + "/runs/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": RUN_TAB_ROUTE,
        },
        {
            "name": "Releases",
            "href": URL_PREFIX + "/releases",
            "destination": "nav",
            "url_route": RELEASES_ROUTE,
            "nav_top_level": True,
        },
    ]
