"""Release gates for ML models: policy-driven checks, human sign-off and a hash-chained evidence trail.

Importing this package is cheap on purpose: Airflow imports it while parsing DAG files.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
