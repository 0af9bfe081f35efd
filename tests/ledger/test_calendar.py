"""The statutory calendar: 2026 National Day, 调休 make-up days, the 2027 fallback."""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path

import pytest

from ledger.calendar import DueDate, WorkCalendar, load_calendar, parse_overrides
from ledger.errors import BadInput, CalendarError


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_national_day_2026_is_off_and_make_up_saturday_is_on(cal: WorkCalendar) -> None:
    for day in range(1, 8):
        assert not cal.is_workday(date(2026, 10, day)), f"2026-10-0{day} is a holiday"
    assert cal.is_workday(date(2026, 10, 10))  # Saturday, 调休
    assert cal.is_workday(date(2026, 9, 20))  # Sunday, 调休 before the holiday
    assert not cal.is_workday(date(2026, 10, 11))  # ordinary Sunday
    assert cal.is_known(2026)


def test_seventh_working_day_across_national_day(cal: WorkCalendar) -> None:
    # Oct 8 (1), Oct 9 (2), Sat Oct 10 (3, 调休), Oct 12 (4), 13 (5), 14 (6), 15 (7)
    due = cal.add_workdays(date(2026, 9, 30), 7)
    assert due.due == date(2026, 10, 15)
    assert due.provisional is False


def test_counting_starts_the_day_after(cal: WorkCalendar) -> None:
    # Friday 2026-11-20: the first working day after is Monday 11-23.
    assert cal.add_workdays(date(2026, 11, 20), 1).due == date(2026, 11, 23)
    # Received on a Sunday: Monday is day 1.
    assert cal.add_workdays(date(2026, 11, 22), 1).due == date(2026, 11, 23)


def test_spring_festival_2026(cal: WorkCalendar) -> None:
    # 2026 春节: Feb 15–23 off, Feb 14 (Sat) and Feb 28 (Sat) are make-up working days.
    assert cal.is_workday(date(2026, 2, 14))
    assert not cal.is_workday(date(2026, 2, 16))
    assert cal.is_workday(date(2026, 2, 28))


def test_2027_without_data_falls_back_to_the_statutory_days_and_is_provisional(
    cal: WorkCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ledger.calendar"):
        assert not cal.is_workday(date(2027, 1, 1))  # a Friday, 元旦 by law
        assert not cal.is_workday(date(2027, 1, 2))  # Saturday
        assert cal.is_workday(date(2027, 1, 4))
    assert not cal.is_known(2027)
    assert any("2027" in r.getMessage() for r in caplog.records)
    due = cal.add_workdays(date(2026, 12, 29), 5)
    # Dec 30, Dec 31 (2026, known) + Jan 4, 5, 6 (2027: 元旦 off, weekdays)
    assert due.due == date(2027, 1, 6)
    assert due.provisional is True


def test_days_only_in_a_known_year_are_not_provisional(cal: WorkCalendar) -> None:
    # Dec 31, 2026 is the 1st working day after Dec 30: nothing from 2027 is counted.
    due = cal.add_workdays(date(2026, 12, 30), 1)
    assert due == due.__class__(date(2026, 12, 31), False)


def test_override_file_publishes_a_year(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(
        "years:\n"
        "  2027:\n"
        "    published: true\n"
        "    holidays: [2027-01-01, [2027-02-08, 2027-02-12]]\n"
        "    workdays: [2027-02-20]\n",
        encoding="utf-8",
    )
    cal = load_calendar(path)
    assert cal.is_known(2027)
    assert not cal.is_workday(date(2027, 1, 1))
    assert not cal.is_workday(date(2027, 2, 10))
    assert cal.is_workday(date(2027, 2, 20))  # Saturday made a working day
    due = cal.add_workdays(date(2026, 12, 31), 1)
    assert due.due == date(2027, 1, 4) and due.provisional is False


def test_unpublished_override_stays_provisional(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("years:\n  2027:\n    holidays: [2027-01-01]\n", encoding="utf-8")
    cal = load_calendar(path)
    assert not cal.is_known(2027)
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.add_workdays(date(2026, 12, 31), 1) == cal.add_workdays(date(2026, 12, 31), 1)
    assert cal.add_workdays(date(2026, 12, 31), 1).provisional


def test_override_corrects_a_builtin_year(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("years:\n  2026:\n    holidays: [2026-11-23]\n", encoding="utf-8")
    cal = load_calendar(path)
    assert not cal.is_workday(date(2026, 11, 23))
    assert cal.is_known(2026)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("years: [1, 2]", "mapping"),
        ("years:\n  2027:\n    holidays: [2027-13-01]\n", "month must be"),
        ("years:\n  2027:\n    holidays: [2027-1-32x]\n", "years.2027.holidays[0]"),
        ("years:\n  2027:\n    holidays: [2028-01-01]\n", "not in 2027"),
        ("years:\n  abc:\n    holidays: []\n", "not a year"),
        ("years:\n  2027:\n    holidays: [2027-01-02]\n    workdays: [2027-01-02]\n", "both"),
        ("years:\n  2027:\n    holidays: [[2027-02-10, 2027-02-01]]\n", "ends before"),
        ("years: {2027: [", "not valid YAML"),
        # an impossible date names its entry, not only PyYAML's "day is out of range"
        (
            "years:\n  2027:\n    workdays: [2027-02-06, 2027-02-30]\n",
            "years.2027.workdays[1]: '2027-02-30' 是不存在的日期",
        ),
        # the whole document is not a mapping: was an AttributeError
        ("- 2027\n- 2028\n", "expected a mapping"),
        # a quoted 'false' is not false: it used to publish the year
        ("years:\n  2027:\n    published: 'false'\n", "years.2027.published"),
        # a misspelt key used to be ignored (the holidays silently lost)
        (
            "years:\n  2027:\n    published: true\n    holiday: [2027-01-01]\n",
            "unknown key 'holiday'",
        ),
        ("year:\n  2027:\n    published: true\n", "unknown key 'year'"),
        # a year given twice used to keep only the second
        (
            "years:\n  2027:\n    holidays: [2027-01-01]\n  2027:\n    workdays: [2027-01-02]\n",
            "appears twice",
        ),
        # a time of day used to be kept as a datetime that never equals a date
        ("years:\n  2027:\n    holidays: [2027-01-01 10:00:00]\n", "years.2027.holidays[0]"),
        (
            "years:\n  2027:\n    holidays: [[2027-02-01, 2027-02-02, 2027-02-03]]\n",
            "a range is [first, last]",
        ),
        ("years:\n  2027:\n    holidays: [20270101]\n", "years.2027.holidays[0]"),
        # a range running into the next year is refused before it is expanded
        ("years:\n  2027:\n    holidays: [[2027-12-31, 9999-12-31]]\n", "9999-12-31 is not in"),
        ("years:\n  2027.5: {}\n", "not a year"),
    ],
)
def test_bad_override_files_name_the_problem(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CalendarError, match=re.escape(needle)):
        parse_overrides(path)


def test_override_file_not_in_utf8_is_a_calendar_error(tmp_path: Path) -> None:
    # An editor on Windows may save it as GBK: was a UnicodeDecodeError called "a date".
    path = tmp_path / "calendar.yaml"
    path.write_bytes("years:\n  2027:\n    notice: 国办发明电\n".encode("gbk"))
    with pytest.raises(CalendarError, match="not UTF-8"):
        parse_overrides(path)


def test_override_dates_quoted_or_with_one_digit_are_read(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text(
        "years:\n  '2027':\n    published: yes\n    notice: 12\n"
        "    holidays: ['2027-01-01', [2027-2-8, '2027-02-09']]\n    workdays: [2027-2-20]\n",
        encoding="utf-8",
    )
    override = parse_overrides(path)[2027]
    assert override.published is True and override.notice == "12"
    assert override.holidays == {date(2027, 1, 1), date(2027, 2, 8), date(2027, 2, 9)}
    assert override.workdays == {date(2027, 2, 20)}


def test_the_last_year_a_date_can_hold_does_not_overflow(cal: WorkCalendar) -> None:
    # Building 9999 stepped a date past 9999-12-31: OverflowError from `is-workday`.
    assert cal.is_workday(date(9999, 12, 31))  # a Friday, Monday–Friday fallback
    assert cal.add_workdays(date(9999, 12, 29), 2).due == date(9999, 12, 31)
    with pytest.raises(BadInput, match="9999-12-31"):
        cal.add_workdays(date(9999, 12, 29), 3)


def test_workdays_between(cal: WorkCalendar) -> None:
    assert cal.workdays_between(date(2026, 9, 30), date(2026, 10, 15)) == 7
    assert cal.workdays_between(date(2026, 10, 15), date(2026, 9, 30)) == -7
    assert cal.workdays_between(date(2026, 11, 20), date(2026, 11, 20)) == 0
    assert cal.workdays_between(date(2026, 12, 30), date(2027, 1, 5)) == 3  # 元旦 off


def test_bundled_override_file_loads(cal: WorkCalendar) -> None:
    from duban.settings import REPO_ROOT

    loaded = load_calendar(REPO_ROOT / "data" / "calendar.yaml")
    assert loaded.add_workdays(date(2026, 9, 30), 7).due == date(2026, 10, 15)


def test_a_running_process_picks_up_the_published_year(tmp_path: Path, caplog) -> None:
    """An admin enters next year's notice; a long-running bot or worker counts it without a
    restart, and a broken edit keeps the version that worked."""
    path = tmp_path / "calendar.yaml"
    path.write_text("years: {}\n", encoding="utf-8")
    cal = load_calendar(path)
    assert cal.add_workdays(date(2027, 1, 29), 1) == DueDate(date(2027, 2, 1), True)
    path.write_text(
        "years:\n  2027:\n    published: true\n    holidays: [[2027-02-01, 2027-02-05]]\n",
        encoding="utf-8",
    )
    assert cal.add_workdays(date(2027, 1, 29), 1).due == date(2027, 2, 1)  # not looked yet
    assert cal.reload_if_changed(force=True) is True
    # Feb 1-5 by the notice, then the weekend and Mon 02-08 (初三, statutory)
    assert cal.add_workdays(date(2027, 1, 29), 1) == DueDate(date(2027, 2, 9), False)
    path.write_text("years:\n  2027:\n    published: maybe\n", encoding="utf-8")
    with caplog.at_level("ERROR", logger="ledger.calendar"):
        assert cal.reload_if_changed(force=True) is False
    assert "keeping the previous version" in caplog.text and "published" in caplog.text
    assert cal.add_workdays(date(2027, 1, 29), 1) == DueDate(date(2027, 2, 9), False)
    path.unlink()
    assert cal.reload_if_changed(force=True) is True
    assert cal.add_workdays(date(2027, 1, 29), 1).provisional
