"""Report periods: ISO weeks (``2026-W47``) and months (``2026-11``) in the office's zone."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reports.errors import BadPeriod

# 2026-W47, 2026W47, 2026年第47周; 2026-11, 2026/11, 2026.11, 2026年11月 (full-width too:
# the text is NFKC-normalised first, as a Chinese input method types ２０２６-Ｗ４７)
WEEK_RE = re.compile(r"^(\d{4})(?:-?W|\s*年\s*第?\s*)(\d{1,2})\s*周?$", re.IGNORECASE)
MONTH_RE = re.compile(r"^(\d{4})\s*(?:[-/.]|年)\s*(\d{1,2})\s*月?$")
# Years a report may name: the trend looks back up to two years and the end of a period is
# the day after it, so years near 1 or 9999 would overflow ``date``.
MIN_YEAR, MAX_YEAR = 1900, 2999


@dataclass(frozen=True, slots=True)
class Period:
    """Local days ``first`` .. ``last`` (inclusive) of a week or a month."""

    kind: str  # "week" | "month"
    key: str  # "2026-W47" | "2026-11"
    first: date
    last: date

    @property
    def label(self) -> str:
        if self.kind == "week":
            year, week = self.key.split("-W")
            return f"{year}年第{int(week)}周（{self.first:%m.%d}–{self.last:%m.%d}）"
        year, month = self.key.split("-")
        return f"{year}年{int(month)}月"

    def start(self, tz: ZoneInfo) -> datetime:
        """The first instant of the period (local midnight), as UTC."""
        return datetime.combine(self.first, time(0), tzinfo=tz).astimezone(UTC)

    def end(self, tz: ZoneInfo) -> datetime:
        """The first instant after the period (exclusive), as UTC."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)

    def previous(self) -> Period:
        if self.kind == "week":
            return week_of(self.first - timedelta(days=7))
        return month_of(self.first - timedelta(days=1))


def week_of(day: date) -> Period:
    year, week, _ = day.isocalendar()
    first = date.fromisocalendar(year, week, 1)
    return Period("week", f"{year}-W{week:02d}", first, first + timedelta(days=6))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period("month", f"{first.year}-{first.month:02d}", first, following - timedelta(days=1))


def parse_week(text: str) -> Period:
    """``2026-W47`` (or ``2026W47``); a clear error for anything else."""
    match = WEEK_RE.match(unicodedata.normalize("NFKC", text or "").strip())
    if not match:
        raise BadPeriod(f"--week: 「{text}」不是 ISO 周，请写成 2026-W47 (not an ISO week)")
    year, week = int(match[1]), int(match[2])
    _check_year(year, "--week", text)
    try:
        first = date.fromisocalendar(year, week, 1)
    except ValueError:
        raise BadPeriod(f"--week: {year} 年没有第 {week} 周 (no week {week} in {year})") from None
    return week_of(first)


def parse_month(text: str) -> Period:
    """``2026-11``; a clear error for anything else."""
    match = MONTH_RE.match(unicodedata.normalize("NFKC", text or "").strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise BadPeriod(f"--month: 「{text}」不是月份，请写成 2026-11 (not a month)")
    _check_year(int(match[1]), "--month", text)
    return month_of(date(int(match[1]), int(match[2]), 1))


def _check_year(year: int, option: str, text: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadPeriod(
            f"{option}: 「{text}」的年份须在 {MIN_YEAR}–{MAX_YEAR} 之间 (year out of range)"
        )


def last_complete_week(now: datetime, tz: ZoneInfo) -> Period:
    """The latest ISO week that has ended by ``now`` in the office's zone."""
    return week_of(_local_date(now, tz) - timedelta(days=7))


def last_complete_month(now: datetime, tz: ZoneInfo) -> Period:
    """The latest calendar month that has ended by ``now`` in the office's zone."""
    return month_of(_local_date(now, tz).replace(day=1) - timedelta(days=1))


def weeks_ending(period: Period, count: int) -> list[Period]:
    """``count`` consecutive weeks, oldest first, the last one being ``period``."""
    weeks = [period]
    while len(weeks) < count:
        weeks.append(weeks[-1].previous())
    return list(reversed(weeks))


def _local_date(now: datetime, tz: ZoneInfo) -> date:
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware now")
    return now.astimezone(tz).date()
