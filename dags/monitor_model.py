"""Airflow DAG: production monitoring of the mortgage-approval model, built from its policy.

Every day it judges the day's inference log with the release gates' own checks and thresholds —
drift against the evaluation data, subgroup fairness and error rates once labels have arrived,
volume and freshness — turns breaches into prioritized incidents, escalates them along the policy's
path, and rolls the model back when the policy says so. Evidence: ``monitor__mortgage-approval``.
"""

from __future__ import annotations

from pathlib import Path

from release_gates.monitoring import build_monitoring_dag

POLICY = Path(__file__).resolve().parents[1] / "include" / "release_policy.yaml"

dag = build_monitoring_dag(POLICY, dag_id="monitor_mortgage_approval")
