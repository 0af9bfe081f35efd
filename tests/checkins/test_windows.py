"""Windows on working days of the statutory calendar only: none on a weekend or in the
National Day holiday, three on the 调休 Saturday; a post outside counts for the nearest."""

from __future__ import annotations

from datetime import date, time

import pytest

from checkins.windows import slot_for, windows_on
from ledger.policy import CheckinPolicy
from tests.helpers import local, rules_for

RULES = rules_for()
POLICY = CheckinPolicy()


def names(day: date) -> list[str]:
    return [w.name for w in windows_on(day, POLICY, RULES)]


def test_three_windows_on_a_working_day_none_on_a_weekend() -> None:
    assert names(date(2026, 11, 16)) == ["早晒", "午晒", "晚晒"]  # Monday
    assert names(date(2026, 11, 14)) == []  # Saturday
    assert names(date(2026, 11, 15)) == []  # Sunday


@pytest.mark.parametrize("day", range(1, 8))
def test_no_windows_in_the_national_day_holiday(day: int) -> None:
    assert names(date(2026, 10, day)) == []


def test_the_tiaoxiu_saturday_is_a_working_day_with_its_windows() -> None:
    assert names(date(2026, 10, 10)) == ["早晒", "午晒", "晚晒"]
    assert names(date(2026, 10, 11)) == []  # the Sunday after it is not


def test_windows_open_and_close_in_office_time() -> None:
    morning = windows_on(date(2026, 11, 16), POLICY, RULES)[0]
    assert morning.opens == local(2026, 11, 16, 8, 0)
    assert morning.closes == local(2026, 11, 16, 9, 30)


def test_a_post_in_a_window_is_on_time() -> None:
    slot = slot_for(local(2026, 11, 16, 12, 30), POLICY, RULES)
    assert (slot.window.day, slot.window.name, slot.late) == (date(2026, 11, 16), "午晒", False)


def test_a_post_between_windows_counts_late_for_the_nearest() -> None:
    slot = slot_for(local(2026, 11, 16, 10, 0), POLICY, RULES)  # 30 min after 早晒
    assert (slot.window.name, slot.late) == ("早晒", True)
    slot = slot_for(local(2026, 11, 16, 11, 40), POLICY, RULES)  # 20 min before 午晒
    assert (slot.window.name, slot.late) == ("午晒", True)


def test_a_weekend_post_counts_for_the_nearest_working_day() -> None:
    sunday = slot_for(local(2026, 11, 15, 20, 0), POLICY, RULES)
    assert (sunday.window.day, sunday.window.name, sunday.late) == (
        date(2026, 11, 16),
        "早晒",
        True,
    )
    friday_night = slot_for(local(2026, 11, 13, 19, 0), POLICY, RULES)
    assert (friday_night.window.day, friday_night.window.name) == (date(2026, 11, 13), "晚晒")


def test_a_holiday_post_counts_for_the_working_day_after_it() -> None:
    slot = slot_for(local(2026, 10, 7, 20, 0), POLICY, RULES)
    assert (slot.window.day, slot.window.name, slot.late) == (date(2026, 10, 8), "早晒", True)
    saturday = slot_for(local(2026, 10, 10, 8, 15), POLICY, RULES)
    assert (saturday.window.day, saturday.late) == (date(2026, 10, 10), False)


def test_policy_times_read_from_yaml_even_unquoted() -> None:
    policy = CheckinPolicy.model_validate(
        {"windows": [{"name": "午晒", "opens": 720, "closes": "14:00"}]}
    )
    assert policy.windows[0].opens == time(12, 0)


def test_overlapping_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        CheckinPolicy.model_validate(
            {
                "windows": [
                    {"name": "早晒", "opens": "08:00", "closes": "10:00"},
                    {"name": "午晒", "opens": "09:00", "closes": "11:00"},
                ]
            }
        )
