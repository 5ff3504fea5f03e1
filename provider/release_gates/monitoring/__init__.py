"""Post-deployment monitoring: the release gates' checks on production windows, with incidents.

``build_monitoring_dag(policy_path)`` builds the DAG (see :mod:`release_gates.monitoring.dag`); the
parts are plain modules usable without Airflow:

* :mod:`~release_gates.monitoring.plan` — which checks run, with which tolerances, on which window;
* :mod:`~release_gates.monitoring.source` — reading a window of the inference log (SQL or Parquet);
* :mod:`~release_gates.monitoring.engines` — volume, freshness and error-rate engines, and
  :func:`~release_gates.monitoring.engines.evaluate_window`, which runs every check on one window;
* :mod:`~release_gates.monitoring.incidents` — incidents folded from the evidence trail;
  :mod:`~release_gates.monitoring.priority` (impact and priority),
  :mod:`~release_gates.monitoring.escalation` (escalation and its notices),
  :mod:`~release_gates.monitoring.remediation_items` (overdue items of releases),
  :mod:`~release_gates.monitoring.rollback` (automatic rollback) and
  :mod:`~release_gates.monitoring.acknowledge` (acknowledgements) decide from it;
* :mod:`~release_gates.monitoring.retro` — the learning loop (``release-gates retro``).

Names resolve on first use, so importing this package (as a DAG file does) loads nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from release_gates.monitoring.acknowledge import acknowledge_incident
    from release_gates.monitoring.dag import build_monitoring_dag
    from release_gates.monitoring.retro import retro_report

__all__ = ["acknowledge_incident", "build_monitoring_dag", "retro_report"]

_LAZY = {
    "build_monitoring_dag": "release_gates.monitoring.dag",
    "acknowledge_incident": "release_gates.monitoring.acknowledge",
    "retro_report": "release_gates.monitoring.retro",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
