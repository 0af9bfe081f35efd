"""立项 and 交办 for many messages at once, with bulk inserts.

It writes exactly what ``ledger.tickets.open_ticket`` followed by ``assign`` writes — the
ticket, a ``register`` event and (when a unit is chosen) an ``assign`` event, the message
marked routed — but in a few statements for a whole batch, which is what lets an import of
100,000 messages run at thousands a second. The event payloads come from the same helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlmodel import Session

from ledger.deadlines import Deadline, DeadlineRules
from ledger.models import Event, Message, MessageStatus, SourceKind, Ticket, TicketState, Unit
from ledger.numbers import PREFIX, next_value
from ledger.tickets import Actor, assign_data, register_data


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
    session: Session, specs: list[OpenSpec], *, rules: DeadlineRules, now: datetime,
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
        rows.append({
            "number": number, "message_id": spec.message_id,
            "unit_id": spec.unit.id if assigned else None,
            "state": (TicketState.ASSIGNED if assigned else TicketState.REGISTERED).value,
            "source_kind": spec.source_kind, "opened_at": now,
            "assigned_at": now if assigned else None,
            "acknowledged_at": None, "replied_at": None, "verified_at": None,
            "closed_at": None, "escalated_at": None,
            "due_date": deadline.due_date, "due_at": deadline.due_at,
            "original_due_date": deadline.due_date, "original_due_at": deadline.due_at,
            "limit_days": deadline.limit_days, "deadline_provisional": deadline.provisional,
            "extension_days": 0,
            "routed_by": spec.routed_by if assigned else None,
            "classifier_version": spec.classifier_version, "confidence": spec.confidence,
            "suggestions": spec.suggestions, "excluded_units": [], "quality_score": None,
            "reopen_count": 0, "return_count": 0, "duplicate_count": 0,
            "version": 2 if assigned else 1,
        })
    ticket_ids = insert_rows(session, Ticket.__table__, rows)
    events = []
    for spec, deadline, ticket_id in zip(specs, deadlines, ticket_ids, strict=True):
        events.append(_event(ticket_id, "register", None, TicketState.REGISTERED, None, actor,
                             register_data(deadline), now))
        if spec.unit is not None:
            events.append(_event(
                ticket_id, "assign", TicketState.REGISTERED, TicketState.ASSIGNED, spec.unit.id,
                actor, assign_data(spec.unit.code, None, spec.routed_by or "", spec.confidence,
                                   spec.classifier_version), now))
    event_ids = insert_rows(session, Event.__table__, events)
    assign_ids: dict[int, int] = {}
    for row, event in zip(event_ids, events, strict=True):
        if event["action"] == "assign":
            assign_ids[event["ticket_id"]] = row
    message_table = Message.__table__
    session.execute(
        update(message_table).where(message_table.c.id == bindparam("m_id"))
        .values(status=MessageStatus.ROUTED.value),
        [{"m_id": spec.message_id} for spec in specs])
    return [
        Opened(ticket_id=tid, number=number, message_id=spec.message_id, deadline=deadline,
               assign_event_id=assign_ids.get(tid), state=row["state"])
        for spec, deadline, number, tid, row in zip(specs, deadlines, numbers, ticket_ids, rows,
                                                      strict=True)
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
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
        return [row[0] for row in result]
    session.execute(insert(table), rows)
    last = session.execute(select(func.max(table.c.id))).scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def _deadline(rules: DeadlineRules, spec: OpenSpec) -> Deadline:
    limit = rules.policy.limit_for(SourceKind(spec.source_kind),
                                   explicit_days=spec.time_limit_days,
                                   has_limit=spec.has_time_limit)
    return rules.count(spec.received_at, limit)


def _event(ticket_id: int, action: str, before: TicketState | None, after: TicketState,
           unit_id: int | None, actor: Actor, data: dict[str, Any], now: datetime
           ) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "action": action,
            "from_state": before.value if before else None, "to_state": after.value,
            "actor_id": actor.person_id, "actor": actor.label, "unit_id": unit_id,
            "note": None, "data": data, "at": now}
