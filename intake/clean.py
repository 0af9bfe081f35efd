"""Limits on what is accepted: empty, too long, binary or undecodable content."""

from __future__ import annotations

import re
from functools import cache

# Surrogates come from bytes that did not decode (errors="surrogateescape"); U+FFFD from
# a lossy decode upstream.
_UNDECODABLE = re.compile("[\udc80-\udcff\ufffd]")
_BINARY = re.compile("[\x00-\x08\x0e-\x1f]")


def raw_rejection(raw: str) -> str | None:
    """Why what arrived cannot even be read as text (check before normalising), or None."""
    if _UNDECODABLE.search(raw):
        return "含无法识别的字符（文件编码错误或内容损坏）"
    if raw.count("\x00") or len(_BINARY.findall(raw)) > max(8, len(raw) // 50):
        return "疑似二进制内容，不是文字留言"
    return None


def rejection(raw: str, text: str, *, max_chars: int) -> str | None:
    """Why this message cannot be accepted (Simplified Chinese), or None when it can.

    ``raw`` is what arrived, ``text`` its normalised form.
    """
    reason = raw_rejection(raw)
    if reason:
        return reason
    if not text.strip():
        return "留言内容为空"
    if len(text) > max_chars:
        return f"留言过长（{len(text)} 字，上限 {max_chars} 字），请分拆或作为附件处理"
    return None


# -- junk -------------------------------------------------------------------------------------

# A row is junk when it holds fewer than two common Chinese characters (GB2312's 6,763),
# or when more than a quarter of its characters are neither ASCII, common Chinese nor
# CJK / full-width punctuation (random bytes decoded as GB18030 give rare characters and
# symbols). A real message in Chinese passes both; random letters or bytes fail one.
MIN_COMMON_HAN = 2
MAX_ODD_SHARE = 0.25


@cache
def _gb2312_han() -> str:
    chars = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(chars)


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(common Chinese characters, characters a message rarely holds)."""
    han = _gb2312_han()
    odd = f"[^\\s\\x20-\\x7e{han}\u3000-\u303f\uff00-\uffef\u2000-\u206f\u00b7\u00d7]"
    return re.compile(f"[{han}]"), re.compile(odd)


def is_junk(text: str) -> bool:
    """Whether ``text`` does not read as a message: no Chinese, or random characters."""
    common, odd = _patterns()
    found, start = 0, 0
    while found < MIN_COMMON_HAN and (match := common.search(text, start)):
        found, start = found + 1, match.end()
    if found < MIN_COMMON_HAN:
        return True
    visible = sum(map(len, text.split()))
    return len(odd.findall(text)) > MAX_ODD_SHARE * visible
