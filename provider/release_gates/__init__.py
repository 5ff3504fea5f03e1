"""Release gates for ML models: policy-driven checks, human sign-off and a hash-chained evidence trail.

Importing this package is cheap on purpose: Airflow imports it while parsing DAG files. Names that
need Airflow (``build_release_dag``, ``build_monitoring_dag``) are loaded on first use::

    from release_gates import build_release_dag

    dag = build_release_dag("release_policy.yaml")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from release_gates.dag_factory import build_release_dag
    from release_gates.monitoring.dag import build_monitoring_dag

#: Public names resolved on first access (module-level ``__getattr__``, PEP 562), → their module.
_LAZY = {
    "build_release_dag": "release_gates.dag_factory",
    "build_monitoring_dag": "release_gates.monitoring.dag",
}

__all__ = ["__version__", "build_monitoring_dag", "build_release_dag"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
