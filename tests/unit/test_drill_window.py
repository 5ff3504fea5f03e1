"""The live drill's window: cron (UTC) + duration, and the policy rules of the drill's modes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from release_gates.kinds.rollback_drill import CronSchedule, DrillWindow
from release_gates.policy import RollbackDrillCheck

TARGET = {"type": "lambda", "name": "f", "alias": "live"}


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_a_window_is_open_from_each_firing_for_its_duration() -> None:
    window = DrillWindow(cron="0 3 * * 2", duration="2h")  # Tuesdays 03:00-05:00
    assert window.open_since(at(2026, 3, 3, 3, 0)) == at(2026, 3, 3, 3, 0)
    assert window.open_since(at(2026, 3, 3, 4, 59)) == at(2026, 3, 3, 3, 0)
    assert window.open_since(at(2026, 3, 3, 5, 0)) is None  # the end is outside
    assert window.open_since(at(2026, 3, 3, 2, 59)) is None
    assert window.open_since(at(2026, 3, 4, 3, 30)) is None  # a Wednesday
    assert window.next_start(at(2026, 3, 3, 5, 0)) == at(2026, 3, 10, 3, 0)
    assert window.next_start(at(2026, 3, 2, 23, 59)) == at(2026, 3, 3, 3, 0)


def test_cron_fields_lists_ranges_steps_and_the_day_rule() -> None:
    cron = CronSchedule("*/15 9-17 * * 1-5")
    assert cron.fires_at(at(2026, 3, 2, 9, 45)) and not cron.fires_at(at(2026, 3, 2, 9, 50))
    assert not cron.fires_at(at(2026, 3, 1, 10, 0))  # a Sunday
    assert CronSchedule("0 0 * * 7").fires_at(at(2026, 3, 1, 0, 0))  # 7 is Sunday too
    either = CronSchedule("0 0 13 * 5")  # the 13th or any Friday (both day fields restricted)
    assert either.fires_at(at(2026, 3, 13, 0, 0)) and either.fires_at(at(2026, 3, 6, 0, 0))
    assert not either.fires_at(at(2026, 3, 7, 0, 0))
    assert CronSchedule("30 2 29 2 *").next_after(at(2026, 3, 1)) == at(2028, 2, 29, 2, 30)


@pytest.mark.parametrize("cron", ["* * * *", "61 * * * *", "0 0 31 2 *", "*/0 * * * *", "a * * * *"])
def test_bad_or_never_firing_cron_is_refused(cron: str) -> None:
    with pytest.raises(ValidationError):
        DrillWindow(cron=cron, duration="1h")


def test_shadow_is_the_default_and_live_needs_a_window() -> None:
    assert RollbackDrillCheck(kind="rollback_drill", target=TARGET).mode == "shadow"
    with pytest.raises(ValidationError, match="give it a window"):
        RollbackDrillCheck(kind="rollback_drill", target=TARGET, mode="live")
    with pytest.raises(ValidationError, match="mode: live only"):
        RollbackDrillCheck(
            kind="rollback_drill", target=TARGET, window={"cron": "0 3 * * 2", "duration": "2h"}
        )
    live = RollbackDrillCheck(
        kind="rollback_drill", target=TARGET, mode="live", window={"cron": "0 3 * * 2", "duration": "2h"}
    )
    assert live.window is not None and live.window.duration.total_seconds() == 7200
