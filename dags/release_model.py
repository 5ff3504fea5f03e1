"""Airflow release DAG for the mortgage-approval model, built from its release policy.

Trigger it with the candidate's version, model file and sha256, and the serving image; watch the
gates in the Grid view and the "Release gates" tab; answer the human steps under Required Actions.
"""

from __future__ import annotations

from pathlib import Path

from release_gates.dag_factory import build_release_dag

POLICY = Path(__file__).resolve().parents[1] / "include" / "release_policy.yaml"

dag = build_release_dag(POLICY, dag_id="release_mortgage_approval")
