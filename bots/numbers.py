"""Ticket numbers and small counts as people type them in chat.

``db-2026-123`` and ``ＤＢ－２０２６－１２３`` are ``DB-2026-000123``; ``3``, ``３``,
``3天``, ``3个工作日`` and ``三`` are 3.
"""

from __future__ import annotations

import re

TICKET_NUMBER = re.compile(r"^(?:DB)-(\d{4})-(\d{1,6})$", re.IGNORECASE)
LEADING_NUMBER = re.compile(r"^(DB-\d{4}-\d{1,6})(?=\s|$)", re.IGNORECASE)
TICKET_IN_TEXT = re.compile(r"\bDB-\d{4}-\d{1,6}\b", re.IGNORECASE)
# full-width letters, digits and dashes (Chinese input methods) -> ASCII, one for one
NUMBER_CHARS = str.maketrans("ＤＢｄｂ０１２３４５６７８９－—–‐－", "DBdb0123456789-----")
NUMBER_LIKE = re.compile(r"^DB[-\d]", re.IGNORECASE)  # meant as a number, maybe mistyped


def bad_number(args: str) -> str | None:
    """The first word of ``args`` when it looks meant as a ticket number but is not one."""
    first = (args or "").split(maxsplit=1)[0] if (args or "").strip() else ""
    if first and NUMBER_LIKE.match(first.translate(NUMBER_CHARS)):
        return first
    return None


def normalise_number(text: str) -> str | None:
    """``db-2026-123`` -> ``DB-2026-000123``; None if ``text`` is not a ticket number."""
    match = TICKET_NUMBER.match((text or "").strip().translate(NUMBER_CHARS))
    if match is None:
        return None
    return f"DB-{match.group(1)}-{int(match.group(2)):06d}"


def first_number(text: str) -> str | None:
    """The first ticket number mentioned anywhere in ``text``."""
    match = TICKET_IN_TEXT.search(text or "")
    return normalise_number(match.group(0)) if match else None


def parse_int(text: str) -> int | None:
    """``3``, ``３``, ``3天``, ``3个工作日``, ``三`` -> 3; None when it is not a number."""
    value = (text or "").strip().translate(_FULLWIDTH)
    value = re.sub(r"(个)?(工作)?(日|天)$", "", value)
    if value.isdigit():
        return int(value)
    return _chinese_small(value)


_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_DIGITS = {
    "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
    "九": 9,
}  # fmt: skip


def _chinese_small(value: str) -> int | None:
    """Chinese numerals up to 99 (十, 十五, 二十, 二十三)."""
    if not value or any(ch not in _DIGITS and ch != "十" for ch in value):
        return None
    if "十" not in value:
        return _DIGITS[value] if len(value) == 1 else None
    tens, _, ones = value.partition("十")
    if len(tens) > 1 or len(ones) > 1:
        return None
    return (_DIGITS[tens] if tens else 1) * 10 + (_DIGITS[ones] if ones else 0)
