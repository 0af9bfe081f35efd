"""Chinese text the bot posts: ticket details, to-do lists, intake outcomes, help."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from bots.messages import Action
from bots.text import shorten
from desk.queries import TicketDetail, TicketRow


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
    """One ``routing.pipeline.ItemOutcome`` as the answer in the intake chat, with buttons."""
    row = f"第{o.row}条：" if o.row else ""
    confidence = f"（置信度 {o.confidence:.0%}）" if o.confidence is not None else ""
    if o.status == "opened":
        return (
            f"【已立项】{row}{o.ticket} → {o.unit_name or o.unit}{confidence}\n"
            f"办理时限：{o.due_date or '-'}",
            (),
        )
    if o.status == "triage":
        lines = [f"【待分办】{row}{o.ticket}{confidence}，请人工选择责任单位"]
        actions = []
        for index, s in enumerate(o.suggestions[:3], start=1):
            share = f"（{s['confidence']:.0%}）" if s.get("confidence") is not None else ""
            lines.append(f"{index}. {s['unit_name']}{share}")
            actions.append(Action(f"{index}. {s['unit_name']}", f"/分办 {o.ticket} {s['unit']}"))
        lines.append(f"分办：/分办 {o.ticket} 单位名称（可写简称，/单位 关键词 可查）")
        if o.due_date:
            lines.append(f"办理时限：{o.due_date}")
        return "\n".join(lines), tuple(actions)
    if o.status == "duplicate":
        return f"【重复件】{row}已并入 {o.duplicate_of or o.ticket}", ()
    if o.status == "known":
        return f"【已登记】{row}此条此前已登记：{o.ticket or o.duplicate_of or '-'}", ()
    if o.status == "queued":
        return f"【处理中】{row}已收到，正在分办，结果稍后通知", ()
    return f"【未登记】{row}{o.reason or '内容无法登记'}", ()


def _day(value: Any, tz: tzinfo) -> str:
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    return str(value)
