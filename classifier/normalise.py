"""Text normalisation: the one function every message goes through, in training and prediction.

``normalise_text`` turns what citizens, exports and web forms produce into plain simplified
Chinese: Excel ``_x000D_`` escapes decoded, HTML tags and entities removed, full-width ASCII
made half-width, control and zero-width characters dropped, traditional characters made
simplified (OpenCC ``t2s``), and runs of whitespace collapsed (one space, one newline).
Intake stores its result as ``Message.text``; the classifier sees nothing else.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import lru_cache

import opencc

# Excel / OOXML writes control characters as _xHHHH_ (``_x000D_`` is a carriage return).
_EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:br|p|div|li|ul|ol|tr|table|h[1-6]|blockquote|section|article)\b[^<>]*>",
    re.I,
)
_TAG = re.compile(r"<\s*/?\s*[A-Za-z][A-Za-z0-9:-]*(?:\s[^<>]*)?/?\s*>")
_SPACES = re.compile(r" {2,}")
_NEWLINES = re.compile(r" *\n[ \n]*")


def _translation_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    # Full-width ASCII (！ … ～) -> half-width, ideographic space -> space.
    for code in range(0xFF01, 0xFF5F):
        table[code] = chr(code - 0xFEE0)
    # Control characters go; tab and the odd vertical ones become a space, CR a newline.
    for code in [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]:
        table[code] = None
    for code in (0x09, 0x0B, 0x0C):
        table[code] = " "
    table[0x0A] = "\n"
    table[0x0D] = "\n"
    table[0x85] = "\n"
    # Zero-width, soft hyphen, BOM and bidirectional controls go.
    for code in (
        0x00AD,
        0x180E,
        0x200B,
        0x200C,
        0x200D,
        0x200E,
        0x200F,
        0x2060,
        0xFEFF,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ):
        table[code] = None
    # Other Unicode spaces -> space; line and paragraph separators -> newline.
    for code in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000):
        table[code] = " "
    table[0x2028] = "\n"
    table[0x2029] = "\n"
    return table


def _character_class(codes: Iterable[int]) -> re.Pattern[str]:
    """A regex class matching exactly ``codes`` (written as ranges)."""
    ordered = sorted(codes)
    parts: list[str] = []
    start = previous = ordered[0]
    for code in [*ordered[1:], -1]:
        if code == previous + 1:
            previous = code
            continue
        parts.append(
            re.escape(chr(start))
            if start == previous
            else f"{re.escape(chr(start))}-{re.escape(chr(previous))}"
        )
        start = previous = code
    return re.compile(f"[{''.join(parts)}]")


_REPLACEMENTS = {chr(code): value or "" for code, value in _translation_table().items()}
# A newline is already what it should be; matching it would only cost time.
_TO_REPLACE = _character_class(ord(char) for char in _REPLACEMENTS if char != "\n")


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    """The traditional -> simplified converter, built on first use."""
    return opencc.OpenCC("t2s")


def _replace(match: re.Match[str]) -> str:
    return _REPLACEMENTS[match.group()]


def _decode_excel(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _strip_html(text: str) -> str:
    text = _COMMENT.sub("", text)
    text = _BLOCK_TAG.sub("\n", text)
    return _TAG.sub("", text)


def normalise_text(text: str | None) -> str:
    """Plain, simplified, single-spaced text; ``""`` for ``None`` or blank input.

    >>> normalise_text("<p>滨河區&nbsp;ＡＢＣ１２３</p>_x000D_\\n\\n  投訴")
    '滨河区 ABC123\\n投诉'
    """
    if not text:
        return ""
    if "_x" in text:
        text = _EXCEL_ESCAPE.sub(_decode_excel, text)
    if "<" in text:
        text = _strip_html(text)
    if "&" in text:
        text = html.unescape(text)
    text = _TO_REPLACE.sub(_replace, text)
    text = _t2s().convert(text)
    if "  " in text:
        text = _SPACES.sub(" ", text)
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    return text.strip()


def normalise_texts(texts: Iterable[str | None]) -> list[str]:
    """``normalise_text`` over many texts (the pipeline's first step)."""
    return [normalise_text(text) for text in texts]
