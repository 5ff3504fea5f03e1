"""The policy's ``monitoring:`` section: windows, inference log, tolerances, incidents."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from release_gates.kinds.common import Criterion
from release_gates.kinds.fields import (
    DURATION_PATTERN,
    Duration,
    Fraction,
    OpenUnit,
    PolicyModel,
    PositiveFloat,
    SeverityField,
    duration_input,
    parse_duration,
)
from release_gates.policy.sections import BinaryLabels
from release_gates.results import Severity

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
#: The checks the monitoring DAG runs on every production window.
MONITORED_CHECKS = ("drift", "fairness", "error_rate", "volume", "freshness")
MonitoredCheckName = Literal["drift", "fairness", "error_rate", "volume", "freshness"]
#: Stands for "the owner of the gate whose check breached" in an escalation path.
GATE_OWNER = "gate_owner"

_CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def _schedule(value: str) -> str:
    value = " ".join(value.split())
    if value in _CRON_PRESETS:
        return value
    if DURATION_PATTERN.match(value):
        parse_duration(value)
        return value
    if len(value.split(" ")) in (5, 6):
        try:
            from croniter import croniter  # type: ignore[import-untyped]
        except ImportError:  # validated again by Airflow when the DAG is built
            return value
        try:
            croniter(value)
        except Exception as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value
    raise ValueError(
        f"must be a cron expression ('0 * * * *'), a preset ({', '.join(_CRON_PRESETS)}) or a duration "
        f"(1h, 1d), got {value!r}"
    )


def _non_negative_duration(value: Any) -> Any:
    if value in (0, "0") or (isinstance(value, timedelta) and not value):
        return timedelta(0)
    return duration_input(value)


NonNegativeDuration = Annotated[timedelta, BeforeValidator(_non_negative_duration)]


class LogPartition(PolicyModel):
    """A Hive-style partition key of a Parquet inference log (``date=2025-03-01/…``)."""

    column: str = Field(description="Partition key name (date in date=2025-03-01/).", min_length=1)
    format: str = Field(default="%Y-%m-%d", description="strftime pattern of the partition values.")


class InferenceLog(BinaryLabels):
    """Where production inferences are logged: one row per scored request."""

    uri: str = Field(
        min_length=1,
        description="A Parquet file or directory (Hive partitions allowed), sql://<conn_id>/<table>, or a "
        "SQLAlchemy URL with ?table=.",
    )
    format: Literal["parquet", "sql"] | None = Field(
        default=None, description="parquet or sql (default: from uri)."
    )
    timestamp: str = Field(default="timestamp", min_length=1, description="When the request was scored.")
    label: str | None = Field(default=None, description="Ground truth; null until the label arrives.")
    prediction: str | None = Field(default=None, description="The logged decision column.")
    score: str | None = Field(default=None, description="The logged score column.")
    features: list[str] | None = Field(
        default=None, description="Columns tested for data drift (default: those shared with the reference)."
    )
    partition: LogPartition | None = Field(
        default=None, description="Hive-style partition key of a Parquet log directory."
    )


class _MonitoredCheck(PolicyModel):
    enabled: bool | None = Field(
        default=None,
        description="Default: on when the policy has a gate check to inherit from (or settings of its own).",
    )
    gate_check: str | None = Field(
        default=None, description="'<gate>.<check>' whose thresholds this check inherits."
    )
    severity: SeverityField | None = Field(
        default=None, description="Severity of a breach (default: the gate check's; error_rate: HIGH)."
    )


class DriftMonitor(_MonitoredCheck):
    """Data and prediction drift of each window against the release's reference dataset."""

    drift_share: Fraction | None = Field(default=None, description="Overrides the gate check's drift_share.")
    threshold: PositiveFloat | None = Field(default=None, description="Overrides the gate check's threshold.")
    column_thresholds: dict[str, PositiveFloat] | None = Field(
        default=None, description="Overrides the gate check's column_thresholds."
    )
    columns: list[str] | None = Field(default=None, description="Overrides the gate check's columns.")
    prediction_drift: bool | None = Field(
        default=None, description="Overrides the gate check's prediction_drift."
    )
    sample_rows: Annotated[int, Field(gt=0)] | None = Field(
        default=None, description="Overrides the gate check's sample_rows."
    )


class FairnessMonitor(_MonitoredCheck):
    """Subgroup fairness on labelled windows, with the release gate's interval rule."""

    sensitive_features: list[str] | None = Field(
        default=None, description="Overrides the gate check's sensitive_features."
    )
    criteria: list[Criterion] | None = Field(default=None, description="Overrides the gate check's criteria.")
    intersectional: bool | None = Field(
        default=None, description="Overrides the gate check's intersectional."
    )
    reference_group: dict[str, str] | None = Field(
        default=None, description="Overrides the gate check's reference_group."
    )
    min_group_size: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Overrides the gate check's min_group_size."
    )
    confidence: OpenUnit | None = Field(default=None, description="Overrides the gate check's confidence.")


class ErrorRateMonitor(_MonitoredCheck):
    """Per-subgroup error rates on labelled windows against a ceiling (default: the stress test's)."""

    metric: Literal["error_rate", "fnr", "fpr"] | None = Field(
        default=None, description="Overrides the stress check's metric."
    )
    ceiling: Fraction | None = Field(default=None, description="Overrides the stress check's ceiling.")
    sensitive_features: list[str] | None = Field(
        default=None, description="Overrides the stress check's sensitive_features."
    )
    min_group_size: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Overrides the stress check's min_group_size."
    )
    confidence: OpenUnit | None = Field(default=None, description="Overrides the stress check's confidence.")


class VolumeMonitor(PolicyModel):
    enabled: bool = Field(default=True, description="Run the volume check.")
    min_rows: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Fewer rows is a breach (an empty window always is)."
    )
    max_rows: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="More rows is a breach (default: no upper bound)."
    )
    severity: SeverityField = Field(default=Severity.HIGH, description="Severity of a breach.")


class FreshnessMonitor(PolicyModel):
    enabled: bool = Field(default=True, description="Run the freshness check.")
    max_staleness: Duration | None = Field(
        default=None,
        description="Newest row at most this long before the window end (default: half the window).",
    )
    severity: SeverityField = Field(default=Severity.HIGH, description="Severity of a breach.")


class MonitoredChecks(PolicyModel):
    drift: DriftMonitor = Field(default=DriftMonitor(), description="Data and prediction drift per window.")
    fairness: FairnessMonitor = Field(
        default=FairnessMonitor(), description="Subgroup fairness on labelled windows."
    )
    error_rate: ErrorRateMonitor = Field(
        default=ErrorRateMonitor(), description="Per-subgroup error rates on labelled windows."
    )
    volume: VolumeMonitor = Field(default=VolumeMonitor(), description="Row count per window.")
    freshness: FreshnessMonitor = Field(default=FreshnessMonitor(), description="Newest row per window.")


class PriorityRule(PolicyModel):
    """A breach at least this severe, affecting at least this share of the traffic, gets ``priority``."""

    priority: Priority = Field(description="Priority given (P1 most urgent).")
    min_severity: SeverityField = Field(
        default=Severity.INFO, description="Least severe breach the rule matches."
    )
    min_traffic_share: Fraction = Field(
        default=0.0, description="Smallest share of traffic affected the rule matches."
    )


DEFAULT_PRIORITY_RULES: tuple[PriorityRule, ...] = (
    PriorityRule(priority="P1", min_severity=Severity.HIGH, min_traffic_share=0.10),
    PriorityRule(priority="P2", min_severity=Severity.HIGH),
    PriorityRule(priority="P2", min_severity=Severity.MEDIUM, min_traffic_share=0.50),
    PriorityRule(priority="P3", min_severity=Severity.MEDIUM),
    PriorityRule(priority="P3", min_severity=Severity.LOW, min_traffic_share=0.50),
)

DEFAULT_ESCALATION_DELAYS: dict[Priority, timedelta] = {
    "P1": timedelta(minutes=30),
    "P2": timedelta(hours=4),
    "P3": timedelta(days=1),
    "P4": timedelta(days=3),
}


class Escalation(PolicyModel):
    """Who is told, in order, while an incident stays open and unacknowledged."""

    path: list[str] = Field(
        min_length=1, description=f"Owner roles in order; '{GATE_OWNER}' is the breaching check's gate owner."
    )
    after: dict[Priority, Duration] = Field(
        default_factory=dict, description="Per priority: time between steps (defaults: 30m, 4h, 1d, 3d)."
    )

    def delay(self, priority: Priority) -> timedelta:
        """Time between two steps of the path for an incident of ``priority``."""
        return self.after.get(priority) or DEFAULT_ESCALATION_DELAYS[priority]


class RollbackRule(PolicyModel):
    """Roll the deployment back when a check breaches at this priority in enough consecutive windows."""

    check: MonitoredCheckName = Field(description="Monitored check whose breaches trigger the rollback.")
    min_priority: Priority = Field(default="P1", description="Least urgent priority that counts.")
    consecutive_windows: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Windows in a row that must breach."
    )


class Monitoring(PolicyModel):
    """Post-deployment monitoring of the released model (the monitoring DAG is built from this)."""

    schedule: Annotated[str, AfterValidator(_schedule)] = Field(
        default="@daily", description="When the monitoring DAG runs: cron, a preset (@daily) or a duration."
    )
    start_date: datetime | date | None = Field(default=None, description="First window (default: the DAG's).")
    follow_promotions: bool = Field(
        default=False,
        description="Also run when a release promotes (on deployment.promoted_asset), so monitoring "
        "follows the version that is live.",
    )
    catchup: bool = Field(default=False, description="Run missed windows (Airflow catchup).")
    source: InferenceLog = Field(description="The production inference log.")
    reference: str | None = Field(
        default=None, description="Dataset windows are compared with (default: the drift check's reference)."
    )
    window: Duration | None = Field(default=None, description="Window length (default: the data interval).")
    label_delay: NonNegativeDuration = Field(
        default=timedelta(0), description="Fairness and error rates look at the window this long ago."
    )
    min_label_coverage: Fraction = Field(
        default=0.9, description="Share of a window's rows that must be labelled before it is judged."
    )
    owner: str | None = Field(
        default=None, description="Owner role of volume and freshness (stands in for a gate owner)."
    )
    checks: MonitoredChecks = Field(
        default=MonitoredChecks(),
        description="Which monitored checks run, and overrides of their inherited tolerances.",
    )
    priorities: list[PriorityRule] = Field(
        description="Rules that set an incident's priority from severity and traffic share (first match).",
        default_factory=lambda: list(DEFAULT_PRIORITY_RULES),
    )
    escalation: Escalation = Field(description="Who is told, in order, while an incident stays open.")
    rollback_on: list[RollbackRule] = Field(
        description="When to roll the deployment back automatically.", default_factory=list
    )
    rollback_notify: list[str] | None = Field(
        default=None, description="Roles told about an automatic rollback (default: the escalation path)."
    )
