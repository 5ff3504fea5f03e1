"""``kind: rollback_drill`` — prove a deployment target can be rolled back within an RTO budget.

Two modes. ``shadow`` (the default) drills a stand-in that serves no live traffic — a temporary
Lambda alias, a drill pointer object next to the live one, a one-task ECS drill service — created
and removed by the drill; the live target is only read. ``live`` rolls the serving target itself
back and forward, and only inside the policy's ``window:`` (a cron expression and a duration):
outside it the drill is INCONCLUSIVE, deferred to the next window, and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, Duration, PolicyModel

#: (lowest, highest) value of each cron field: minute, hour, day of month, month, day of week.
_CRON_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
#: How far ahead the next window start is looked for (a cron that fires less often is refused).
_CRON_HORIZON = timedelta(days=366 * 5)


def _cron_field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step {step_text!r} must be at least 1")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first_text, _, last_text = body.partition("-")
            first, last = int(first_text), int(last_text)
        else:
            first = int(body)
            last = high if step_text else first
        if not (low <= first <= last <= high):
            raise ValueError(f"{part!r} is outside {low}-{high}")
        values.update(range(first, last + 1, step))
    return frozenset(values)


class CronSchedule:
    """A five-field cron expression (minute hour day-of-month month day-of-week), evaluated in UTC.

    ``*``, lists, ranges and steps; day 7 of the week is Sunday like 0. When both day fields are
    restricted, a day matching either one matches (the cron convention).
    """

    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"a cron expression has 5 fields, {expression!r} has {len(fields)}")
        try:
            parsed = [_cron_field(f, low, high) for f, (low, high) in zip(fields, _CRON_FIELDS, strict=True)]
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {expression!r}: {exc}") from exc
        self.expression = expression
        self.minutes, self.hours, self.days, self.months, weekdays = parsed
        self.weekdays = frozenset(d % 7 for d in weekdays)
        self._any_day = fields[2] == "*"
        self._any_weekday = fields[4] == "*"

    def _day_matches(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        in_month = moment.day in self.days
        in_week = (moment.isoweekday() % 7) in self.weekdays
        if self._any_day or self._any_weekday:
            return in_month and in_week
        return in_month or in_week

    def fires_at(self, moment: datetime) -> bool:
        return moment.minute in self.minutes and moment.hour in self.hours and self._day_matches(moment)

    def next_after(self, moment: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first firing at or after (``inclusive``) / after ``moment``, within the horizon."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0)
        if not inclusive or start < moment:
            start += timedelta(minutes=1)
        end = start + _CRON_HORIZON
        current = start
        while current < end:
            if not self._day_matches(current):
                current = (current + timedelta(days=1)).replace(hour=0, minute=0)
            elif current.hour not in self.hours:
                current = (current + timedelta(hours=1)).replace(minute=0)
            elif current.minute not in self.minutes:
                current += timedelta(minutes=1)
            else:
                return current
        return None

    def last_at_or_before(self, moment: datetime, within: timedelta) -> datetime | None:
        """The latest firing in ``(moment - within, moment]``."""
        current = moment.astimezone(UTC).replace(second=0, microsecond=0)
        earliest = moment - within
        while current > earliest:
            if self.fires_at(current):
                return current
            current -= timedelta(minutes=1)
        return None


class DrillWindow(PolicyModel):
    """When a live drill may run: from each firing of ``cron`` (UTC) for ``duration``."""

    cron: str = Field(
        description="Five-field cron expression (UTC) of each window's start.", examples=["0 3 * * 2"]
    )
    duration: Duration = Field(description="How long each window stays open.", examples=["2h"])

    @field_validator("cron")
    @classmethod
    def _parses(cls, value: str) -> str:
        schedule = CronSchedule(value)
        if schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise ValueError(f"cron expression {value!r} never fires")
        return value

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError("a drill window lasts at least 1m")
        return value

    def open_since(self, now: datetime) -> datetime | None:
        """Start of the window ``now`` is in, or None when it is outside every window."""
        start = CronSchedule(self.cron).last_at_or_before(now, self.duration)
        return start if start is not None and now < start + self.duration else None

    def next_start(self, now: datetime) -> datetime | None:
        return CronSchedule(self.cron).next_after(now)


class RollbackDrillCheck(CheckSpecBase):
    kind: Literal["rollback_drill"] = Field(
        description="rollback_drill: prove the target rolls back (and forward) within an RTO budget."
    )
    target: DeploymentTargetSpec = Field(description="The deployment target drilled.")
    mode: Literal["shadow", "live"] = Field(
        default="shadow",
        description="shadow: drill a stand-in created and removed by the drill (the live target is "
        "only read); live: roll the serving target itself back and forward, only inside window.",
    )
    window: DrillWindow | None = Field(
        default=None,
        description="live mode: when the live target may be drilled (cron + duration, UTC); outside "
        "it the drill is INCONCLUSIVE and changes nothing.",
    )
    ecs_drill_service: bool = Field(
        default=True,
        description="shadow on ECS: create a one-task drill service from the live service's task "
        "definitions; false: verify the live service's deployment circuit breaker instead.",
    )
    previous_version: str | None = Field(
        default=None, description="Version rolled back to (default: the one before the current)."
    )
    rto_budget: Duration = Field(
        default=timedelta(minutes=15), description="Most time a rollback may take to recover (else FAIL)."
    )
    dry_run: bool = Field(default=False, description="Plan the drill without changing the target.")
    stable_timeout: Duration | None = Field(
        default=None, description="How long to wait for the target to settle (default: rto_budget)."
    )

    @model_validator(mode="after")
    def _live_needs_a_window(self) -> RollbackDrillCheck:
        if self.mode == "live" and self.window is None:
            raise ValueError(
                "a live drill rolls back the serving target: give it a window (cron + duration, UTC), "
                "e.g. window: {cron: '0 3 * * 2', duration: 2h}, or use mode: shadow"
            )
        if self.mode == "shadow" and self.window is not None:
            raise ValueError("window applies to mode: live only (a shadow drill never touches live)")
        return self


KIND = CheckKind(
    name="rollback_drill",
    spec=RollbackDrillCheck,
    engine="release_gates.checks.rollback_drill:run_rollback_drill",
    resolver="release_gates.inputs.rollback_drill:resolve_rollback_drill_inputs",
    operator="release_gates.operators.aws:RollbackDrillOperator",
    cli_command="release_gates.cli.checks.rollback_drill:COMMAND",
)
