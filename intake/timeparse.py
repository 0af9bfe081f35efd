"""Messy timestamps from exports, read in the office's time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo

_DIGITS = str.maketrans("０１２３４５６７８９：／－．", "0123456789:/-.")
_DATE_TIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[T\s]*(\d{1,2})\s*[:时点]\s*(?:(\d{1,2})\s*分?)?\s*(?::?\s*(\d{1,2})(?:\.(\d+))?\s*秒?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
YEARS = range(1950, 2101)  # outside: a placeholder (0001-01-01, 9999-12-31) or a typo
_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}


def chinese_number(value: str | None) -> int | None:
    """'7' / '７' / '七' / '十五' / '二十' -> int; None when it is not a number."""
    if not value:
        return None
    value = value.translate(_DIGITS).strip()
    if value.isdigit():
        return int(value)
    if "十" in value:
        tens, _, ones = value.partition("十")
        high = _CN_DIGITS.get(tens) if tens else 1
        low = _CN_DIGITS.get(ones) if ones else 0
        if high is None or low is None:
            return None
        return high * 10 + low
    if len(value) == 1 and value in _CN_DIGITS:
        return _CN_DIGITS[value]
    return None


def parse_timestamp(value: object, tz: tzinfo) -> datetime | None:
    """An aware UTC datetime, or None when ``value`` is not a timestamp.

    Accepts datetime/date objects (from XLSX), ``2019/4/25 9:32:09``, ``2019-04-25 09:32``,
    ISO 8601 with or without an offset, ``2019年4月25日 9时32分``, Excel serial numbers.
    Times without an offset are in ``tz`` (the office's zone). A year outside ``YEARS``
    is not a time the message was received: None.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return _aware(value, tz)
    if isinstance(value, date):
        return _aware(datetime.combine(value, time()), tz)
    if isinstance(value, int | float):
        return _excel_serial(float(value), tz)
    text = str(value).strip().translate(_DIGITS)
    if not text:
        return None
    if _SERIAL.fullmatch(text):
        return _excel_serial(float(text), tz)
    match = _DATE_TIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
        if offset:  # "+99:99" is not an offset
            moment = datetime.fromisoformat(
                moment.isoformat() + ("+00:00" if offset == "Z" else _colon(offset))
            )
    except ValueError:
        return None
    return _aware(moment, tz)


def excel_serial_text(value: object) -> bool:
    """Whether ``value`` is a bare number that ``parse_timestamp`` reads as an Excel
    serial date (``45995.4`` is 2025-12-04 09:36): worth a warning, since a CSV or JSON
    export that meant a count or an id would be filed under that date."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(_SERIAL.fullmatch(value.strip().translate(_DIGITS)))


def _colon(offset: str) -> str:
    return offset if ":" in offset else offset[:3] + ":" + offset[3:]


def _aware(moment: datetime, tz: tzinfo) -> datetime | None:
    if moment.year not in YEARS:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def _excel_serial(serial: float, tz: tzinfo) -> datetime | None:
    if not 20000 < serial < 80000:  # 1954 … 2119
        return None
    from datetime import timedelta

    moment = datetime(1899, 12, 30) + timedelta(days=serial)
    return _aware(moment.replace(microsecond=0), tz)
