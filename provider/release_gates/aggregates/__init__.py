"""The aggregate engine: checks ask it for grouped counts and statistics; only aggregates reach Python.

Files (local Parquet/CSV, Hive-partitioned folders, object storage) are queried with DuckDB, embedded
and out-of-core under a memory limit; SQL datasets are queried in their own database through
SQLAlchemy. See :mod:`release_gates.aggregates.engine`.
"""

from __future__ import annotations
