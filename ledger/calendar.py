"""Working days on the Chinese statutory calendar, 调休 make-up days included.

Two sources, the later one winning for any date it names:

1. the ``chinesecalendar`` package (years it ships, 2004–2026 at the time of writing);
2. an override file (``data/calendar.yaml``) that an admin extends when the State
   Council publishes the next year's 节假日安排 notice.

A year neither source knows is *provisional*: it is counted Monday–Friday less the
statutory days off (法定节假日) that fall on weekdays, as the national holiday regulations
(全国年节及纪念日放假办法, revised with effect from 2025-01-01) fix them — 元旦 1 day, 春节 4
days from 除夕, 清明节 1, 劳动节 2, 端午节 1, 中秋节 1, 国庆节 3 — computed from the solar and
lunar calendar (the ``holidays`` package gives the festival dates, the regulation the
lengths). What only the State Council's yearly notice settles stays unknown until it is
entered: the 调休 make-up working weekends, the bridge days and the 补假 for a day off that
falls on a weekend. Every result that depends on such a year is marked *provisional*, a
warning is logged once per year, and ``duban calendar recompute`` counts again once the
notice is entered. Nothing here raises for an unknown year.

A calendar loaded from a file notices when the file changes (checked at most every
``RELOAD_CHECK_SECONDS``), so a long-running bot, worker or scheduler counts the new year's
schedule without a restart once an admin has entered it. A changed file that does not parse
is logged and the calendar keeps counting on the version it had.
"""

from __future__ import annotations

import logging
import re
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import MAXYEAR, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from ledger import yamlfile
from ledger.errors import BadInput, CalendarError

logger = logging.getLogger(__name__)

RELOAD_CHECK_SECONDS = 30.0


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
    source: Path | None = None  # the override file, watched for changes
    _years: dict[int, tuple[list[int], bool]] = field(default_factory=dict, repr=False)
    _warned: set[int] = field(default_factory=set, repr=False)
    _stamp: tuple[int, int] | None = field(default=None, repr=False)
    _checked_at: float = field(default=0.0, repr=False)

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
        """The ``days``-th working day strictly after ``start`` (``days`` >= 1).

        :class:`BadInput` when the count runs past 9999-12-31, the last date there is.
        """
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        provisional = False
        year = start.year
        after = start.toordinal()
        remaining = days
        while True:
            if year > MAXYEAR:
                raise BadInput(
                    f"从 {start.isoformat()} 起第 {days} 个工作日超出日历范围 "
                    f"({days} working days after {start.isoformat()} is beyond {date.max})"
                )
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
    def reload_if_changed(self, *, force: bool = False) -> bool:
        """Re-read ``source`` when it has changed since it was read; True when it was.

        Called by every count, but looks at the file at most every ``RELOAD_CHECK_SECONDS``
        (``force`` looks now). A file that no longer parses keeps the current overrides.
        """
        if self.source is None:
            return False
        now = time.monotonic()
        if not force and now - self._checked_at < RELOAD_CHECK_SECONDS:
            return False
        self._checked_at = now
        stamp = _stamp(self.source)
        if stamp == self._stamp:
            return False
        try:
            overrides = parse_overrides(self.source) if stamp is not None else {}
        except CalendarError as exc:
            logger.error(
                "calendar file changed but cannot be used, keeping the previous version: %s", exc
            )
            self._stamp = stamp  # not again until it changes once more
            return False
        # new containers, not clear(): a count running in another thread keeps the old ones
        self.overrides, self._stamp, self._years, self._warned = overrides, stamp, {}, set()
        logger.warning(
            "calendar file %s changed: reloaded (%s)",
            self.source,
            ", ".join(str(y) for y in sorted(overrides)) or "no overrides",
        )
        return True

    def _year(self, year: int) -> tuple[list[int], bool]:
        if self.source is not None:
            self.reload_if_changed()
        cached = self._years.get(year)
        if cached is None:
            cached = self._build_year(year)
            self._years[year] = cached
        return cached

    def _build_year(self, year: int) -> tuple[list[int], bool]:
        override = self.overrides.get(year)
        builtin = self.use_builtin and _builtin_supports(year)
        known = builtin or bool(override and override.published)
        statutory = {} if builtin else statutory_days_off(year)
        if not known and year not in self._warned:
            self._warned.add(year)
            logger.warning(
                "no State Council notice for %s: counting Monday-Friday less %d statutory "
                "days off, make-up days unknown, deadlines provisional (add the notice to the "
                "calendar override file, then run duban calendar recompute)",
                year,
                sum(1 for day in statutory if day.weekday() < 5),
            )
        ordinals = []
        # By ordinal, not ``day += 1``: that overflows after 9999-12-31.
        for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1):
            day = date.fromordinal(ordinal)
            if builtin:
                working = _builtin_is_workday(day)
            else:
                working = day.weekday() < 5 and day not in statutory
            if override:
                if day in override.holidays:
                    working = False
                elif day in override.workdays:
                    working = True
            if working:
                ordinals.append(ordinal)
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


# -- the statutory days off (法定节假日) -------------------------------------------------

# 全国年节及纪念日放假办法, as revised by the State Council with effect from 2025-01-01:
# the days off for all citizens, festival -> days, counted from the festival's first day.
STATUTORY_SINCE = 2025
FESTIVAL_DAYS: dict[str, int] = {
    "元旦": 1,
    "春节": 4,  # 除夕 and the first three days of the first lunar month
    "清明节": 1,
    "劳动节": 2,
    "端午节": 1,
    "中秋节": 1,
    "国庆节": 3,
}
# The ``holidays`` package's English names of the days the festivals start on.
_FIRST_DAYS = {
    "New Year's Day": "元旦",
    "Chinese New Year's Eve": "春节",
    "Tomb-Sweeping Day": "清明节",
    "Labor Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-Autumn Festival": "中秋节",
    "National Day": "国庆节",
}


@lru_cache(maxsize=64)
def festival_days(year: int) -> dict[str, tuple[date, ...]]:
    """The statutory days off of ``year`` by festival, per the regulation of 2025.

    The package gives each festival's first day (solar or lunar); the lengths are the
    regulation's (``FESTIVAL_DAYS``), so 春节 is 除夕 and the three days after. Empty for a
    year before the regulation took effect or beyond the package's lunar tables (2100).
    Days that fall on a weekend are listed too; their 补假 is for the notice to fix.
    """
    if year < STATUTORY_SINCE:
        return {}
    import holidays

    named = holidays.China(years=year, observed=False, language="en_US")
    first: dict[str, date] = {}
    for day, names in sorted(named.items()):
        for name in names.split("; "):
            festival = _FIRST_DAYS.get(name)
            if festival is not None and festival not in first:
                first[festival] = day
            elif name == "Chinese New Year (Spring Festival)" and "春节" not in first:
                first["春节"] = day - timedelta(days=1)  # 除夕 is the day before 初一
    return {
        festival: tuple(start + timedelta(days=n) for n in range(FESTIVAL_DAYS[festival]))
        for festival, start in sorted(first.items(), key=lambda item: item[1])
    }


def statutory_days_off(year: int) -> dict[date, str]:
    """Each statutory day off of ``year`` (weekends included) -> its festival's name."""
    out: dict[date, str] = {}
    for festival, days in festival_days(year).items():
        for day in days:
            out[day] = f"{out[day]}、{festival}" if day in out else festival
    return out


@dataclass(frozen=True, slots=True)
class NoticeCheck:
    """A notice entered by hand, compared with the statutory days off of its year."""

    year: int
    published: bool
    # statutory days off on a weekday that the notice does not give as days off
    missing: tuple[tuple[date, str], ...]
    # statutory days off the notice makes 调休 working days
    worked: tuple[tuple[date, str], ...]
    # days off the notice adds (bridge days, 补假) and its make-up working days
    extra_days_off: tuple[date, ...]
    make_up_workdays: tuple[date, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.worked


def check_notice(override: YearOverride) -> NoticeCheck:
    """Compare ``override`` with the regulation: which statutory days off it leaves out."""
    statutory = statutory_days_off(override.year)
    missing = tuple(
        (day, name)
        for day, name in sorted(statutory.items())
        if day.weekday() < 5 and day not in override.holidays
    )
    worked = tuple(
        (day, name) for day, name in sorted(statutory.items()) if day in override.workdays
    )
    return NoticeCheck(
        year=override.year,
        published=override.published,
        missing=missing,
        worked=worked,
        extra_days_off=tuple(
            sorted(day for day in override.holidays if day not in statutory and day.weekday() < 5)
        ),
        make_up_workdays=tuple(sorted(override.workdays)),
    )


# -- the override file -----------------------------------------------------------------


def load_calendar(path: Path | None, *, use_builtin: bool = True) -> WorkCalendar:
    """A calendar with the overrides in ``path`` (missing file: no overrides), watching
    the file for changes."""
    stamp = _stamp(path) if path is not None else None
    overrides = parse_overrides(path) if path is not None and stamp is not None else {}
    return WorkCalendar(
        overrides=overrides,
        use_builtin=use_builtin,
        source=path,
        _stamp=stamp,
        _checked_at=time.monotonic(),
    )


def _stamp(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of the file, or None when it is not there."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_DATE_TEXT = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TOP_KEYS = frozenset({"years"})
_YEAR_KEYS = frozenset({"published", "holidays", "workdays", "notice"})


class _OverrideLoader(yamlfile.StrictLoader):
    """Strict safe YAML (no key twice, no aliases) that keeps dates as text.

    Dates are checked by :func:`_date`, so a wrong one (``2027-02-30``) is reported with
    the entry that holds it instead of PyYAML's bare "day is out of range for month".
    """


_OverrideLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_overrides(path: Path) -> dict[int, YearOverride]:
    """The years in an override file; a :class:`CalendarError` naming the bad entry."""
    text = yamlfile.read_text(path, error=CalendarError, limit=MAX_OVERRIDE_BYTES)
    document = yamlfile.parse(text, path, error=CalendarError, loader=_OverrideLoader)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise CalendarError(f"{path}: 须为含 years 的映射 (expected a mapping with a 'years' key)")
    _known_keys(document, _TOP_KEYS, str(path))
    years = document.get("years") or {}
    if not isinstance(years, dict):
        raise CalendarError(
            f"{path}: years 须为 年份: 安排 的映射 ('years' must be a mapping of year -> schedule)"
        )
    result = {}
    for key, body in years.items():
        year = _as_year(key, path)
        where = f"{path}: years.{year}"
        body = body or {}
        if not isinstance(body, dict):
            raise CalendarError(f"{where}: 须为映射 (must be a mapping)")
        _known_keys(body, _YEAR_KEYS, where)
        published = body.get("published", False)
        if not isinstance(published, bool):
            raise CalendarError(
                f"{where}.published: 须为 true 或 false（不加引号），现为 {published!r}"
                f" (expected true or false, got {published!r})"
            )
        notice = body.get("notice")
        if notice is not None and not isinstance(notice, str | int | float):
            raise CalendarError(f"{where}.notice: 须为文字 (expected text, got {notice!r})")
        holidays = _dates(body.get("holidays"), f"{where}.holidays", year)
        workdays = _dates(body.get("workdays"), f"{where}.workdays", year)
        _on_weekends(body.get("workdays"), f"{where}.workdays", workdays)
        both = holidays & workdays
        if both:
            first = min(both).isoformat()
            raise CalendarError(
                f"{where}: {first} 既列为放假又列为调休上班 (is both a holiday and a workday)"
            )
        result[year] = YearOverride(
            year=year,
            published=published,
            holidays=frozenset(holidays),
            workdays=frozenset(workdays),
            notice=None if notice is None else str(notice),
        )
    return result


_WEEKDAYS = "一二三四五六日"
MAX_OVERRIDE_BYTES = 1024 * 1024


def _on_weekends(items: Any, where: str, workdays: set[date]) -> None:
    """调休 makes a Saturday or Sunday a working day; Monday to Friday already are."""
    weekdays = sorted(day for day in workdays if day.weekday() < 5)
    if not weekdays:
        return
    day = weekdays[0]
    index = next((i for i, item in enumerate(items) if day in _dates([item], where, day.year)), 0)
    raise CalendarError(
        f"{where}[{index}]: {day.isoformat()} 是星期{_WEEKDAYS[day.weekday()]}，本来就是工作日；"
        f"调休上班日只能是周六或周日 (a make-up workday must be a Saturday or Sunday)"
    )


def _known_keys(mapping: dict, allowed: frozenset[str], where: str) -> None:
    unknown = [key for key in mapping if key not in allowed]
    if unknown:
        raise CalendarError(
            f"{where}: 未知的键 {unknown[0]!r}，可用：{'、'.join(sorted(allowed))}"
            f" (unknown key {unknown[0]!r}, expected one of {', '.join(sorted(allowed))})"
        )


def _as_year(key: Any, path: Path) -> int:
    text = str(key).strip()
    if isinstance(key, bool) or not isinstance(key, int | str) or not text.isdigit():
        raise CalendarError(f"{path}: 年份 {key!r} 不是年份 (year key {key!r} is not a year)")
    year = int(text)
    if not 1990 <= year <= 2200:
        raise CalendarError(f"{path}: 年份 {year} 不在 1990—2200 之内 (year {year} out of range)")
    return year


def _dates(items: Any, where: str, year: int) -> set[date]:
    if items is None:
        return set()
    if not isinstance(items, list):
        raise CalendarError(
            f"{where}: 须为日期或 [起, 止] 区间的列表 (expected a list of dates or ranges)"
        )
    out: set[date] = set()
    for index, item in enumerate(items):
        if isinstance(item, list):
            if len(item) != 2:
                raise CalendarError(
                    f"{where}[{index}]: 区间须写成 [起, 止] 两项，现有 {len(item)} 项"
                    f" (a range is [first, last], got {len(item)} items)"
                )
            first, last = (_date(x, f"{where}[{index}]", year) for x in item)
            if last < first:
                raise CalendarError(
                    f"{where}[{index}]: 区间的止日早于起日 (range ends before it starts)"
                )
            out.update(date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
        else:
            out.add(_date(item, f"{where}[{index}]", year))
    return out


def _date(value: Any, where: str, year: int) -> date:
    """A date of ``year`` written YYYY-MM-DD (a date object is accepted too)."""
    if isinstance(value, datetime):
        raise CalendarError(f"{where}: {value!r} 带了时刻，只写日期 (has a time of day)")
    if isinstance(value, date):
        day = value
    else:
        match = _DATE_TEXT.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise CalendarError(
                f"{where}: {value!r} 不是日期，请写成 YYYY-MM-DD ({value!r} is not a date)"
            )
        try:
            day = date(*(int(part) for part in match.groups()))
        except ValueError as exc:
            raise CalendarError(
                f"{where}: {value!r} 是不存在的日期 ({value!r} is not a valid date: {exc})"
            ) from None
    if day.year != year:
        raise CalendarError(
            f"{where}: {day.isoformat()} 不在 {year} 年内 ({day.isoformat()} is not in {year})"
        )
    return day
