"""Ticket numbers (``DB-2026-000123``): a per-year counter, safe under concurrent workers."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from ledger.models import Counter

PREFIX = "DB"


def next_ticket_number(session: Session, year: int) -> str:
    """The next number for ``year``; the row lock serialises writers until commit."""
    return f"{PREFIX}-{year}-{next_value(session, f'ticket-{year}'):06d}"


def next_value(session: Session, name: str, *, step: int = 1) -> int:
    """Add ``step`` to the counter and return its new value (a block of ``step`` numbers)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Counter.__table__
    statement = (
        insert(table)
        .values(name=name, value=step)
        .on_conflict_do_update(index_elements=[table.c.name], set_={"value": table.c.value + step})
        .returning(table.c.value)
    )
    return int(session.execute(statement).scalar_one())
