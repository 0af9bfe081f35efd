"""The CSV of every ticket: every step's time, the title, the text and the replies.

Headers are Chinese for staff (编号, 状态, 来源 …; times in the office's zone, 北京时间, as
``2026-11-16 09:00``; 是/否) or, with ``english=True``, the field names scripts read (times
in ISO 8601 with their offset; 1/0). The file is UTF-8 with a BOM so spreadsheets read the
Chinese, every text cell passes :func:`reports.outputs.spreadsheet_text` (no formulas), and
it is written whole or not at all, mode 0600 (citizens' text).

Rows are streamed: tickets are read in chunks by id (keyset pagination) as plain columns (no
ORM object per ticket), with their events, extensions and replies read for that chunk only
(one query each per chunk), and each row is written as it comes, so memory does not grow
with the ledger and time grows with it linearly. ``fmt="xlsx"`` writes the same rows
through openpyxl's write-only mode. The complainant's name and contact are not exported.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import (
    SOURCE_LABELS,
    Event,
    Extension,
    ExtensionStatus,
    Message,
    Reply,
    Ticket,
    TicketState,
    Unit,
)
from ledger.states import OPEN_STATES
from reports.errors import RenderError
from reports.outputs import PRIVATE, OutputGuard, atomic_open, atomic_path, spreadsheet_text

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


EXPORT_FORMATS = ("csv", "xlsx")
XLSX_MAX_ROWS = 1_048_576  # a sheet's limit in Excel, WPS and LibreOffice (header included)


class SheetRows:
    """Rows appended one at a time to a CSV or an XLSX that is written whole or not at
    all (:func:`reports.outputs.atomic_path`), never held in memory: CSV goes straight to
    the file; XLSX through openpyxl's write-only mode, which spools rows to disk."""

    def __init__(self, handle: IO[str] | None, sheet: Any) -> None:
        self._csv = csv.writer(handle) if handle is not None else None
        self._sheet = sheet
        self.rows = 0

    def append(self, row: Sequence[Any]) -> None:
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            if self.rows + 1 >= XLSX_MAX_ROWS:
                raise RenderError(
                    f"XLSX 一张表最多 {XLSX_MAX_ROWS - 1} 行，请改用 --format csv "
                    "(too many rows for a spreadsheet)"
                )
            self._sheet.append([_xlsx_safe(value) for value in row])
        self.rows += 1


@contextlib.contextmanager
def sheet_rows(
    path: Path, fmt: str, *, title: str, header: Sequence[str], mode: int = PRIVATE
) -> Iterator[SheetRows]:
    """A :class:`SheetRows` for ``path`` in ``fmt`` (``csv``: UTF-8 with a BOM so
    spreadsheets read the Chinese; ``xlsx``: one sheet named ``title``), header first."""
    if fmt not in EXPORT_FORMATS:
        raise RenderError(f"不支持的格式「{fmt}」，可选 csv、xlsx (unknown format)")
    if fmt == "csv":
        with atomic_open(path, mode=mode, encoding="utf-8-sig", newline="") as handle:
            rows = SheetRows(handle, None)
            rows.append(header)
            yield rows
        return
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    rows = SheetRows(None, sheet)
    rows.append(header)
    yield rows
    with atomic_path(path, mode=mode) as temp:
        workbook.save(temp)


def _xlsx_safe(value: Any) -> Any:
    """Control characters a citizen's text may carry are not allowed in XLSX (openpyxl
    refuses the whole file); they are dropped from the cell."""
    if isinstance(value, str):
        return _illegal_characters().sub("", value)
    return value


@functools.cache
def _illegal_characters() -> re.Pattern[str]:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE


def export_tickets_csv(
    session: Session,
    path: Path,
    *,
    rules: DeadlineRules,
    now: datetime,
    english: bool = False,
    guard: OutputGuard | None = None,
    chunk: int = CHUNK,
    fmt: str = "csv",
) -> int:
    """Write every ticket to ``path`` (see the module) and return how many were written."""
    path = Path(path)
    if guard is not None:
        guard.check(path)
    cells = cell_formatters(rules, english=english)
    with sheet_rows(path, fmt, title="台账", header=export_header(english=english)) as out:
        for record in ticket_records(session, rules=rules, now=now, chunk=chunk):
            out.append([cell(record[key]) for key, cell in cells])
        return out.rows - 1


def cell_formatters(
    rules: DeadlineRules, *, english: bool = False
) -> list[tuple[str, Callable[[Any], Any]]]:
    """(record key, value -> cell) for each column, chosen once per export, not per cell."""

    def time_cell(value: Any) -> Any:
        if value is None:
            return ""
        local = value.astimezone(rules.tz)
        return local.isoformat() if english else office_minute(local)

    def date_cell(value: Any) -> Any:
        return "" if value is None else value.isoformat()

    def flag_cell(value: Any) -> Any:
        if value is None or value == "":
            return ""
        return int(bool(value)) if english else ("是" if value else "否")

    def text_cell(value: Any) -> Any:
        if value is None or value == "":
            return ""
        return spreadsheet_text(value)

    by_kind = {"time": time_cell, "date": date_cell, "flag": flag_cell}
    return [(c.key, by_kind.get(c.kind, text_cell)) for c in EXPORT_COLUMNS]


def office_minute(local: datetime) -> str:
    """``2026-11-16 09:00``: ``strftime("%Y-%m-%d %H:%M")`` at a third of its cost (it
    runs for every time of every ticket)."""
    return "%04d-%02d-%02d %02d:%02d" % (  # noqa: UP031 (faster than an f-string here)
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
    )


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


class TicketColumns(Protocol):
    """What :func:`_record` reads of a ticket: a :class:`Ticket` or a row of
    :data:`TICKET_COLUMNS` (plain columns, no ORM object per ticket)."""

    id: int | None
    number: str
    state: str
    source_kind: str
    unit_id: int | None
    routed_by: str | None
    opened_at: datetime
    assigned_at: datetime | None
    acknowledged_at: datetime | None
    replied_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    escalated_at: datetime | None
    limit_days: int
    original_due_date: date
    original_due_at: datetime
    due_date: date
    due_at: datetime
    deadline_provisional: bool
    extension_days: int
    quality_score: int | None
    duplicate_count: int
    return_count: int
    reopen_count: int


TICKET_COLUMNS: tuple[Any, ...] = tuple(
    getattr(Ticket, name) for name in TicketColumns.__annotations__
)
MESSAGE_COLUMNS = (
    col(Message.received_at),
    col(Message.channel),
    col(Message.external_id),
    col(Message.title),
    col(Message.text),
)


def ticket_records(
    session: Session, *, rules: DeadlineRules, now: datetime, chunk: int = CHUNK
) -> Iterator[dict[str, Any]]:
    """One dict per ticket (keys of :data:`CSV_COLUMNS`), in id order, read ``chunk``
    tickets at a time as plain columns (keyset pagination on the id)."""
    units = {u.id: u for u in session.exec(select(Unit))}
    after = 0
    while True:
        rows = session.execute(
            sa_select(*TICKET_COLUMNS, *MESSAGE_COLUMNS)
            .select_from(Ticket)
            .join(Message, col(Message.id) == col(Ticket.message_id))
            .where(col(Ticket.id) > after)
            .order_by(col(Ticket.id))
            .limit(chunk)
        ).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        after = ids[-1]
        steps = _steps(session, ids)
        extensions = _extension_stats(session, ids)
        replies = _replies(session, ids, rules)
        for row in rows:
            yield _record(
                row,
                received_at=row.received_at,
                channel=row.channel,
                external_id=row.external_id,
                title=row.title,
                text=row.text,
                unit=units.get(row.unit_id) if row.unit_id is not None else None,
                steps=steps.get(row.id, {}),
                extension=extensions.get(row.id, (0, 0, None)),
                replies=replies.get(row.id, ""),
                rules=rules,
                now=now,
            )


_STATES = {state.value: state for state in TicketState}
_SOURCE_LABELS = {kind.value: label for kind, label in SOURCE_LABELS.items()}


def _record(
    ticket: TicketColumns,
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
    state = _STATES[ticket.state]
    first_reply = steps.get("reply")
    return {
        "number": ticket.number,
        "state": state.value,
        "state_label": state.label,
        "source_kind": ticket.source_kind,
        "source_label": _SOURCE_LABELS[ticket.source_kind],
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
        when = office_minute(created_at.astimezone(rules.tz))
        out.setdefault(ticket_id, []).append(f"[第{round_}轮 {when}] {text}")
    return {ticket_id: "\n".join(parts) for ticket_id, parts in out.items()}
