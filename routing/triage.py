"""The triage queue: tickets no rule or model was sure about, and tickets sent back (退回)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from ledger.directory import list_units
from ledger.models import Message, Ticket, TicketState
from routing.context import RoutingContext
from routing.router import UnitIndex, decide

TRIAGE = (TicketState.REGISTERED.value, TicketState.RETURNED.value)


def suggest_again(session: Session, ticket: Ticket, ctx: RoutingContext) -> list[dict[str, Any]]:
    """After a 退回: the model's suggestions again, without the units that sent it back."""
    message = session.get(Message, ticket.message_id)
    assert message is not None
    decision = decide(
        [message],
        units=UnitIndex(list_units(session)),
        rules=None,
        predictor=ctx.predictor(),
        threshold=1.01,
        excluded={message.id: list(ticket.excluded_units)},
    )[0]
    ticket.suggestions = decision.suggestions
    session.add(ticket)
    return decision.suggestions


def resuggest_waiting(session: Session, predictor: Any, *, limit: int = 10_000) -> int:
    """After a promotion: the new model's suggestions for every ticket waiting in triage
    (registered or returned), never suggesting a unit that sent the ticket back. Returns
    how many tickets were updated."""
    if predictor is None:
        return 0
    tickets = session.exec(
        select(Ticket).where(col(Ticket.state).in_(TRIAGE)).order_by(col(Ticket.id)).limit(limit)
    ).all()
    if not tickets:
        return 0
    messages = {
        m.id: m
        for m in session.exec(
            select(Message).where(col(Message.id).in_([t.message_id for t in tickets]))
        )
    }
    waiting = [t for t in tickets if t.message_id in messages]
    decisions = decide(
        [messages[t.message_id] for t in waiting],
        units=UnitIndex(list_units(session)),
        rules=None,
        predictor=predictor,
        threshold=1.01,
        excluded={t.message_id: list(t.excluded_units or []) for t in waiting},
    )
    for ticket, decision in zip(waiting, decisions, strict=True):
        ticket.suggestions = decision.suggestions
        session.add(ticket)
    return len(waiting)
