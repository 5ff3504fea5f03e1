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

    column: str = Field(min_length=1)
    format: str = Field(default="%Y-%m-%d", description="strftime pattern of the partition values.")


class InferenceLog(BinaryLabels):
    """Where production inferences are logged: one row per scored request."""

    uri: str = Field(
        min_length=1,
        description="A Parquet file or directory (Hive partitions allowed), sql://<conn_id>/<table>, or a "
        "SQLAlchemy URL with ?table=.",
    )
    format: Literal["parquet", "sql"] | None = None
    timestamp: str = Field(default="timestamp", min_length=1, description="When the request was scored.")
    label: str | None = Field(default=None, description="Ground truth; null until the label arrives.")
    prediction: str | None = None
    score: str | None = None
    features: list[str] | None = Field(
        default=None, description="Columns tested for data drift (default: those shared with the reference)."
    )
    partition: LogPartition | None = None


class _MonitoredCheck(PolicyModel):
    enabled: bool | None = Field(
        default=None,
        description="Default: on when the policy has a gate check to inherit from (or settings of its own).",
    )
    gate_check: str | None = Field(
        default=None, description="'<gate>.<check>' whose thresholds this check inherits."
    )
    severity: SeverityField | None = None


class DriftMonitor(_MonitoredCheck):
    """Data and prediction drift of each window against the release's reference dataset."""

    drift_share: Fraction | None = None
    threshold: PositiveFloat | None = None
    column_thresholds: dict[str, PositiveFloat] | None = None
    columns: list[str] | None = None
    prediction_drift: bool | None = None
    sample_rows: Annotated[int, Field(gt=0)] | None = None


class FairnessMonitor(_MonitoredCheck):
    """Subgroup fairness on labelled windows, with the release gate's interval rule."""

    sensitive_features: list[str] | None = None
    criteria: list[Criterion] | None = None
    intersectional: bool | None = None
    reference_group: dict[str, str] | None = None
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    confidence: OpenUnit | None = None


class ErrorRateMonitor(_MonitoredCheck):
    """Per-subgroup error rates on labelled windows against a ceiling (default: the stress test's)."""

    metric: Literal["error_rate", "fnr", "fpr"] | None = None
    ceiling: Fraction | None = None
    sensitive_features: list[str] | None = None
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    confidence: OpenUnit | None = None


class VolumeMonitor(PolicyModel):
    enabled: bool = True
    min_rows: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Fewer rows is a breach (an empty window always is)."
    )
    max_rows: Annotated[int, Field(ge=1)] | None = None
    severity: SeverityField = Severity.HIGH


class FreshnessMonitor(PolicyModel):
    enabled: bool = True
    max_staleness: Duration | None = Field(
        default=None,
        description="Newest row at most this long before the window end (default: half the window).",
    )
    severity: SeverityField = Severity.HIGH


class MonitoredChecks(PolicyModel):
    drift: DriftMonitor = DriftMonitor()
    fairness: FairnessMonitor = FairnessMonitor()
    error_rate: ErrorRateMonitor = ErrorRateMonitor()
    volume: VolumeMonitor = VolumeMonitor()
    freshness: FreshnessMonitor = FreshnessMonitor()


class PriorityRule(PolicyModel):
    """A breach at least this severe, affecting at least this share of the traffic, gets ``priority``."""

    priority: Priority
    min_severity: SeverityField = Severity.INFO
    min_traffic_share: Fraction = 0.0


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

    check: MonitoredCheckName
    min_priority: Priority = "P1"
    consecutive_windows: Annotated[int, Field(ge=1)] = 1


class Monitoring(PolicyModel):
    """Post-deployment monitoring of the released model (the monitoring DAG is built from this)."""

    schedule: Annotated[str, AfterValidator(_schedule)] = "@daily"
    start_date: datetime | date | None = None
    catchup: bool = False
    source: InferenceLog
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
    checks: MonitoredChecks = MonitoredChecks()
    priorities: list[PriorityRule] = Field(default_factory=lambda: list(DEFAULT_PRIORITY_RULES))
    escalation: Escalation
    rollback_on: list[RollbackRule] = Field(default_factory=list)
    rollback_notify: list[str] | None = Field(
        default=None, description="Roles told about an automatic rollback (default: the escalation path)."
    )
