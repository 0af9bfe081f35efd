"""Limits on what is accepted: empty, too long, binary or undecodable content."""

from __future__ import annotations

import re

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
