"""The 台账's current view as CSV or XLSX, streamed: tickets are read a chunk at a time.

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

from sqlmodel import Session, col, select

from desk import queries as Q
from desk.permissions import Viewer, sees_complainant
from ledger.deadlines import DeadlineRules
from ledger.models import Message, Ticket, Unit
from reports import export as X

CHUNK = 500


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
    """One export record per ticket of the view, in the view's order."""
    masked = not sees_complainant(viewer.person)
    units = {u.id: u for u in session.exec(select(Unit))}
    offset = 0
    while True:
        rows = Q.search_tickets(
            session,
            filters,
            viewer=viewer,
            rules=rules,
            now=now,
            limit=chunk,
            offset=offset,
            order=order,
        )
        if not rows:
            return
        offset += len(rows)
        numbers = [r.number for r in rows]
        found = {
            ticket.number: (ticket, message)
            for ticket, message in session.exec(
                select(Ticket, Message)
                .join(Message, col(Message.id) == col(Ticket.message_id))
                .where(col(Ticket.number).in_(numbers))
            )
        }
        ids = [found[n][0].id for n in numbers if n in found]
        steps = X._steps(session, ids)  # type: ignore[arg-type]
        extensions = X._extension_stats(session, ids)  # type: ignore[arg-type]
        replies = X._replies(session, ids, rules)  # type: ignore[arg-type]
        for number in numbers:
            if number not in found:
                continue  # moved out of the view meanwhile
            ticket, message = found[number]
            text, title = message.text, message.title
            if masked and message.unit_text is not None:
                text, title = message.unit_text, None
            yield X._record(
                ticket,
                received_at=message.received_at,
                channel=message.channel,
                external_id=None if masked else message.external_id,
                title=title,
                text=text,
                unit=units.get(ticket.unit_id) if ticket.unit_id is not None else None,
                steps=steps.get(ticket.id, {}),  # type: ignore[arg-type]
                extension=extensions.get(ticket.id, (0, 0, None)),  # type: ignore[arg-type]
                replies=replies.get(ticket.id, ""),  # type: ignore[arg-type]
                rules=rules,
                now=now,
            )
        if len(rows) < chunk:
            return


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
        sheet.append([X._cell(record[c.key], c.kind, rules, False) for c in X.EXPORT_COLUMNS])
    fd, name = tempfile.mkstemp(prefix="duban-export-", suffix=".xlsx")
    os.close(fd)
    workbook.save(name)
    return Path(name)
