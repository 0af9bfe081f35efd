"""Deadlines at the edges: the office's day boundary, holidays, 调休, the year without data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.helpers import local, rules_for

RULES = rules_for()


@pytest.mark.parametrize(
    ("received", "days", "due", "provisional"),
    [
        # 23:59 in Shanghai is 15:59 UTC the same day: day 1 is the next working day.
        (datetime(2026, 11, 20, 15, 59, tzinfo=UTC), 1, date(2026, 11, 23), False),
        # 00:30 on Monday in Shanghai is Sunday 16:30 UTC: Monday is the day of receipt.
        (datetime(2026, 11, 22, 16, 30, tzinfo=UTC), 1, date(2026, 11, 24), False),
        # late in the evening counts like the morning: from the day after receipt
        (local(2026, 11, 18, 22), 1, date(2026, 11, 19), False),
        # on a holiday (National Day), on 调休 Saturday 2026-10-10, on a plain Sunday
        (local(2026, 10, 3), 7, date(2026, 10, 15), False),
        (local(2026, 10, 10), 1, date(2026, 10, 12), False),
        (local(2026, 10, 11), 1, date(2026, 10, 12), False),
        # the eve of 春节 2026: Sat 02-14 (调休) is day 1, Feb 15–23 are off
        (local(2026, 2, 13, 18), 2, date(2026, 2, 24), False),
        # New Year's Eve 23:59 is still 2026; 00:30 on 2027-01-01 is 2027 (provisional:
        # weekdays less the statutory days off, so 元旦 2027-01-01 is skipped)
        (local(2026, 12, 31, 23, 59), 1, date(2027, 1, 4), True),
        (local(2027, 1, 1, 0, 30), 1, date(2027, 1, 4), True),
        (local(2027, 3, 1), 3, date(2027, 3, 4), True),
    ],
)
def test_count(received: datetime, days: int, due: date, provisional: bool) -> None:
    deadline = RULES.count(received, days)
    assert (deadline.due_date, deadline.provisional) == (due, provisional)
    # the end of the due day in Shanghai, stored as UTC
    assert deadline.due_at == datetime(due.year, due.month, due.day, 15, 59, 59, tzinfo=UTC)


def test_extension_across_national_day_lands_on_the_make_up_saturday() -> None:
    moved = RULES.extend(date(2026, 9, 30), 3)
    assert (moved.due_date, moved.provisional) == (date(2026, 10, 10), False)
    assert RULES.extend(date(2026, 12, 30), 3).provisional


@pytest.mark.parametrize(
    ("due", "now", "left"),
    [
        (date(2026, 10, 15), local(2026, 10, 15, 23, 59), 0),
        (date(2026, 10, 15), local(2026, 9, 30, 23, 30), 7),
        # overdue through the golden week: no working day has passed until Oct 8
        (date(2026, 9, 30), local(2026, 10, 7), 0),
        (date(2026, 9, 30), local(2026, 10, 10), -3),
        # across New Year into the year without data
        (date(2026, 12, 31), local(2027, 1, 8), -5),  # 元旦 2027-01-01 is off
    ],
)
def test_workdays_left(due: date, now: datetime, left: int) -> None:
    assert RULES.workdays_left(due, now) == left


def test_naive_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        RULES.count(datetime(2026, 11, 20, 10), 7)
