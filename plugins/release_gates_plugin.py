"""Release gates UI for deployments that mount this folder as Airflow's ``plugins/``.

It re-exports the provider's plugin class. When Airflow also loads the plugin from the installed
package (entry point, or eager provider discovery), the class is not exported here: Airflow keeps
one plugin per name anyway, but reports every duplicate as a plugin import error in the UI.
"""

from release_gates.ui import plugin as _plugin

if not _plugin.loaded_from_package():
    ReleaseGatesPlugin = _plugin.ReleaseGatesPlugin
