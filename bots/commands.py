"""Plain-text commands that work on every platform: ``/签收 DB-2026-000123``, ``/ack …``.

A command is a slash (``/`` or the full-width ``／``), a name in Chinese or its ASCII alias,
and arguments. Telegram's ``/ack@duban_bot`` form is accepted. The ticket number may be
omitted when the message replies to a card; short numbers (``DB-2026-123``) are padded, and
one typed with full-width characters (``ＤＢ－２０２６－１２３``) is read as well. A space
left out after the name (``/签收DB-2026-000123``) is tolerated.
"""

from __future__ import annotations

import re
from functools import cache

from bots.messages import Command
from bots.numbers import (
    LEADING_NUMBER,
    NUMBER_CHARS,
    NUMBER_LIKE,
    TICKET_IN_TEXT,
    TICKET_NUMBER,
    bad_number,
    first_number,
    normalise_number,
    parse_int,
)
from bots.registry import name_table

__all__ = [
    "TICKET_IN_TEXT",
    "TICKET_NUMBER",
    "Command",
    "bad_number",
    "first_number",
    "normalise_number",
    "parse",
    "parse_int",
    "unknown_command",
]

_HEAD = re.compile(r"^[/／]\s*([^\s@/／]+)(?:@\S+)?")
# a tag anywhere in a message standing for its command: "今天 #晒 东湖路…" is "/晒 今天 东湖路…"
_TAG = re.compile(r"[#＃](晒)(?=\s|$)")


@cache
def _names() -> dict[str, str]:
    """Every command name and alias -> the canonical name (from the declarations)."""
    return name_table()


def parse(text: str) -> Command | None:
    """The command in ``text``, or None for plain text (and for unknown commands)."""
    stripped = (text or "").strip()
    if _HEAD.match(stripped) is None and (tag := _TAG.search(stripped)) is not None:
        rest = (stripped[: tag.start()] + " " + stripped[tag.end() :]).strip()
        stripped = f"/{tag.group(1)} {rest}"
    head = _HEAD.match(stripped)
    if head is None:
        return None
    word = head.group(1)
    name = _names().get(word) or _names().get(word.lower())
    rest = stripped[head.end() :]
    if name is None:
        name, glued = _split_glued(word)
        if name is None:
            return None
        rest = glued + rest
    rest = rest.strip()
    number = None
    lead = LEADING_NUMBER.match(rest.translate(NUMBER_CHARS))
    if lead is not None:
        number = normalise_number(lead.group(1))
        rest = rest[lead.end() :]
    return Command(name=name, number=number, args=rest.strip(), raw=stripped)


def _split_glued(word: str) -> tuple[str | None, str]:
    """``签收DB-2026-1`` -> (签收, DB-2026-1); ``回复已修复`` -> (回复, 已修复); else (None, "").

    A Chinese name may be followed by anything; an ASCII alias only by a ticket number.
    """
    for known in sorted(_names(), key=len, reverse=True):
        if len(known) < 2 or not word.lower().startswith(known) or len(word) == len(known):
            continue  # a one-character name (我) glued to text is more likely another word
        rest = word[len(known) :]
        if not known.isascii() or NUMBER_LIKE.match(rest.translate(NUMBER_CHARS)):
            return _names()[known], rest
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
