"""Deadlines as offices write them in task lists (完成时限 / 时限要求).

    2026-12-31, 2026/12/31, 2026.12.31, 2026年12月31日(前)   a date
    12月31日, 12月底(前), 6月, 年底(前), 年内, 上半年, 下半年,  in the list's year (or the
    三季度(末), 2027年底                                    one named); a month or a quarter
                                                         ends on its last working day
    15个工作日(内)                                          N working days from 交办
    长期, 持续推进, 常态化, 长期坚持                          ongoing, a report every month
    每月…                                                   a report every month (with a
                                                         date: until then; alone: ongoing)

An Excel date cell (a date, or its serial number) is read as that date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ledger.deadlines import DeadlineRules
from ledger.errors import BadInput
from tasks.colours import last_workday_of_month

ONGOING_WORDS = ("长期", "持续推进", "常态化", "持续", "长效")
MONTHLY_WORDS = ("每月", "按月")
_FULL = str.maketrans("０１２３４５６７８９．／－", "0123456789./-")
_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_MD = re.compile(r"(?<!\d)(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_YM = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月")
_M = re.compile(r"(?<![\d年])(\d{1,2})\s*月(?:份)?(?:底|末|中旬|下旬|上旬)?")
_WORKDAYS = re.compile(r"(\d{1,3})\s*个?\s*工作日")
_YEAR = re.compile(r"(20\d{2})\s*年")
_QUARTER = re.compile(r"第?([1-4一二三四])\s*季度")
_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
_CN_MONTHS = {
    "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
    "十一": 11, "十二": 12,
}  # fmt: skip
_CN_MONTH = re.compile(r"(十[一二]|[一二三四五六七八九十])月")


@dataclass(frozen=True, slots=True)
class ParsedDeadline:
    due_date: date | None = None
    limit_days: int | None = None
    ongoing: bool = False
    monthly: bool = False  # a report (milestone) every month

    @property
    def label(self) -> str:
        if self.ongoing:
            return "长期"
        if self.limit_days is not None:
            return f"{self.limit_days}个工作日"
        return self.due_date.isoformat() if self.due_date else ""


MAX_TASK_YEARS = 10  # a task due later than this is a typo (9999-12-31 walked 8,000 years)
EARLIEST_TASK_YEAR = 1900


def latest_task_day(today: date) -> date:
    """The last day a task or milestone may be due: ten years from ``today``."""
    return today.replace(year=today.year + MAX_TASK_YEARS, day=min(today.day, 28))


def check_task_day(day: date, *, today: date, field: str, shown: object = None) -> date:
    """``day`` when a task may be due then (after 1900, within ten years of ``today``);
    ``BadInput`` naming ``field`` and the text as typed (``shown``) when not. One rule for
    ``duban tasks add`` and a list's 完成时限."""
    latest = latest_task_day(today)
    if day.year < EARLIEST_TASK_YEAR or day > latest:
        text = day.isoformat() if shown is None else str(shown)
        raise BadInput(
            f"{field}: 「{text}」须在 {EARLIEST_TASK_YEAR} 年之后、{latest.isoformat()} 之前"
            " (date out of range)"
        )
    return day


def parse_deadline(value: object, *, year: int, rules: DeadlineRules) -> ParsedDeadline:
    """The deadline ``value`` says, in the list's ``year``; ``BadInput`` naming the text."""
    if isinstance(value, datetime):
        return ParsedDeadline(due_date=value.date())
    if isinstance(value, date):
        return ParsedDeadline(due_date=value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ParsedDeadline(due_date=_serial(float(value)))
    text = str(value or "").strip().translate(_FULL)
    if not text:
        raise BadInput("完成时限为空", "empty deadline")
    if _SERIAL.match(text):
        return ParsedDeadline(due_date=_serial(float(text)))
    monthly = any(word in text for word in MONTHLY_WORDS)
    found = _date_in(text, year=year, rules=rules)
    if found is not None:
        return ParsedDeadline(due_date=found, monthly=monthly)
    if (match := _WORKDAYS.search(text)) is not None:
        days = int(match.group(1))
        if not 1 <= days <= 365:
            raise BadInput(f"完成时限「{text}」的工作日数须在 1 到 365 之间", "bad workdays")
        return ParsedDeadline(limit_days=days, monthly=monthly)
    if monthly or any(word in text for word in ONGOING_WORDS):
        return ParsedDeadline(ongoing=True, monthly=True)
    raise BadInput(
        f"完成时限「{text}」无法识别（可写 2026-12-31、2026年12月31日、12月底、年底前、"
        "15个工作日、长期、每月）",
        f"unreadable deadline {text!r}",
    )


def _serial(number: float) -> date:
    if not 20000 <= number <= 80000:
        raise BadInput(f"完成时限「{number:g}」不是日期", "not an Excel date serial")
    return date(1899, 12, 30) + timedelta(days=int(number))


def _date_in(text: str, *, year: int, rules: DeadlineRules) -> date | None:
    if (m := _YMD.search(text)) is not None:
        return _valid(int(m.group(1)), int(m.group(2)), int(m.group(3)), text)
    if (m := _MD.search(text)) is not None:
        return _valid(year, int(m.group(1)), int(m.group(2)), text)
    if (m := _YM.search(text)) is not None:
        return _month_end(int(m.group(1)), int(m.group(2)), text, rules)
    if (m := _YEAR.search(text)) is not None:
        year = int(m.group(1))  # 2026年底, 2027年上半年
    if (m := _QUARTER.search(text)) is not None:
        quarter = int(m.group(1)) if m.group(1).isdigit() else _CN_MONTHS[m.group(1)]
        if 1 <= quarter <= 4:
            return last_workday_of_month(rules, year, quarter * 3)
    if "上半年" in text:
        return last_workday_of_month(rules, year, 6)
    if any(word in text for word in ("年底", "年末", "年内", "全年", "下半年")):
        return last_workday_of_month(rules, year, 12)
    if (m := _M.search(text)) is not None:
        return _month_end(year, int(m.group(1)), text, rules)
    if (m := _CN_MONTH.search(text)) is not None:
        return _month_end(year, _CN_MONTHS[m.group(1)], text, rules)
    return None


def _valid(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise BadInput(f"完成时限「{text}」不是有效日期", f"invalid date in {text!r}") from None


def _month_end(year: int, month: int, text: str, rules: DeadlineRules) -> date:
    if not 1 <= month <= 12:
        raise BadInput(f"完成时限「{text}」的月份不对", f"bad month in {text!r}")
    return last_workday_of_month(rules, year, month)
