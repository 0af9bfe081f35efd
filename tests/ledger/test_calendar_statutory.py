"""A year without the State Council's notice: weekdays less the statutory days off.

The national holiday regulations as revised with effect from 2025 fix the days off (元旦 1,
春节 4 from 除夕, 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3); only the 调休 make-up days wait
for the notice. 2027 is the first year chinesecalendar does not ship.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import holidays
import pytest

from ledger.calendar import (
    FESTIVAL_DAYS,
    DueDate,
    WorkCalendar,
    YearOverride,
    check_notice,
    festival_days,
    statutory_days_off,
)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_the_regulation_of_2025() -> None:
    assert FESTIVAL_DAYS == {
        "元旦": 1,
        "春节": 4,
        "清明节": 1,
        "劳动节": 2,
        "端午节": 1,
        "中秋节": 1,
        "国庆节": 3,
    }
    assert sum(FESTIVAL_DAYS.values()) == 13


def test_2027_statutory_days_off() -> None:
    assert festival_days(2027) == {
        "元旦": (date(2027, 1, 1),),
        # 除夕 Fri 02-05, 初一 Sat 02-06 .. 初三 Mon 02-08
        "春节": tuple(date(2027, 2, 5) + timedelta(days=n) for n in range(4)),
        "清明节": (date(2027, 4, 5),),
        "劳动节": (date(2027, 5, 1), date(2027, 5, 2)),
        "端午节": (date(2027, 6, 9),),
        "中秋节": (date(2027, 9, 15),),
        "国庆节": (date(2027, 10, 1), date(2027, 10, 2), date(2027, 10, 3)),
    }


@pytest.mark.parametrize("year", range(2027, 2041))
def test_the_package_agrees_with_the_regulation(year: int) -> None:
    """Cross-check: the holidays package's statutory days have the regulation's counts."""
    days = festival_days(year)
    assert {name: len(d) for name, d in days.items()} == FESTIVAL_DAYS
    package = holidays.China(years=year, observed=False, language="en_US")
    counts: Counter[str] = Counter()
    for names in package.values():
        for name in names.split("; "):
            counts[name] += 1
    assert counts["New Year's Day"] == 1
    # 春节 = 除夕 + 3 days: the package lists the eve and 初一..初三
    assert counts["Chinese New Year's Eve"] + counts["Chinese New Year (Spring Festival)"] == 4
    eve = min(d for d, n in package.items() if "Eve" in n)
    assert days["春节"][0] == eve
    assert days["春节"][1] == min(d for d, n in package.items() if "Spring Festival" in n)
    for name, count in (
        ("Tomb-Sweeping Day", 1),
        ("Labor Day", 2),
        ("Dragon Boat Festival", 1),
        ("Mid-Autumn Festival", 1),
        ("National Day", 3),
    ):
        assert counts[name] == count, name
    assert not any("substituted" in n.lower() for n in package.values())  # no guessed 调休


def test_mid_autumn_on_national_day_is_one_day_off() -> None:
    # 2028: 中秋 falls on 10-03, inside 国庆; the days off are the union.
    off = statutory_days_off(2028)
    assert off[date(2028, 10, 3)] == "国庆节、中秋节"
    assert [d for d in off if d.month == 10] == [date(2028, 10, n) for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("start", "days", "due", "why"),
    [
        (date(2026, 12, 20), 10, date(2027, 1, 4), "元旦 Fri 01-01 (the issue's example)"),
        (date(2026, 12, 31), 1, date(2027, 1, 4), "元旦"),
        (date(2026, 12, 20), 15, date(2027, 1, 11), "15 working days over the year edge"),
        (date(2027, 2, 4), 1, date(2027, 2, 9), "春节: 除夕 Fri 02-05 and 初三 Mon 02-08 off"),
        (date(2027, 2, 1), 5, date(2027, 2, 10), "春节"),
        (date(2027, 4, 2), 1, date(2027, 4, 6), "清明 Mon 04-05"),
        (date(2027, 4, 30), 1, date(2027, 5, 3), "劳动节 on Sat/Sun: 补假 waits for the notice"),
        (date(2027, 6, 8), 1, date(2027, 6, 10), "端午 Wed 06-09"),
        (date(2027, 9, 14), 1, date(2027, 9, 16), "中秋 Wed 09-15"),
        (date(2027, 9, 30), 1, date(2027, 10, 4), "国庆 Fri 10-01"),
        (date(2027, 9, 13), 15, date(2027, 10, 6), "中秋 and 国庆 in one count"),
    ],
)
def test_provisional_deadlines_in_2027_skip_the_statutory_days(
    cal: WorkCalendar, start: date, days: int, due: date, why: str
) -> None:
    assert cal.add_workdays(start, days) == DueDate(due, True), why


def test_days_in_2026_only_stay_official(cal: WorkCalendar) -> None:
    assert cal.add_workdays(date(2026, 12, 30), 1) == DueDate(date(2026, 12, 31), False)


def test_statutory_weekdays_of_2027_are_days_off(cal: WorkCalendar) -> None:
    weekdays = [d for d in statutory_days_off(2027) if d.weekday() < 5]
    assert weekdays == [
        date(2027, 1, 1),
        date(2027, 2, 5),
        date(2027, 2, 8),
        date(2027, 4, 5),
        date(2027, 6, 9),
        date(2027, 9, 15),
        date(2027, 10, 1),
    ]
    assert not any(cal.is_workday(d) for d in weekdays)
    assert not cal.is_known(2027)
    # no make-up Saturday is guessed: 2027-02-20 is a weekend day until a notice says otherwise
    assert not cal.is_workday(date(2027, 2, 20))


def test_a_published_notice_decides_and_is_no_longer_provisional() -> None:
    notice = YearOverride(
        year=2027,
        published=True,
        holidays=frozenset(date(2027, 2, 5) + timedelta(days=n) for n in range(8)),
        workdays=frozenset({date(2027, 2, 20)}),
    )
    cal = WorkCalendar(overrides={2027: notice})
    assert cal.is_known(2027)
    assert cal.add_workdays(date(2027, 2, 4), 1) == DueDate(date(2027, 2, 15), False)
    assert cal.is_workday(date(2027, 2, 20))
    # a statutory day the notice forgot still is a day off (the law decides it)
    assert not cal.is_workday(date(2027, 10, 1))


def test_years_beyond_the_lunar_tables_count_weekdays(cal: WorkCalendar) -> None:
    assert statutory_days_off(2101) == {}
    assert cal.add_workdays(date(2101, 9, 30), 1) == DueDate(date(2101, 10, 3), True)
    assert statutory_days_off(2024) == {}  # before the regulation of 2025: not ours to say


def test_check_notice_names_a_statutory_day_left_out() -> None:
    complete = YearOverride(
        year=2027,
        published=True,
        holidays=frozenset(
            {
                date(2027, 1, 1),
                *(date(2027, 2, 5) + timedelta(days=n) for n in range(8)),
                date(2027, 4, 5),
                date(2027, 5, 3),
                date(2027, 5, 4),
                date(2027, 6, 9),
                date(2027, 9, 15),
                *(date(2027, 10, 1) + timedelta(days=n) for n in range(7)),
            }
        ),
        workdays=frozenset({date(2027, 2, 20), date(2027, 10, 9)}),
    )
    result = check_notice(complete)
    assert result.ok and not result.missing and not result.worked
    assert date(2027, 5, 3) in result.extra_days_off  # 补假 for 劳动节 on the weekend
    assert result.make_up_workdays == (date(2027, 2, 20), date(2027, 10, 9))

    forgot = YearOverride(
        year=2027,
        published=True,
        holidays=complete.holidays - {date(2027, 9, 15)},
        workdays=complete.workdays | {date(2027, 2, 6)},
    )
    result = check_notice(forgot)
    assert not result.ok
    assert result.missing == ((date(2027, 9, 15), "中秋节"),)
    assert result.worked == ((date(2027, 2, 6), "春节"),)
