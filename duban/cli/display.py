"""Console text that lines up: Chinese characters take two columns, not one."""

from __future__ import annotations

import unicodedata


def width(text: str) -> int:
    """How many terminal columns ``text`` takes (wide and full-width characters count 2)."""
    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def pad(text: str, columns: int) -> str:
    """``text`` left-aligned in ``columns`` terminal columns (never cut)."""
    return text + " " * max(0, columns - width(text))


def clip(text: str, columns: int) -> str:
    """``text`` cut to at most ``columns`` terminal columns, with … when cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = width(ch)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"
