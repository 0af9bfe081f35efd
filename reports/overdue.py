"""The full list of overdue tickets (超期督办件清单), streamed, the longest-overdue first.

The weekly and monthly reports list the longest-overdue tickets up to a cap and count the
rest by unit; this list has every one of them. A ticket is overdue when it still owes an
answer (:data:`ledger.states.OPEN_STATES`) and its deadline in force has passed at ``now``;
its 超期工作日 are the working days after its due day up to ``now``'s office-local day
(the rule of :func:`reports.figures.overdue_workdays`).

Rows are read in chunks ordered by the deadline (``due_at``, indexed; the earlier the
deadline, the more working days overdue) then the number, with keyset pagination, and
written as they come (CSV straight to the file, XLSX in openpyxl's write-only mode): memory
does not grow with the ledger. The complainant's name and contact are not in it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import SOURCE_LABELS, Message, Ticket, TicketState, Unit
from ledger.states import OPEN_STATES, values
from reports.export import office_minute, sheet_rows
from reports.figures import UNASSIGNED_LABEL
from reports.outputs import SHARED, OutputGuard, spreadsheet_text

CHUNK = 1000
TITLE_CHARS = 60  # a message without a title shows the start of its text, as on the 台账

OVERDUE_HEADER = (
    "序号",
    "编号",
    "责任单位",
    "单位代码",
    "超期工作日",
    "时限",
    "原时限",
    "收到时间",
    "状态",
    "来源",
    "标题",
)


@dataclass(frozen=True, slots=True)
class OverdueRow:
    number: str
    unit: str | None
    unit_label: str
    overdue_workdays: int
    due_date: date
    original_due_date: date
    received_at: datetime
    state: str
    state_label: str
    source_label: str
    title: str


def overdue_rows(
    session: Session,
    *,
    rules: DeadlineRules,
    now: datetime,
    unit_id: int | None = None,
    chunk: int = CHUNK,
) -> Iterator[OverdueRow]:
    """Every ticket overdue at ``now`` (of one unit, or all), the earliest deadline first
    (ties in ticket order), read ``chunk`` rows at a time."""
    units = {u.id: u for u in session.exec(select(Unit))}
    today = rules.local_date(now)
    labels = {kind.value: label for kind, label in SOURCE_LABELS.items()}
    query = (
        sa_select(
            col(Ticket.id),
            col(Ticket.number),
            col(Ticket.unit_id),
            col(Ticket.state),
            col(Ticket.source_kind),
            col(Ticket.due_date),
            col(Ticket.due_at),
            col(Ticket.original_due_date),
            col(Message.received_at),
            col(Message.title),
            func.substr(Message.text, 1, TITLE_CHARS).label("start"),
        )
        .select_from(Ticket)
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(col(Ticket.state).in_(values(OPEN_STATES)))
        .where(col(Ticket.due_at) < now)
    )
    if unit_id is not None:
        query = query.where(col(Ticket.unit_id) == unit_id)
    query = query.order_by(col(Ticket.due_at), col(Ticket.id)).limit(chunk)
    after: tuple[datetime, int] | None = None
    while True:
        page = query
        if after is not None:
            due_at, ticket_id = after
            page = page.where(col(Ticket.due_at) >= due_at).where(
                (col(Ticket.due_at) > due_at) | (col(Ticket.id) > ticket_id)
            )
        rows = session.execute(page).all()
        if not rows:
            return
        after = (rows[-1].due_at, rows[-1].id)
        for row in rows:
            unit = units.get(row.unit_id) if row.unit_id is not None else None
            state = TicketState(row.state)
            yield OverdueRow(
                number=row.number,
                unit=unit.code if unit else None,
                unit_label=unit.short_name if unit else UNASSIGNED_LABEL,
                overdue_workdays=rules.calendar.workdays_between(row.due_date, today),
                due_date=row.due_date,
                original_due_date=row.original_due_date,
                received_at=row.received_at,
                state=state.value,
                state_label=state.label,
                source_label=labels.get(row.source_kind, row.source_kind),
                title=row.title or row.start or "",
            )
        if len(rows) < chunk:
            return


def write_overdue(
    session: Session,
    path: Path,
    *,
    rules: DeadlineRules,
    now: datetime,
    fmt: str = "csv",
    unit_id: int | None = None,
    guard: OutputGuard | None = None,
    chunk: int = CHUNK,
) -> int:
    """Write the list to ``path`` (CSV with a BOM, or XLSX), whole or not at all, and
    return how many tickets it has."""
    path = Path(path)
    if guard is not None:
        guard.check(path)
    with sheet_rows(path, fmt, title="超期督办件", header=OVERDUE_HEADER, mode=SHARED) as out:
        for n, row in enumerate(
            overdue_rows(session, rules=rules, now=now, unit_id=unit_id, chunk=chunk), 1
        ):
            out.append(_cells(n, row, rules))
        return out.rows - 1


def _cells(n: int, row: OverdueRow, rules: DeadlineRules) -> list[Any]:
    return [
        n,
        row.number,
        row.unit_label,
        row.unit or "",
        row.overdue_workdays,
        row.due_date.isoformat(),
        row.original_due_date.isoformat(),
        office_minute(row.received_at.astimezone(rules.tz)),
        row.state_label,
        row.source_label,
        spreadsheet_text(row.title),
    ]
