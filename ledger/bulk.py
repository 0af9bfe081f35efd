"""立项 and 交办 for many messages at once, with bulk inserts.

It writes exactly what ``ledger.tickets.open_ticket`` followed by ``assign`` writes — the
ticket, a ``register`` event and (when a unit is chosen) an ``assign`` event, the message
marked routed — but in a few statements for a whole batch, which is what lets an import of
100,000 messages run at thousands a second. The event payloads come from the same helpers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import sqltypes
from sqlmodel import Session

from ledger.deadlines import Deadline, DeadlineRules
from ledger.models import Event, Message, MessageStatus, SourceKind, Ticket, TicketState, Unit
from ledger.numbers import PREFIX, next_value
from ledger.tickets import LABEL_MAX, Actor, assign_data, register_data
from ledger.types import UTCDateTime


@dataclass
class OpenSpec:
    """One message to open a ticket for, and the routing decision for it."""

    message_id: int
    source_kind: str
    received_at: datetime
    has_time_limit: bool
    time_limit_days: int | None
    unit: Unit | None = None  # None: wait in triage
    routed_by: str | None = None
    classifier_version: str | None = None
    confidence: float | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Opened:
    ticket_id: int
    number: str
    message_id: int
    deadline: Deadline
    assign_event_id: int | None
    state: str


def open_tickets(
    session: Session,
    specs: list[OpenSpec],
    *,
    rules: DeadlineRules,
    now: datetime,
    actor: Actor,
) -> list[Opened]:
    """Open one ticket per spec (the caller made sure none exists yet)."""
    if not specs:
        return []
    deadlines = [_deadline(rules, spec) for spec in specs]
    year = rules.local_date(now).year
    last = next_value(session, f"ticket-{year}", step=len(specs))
    numbers = [f"{PREFIX}-{year}-{last - len(specs) + i + 1:06d}" for i in range(len(specs))]
    rows = []
    for spec, deadline, number in zip(specs, deadlines, numbers, strict=True):
        assigned = spec.unit is not None
        rows.append(
            {
                "number": number,
                "message_id": spec.message_id,
                "unit_id": spec.unit.id if assigned else None,
                "state": (TicketState.ASSIGNED if assigned else TicketState.REGISTERED).value,
                "source_kind": spec.source_kind,
                "opened_at": now,
                "assigned_at": now if assigned else None,
                "acknowledged_at": None,
                "replied_at": None,
                "verified_at": None,
                "closed_at": None,
                "escalated_at": None,
                "due_date": deadline.due_date,
                "due_at": deadline.due_at,
                "original_due_date": deadline.due_date,
                "original_due_at": deadline.due_at,
                "limit_days": deadline.limit_days,
                "deadline_provisional": deadline.provisional,
                "extension_days": 0,
                "routed_by": spec.routed_by[:LABEL_MAX] if assigned else None,
                "classifier_version": spec.classifier_version,
                "confidence": spec.confidence,
                "suggestions": spec.suggestions,
                "excluded_units": [],
                "quality_score": None,
                "reopen_count": 0,
                "return_count": 0,
                "duplicate_count": 0,
                "version": 2 if assigned else 1,
            }
        )
    ticket_ids = insert_rows(session, Ticket.__table__, rows)
    events = []
    for spec, deadline, ticket_id in zip(specs, deadlines, ticket_ids, strict=True):
        events.append(
            _event(
                ticket_id,
                "register",
                None,
                TicketState.REGISTERED,
                None,
                actor,
                register_data(deadline),
                now,
            )
        )
        if spec.unit is not None:
            events.append(
                _event(
                    ticket_id,
                    "assign",
                    TicketState.REGISTERED,
                    TicketState.ASSIGNED,
                    spec.unit.id,
                    actor,
                    assign_data(
                        spec.unit.code,
                        None,
                        spec.routed_by or "",
                        spec.confidence,
                        spec.classifier_version,
                    ),
                    now,
                )
            )
    event_ids = insert_rows(session, Event.__table__, events)
    assign_ids: dict[int, int] = {}
    for row, event in zip(event_ids, events, strict=True):
        if event["action"] == "assign":
            assign_ids[event["ticket_id"]] = row
    message_table = Message.__table__
    session.execute(
        update(message_table)
        .where(message_table.c.id == bindparam("m_id"))
        .values(status=MessageStatus.ROUTED.value),
        [{"m_id": spec.message_id} for spec in specs],
    )
    return [
        Opened(
            ticket_id=tid,
            number=number,
            message_id=spec.message_id,
            deadline=deadline,
            assign_event_id=assign_ids.get(tid),
            state=row["state"],
        )
        for spec, deadline, number, tid, row in zip(
            specs, deadlines, numbers, ticket_ids, rows, strict=True
        )
    ]


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in bulk and return their new ids, in the order of ``rows``.

    PostgreSQL returns them from one batched ``INSERT … RETURNING``. SQLite cannot tie
    RETURNING rows to parameter sets in a batch (SQLAlchemy would fall back to one
    statement per row), so there the rows go in with one ``executemany`` and their ids are
    read back: a rowid table gives each new row the largest rowid so far plus one, and the
    transaction holds SQLite's write lock from its first write to its commit, so the ids
    of the batch are the last ``len(rows)`` ones.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        result = session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return [row[0] for row in result]
    insert_plain(session, table, rows)
    last = session.execute(select(func.max(table.c.id))).scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def insert_plain(
    session: Session, table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """Insert ``rows`` (all with the same keys) in bulk, no ids returned; with
    ``ignore_conflicts`` a row whose unique key is taken is skipped (``ON CONFLICT DO NOTHING``).

    On SQLite the values are converted here, the way the column types would convert them,
    and handed to the driver's ``executemany`` in one call: SQLAlchemy's per-row parameter
    processing costs more than the insert itself on a large import. Elsewhere SQLAlchemy's
    own batched insert is used.
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "sqlite":
        stmt = (
            postgresql.insert(table).on_conflict_do_nothing() if ignore_conflicts else insert(table)
        )
        session.execute(stmt, rows)
        return
    names = list(rows[0])
    converting = [
        (index, fn)
        for index, name in enumerate(names)
        if (fn := _sqlite_converter(table.c[name].type)) is not _same
    ]
    pick = itemgetter(*names)
    values = []
    for row in rows:
        picked = pick(row)
        value = list(picked) if isinstance(picked, tuple) else [picked]
        for index, fn in converting:
            value[index] = fn(value[index])
        values.append(tuple(value))
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    session.connection().exec_driver_sql(
        f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks}){conflict}', values
    )


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any]:
    """What the column type's bind processing does on SQLite, for one value."""
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime
    if isinstance(column_type, sqltypes.JSON):
        return lambda value: None if value is None else json.dumps(value)
    if isinstance(column_type, sqltypes.Boolean):
        return lambda value: None if value is None else int(bool(value))
    if isinstance(column_type, sqltypes.Date):
        return lambda value: None if value is None else value.isoformat()
    return _same


@lru_cache(maxsize=4096)  # a batch repeats its ``now`` and its deadlines many times
def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, naive UTC (as UTCDateTime stores it).
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: duban stores UTC-aware timestamps only")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value: Any) -> Any:
    return value


def _deadline(rules: DeadlineRules, spec: OpenSpec) -> Deadline:
    limit = rules.policy.limit_for(
        SourceKind(spec.source_kind),
        explicit_days=spec.time_limit_days,
        has_limit=spec.has_time_limit,
    )
    return rules.count(spec.received_at, limit)


def _event(
    ticket_id: int,
    action: str,
    before: TicketState | None,
    after: TicketState,
    unit_id: int | None,
    actor: Actor,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "action": action,
        "from_state": before.value if before else None,
        "to_state": after.value,
        "actor_id": actor.person_id,
        "actor": actor.label,
        "unit_id": unit_id,
        "note": None,
        "data": data,
        "at": now,
    }
