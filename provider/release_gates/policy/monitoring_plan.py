"""What the monitoring DAG checks, resolved from the release policy's ``monitoring:`` section.

(Windows — which rows a run judges — are :mod:`release_gates.monitoring.plan`.)

Each monitored check inherits its tolerances from a release gate check, so the tolerances agreed for a
release are literally the ones production is held to; the ``monitoring.checks`` entry may override
single values:

==========  ========================================  ==============================================
monitored   inherits from (default: the first of kind)  result check id
==========  ========================================  ==============================================
drift       a ``drift`` gate check                      the gate check's id, e.g. ``data.drift``
fairness    a ``fairness`` gate check                   the gate check's id, e.g. ``ethics.fairness``
error_rate  a ``stress_safety`` gate check (ceiling)    ``monitor.error_rate``
volume      —                                           ``monitor.volume``
freshness   —                                           ``monitor.freshness``
==========  ========================================  ==============================================

Results of a monitored drift or fairness check carry the gate check's id, so a report counts one
check across releases and production windows (``release-gates retro``).

A window is the run's data interval (``data_interval_start``/``data_interval_end``), or the
``monitoring.window`` ending at ``data_interval_end``; fairness and error rates look at the window
``label_delay`` earlier, whose labels have had time to arrive. No Airflow import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.kinds.drift import DriftCheck
from release_gates.kinds.fairness import FairnessCheck
from release_gates.kinds.stress_safety import StressSafetyCheck
from release_gates.policy.monitoring import GATE_OWNER
from release_gates.policy.problems import Problems, role_problem, suggest
from release_gates.results import Severity

if TYPE_CHECKING:
    from release_gates._yaml import Path_
    from release_gates.kinds import CheckSpec
    from release_gates.policy.model import Gate, ReleasePolicy
    from release_gates.policy.monitoring import Monitoring

#: Evidence chain of a model's monitoring: ``monitor__<model>``.
MONITOR_CHAIN_PREFIX = "monitor__"
#: The dataset name a production window goes by in specs and messages.
WINDOW_DATASET = "production_window"

#: Monitored check → the kind of gate check it inherits thresholds from.
INHERITS_FROM = {"drift": "drift", "fairness": "fairness", "error_rate": "stress_safety"}
#: Monitored checks that need labels (and so look at the label-delayed window).
LABELLED_CHECKS = frozenset({"fairness", "error_rate"})


def monitor_chain_id(model: str) -> str:
    return f"{MONITOR_CHAIN_PREFIX}{model}"


@dataclass(frozen=True)
class ErrorRateSpec:
    """Per-subgroup error ceiling for production windows (from a stress_safety check, or the policy)."""

    metric: str
    ceiling: float
    sensitive_features: tuple[str, ...]
    min_group_size: int = 30
    min_cell_size: int = 10
    confidence: float = 0.95
    severity: Severity = Severity.HIGH


@dataclass(frozen=True)
class MonitoredCheck:
    """One check the monitoring DAG runs on every window, with its effective spec."""

    name: str
    check_id: str
    kind: str
    gate_id: str | None
    owner_role: str | None
    severity: Severity
    spec: Any
    inherits_from: str | None = None

    @property
    def labelled(self) -> bool:
        return self.name in LABELLED_CHECKS


@dataclass(frozen=True)
class MonitoringPlan:
    model: str
    chain_id: str
    monitoring: Monitoring
    checks: tuple[MonitoredCheck, ...]
    reference: str | None

    def check(self, name: str) -> MonitoredCheck | None:
        return next((c for c in self.checks if c.name == name), None)

    def by_id(self, check_id: str) -> MonitoredCheck | None:
        return next((c for c in self.checks if c.check_id == check_id), None)

    def labelled_columns(self) -> list[str]:
        """Columns of the label-delayed window (fairness and error rates only)."""
        log = self.monitoring.source
        columns = [log.timestamp, *(c for c in (log.label, log.prediction) if c)]
        for check in self.checks:
            if check.labelled:
                columns += list(check.spec.sensitive_features)
        return list(dict.fromkeys(columns))


# --------------------------------------------------------------------------------------------------
# Resolving the checks
# --------------------------------------------------------------------------------------------------


def gate_check_for(policy: ReleasePolicy, name: str) -> tuple[str, Gate, CheckSpec] | None:
    """The gate check a monitored check inherits its thresholds from: named, or the first of its kind."""
    if policy.monitoring is None or name not in INHERITS_FROM:
        return None
    wanted = getattr(policy.monitoring.checks, name).gate_check
    for gate, check, check_id in policy.iter_checks():
        if check_id == wanted or (wanted is None and check.kind == INHERITS_FROM[name]):
            return check_id, gate, check
    return None


def _overrides(settings: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(settings, f) for f in fields if getattr(settings, f) is not None}


def _drift(policy: ReleasePolicy, problems: Problems) -> MonitoredCheck | None:
    monitoring = policy.monitoring
    assert monitoring is not None
    settings = monitoring.checks.drift
    if settings.enabled is False:
        return None
    inherited = gate_check_for(policy, "drift")
    base: dict[str, Any] = {}
    if inherited is not None and isinstance(inherited[2], DriftCheck):
        base = inherited[2].model_dump(exclude={"id", "description"})
    reference = reference_dataset(policy)
    if reference is None:
        if settings.enabled:
            problems.append(
                (("monitoring", "reference"), "drift monitoring needs a reference dataset (name one here)")
            )
        return None
    fields = (
        "drift_share",
        "threshold",
        "column_thresholds",
        "columns",
        "prediction_drift",
        "sample_rows",
        "severity",
    )
    raw = {
        **base,
        **_overrides(settings, fields),
        "kind": "drift",
        "reference": reference,
        "current": WINDOW_DATASET,
    }
    spec = DriftCheck.model_validate(raw)
    return _inherited_check("drift", inherited, monitoring.owner, spec)


def _inherited_check(name: str, inherited: Any, default_owner: str | None, spec: Any) -> MonitoredCheck:
    """A monitored check that keeps the id, gate and owner of the release check it inherits from."""
    gate = inherited[1] if inherited else None
    return MonitoredCheck(
        name=name,
        check_id=inherited[0] if inherited else f"monitor.{name}",
        kind=name,
        gate_id=gate.id if gate else None,
        owner_role=gate.owner if gate else default_owner,
        severity=spec.severity,
        spec=spec,
        inherits_from=inherited[0] if inherited else None,
    )


def _fairness(policy: ReleasePolicy, problems: Problems) -> MonitoredCheck | None:
    monitoring = policy.monitoring
    assert monitoring is not None
    settings = monitoring.checks.fairness
    if settings.enabled is False:
        return None
    inherited = gate_check_for(policy, "fairness")
    base: dict[str, Any] = {}
    if inherited is not None and isinstance(inherited[2], FairnessCheck):
        base = inherited[2].model_dump(exclude={"id", "description"})
    fields = (
        "sensitive_features",
        "criteria",
        "intersectional",
        "reference_group",
        "min_group_size",
        "confidence",
        "severity",
    )
    raw = {**base, **_overrides(settings, fields), "kind": "fairness", "data": WINDOW_DATASET}
    if not raw.get("sensitive_features") or not raw.get("criteria"):
        if settings.enabled:
            problems.append(
                (
                    ("monitoring", "checks", "fairness", "enabled"),
                    "fairness monitoring needs a fairness gate check to inherit from, or "
                    "sensitive_features and criteria here",
                )
            )
        return None
    raw["criteria"] = [c if isinstance(c, dict) else c.model_dump() for c in raw["criteria"]]
    spec = FairnessCheck.model_validate(raw)
    return _inherited_check("fairness", inherited, monitoring.owner, spec)


def _error_rate(policy: ReleasePolicy, problems: Problems) -> MonitoredCheck | None:
    monitoring = policy.monitoring
    assert monitoring is not None
    settings = monitoring.checks.error_rate
    if settings.enabled is False:
        return None
    inherited = gate_check_for(policy, "error_rate")
    base: dict[str, Any] = {}
    if inherited is not None and isinstance(inherited[2], StressSafetyCheck):
        stress = inherited[2]
        base = {
            "metric": stress.metric,
            "ceiling": stress.ceiling,
            "sensitive_features": stress.sensitive_features,
            "min_group_size": stress.min_group_size,
            "min_cell_size": stress.min_cell_size,
            "confidence": stress.confidence,
            "severity": stress.severity,
        }
    fields = ("metric", "ceiling", "sensitive_features", "min_group_size", "confidence", "severity")
    raw = {**base, **_overrides(settings, fields)}
    if raw.get("ceiling") is None or not raw.get("sensitive_features"):
        if settings.enabled:
            problems.append(
                (
                    ("monitoring", "checks", "error_rate", "enabled"),
                    "error-rate monitoring needs a stress_safety gate check to inherit from, or ceiling "
                    "and sensitive_features here",
                )
            )
        return None
    spec = ErrorRateSpec(
        metric=raw.get("metric", "error_rate"),
        ceiling=float(raw["ceiling"]),
        sensitive_features=tuple(raw["sensitive_features"]),
        min_group_size=int(raw.get("min_group_size", 30)),
        min_cell_size=int(raw.get("min_cell_size", 10)),
        confidence=float(raw.get("confidence", 0.95)),
        severity=Severity(raw.get("severity", Severity.HIGH)),
    )
    gate = inherited[1] if inherited else None
    return MonitoredCheck(
        name="error_rate",
        check_id="monitor.error_rate",
        kind="error_rate",
        gate_id=gate.id if gate else None,
        owner_role=gate.owner if gate else monitoring.owner,
        severity=spec.severity,
        spec=spec,
        inherits_from=inherited[0] if inherited else None,
    )


def _data_check(policy: ReleasePolicy, name: str) -> MonitoredCheck | None:
    monitoring = policy.monitoring
    assert monitoring is not None
    settings = getattr(monitoring.checks, name)
    if not settings.enabled:
        return None
    return MonitoredCheck(
        name=name,
        check_id=f"monitor.{name}",
        kind=name,
        gate_id=None,
        owner_role=monitoring.owner,
        severity=settings.severity,
        spec=settings,
    )


def reference_dataset(policy: ReleasePolicy) -> str | None:
    """The dataset windows are compared with: ``monitoring.reference``, else the drift check's reference."""
    if policy.monitoring is None:
        return None
    if policy.monitoring.reference:
        return policy.monitoring.reference
    inherited = gate_check_for(policy, "drift")
    if inherited is not None and isinstance(inherited[2], DriftCheck):
        return inherited[2].reference
    return None


def _resolve(policy: ReleasePolicy) -> tuple[list[MonitoredCheck], Problems]:
    problems: Problems = []
    checks = [
        _drift(policy, problems),
        _fairness(policy, problems),
        _error_rate(policy, problems),
        _data_check(policy, "volume"),
        _data_check(policy, "freshness"),
    ]
    return [c for c in checks if c is not None], problems


def monitoring_plan(policy: ReleasePolicy) -> MonitoringPlan:
    """The checks the monitoring DAG runs, with effective specs. The policy must have ``monitoring:``."""
    if policy.monitoring is None:
        raise ValueError(f"policy {policy.source} has no monitoring section")
    checks, problems = _resolve(policy)
    if problems:  # a policy from load_policy() was validated already; this guards hand-built ones
        raise ValueError("; ".join(f"{'.'.join(map(str, p))}: {m}" for p, m in problems))
    return MonitoringPlan(
        model=policy.release.model,
        chain_id=monitor_chain_id(policy.release.model),
        monitoring=policy.monitoring,
        checks=tuple(checks),
        reference=reference_dataset(policy) if any(c.name == "drift" for c in checks) else None,
    )


# --------------------------------------------------------------------------------------------------
# Cross-field rules of the monitoring section (called by the policy loader)
# --------------------------------------------------------------------------------------------------


def monitoring_problems(policy: ReleasePolicy) -> Problems:
    """Every cross-field problem of ``policy.monitoring``, as (field path, message) pairs."""
    monitoring = policy.monitoring
    if monitoring is None:
        return []
    problems: Problems = []
    problems += _gate_check_problems(policy)
    if monitoring.reference is not None and monitoring.reference not in policy.datasets:
        names = sorted(policy.datasets)
        problems.append(
            (
                ("monitoring", "reference"),
                f"unknown dataset {monitoring.reference!r}{suggest(monitoring.reference, names)}",
            )
        )
    if problems:  # the checks below resolve gate checks and datasets: only once those are sound
        return problems
    checks, resolve_problems = _resolve(policy)
    problems += resolve_problems
    problems += _source_problems(policy, checks)
    problems += _role_problems(policy, checks)
    problems += _rollback_problems(policy, checks)
    return problems


def _gate_check_problems(policy: ReleasePolicy) -> Problems:
    assert policy.monitoring is not None
    problems: Problems = []
    kinds = {check_id: check.kind for _, check, check_id in policy.iter_checks()}
    for name, kind in INHERITS_FROM.items():
        wanted = getattr(policy.monitoring.checks, name).gate_check
        path: Path_ = ("monitoring", "checks", name, "gate_check")
        if wanted is None:
            continue
        if wanted not in kinds:
            problems.append((path, f"unknown gate check {wanted!r}{suggest(wanted, sorted(kinds))}"))
        elif kinds[wanted] != kind:
            problems.append(
                (path, f"{wanted!r} is a {kinds[wanted]} check; {name} inherits from a {kind} check")
            )
    return problems


def _source_problems(policy: ReleasePolicy, checks: list[MonitoredCheck]) -> Problems:
    assert policy.monitoring is not None
    source = policy.monitoring.source
    problems: Problems = []
    labelled = [c.name for c in checks if c.labelled]
    missing = [col for col in ("label", "prediction") if getattr(source, col) is None]
    if labelled and missing:
        problems.append(
            (
                ("monitoring", "source"),
                f"the inference log declares no {' / '.join(missing)} column, which {', '.join(labelled)} "
                "monitoring needs (or set enabled: false)",
            )
        )
    from release_gates.datasets import is_sql_uri

    if source.partition is not None and (source.format == "sql" or is_sql_uri(source.uri, source.format)):
        problems.append(
            (("monitoring", "source", "partition"), "partitions apply to a Parquet log, not a SQL table")
        )
    return problems


def _role_problems(policy: ReleasePolicy, checks: list[MonitoredCheck]) -> Problems:
    monitoring = policy.monitoring
    assert monitoring is not None
    problems: Problems = []
    if monitoring.owner is not None:
        problems += role_problem(policy, ("monitoring", "owner"), monitoring.owner)
    for index, role in enumerate(monitoring.escalation.path):
        path: Path_ = ("monitoring", "escalation", "path", index)
        if role == GATE_OWNER:
            ownerless = [c.check_id for c in checks if c.owner_role is None]
            if ownerless:
                problems.append((path, f"no owner for {', '.join(ownerless)}: set monitoring.owner (a role)"))
            continue
        problems += role_problem(policy, path, role, empty="escalation role {role!r} has no users to notify")
    for index, role in enumerate(monitoring.rollback_notify or []):
        problems += role_problem(policy, ("monitoring", "rollback_notify", index), role)
    return problems


def _rollback_problems(policy: ReleasePolicy, checks: list[MonitoredCheck]) -> Problems:
    monitoring = policy.monitoring
    assert monitoring is not None
    problems: Problems = []
    enabled = {c.name for c in checks}
    for index, rule in enumerate(monitoring.rollback_on):
        if rule.check not in enabled:
            problems.append(
                (
                    ("monitoring", "rollback_on", index, "check"),
                    f"{rule.check} is not monitored (monitored: {', '.join(sorted(enabled)) or 'none'})",
                )
            )
    if monitoring.rollback_on and policy.deployment is None:
        problems.append(
            (
                ("monitoring", "rollback_on"),
                "automatic rollback needs a deployment target (deployment.target)",
            )
        )
    return problems
