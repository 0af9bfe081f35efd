"""The 台账's current view as CSV or XLSX, streamed: tickets are read a chunk at a time,
as plain columns, each page after the last row of the one before (no OFFSET).

Rows are the columns of ``reports.export`` (Chinese headers, every step's time, the content
and the replies). For a unit's people the content is the masked text (``unit_text``) and
the source's own number is left out, as on their pages; the complainant is never exported.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from desk import queries as Q
from desk.permissions import Viewer, sees_complainant
from ledger.deadlines import DeadlineRules
from ledger.models import Message, Ticket, Unit
from reports import export as X

CHUNK = 500

# Each order of the 台账 (``desk.queries.TICKET_ORDERS``) as its keyset: (the column before
# the id, or None for the id alone; descending). Pages continue after the last row read, so
# reading the view costs the same at its end as at its start (no OFFSET).
_KEYSETS: dict[str, tuple[Any, bool]] = {
    "new": (None, True),
    "old": (None, False),
    "due": (col(Ticket.due_at), False),
    "due_desc": (col(Ticket.due_at), True),
}


def records(
    session: Session,
    filters: Q.TicketFilter,
    *,
    viewer: Viewer,
    rules: DeadlineRules,
    now: datetime,
    order: str = "new",
    chunk: int = CHUNK,
) -> Iterator[dict[str, Any]]:
    """One export record per ticket of the view, in the view's order, read ``chunk``
    tickets at a time as plain columns (keyset pagination)."""
    if order not in Q.TICKET_ORDERS or order not in _KEYSETS:
        raise ValueError(f"unknown order {order!r}")
    masked = not sees_complainant(viewer.person)
    units = {u.id: u for u in session.exec(select(Unit))}
    key, descending = _KEYSETS[order]
    ticket_id = col(Ticket.id)
    query = (
        sa_select(*X.TICKET_COLUMNS, *X.MESSAGE_COLUMNS, col(Message.unit_text))
        .select_from(Ticket)
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(*Q.ticket_clauses(filters, viewer=viewer, rules=rules, now=now))
    )
    keys = (ticket_id,) if key is None else (key, ticket_id)
    query = query.order_by(*(k.desc() if descending else k.asc() for k in keys)).limit(chunk)
    last: Any = None
    while True:
        page = query if last is None else query.where(_after(key, last, descending))
        rows = session.execute(page).all()
        if not rows:
            return
        last = rows[-1]
        ids = [row.id for row in rows]
        steps = X._steps(session, ids)
        extensions = X._extension_stats(session, ids)
        replies = X._replies(session, ids, rules)
        for row in rows:
            text, title = row.text, row.title
            if masked and row.unit_text is not None:
                text, title = row.unit_text, None
            yield X._record(
                row,
                received_at=row.received_at,
                channel=row.channel,
                external_id=None if masked else row.external_id,
                title=title,
                text=text,
                unit=units.get(row.unit_id) if row.unit_id is not None else None,
                steps=steps.get(row.id, {}),
                extension=extensions.get(row.id, (0, 0, None)),
                replies=replies.get(row.id, ""),
                rules=rules,
                now=now,
            )
        if len(rows) < chunk:
            return


def _after(key: Any, last: Any, descending: bool) -> Any:
    """Rows after ``last`` in the order (``key`` then the id, both one way)."""
    ticket_id = col(Ticket.id)
    if key is None:
        return ticket_id < last.id if descending else ticket_id > last.id
    value = getattr(last, key.key)
    if descending:
        return and_(key <= value, or_(key < value, ticket_id < last.id))
    return and_(key >= value, or_(key > value, ticket_id > last.id))


def csv_chunks(records: Iterator[dict[str, Any]], rules: DeadlineRules) -> Iterator[bytes]:
    """UTF-8 with a BOM (spreadsheets read the Chinese), a few hundred rows per chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(X.export_header())
    for n, record in enumerate(records, 1):
        writer.writerow([X._cell(record[c.key], c.kind, rules, False) for c in X.EXPORT_COLUMNS])
        if n % 200 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(records: Iterator[dict[str, Any]], rules: DeadlineRules) -> Path:
    """An XLSX in a temporary file (openpyxl's write-only mode: rows go to disk as written)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("台账")
    sheet.append(X.export_header())
    for record in records:
        sheet.append(
            [X._xlsx_safe(X._cell(record[c.key], c.kind, rules, False)) for c in X.EXPORT_COLUMNS]
        )
    fd, name = tempfile.mkstemp(prefix="duban-export-", suffix=".xlsx")
    os.close(fd)
    workbook.save(name)
    return Path(name)
