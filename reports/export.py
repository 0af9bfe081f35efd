"""The CSV of every ticket: every step's time, the title, the text and the replies.

Headers are Chinese for staff (编号, 状态, 来源 …; times in the office's zone, 北京时间, as
``2026-11-16 09:00``; 是/否) or, with ``english=True``, the field names scripts read (times
in ISO 8601 with their offset; 1/0). The file is UTF-8 with a BOM so spreadsheets read the
Chinese, every text cell passes :func:`reports.outputs.spreadsheet_text` (no formulas), and
it is written whole or not at all, mode 0600 (citizens' text).

Rows are streamed: tickets are read in chunks by id (keyset pagination) with their events,
extensions and replies for that chunk only, so memory does not grow with the ledger.
The complainant's name and contact are not exported.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import (
    SOURCE_LABELS,
    Event,
    Extension,
    ExtensionStatus,
    Message,
    Reply,
    SourceKind,
    Ticket,
    TicketState,
    Unit,
)
from ledger.states import OPEN_STATES
from reports.outputs import PRIVATE, OutputGuard, atomic_open, spreadsheet_text

CHUNK = 500


@dataclass(frozen=True, slots=True)
class ExportColumn:
    key: str  # the English header (--english-headers)
    label: str  # the Chinese header
    kind: str = "text"  # text | int | time | date | flag


EXPORT_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("number", "编号"),
    ExportColumn("state_label", "状态"),
    ExportColumn("source_label", "来源"),
    ExportColumn("title", "标题"),
    ExportColumn("content", "内容"),
    ExportColumn("unit_name", "责任单位"),
    ExportColumn("received_at", "收到时间", "time"),
    ExportColumn("opened_at", "立项时间", "time"),
    ExportColumn("assigned_at", "交办时间", "time"),
    ExportColumn("acknowledged_at", "签收时间", "time"),
    ExportColumn("replied_at", "反馈时间", "time"),
    ExportColumn("verified_at", "核查时间", "time"),
    ExportColumn("closed_at", "归档时间", "time"),
    ExportColumn("due_date", "时限", "date"),
    ExportColumn("overdue_now", "是否超期", "flag"),
    ExportColumn("extension_days", "延期天数", "int"),
    ExportColumn("replies", "答复内容"),
    ExportColumn("quality_score", "质量评分", "int"),
    ExportColumn("state", "状态代码"),
    ExportColumn("source_kind", "来源代码"),
    ExportColumn("channel", "渠道"),
    ExportColumn("external_id", "原始编号"),
    ExportColumn("unit_code", "单位代码"),
    ExportColumn("routed_by", "分办依据"),
    ExportColumn("first_assigned_at", "首次交办时间", "time"),
    ExportColumn("first_replied_at", "首次反馈时间", "time"),
    ExportColumn("escalated_at", "升级督办时间", "time"),
    ExportColumn("limit_days", "办理时限（工作日）", "int"),
    ExportColumn("original_due_date", "原时限", "date"),
    ExportColumn("original_due_at", "原时限截止时间", "time"),
    ExportColumn("due_at", "时限截止时间", "time"),
    ExportColumn("deadline_provisional", "时限待定", "flag"),
    ExportColumn("extensions_requested", "申请延期次数", "int"),
    ExportColumn("extensions_approved", "批准延期次数", "int"),
    ExportColumn("last_extension_decided_at", "最近延期审批时间", "time"),
    ExportColumn("return_count", "退回次数", "int"),
    ExportColumn("last_returned_at", "最近退回时间", "time"),
    ExportColumn("reopen_count", "续办次数", "int"),
    ExportColumn("last_reopened_at", "最近续办时间", "time"),
    ExportColumn("duplicate_count", "重复件数", "int"),
    ExportColumn("reply_workdays", "反馈用时（工作日）", "int"),
    ExportColumn("replied_on_time", "是否按期反馈", "flag"),
    ExportColumn("replied_on_time_original", "是否按原时限反馈", "flag"),
)
CSV_COLUMNS = tuple(c.key for c in EXPORT_COLUMNS)


def export_header(*, english: bool = False) -> list[str]:
    return [c.key if english else c.label for c in EXPORT_COLUMNS]


def export_tickets_csv(
    session: Session,
    path: Path,
    *,
    rules: DeadlineRules,
    now: datetime,
    english: bool = False,
    guard: OutputGuard | None = None,
    chunk: int = CHUNK,
) -> int:
    """Write every ticket to ``path`` (see the module) and return how many were written."""
    path = Path(path)
    if guard is not None:
        guard.check(path)
    count = 0
    with atomic_open(path, mode=PRIVATE, encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(export_header(english=english))
        for record in ticket_records(session, rules=rules, now=now, chunk=chunk):
            writer.writerow([_cell(record[c.key], c.kind, rules, english) for c in EXPORT_COLUMNS])
            count += 1
    return count


def _cell(value: Any, kind: str, rules: DeadlineRules, english: bool) -> Any:
    if value is None or value == "":
        return ""
    if kind == "time":
        local = value.astimezone(rules.tz)
        return local.isoformat() if english else local.strftime("%Y-%m-%d %H:%M")
    if kind == "date":
        return value.isoformat()
    if kind == "flag":
        return int(bool(value)) if english else ("是" if value else "否")
    return spreadsheet_text(value)


def ticket_records(
    session: Session, *, rules: DeadlineRules, now: datetime, chunk: int = CHUNK
) -> Iterator[dict[str, Any]]:
    """One dict per ticket (keys of :data:`CSV_COLUMNS`), in id order, read ``chunk``
    tickets at a time."""
    units = {u.id: u for u in session.exec(select(Unit))}
    after = 0
    while True:
        rows = list(
            session.exec(
                select(Ticket, Message)
                .join(Message, col(Message.id) == col(Ticket.message_id))
                .where(col(Ticket.id) > after)
                .order_by(col(Ticket.id))
                .limit(chunk)
            )
        )
        if not rows:
            return
        ids = [ticket.id for ticket, _ in rows if ticket.id is not None]  # stored: all
        after = ids[-1]
        steps = _steps(session, ids)
        extensions = _extension_stats(session, ids)
        replies = _replies(session, ids, rules)
        for (ticket, message), ticket_id in zip(rows, ids, strict=True):
            yield _record(
                ticket,
                received_at=message.received_at,
                channel=message.channel,
                external_id=message.external_id,
                title=message.title,
                text=message.text,
                unit=units.get(ticket.unit_id) if ticket.unit_id is not None else None,
                steps=steps.get(ticket_id, {}),
                extension=extensions.get(ticket_id, (0, 0, None)),
                replies=replies.get(ticket_id, ""),
                rules=rules,
                now=now,
            )


def _record(
    ticket: Ticket,
    *,
    received_at: datetime,
    channel: str,
    external_id: str | None,
    title: str | None,
    text: str,
    unit: Unit | None,
    steps: dict[str, datetime],
    extension: tuple[int, int, datetime | None],
    replies: str,
    rules: DeadlineRules,
    now: datetime,
) -> dict[str, Any]:
    state = TicketState(ticket.state)
    first_reply = steps.get("reply")
    return {
        "number": ticket.number,
        "state": state.value,
        "state_label": state.label,
        "source_kind": ticket.source_kind,
        "source_label": SOURCE_LABELS[SourceKind(ticket.source_kind)],
        "channel": channel,
        "external_id": external_id,
        "title": title,
        "content": text,
        "unit_code": unit.code if unit else None,
        "unit_name": unit.short_name if unit else None,
        "routed_by": ticket.routed_by,
        "received_at": received_at,
        "opened_at": ticket.opened_at,
        "first_assigned_at": steps.get("assign"),
        "assigned_at": ticket.assigned_at,
        "acknowledged_at": ticket.acknowledged_at,
        "first_replied_at": first_reply,
        "replied_at": ticket.replied_at,
        "verified_at": ticket.verified_at,
        "closed_at": ticket.closed_at,
        "escalated_at": ticket.escalated_at,
        "limit_days": ticket.limit_days,
        "original_due_date": ticket.original_due_date,
        "original_due_at": ticket.original_due_at,
        "due_date": ticket.due_date,
        "due_at": ticket.due_at,
        "deadline_provisional": ticket.deadline_provisional,
        "extension_days": ticket.extension_days,
        "extensions_requested": extension[0],
        "extensions_approved": extension[1],
        "last_extension_decided_at": extension[2],
        "return_count": ticket.return_count,
        "last_returned_at": steps.get("last_return"),
        "reopen_count": ticket.reopen_count,
        "last_reopened_at": steps.get("last_reopen"),
        "quality_score": ticket.quality_score,
        "duplicate_count": ticket.duplicate_count,
        "reply_workdays": None
        if first_reply is None
        else rules.calendar.workdays_between(
            rules.local_date(received_at), rules.local_date(first_reply)
        ),
        "replied_on_time": None if first_reply is None else first_reply <= ticket.due_at,
        "replied_on_time_original": None
        if first_reply is None
        else first_reply <= ticket.original_due_at,
        "overdue_now": state in OPEN_STATES and now > ticket.due_at,
        "replies": replies,
    }


def _steps(session: Session, ids: Sequence[int]) -> dict[int, dict[str, datetime]]:
    """Per ticket: first assign, first reply, last 退回, last 续办 (from the event log)."""
    out: dict[int, dict[str, datetime]] = {}
    rows = session.exec(
        select(Event.ticket_id, Event.action, Event.at)
        .where(col(Event.ticket_id).in_(ids))
        .where(col(Event.action).in_(("assign", "reply", "return", "verify_fail", "reopen")))
        .order_by(col(Event.ticket_id), col(Event.id))
    )
    for ticket_id, action, at in rows:
        seen = out.setdefault(ticket_id, {})
        if action in ("assign", "reply"):
            seen.setdefault(action, at)
        elif action == "return":
            seen["last_return"] = at
        else:
            seen["last_reopen"] = at
    return out


def _extension_stats(
    session: Session, ids: Sequence[int]
) -> dict[int, tuple[int, int, datetime | None]]:
    out: dict[int, tuple[int, int, datetime | None]] = {}
    rows = session.exec(
        select(Extension.ticket_id, Extension.status, Extension.decided_at)
        .where(col(Extension.ticket_id).in_(ids))
        .order_by(col(Extension.id))
    )
    for ticket_id, status, decided_at in rows:
        asked, approved, decided = out.get(ticket_id, (0, 0, None))
        out[ticket_id] = (
            asked + 1,
            approved + (status == ExtensionStatus.APPROVED.value),
            decided_at or decided,
        )
    return out


def _replies(session: Session, ids: Sequence[int], rules: DeadlineRules) -> dict[int, str]:
    """Every reply of each ticket, oldest first: ``[第1轮 2026-11-18 10:00] 文字``."""
    out: dict[int, list[str]] = {}
    rows = session.exec(
        select(Reply.ticket_id, Reply.round, Reply.created_at, Reply.text)
        .where(col(Reply.ticket_id).in_(ids))
        .order_by(col(Reply.ticket_id), col(Reply.id))
    )
    for ticket_id, round_, created_at, text in rows:
        when = created_at.astimezone(rules.tz).strftime("%Y-%m-%d %H:%M")
        out.setdefault(ticket_id, []).append(f"[第{round_}轮 {when}] {text}")
    return {ticket_id: "\n".join(parts) for ticket_id, parts in out.items()}
