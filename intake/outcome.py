"""What became of each item filed, in words: one text for the CLI, the demo and the chat.

``outcome_text`` says what became of one item (``routing.pipeline.ItemOutcome``),
``summary_text`` what became of a batch, and ``triage_text`` is the one 待分办 text: the
intake desk's notice about a ticket waiting for a unit and the chat's answer about a
pasted message that went to triage are the same words with the same buttons.

Buttons are ``{"label": …, "command": …}`` dicts, the form outbox payloads keep; a chat
platform without buttons relies on the plain command written in the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

from intake.display import for_reading

PREVIEW_CHARS = 120  # of the message, in a 待分办 notice
SUGGESTED = 3  # units offered as buttons


class IntakeOutcome(StrEnum):
    """What became of one item (``ItemOutcome.status``)."""

    OPENED = "opened"  # a ticket assigned to a unit (交办)
    TRIAGE = "triage"  # a ticket waiting for the desk to pick a unit (待分办)
    DUPLICATE = "duplicate"  # joined an earlier message's ticket (重复件)
    KNOWN = "known"  # the same id was imported before: nothing new
    REJECTED = "rejected"  # not filed (empty, unreadable, too long …)
    QUEUED = "queued"  # stored; a routing job opens its ticket soon


class Outcome(Protocol):
    """The fields of ``routing.pipeline.ItemOutcome`` read here (read-only)."""

    @property
    def row(self) -> int | None: ...

    @property
    def status(self) -> str: ...

    @property
    def ticket(self) -> str | None: ...

    @property
    def unit(self) -> str | None: ...

    @property
    def unit_name(self) -> str | None: ...

    @property
    def confidence(self) -> float | None: ...

    @property
    def suggestions(self) -> list[dict[str, Any]]: ...

    @property
    def due_date(self) -> str | None: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def duplicate_of(self) -> str | None: ...

    @property
    def warnings(self) -> list[str]: ...


class Summary(Protocol):
    """The counts of ``routing.pipeline.IntakeSummary`` read here."""

    received: int
    opened: int
    triage: int
    duplicates: int
    known: int
    queued: int
    rejected: int


Buttons = list[dict[str, str]]


def triage_text(
    number: str,
    suggestions: Sequence[dict[str, Any]],
    *,
    reason: str | None = None,
    content: str | None = None,
    confidence: float | None = None,
    due_date: str | None = None,
    where: str = "",
) -> tuple[str, Buttons]:
    """The 待分办 text about ticket ``number`` and its buttons (the top suggestions)."""
    share = f"（置信度 {confidence:.0%}）" if confidence is not None else ""
    lines = [f"【待分办】{where}{number}{share}：{reason or '请人工选择责任单位'}"]
    if content:
        preview = content if len(content) <= PREVIEW_CHARS else content[:PREVIEW_CHARS] + "……"
        lines.append(f"内容：{for_reading(preview)}")
    buttons = []
    for index, suggestion in enumerate(suggestions[:SUGGESTED], start=1):
        name = suggestion["unit_name"]
        sure = suggestion.get("confidence")
        lines.append(f"{index}. {name}" + (f"（{sure:.0%}）" if sure is not None else ""))
        target = suggestion.get("unit") or name
        buttons.append({"label": f"{index}. {name}", "command": f"/分办 {number} {target}"})
    lines.append(f"分办：/分办 {number} 单位名称（可写简称，/单位 关键词 可查）")
    if due_date:
        lines.append(f"办理时限：{due_date}")
    return "\n".join(lines), buttons


def outcome_text(o: Outcome, *, row_word: str = "条") -> tuple[str, Buttons]:
    """One item's outcome and its buttons; ``row_word`` names its place (第3条, 第3行)."""
    where = f"第{o.row}{row_word}：" if o.row else ""
    status = IntakeOutcome(o.status)
    buttons: Buttons = []
    if status is IntakeOutcome.OPENED:
        share = f"（置信度 {o.confidence:.0%}）" if o.confidence is not None else ""
        text = (
            f"【已立项】{where}{o.ticket} → {o.unit_name or o.unit}{share}\n"
            f"办理时限：{o.due_date or '-'}"
        )
    elif status is IntakeOutcome.TRIAGE:
        text, buttons = triage_text(
            o.ticket or "-",
            o.suggestions,
            confidence=o.confidence,
            due_date=o.due_date,
            where=where,
        )
    elif status is IntakeOutcome.DUPLICATE:
        text = f"【重复件】{where}已并入 {o.duplicate_of or o.ticket or '原件（分办中）'}"
    elif status is IntakeOutcome.KNOWN:
        number = o.ticket or o.duplicate_of
        text = f"【已登记】{where}此条此前已登记" + (
            f"：{number}" if number else "（尚无督办件编号）"
        )
    elif status is IntakeOutcome.QUEUED:
        text = f"【处理中】{where}已收到，正在分办，结果稍后通知"
    else:
        text = f"【未登记】{where}{o.reason or '内容无法登记'}"
    for warning in o.warnings:
        text += f"\n提示：{warning}"
    return text, buttons


def summary_text(s: Summary) -> str:
    """What became of a batch, counted; the rarer outcomes only when there are any."""
    parts = [
        f"自动交办 {s.opened}",
        f"待人工分办 {s.triage}",
        f"重复件 {s.duplicates}",
        f"未登记 {s.rejected}",
    ]
    if s.known:
        parts.insert(3, f"已导入过 {s.known}")
    if s.queued:
        parts.insert(-1, f"处理中 {s.queued}")
    return f"【登记结果】共 {s.received} 条：" + "，".join(parts)
