"""The monitoring plan of one run: the checks resolved from the policy, and the window they judge.

The checks, their inherited tolerances and the monitoring chain's name are resolved in the policy
layer (:mod:`release_gates.policy.monitoring_plan`, re-exported here); this module adds the window:
the run's data interval (``data_interval_start``/``data_interval_end``), or the ``monitoring.window``
ending at ``data_interval_end``; fairness and error rates look at the window ``label_delay`` earlier,
whose labels have had time to arrive. No Airflow import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from release_gates.kinds.fields import DURATION_PATTERN, parse_duration
from release_gates.policy.monitoring_plan import (
    INHERITS_FROM,
    LABELLED_CHECKS,
    MONITOR_CHAIN_PREFIX,
    WINDOW_DATASET,
    ErrorRateSpec,
    MonitoredCheck,
    MonitoringPlan,
    gate_check_for,
    monitor_chain_id,
    monitoring_plan,
    monitoring_problems,
    reference_dataset,
)

if TYPE_CHECKING:
    from release_gates.policy.monitoring import Monitoring

__all__ = [
    "CRON_PRESETS",
    "INHERITS_FROM",
    "LABELLED_CHECKS",
    "MONITOR_CHAIN_PREFIX",
    "WINDOW_DATASET",
    "ErrorRateSpec",
    "MonitoredCheck",
    "MonitoringPlan",
    "Window",
    "as_utc",
    "gate_check_for",
    "monitor_chain_id",
    "monitoring_plan",
    "monitoring_problems",
    "reference_dataset",
    "schedule_period",
    "window_for",
]

# --------------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """The production rows one run judges: ``[start, end)``, and the labelled window for fairness."""

    start: datetime
    end: datetime
    labelled_start: datetime
    labelled_end: datetime

    @property
    def key(self) -> str:
        """Identifies the window in evidence (its end: one run per window end)."""
        return self.end.isoformat()

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def to_dict(self) -> dict[str, str]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "labelled_start": self.labelled_start.isoformat(),
            "labelled_end": self.labelled_end.isoformat(),
        }


def as_utc(value: datetime | date) -> datetime:
    """A plain, aware UTC datetime (naive values are taken as UTC; dates as their midnight).

    Always a stdlib ``datetime``: Airflow hands out pendulum DateTimes, whose arithmetic drops a
    stdlib ``timezone.utc`` (``DateTime - timedelta`` comes back naive).
    """
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


#: Airflow's cron presets (``airflow.sdk.definitions.timetables._cron.CRON_PRESETS``).
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}


def schedule_period(schedule: str) -> timedelta:
    """The time between two runs of a schedule (a cron expression's first two fire times from 2001)."""
    if DURATION_PATTERN.match(schedule):
        return parse_duration(schedule)
    from croniter import croniter  # type: ignore[import-untyped]

    runs = croniter(CRON_PRESETS.get(schedule, schedule), datetime(2001, 1, 1))
    first: datetime = runs.get_next(datetime)
    second: datetime = runs.get_next(datetime)
    return second - first


def window_for(monitoring: Monitoring, start: datetime | None, end: datetime) -> Window:
    """The window of a run whose data interval is ``[start, end)``.

    An empty interval (trigger timetables, manual runs) falls back to one schedule period.
    """
    end = as_utc(end)
    if monitoring.window is not None:
        begin = end - monitoring.window
    elif start is not None and as_utc(start) < end:
        begin = as_utc(start)
    else:
        begin = end - schedule_period(monitoring.schedule)
    delay = monitoring.label_delay
    return Window(start=begin, end=end, labelled_start=begin - delay, labelled_end=end - delay)
