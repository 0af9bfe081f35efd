"""Read-only views of tickets as plain data, shared by the CLI, the bots and reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ledger.deadlines import DeadlineRules
from ledger.models import (
    SOURCE_LABELS,
    Message,
    Person,
    SourceKind,
    Ticket,
    TicketState,
    Unit,
)
from ledger.states import OPEN_STATES
from ledger.tickets import events_of, extensions_of, replies_of


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """Still owing an answer after the end of its due day."""
    return TicketState(ticket.state) in OPEN_STATES and now > ticket.due_at


def ticket_row(
    ticket: Ticket, *, units: dict[int, Unit], rules: DeadlineRules, now: datetime
) -> dict[str, Any]:
    """The one-line summary of a ticket."""
    unit = units.get(ticket.unit_id) if ticket.unit_id is not None else None
    state = TicketState(ticket.state)
    owing = state in OPEN_STATES
    return {
        "number": ticket.number,
        "state": state.value,
        "state_label": state.label,
        "unit": unit.code if unit else None,
        "unit_name": unit.short_name if unit else None,
        "source": ticket.source_kind,
        "source_label": SOURCE_LABELS[SourceKind(ticket.source_kind)],
        "opened_at": ticket.opened_at,
        "due_date": ticket.due_date,
        "due_at": ticket.due_at,
        "deadline_provisional": ticket.deadline_provisional,
        "workdays_left": rules.workdays_left(ticket.due_date, now) if owing else None,
        "overdue": is_overdue(ticket, now),
        "routed_by": ticket.routed_by,
        "confidence": ticket.confidence,
        "escalated": ticket.escalated_at is not None,
        "version": ticket.version,  # what a caller saw: steps refuse a stale one
    }


def ticket_detail(
    session: Session,
    ticket: Ticket,
    *,
    rules: DeadlineRules,
    now: datetime,
    for_unit: bool,
) -> dict[str, Any]:
    """Everything about a ticket. ``for_unit`` masks the complainant's personal data."""
    units = {unit.id: unit for unit in session.exec(select(Unit))}
    message = session.get(Message, ticket.message_id)
    assert message is not None
    row = ticket_row(ticket, units=units, rules=rules, now=now)
    people = {person.id: person for person in session.exec(select(Person))}
    if for_unit and message.unit_text is not None:  # masked, title included
        text, title = message.unit_text, None
    else:
        text, title = message.text, message.title
    row.update(
        message={
            "id": message.id,
            "title": title,
            "text": text,
            "received_at": message.received_at,
            "channel": message.channel,
            "external_id": None if for_unit else message.external_id,
        },
        original_due_date=ticket.original_due_date,
        limit_days=ticket.limit_days,
        extension_days=ticket.extension_days,
        acknowledged_at=ticket.acknowledged_at,
        replied_at=ticket.replied_at,
        verified_at=ticket.verified_at,
        closed_at=ticket.closed_at,
        classifier_version=ticket.classifier_version,
        suggestions=ticket.suggestions,
        quality_score=ticket.quality_score,
        duplicate_count=ticket.duplicate_count,
        replies=[
            {
                "text": r.text,
                "at": r.created_at,
                "round": r.round,
                "quality": r.quality,
                "author": _name(people, r.author_id),
            }
            for r in replies_of(session, ticket)
        ],
        extensions=[
            {
                "days": x.days,
                "reason": x.reason,
                "status": x.status,
                "requested_at": x.requested_at,
                "requested_by": _name(people, x.requested_by_id),
                "decided_at": x.decided_at,
                "decided_by": _name(people, x.decided_by_id),
                "granted_days": x.granted_days,
                "old_due_date": x.old_due_date,
                "new_due_date": x.new_due_date,
            }
            for x in extensions_of(session, ticket)
        ],
    )
    return row


def event_rows(session: Session, ticket: Ticket) -> list[dict[str, Any]]:
    from ledger.tickets import ACTION_LABELS

    return [
        {
            "at": e.at,
            "action": e.action,
            "action_label": ACTION_LABELS.get(e.action, e.action),
            "from_state": e.from_state,
            "to_state": e.to_state,
            "actor": e.actor,
            "note": e.note,
            "data": e.data,
        }
        for e in events_of(session, ticket)
    ]


def _name(people: dict[int, Person], person_id: int | None) -> str | None:
    if person_id is None:
        return None
    person = people.get(person_id)
    return person.name if person else None
