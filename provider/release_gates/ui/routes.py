"""Where the release-gates UI lives: the mount point on the API server and the plugin's view routes.

A leaf module: the plugin, the app and the task link all read these names, and none of them has to
import another to learn where a page is.
"""

from __future__ import annotations

#: Where the plugin mounts the FastAPI app on the Airflow API server.
URL_PREFIX = "/release-gates"
#: The ``url_route`` of the "Release gates" tab on each DAG run (``/dags/<dag>/runs/<run>/plugin/…``).
RUN_TAB_ROUTE = "release_gates"
#: The ``url_route`` of the "Releases" page in the navigation.
RELEASES_ROUTE = "releases"
