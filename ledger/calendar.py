"""Working days on the Chinese statutory calendar, 调休 make-up days included.

Two sources, the later one winning for any date it names:

1. the ``chinesecalendar`` package (years it ships, 2004–2026 at the time of writing);
2. an override file (``data/calendar.yaml``) that an admin extends when the State
   Council publishes the next year's 节假日安排 notice.

A year neither source knows is counted Monday–Friday and every result that depends on it
is marked *provisional*; a warning is logged once per year. Nothing here raises for an
unknown year.
"""

from __future__ import annotations

import logging
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from ledger.errors import CalendarError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class YearOverride:
    """One year's notice: days off that would be working days, and 调休 working weekends."""

    year: int
    published: bool
    holidays: frozenset[date]
    workdays: frozenset[date]
    notice: str | None = None


@dataclass(frozen=True, slots=True)
class DueDate:
    due: date
    provisional: bool


@dataclass
class WorkCalendar:
    """Answers "is this a working day" and counts working days, year by year, cached."""

    overrides: dict[int, YearOverride] = field(default_factory=dict)
    use_builtin: bool = True
    _years: dict[int, tuple[list[int], bool]] = field(default_factory=dict, repr=False)
    _warned: set[int] = field(default_factory=set, repr=False)

    # -- single days -----------------------------------------------------------------
    def is_workday(self, day: date) -> bool:
        ordinals, _ = self._year(day.year)
        index = bisect_left(ordinals, day.toordinal())
        return index < len(ordinals) and ordinals[index] == day.toordinal()

    def is_known(self, year: int) -> bool:
        """True when the year's official schedule is known (package or published override)."""
        return self._year(year)[1]

    # -- counting --------------------------------------------------------------------
    def add_workdays(self, start: date, days: int) -> DueDate:
        """The ``days``-th working day strictly after ``start`` (``days`` >= 1)."""
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        provisional = False
        year = start.year
        after = start.toordinal()
        remaining = days
        while True:
            ordinals, known = self._year(year)
            first = bisect_right(ordinals, after)
            available = len(ordinals) - first
            if not known and available:
                provisional = True
            if available >= remaining:
                return DueDate(date.fromordinal(ordinals[first + remaining - 1]), provisional)
            remaining -= available
            year += 1

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.workdays_between(end, start)
        count = 0
        for year in range(start.year, end.year + 1):
            ordinals, _ = self._year(year)
            lo = bisect_right(ordinals, start.toordinal())
            hi = bisect_right(ordinals, end.toordinal())
            count += hi - lo
        return count

    def next_workday(self, day: date) -> date:
        """The first working day on or after ``day``."""
        if self.is_workday(day):
            return day
        return self.add_workdays(day, 1).due

    # -- data --------------------------------------------------------------------------
    def _year(self, year: int) -> tuple[list[int], bool]:
        cached = self._years.get(year)
        if cached is None:
            cached = self._build_year(year)
            self._years[year] = cached
        return cached

    def _build_year(self, year: int) -> tuple[list[int], bool]:
        override = self.overrides.get(year)
        builtin = self.use_builtin and _builtin_supports(year)
        known = builtin or bool(override and override.published)
        if not known and year not in self._warned:
            self._warned.add(year)
            logger.warning(
                "no statutory calendar for %s: counting Monday-Friday, deadlines provisional "
                "(add the State Council notice to the calendar override file)",
                year,
            )
        day = date(year, 1, 1)
        ordinals = []
        while day.year == year:
            working = _builtin_is_workday(day) if builtin else day.weekday() < 5
            if override:
                if day in override.holidays:
                    working = False
                elif day in override.workdays:
                    working = True
            if working:
                ordinals.append(day.toordinal())
            day += timedelta(days=1)
        return ordinals, known


def _builtin_supports(year: int) -> bool:
    import chinese_calendar

    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _builtin_is_workday(day: date) -> bool:
    import chinese_calendar

    return bool(chinese_calendar.is_workday(day))


# -- the override file -----------------------------------------------------------------


def load_calendar(path: Path | None, *, use_builtin: bool = True) -> WorkCalendar:
    """A calendar with the overrides in ``path`` (missing file: no overrides)."""
    overrides = parse_overrides(path) if path is not None and path.exists() else {}
    return WorkCalendar(overrides=overrides, use_builtin=use_builtin)


def parse_overrides(path: Path) -> dict[int, YearOverride]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CalendarError(f"{path}: not valid YAML: {exc}") from exc
    except ValueError as exc:  # YAML's own date parsing, e.g. 2027-13-01
        raise CalendarError(f"{path}: a date is not valid: {exc}") from exc
    years = document.get("years") or {}
    if not isinstance(years, dict):
        raise CalendarError(f"{path}: 'years' must be a mapping of year -> schedule")
    result = {}
    for key, body in years.items():
        year = _as_year(key, path)
        body = body or {}
        if not isinstance(body, dict):
            raise CalendarError(f"{path}: years.{year} must be a mapping")
        holidays = _dates(body.get("holidays"), f"{path}: years.{year}.holidays", year)
        workdays = _dates(body.get("workdays"), f"{path}: years.{year}.workdays", year)
        both = holidays & workdays
        if both:
            first = min(both).isoformat()
            raise CalendarError(f"{path}: years.{year}: {first} is both a holiday and a workday")
        result[year] = YearOverride(
            year=year,
            published=bool(body.get("published", False)),
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
            notice=body.get("notice"),
        )
    return result


def _as_year(key: Any, path: Path) -> int:
    try:
        year = int(key)
    except (TypeError, ValueError):
        raise CalendarError(f"{path}: year key {key!r} is not a year") from None
    if not 1990 <= year <= 2200:
        raise CalendarError(f"{path}: year {year} out of range")
    return year


def _dates(items: Any, where: str, year: int) -> set[date]:
    if items is None:
        return set()
    if not isinstance(items, list):
        raise CalendarError(f"{where}: expected a list of dates or [first, last] ranges")
    out: set[date] = set()
    for index, item in enumerate(items):
        if isinstance(item, list) and len(item) == 2:
            first, last = (_date(x, f"{where}[{index}]") for x in item)
            if last < first:
                raise CalendarError(f"{where}[{index}]: range ends before it starts")
            day = first
            while day <= last:
                out.add(day)
                day += timedelta(days=1)
        else:
            out.add(_date(item, f"{where}[{index}]"))
    for day in out:
        if day.year != year:
            raise CalendarError(f"{where}: {day.isoformat()} is not in {year}")
    return out


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not a date (YYYY-MM-DD)") from None
