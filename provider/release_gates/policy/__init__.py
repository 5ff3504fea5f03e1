"""The release policy: which gates a model release must pass, who owns them, and what happens on failure.

Loaded from YAML at DAG parse time, so loading is cheap (no network, no file besides the policy) and
strict: every problem is reported at once, one line each, naming file, line and field path::

    include/release_policy.yaml:42 gates[1].checks[0].criteria[0].ratio_min: must be between 0 and 1

Structure (see ``include/release_policy.yaml`` for a complete, commented example)::

    policy_version: 1
    release:          model name, risk tier
    owners:           role → Airflow users + contact
    remediation_sla:  severity → time to fix
    datasets:         name → uri, sha256 pin, owner, description, legal basis, columns
    candidate:        the model under release: uri, sha256, format (skops | onnx), features
    scoring:          datasets the candidate scores inside the release, chunk size, verification sample
    gates:            id, owner role, rationale, mitigations, estimate, checks (typed per kind)
    waivers:          accepted findings: id, owner role, statement, expiry
    approvals:        sign-off name → roles, timeout
    monitoring:       production windows, inference log, tolerances, priorities, escalation, rollback

The package, by layer: :mod:`~release_gates.policy.problems` (located problems, shared rule helpers),
:mod:`~release_gates.policy.sections` and :mod:`~release_gates.policy.monitoring` (the sections),
:mod:`~release_gates.policy.model` (``ReleasePolicy``, ``Gate``), :mod:`~release_gates.policy.rules`
(cross-field rules), :mod:`~release_gates.policy.monitoring_plan` (monitored checks resolved against
the gates), :mod:`~release_gates.policy.loader`. Check specs are declared per kind in
:mod:`release_gates.kinds`; the names below are the public API of the policy language.
"""

from __future__ import annotations

from release_gates.kinds import KIND_NAMES as CHECK_KINDS
from release_gates.kinds import CheckSpec
from release_gates.kinds.common import Criterion, DeploymentTargetSpec, ModelRef, PiiPattern, Waiver
from release_gates.kinds.drift import DriftCheck
from release_gates.kinds.fairness import FairnessCheck
from release_gates.kinds.fields import (
    Duration,
    Fraction,
    Identifier,
    format_duration,
    is_templated,
    parse_duration,
)
from release_gates.kinds.image_scan import ImageScanCheck
from release_gates.kinds.lineage import LineageCheck
from release_gates.kinds.ops_readiness import OpsReadinessCheck
from release_gates.kinds.posture import PostureCheck
from release_gates.kinds.rollback_drill import RollbackDrillCheck
from release_gates.kinds.stress_safety import StressSafetyCheck, StressScenario
from release_gates.policy.candidate import Candidate, Scoring
from release_gates.policy.loader import load_policy, parse_policy
from release_gates.policy.model import POLICY_VERSION, Gate, ReleasePolicy
from release_gates.policy.monitoring import (
    DEFAULT_PRIORITY_RULES,
    GATE_OWNER,
    MONITORED_CHECKS,
    PRIORITIES,
    DriftMonitor,
    ErrorRateMonitor,
    Escalation,
    FairnessMonitor,
    FreshnessMonitor,
    InferenceLog,
    LogPartition,
    MonitoredChecks,
    Monitoring,
    Priority,
    PriorityRule,
    RollbackRule,
    VolumeMonitor,
)
from release_gates.policy.problems import PolicyError, PolicyProblem, Problems
from release_gates.policy.sections import (
    Approval,
    Dataset,
    Deployment,
    Notifications,
    OwnerRole,
    Release,
    RemediationSla,
)

__all__ = [
    "CHECK_KINDS",
    "DEFAULT_PRIORITY_RULES",
    "GATE_OWNER",
    "MONITORED_CHECKS",
    "POLICY_VERSION",
    "PRIORITIES",
    "Approval",
    "Candidate",
    "CheckSpec",
    "Criterion",
    "Dataset",
    "Deployment",
    "DeploymentTargetSpec",
    "DriftCheck",
    "DriftMonitor",
    "Duration",
    "ErrorRateMonitor",
    "Escalation",
    "FairnessCheck",
    "FairnessMonitor",
    "Fraction",
    "FreshnessMonitor",
    "Gate",
    "Identifier",
    "ImageScanCheck",
    "InferenceLog",
    "LineageCheck",
    "LogPartition",
    "ModelRef",
    "MonitoredChecks",
    "Monitoring",
    "Notifications",
    "OpsReadinessCheck",
    "OwnerRole",
    "PiiPattern",
    "PolicyError",
    "PolicyProblem",
    "PostureCheck",
    "Priority",
    "PriorityRule",
    "Problems",
    "Release",
    "ReleasePolicy",
    "RemediationSla",
    "RollbackDrillCheck",
    "RollbackRule",
    "Scoring",
    "StressSafetyCheck",
    "StressScenario",
    "VolumeMonitor",
    "Waiver",
    "format_duration",
    "is_templated",
    "load_policy",
    "parse_duration",
    "parse_policy",
]
