"""Pasted text: one message or several, and what a 批示件 says about its time limit."""

from __future__ import annotations

import re

from intake.timeparse import chinese_number

_SEPARATOR = re.compile(  # a rule line (blank lines around it allowed), or a blank line
    r"\n(?:[ \t\u3000]*\n)*[ \t\u3000]*(?:-{3,}|—{2,}|={3,}|\*{3,})[ \t\u3000]*\n"
    r"|\n[ \t\u3000]*\n"
)
_LIMIT = re.compile(
    r"(?:限|在|于)\s*([0-9０-９一二两三四五六七八九十]+)\s*(?:个)?\s*工作日"
    r"|([0-9０-９一二两三四五六七八九十]+)\s*(?:个)?\s*工作日(?:内|之内)"
)
_HAS_LIMIT = re.compile(r"限期|限时|尽快办结|立即办理|限\s*[0-9一二两三四五六七八九十]+\s*日")


def split_pasted(text: str) -> list[str]:
    """Several messages separated by a blank line or a line of ``---``; blanks dropped."""
    normalised = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    parts = _SEPARATOR.split("\n" + normalised + "\n")
    return [part.strip() for part in parts if part and part.strip()]


def parse_instruction(text: str) -> tuple[bool, int | None]:
    """(sets a time limit, its working days when stated) for a 批示件.

    "限5个工作日内办结" -> (True, 5); "请于七个工作日内反馈" -> (True, 7);
    "请限期办理" -> (True, None); "请阅处" -> (False, None).
    """
    match = _LIMIT.search(text or "")
    if match:
        days = chinese_number(match.group(1) or match.group(2))
        if days is not None and days > 0:
            return True, days
    return bool(_HAS_LIMIT.search(text or "")), None
