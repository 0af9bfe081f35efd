"""Complainant protection: personal data is masked in anything a unit receives.

The ledger keeps the original text for staff; ``Message.unit_text`` holds the masked one.
Masks keep just enough to tell two numbers apart in a conversation (138****5678).
"""

from __future__ import annotations

import re

_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})(?:19|20)\d{2}(?:0[1-9]|1[0-2])"
    r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?(\d{7,8})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_BANK_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")
_QQ = re.compile(r"(?i)(qq|微信|wechat|vx)[号:： ]*([A-Za-z0-9_-]{5,20})")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _bank(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    if not 16 <= len(digits) <= 19 or not _luhn_ok(digits):
        return match.group()
    return "**** **** **** " + digits[-4:]


def redact(text: str, *, names: list[str] | None = None, contacts: list[str] | None = None) -> str:
    """``text`` with ID-card, bank-card, phone numbers, e-mails, chat ids and the given
    names and contact strings masked."""
    if not text:
        return text
    for value in sorted(
        {v.strip() for v in (contacts or []) if v and len(v.strip()) >= 5}, key=len, reverse=True
    ):
        text = text.replace(value, "[联系方式已隐去]")
    text = _ID_CARD.sub(lambda m: m.group(1)[:3] + "*" * 13 + m.group()[-2:], text)
    text = _BANK_CARD.sub(_bank, text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)[-2:]}", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _QQ.sub(lambda m: f"{m.group(1)} [已隐去]", text)
    for name in sorted(
        {n.strip() for n in (names or []) if n and len(n.strip()) >= 2}, key=len, reverse=True
    ):
        if _looks_like_a_name(name):
            text = text.replace(name, name[0] + "*" * (len(name) - 1))
    return text


def _looks_like_a_name(value: str) -> bool:
    """A personal name worth masking: 2–4 Chinese characters, not a handle like 网友A3f9."""
    return bool(re.fullmatch(r"[\u4e00-\u9fff·]{2,6}", value)) and not value.startswith(
        ("网友", "市民", "群众", "匿名")
    )
