"""Text for chats: split under a platform's length limit, escape for its formatting.

duban sends plain text (Telegram without ``parse_mode``, Matrix ``body`` only), so nothing
the office or a citizen wrote can be taken as markup. The escapes are here for adapters that
add a formatted version (Matrix ``formatted_body``).
"""

from __future__ import annotations

import html
import re

PART_MARK = "（{index}/{total}）"
_MARK_ROOM = len(PART_MARK.format(index=999, total=999)) + 1  # newline before the mark
_MARKDOWN_V2 = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in parts of at most ``limit`` (UTF-16 units), split on line boundaries.

    One part comes back unchanged. Several are numbered ``（1/3）`` at their end, and a single
    line longer than a part is cut at the limit. Nothing is dropped: joining the parts without
    their marks gives the text back (the newlines at the cuts aside).
    """
    if limit <= _MARK_ROOM * 2:
        raise ValueError(f"limit {limit} is too small to split into numbered parts")
    if length(text) <= limit:
        return [text]
    room = limit - _MARK_ROOM
    parts: list[str] = []
    current = ""
    for line in _pieces(text.split("\n"), room):
        candidate = line if not current else current + "\n" + line
        if length(candidate) <= room:
            current = candidate
            continue
        parts.append(current)
        current = line
    parts.append(current)
    total = len(parts)
    return [
        f"{part}\n{PART_MARK.format(index=i, total=total)}" for i, part in enumerate(parts, start=1)
    ]


def _pieces(lines: list[str], room: int) -> list[str]:
    """Lines, with any line longer than ``room`` cut into pieces that fit."""
    out: list[str] = []
    for line in lines:
        while length(line) > room:
            cut = _cut_point(line, room)
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out


def _cut_point(line: str, room: int) -> int:
    """The most characters of ``line`` whose UTF-16 length fits ``room``."""
    used = 0
    for index, ch in enumerate(line):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > room:
            return max(index, 1)
    return len(line)


def escape_html(text: str) -> str:
    """For HTML-formatted platforms (Matrix ``formatted_body``, Telegram ``parse_mode=HTML``)."""
    return html.escape(text, quote=False).replace("\n", "<br>")


def escape_markdown_v2(text: str) -> str:
    """For Telegram ``parse_mode=MarkdownV2`` (every reserved character escaped)."""
    return _MARKDOWN_V2.sub(r"\\\1", text)


def shorten(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, for previews and button captions."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: max(limit - 1, 1)] + "…"
