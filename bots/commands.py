"""Plain-text commands that work on every platform: ``/签收 DB-2026-000123``, ``/ack …``.

A command is a slash (``/`` or the full-width ``／``), a name in Chinese or its ASCII alias,
and arguments. Telegram's ``/ack@duban_bot`` form is accepted. The ticket number may be
omitted when the message replies to a card; short numbers (``DB-2026-123``) are padded, and
one typed with full-width characters (``ＤＢ－２０２６－１２３``) is read as well. A space
left out after the name (``/签收DB-2026-000123``) is tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# canonical name -> aliases (ASCII ones also pass Telegram's privacy mode in groups)
COMMANDS: dict[str, tuple[str, ...]] = {
    "签收": ("ack", "qs"),
    "回复": ("reply", "反馈"),
    "办结": ("done", "finish"),
    "延期": ("extend", "申请延期"),
    "退回": ("return", "back"),
    "批准延期": ("approve",),
    "驳回延期": ("deny",),
    "核查": ("verify", "check"),
    "续办": ("reopen",),
    "通报": ("escalate",),
    "归档": ("archive",),
    "备注": ("note", "comment"),
    "分办": ("assign", "交办", "改派"),
    "详情": ("show", "info"),
    "待办": ("todo", "list"),
    "报表": ("report",),
    "单位": ("units", "查单位"),
    "绑定": ("bind", "link"),
    "取消": ("cancel",),
    "身份": ("whoami", "我"),
    "帮助": ("help", "start"),
}
_BY_NAME = {name: name for name in COMMANDS} | {
    alias.lower(): name for name, aliases in COMMANDS.items() for alias in aliases
}
_HEAD = re.compile(r"^[/／]\s*([^\s@/／]+)(?:@\S+)?")
TICKET_NUMBER = re.compile(r"^(?:DB)-(\d{4})-(\d{1,6})$", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"^(DB-\d{4}-\d{1,6})(?=\s|$)", re.IGNORECASE)
TICKET_IN_TEXT = re.compile(r"\bDB-\d{4}-\d{1,6}\b", re.IGNORECASE)
# full-width letters, digits and dashes (Chinese input methods) -> ASCII, one for one
_NUMBER_CHARS = str.maketrans("ＤＢｄｂ０１２３４５６７８９－—–‐－", "DBdb0123456789-----")
_NUMBER_LIKE = re.compile(r"^DB[-\d]", re.IGNORECASE)  # meant as a number, maybe mistyped


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # canonical Chinese name, e.g. "签收"
    number: str | None  # ticket number named in the message, normalised
    args: str  # the rest, newlines kept
    raw: str  # the whole message

    def words(self) -> list[str]:
        return self.args.split()


def parse(text: str) -> Command | None:
    """The command in ``text``, or None for plain text (and for unknown commands)."""
    stripped = (text or "").strip()
    head = _HEAD.match(stripped)
    if head is None:
        return None
    word = head.group(1)
    name = _BY_NAME.get(word) or _BY_NAME.get(word.lower())
    rest = stripped[head.end() :]
    if name is None:
        name, glued = _split_glued(word)
        if name is None:
            return None
        rest = glued + rest
    rest = rest.strip()
    number = None
    lead = _LEADING_NUMBER.match(rest.translate(_NUMBER_CHARS))
    if lead is not None:
        number = normalise_number(lead.group(1))
        rest = rest[lead.end() :]
    return Command(name=name, number=number, args=rest.strip(), raw=stripped)


def _split_glued(word: str) -> tuple[str | None, str]:
    """``签收DB-2026-1`` -> (签收, DB-2026-1); ``回复已修复`` -> (回复, 已修复); else (None, "").

    A Chinese name may be followed by anything; an ASCII alias only by a ticket number.
    """
    for known in sorted(_BY_NAME, key=len, reverse=True):
        if len(known) < 2 or not word.lower().startswith(known) or len(word) == len(known):
            continue  # a one-character name (我) glued to text is more likely another word
        rest = word[len(known) :]
        if not known.isascii() or _NUMBER_LIKE.match(rest.translate(_NUMBER_CHARS)):
            return _BY_NAME[known], rest
    return None, ""


def unknown_command(text: str) -> str | None:
    """The name in a slash command duban does not know (``/qianshou``), else None.

    A command addressed to another bot (``/start@other_bot``) is not ours to answer: None.
    """
    stripped = (text or "").strip()
    head = _HEAD.match(stripped)
    if head is None or "@" in head.group(0) or parse(stripped) is not None:
        return None
    return head.group(1)


def bad_number(args: str) -> str | None:
    """The first word of ``args`` when it looks meant as a ticket number but is not one."""
    first = (args or "").split(maxsplit=1)[0] if (args or "").strip() else ""
    if first and _NUMBER_LIKE.match(first.translate(_NUMBER_CHARS)):
        return first
    return None


def normalise_number(text: str) -> str | None:
    """``db-2026-123`` -> ``DB-2026-000123``; None if ``text`` is not a ticket number."""
    match = TICKET_NUMBER.match((text or "").strip().translate(_NUMBER_CHARS))
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
    "零": 0,
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
