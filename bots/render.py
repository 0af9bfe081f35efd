"""Chinese text the bot posts: ticket details, to-do lists, intake outcomes, help."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from bots.messages import Action
from bots.text import shorten
from desk.queries import TicketDetail, TicketRow
from intake import outcome as intake_outcome


def detail_text(d: TicketDetail, *, tz: tzinfo) -> str:
    """A ticket in full as a chat message (times in the office's zone)."""
    row = d.row
    clock = ""
    if row.workdays_left is not None:
        left = row.workdays_left
        clock = f"（已超期 {-left} 个工作日）" if row.overdue else f"（剩 {left} 个工作日）"
    lines = [
        f"【详情】{row.number}　{row.state_label}",
        f"来源：{row.source_label}　收件：{_day(d.message.received_at, tz)}",
        f"责任单位：{row.unit_name or '待分办'}",
        f"办理时限：{row.due_date}{clock}"
        + ("（临时时限）" if row.deadline_provisional else "")
        + (f"　原时限 {d.original_due_date}" if d.extension_days else ""),
    ]
    if d.message.title:
        lines.append(f"标题：{d.message.title}")
    lines.append(f"内容：{d.message.text}")
    for r in d.replies:
        lines.append(f"反馈（第{r.round}轮，{r.author or '-'}，{_day(r.at, tz)}）：{r.text}")
    for x in d.extensions:
        status = {"requested": "待审批", "approved": "已批准", "denied": "未批准"}.get(
            x.status, x.status
        )
        lines.append(f"延期申请 {x.days} 个工作日（{status}）：{x.reason}")
    if d.quality_score:
        lines.append(f"核查评分：{d.quality_score} 分")
    if d.events:
        lines.append("办理记录：")
        for e in d.events[-8:]:
            note = f"：{shorten(e.note, 40)}" if e.note else ""
            lines.append(f"· {_day(e.at, tz)} {e.action_label} {e.actor}{note}")
    return "\n".join(lines)


def todo_text(title: str, rows: Sequence[TicketRow], *, empty: str) -> str:
    if not rows:
        return f"【{title}】{empty}"
    lines = [f"【{title}】共 {len(rows)} 件"]
    for row in rows[:30]:
        lines.append(
            f"· {row.number} {row.state_label} {row.unit_name or '待分办'} "
            f"时限{row.due_date} {row.clock}".rstrip()
        )
    if len(rows) > 30:
        lines.append(f"……另有 {len(rows) - 30} 件，请用 duban tickets list 查看")
    return "\n".join(lines)


def outcome_text(o: Any) -> tuple[str, tuple[Action, ...]]:
    """One ``routing.pipeline.ItemOutcome`` as the answer in the intake chat, with buttons
    (the words are :func:`intake.outcome.outcome_text`, the same as the CLI's)."""
    text, buttons = intake_outcome.outcome_text(o)
    return text, actions(buttons)


def actions(buttons: list[dict[str, str]]) -> tuple[Action, ...]:
    """Buttons as kept in outbox payloads (``{"label", "command"}``) as chat actions."""
    return tuple(Action(str(b["label"]), str(b["command"])) for b in buttons if "command" in b)


def _day(value: Any, tz: tzinfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return str(value)
