"""From items to tickets: intake stores and commits, then routing opens the tickets.

With a queue (``DUBAN_REDIS_URL``) each new message is routed by an rq job
(``routing.jobs.route_message``) after the commit; without one the same function runs
inline. If the queue cannot be reached the message stays stored as *received* and the
sweeper enqueues it later: nothing accepted is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlmodel import Session, col, select

from intake.items import IntakeItem
from intake.store import DUPLICATE, KNOWN, NEW, REJECTED, Accepted, accept
from ledger import tickets as T
from ledger.directory import list_units
from ledger.models import Message, MessageStatus, Ticket, TicketState
from routing import notify
from routing.context import RoutingContext
from routing.router import Decision, UnitIndex, decide

logger = logging.getLogger(__name__)

ROUTER = T.Actor.system("router")
CHUNK = 500


@dataclass
class ItemOutcome:
    row: int | None
    status: str  # opened | triage | duplicate | known | rejected | queued
    ticket: str | None = None
    unit: str | None = None
    unit_name: str | None = None
    confidence: float | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    due_date: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None
    message_id: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class IntakeSummary:
    received: int = 0
    opened: int = 0
    duplicates: int = 0
    triage: int = 0
    rejected: int = 0
    queued: int = 0
    known: int = 0
    outcomes: list[ItemOutcome] = field(default_factory=list)

    def add(self, outcome: ItemOutcome, *, keep: bool) -> None:
        self.received += 1
        key = {"opened": "opened", "triage": "triage", "duplicate": "duplicates",
               "rejected": "rejected", "queued": "queued", "known": "known"}[outcome.status]
        setattr(self, key, getattr(self, key) + 1)
        if keep or outcome.status == "rejected" or outcome.warnings:
            self.outcomes.append(outcome)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected_rows"] = [
            {"row": o.row, "reason": o.reason} for o in self.outcomes if o.status == "rejected"
        ]
        return data


# -- filing -----------------------------------------------------------------------------------


def file_items(
    ctx: RoutingContext, items: Iterable[IntakeItem], *, keep_outcomes: bool = True
) -> IntakeSummary:
    """Store and route ``items`` in chunks (memory stays flat on big imports).

    ``keep_outcomes=False`` keeps only rejected rows and rows with warnings in the summary.
    """
    summary = IntakeSummary()
    iterator = iter(items)
    while chunk := list(islice(iterator, CHUNK)):
        for outcome in _file_chunk(ctx, chunk):
            summary.add(outcome, keep=keep_outcomes)
    return summary


def _file_chunk(ctx: RoutingContext, chunk: list[IntakeItem]) -> list[ItemOutcome]:
    now = ctx.now()
    with ctx.session() as session:
        accepted = accept(session, chunk, policy=ctx.policy, now=now)
    # Committed: from here on nothing of this chunk can be lost.
    to_route = [a.message_id for a in accepted if a.status in (NEW, DUPLICATE)]
    routed: dict[int, ItemOutcome] = {}
    if to_route:
        queue = ctx.queue()
        if queue is None:
            routed = {o.message_id: o for o in route_messages(ctx, to_route)}
        else:
            enqueue_routing(ctx, queue, to_route)
    return [_outcome(a, routed) for a in accepted]


def _outcome(accepted: Accepted, routed: dict[int, ItemOutcome]) -> ItemOutcome:
    item = accepted.item
    if accepted.status == REJECTED:
        return ItemOutcome(row=item.row, status="rejected", reason=accepted.reason,
                           warnings=accepted.warnings)
    if accepted.status == KNOWN:
        return ItemOutcome(row=item.row, status="known", message_id=accepted.message_id,
                           reason="已导入过（相同编号），未重复登记")
    outcome = routed.get(accepted.message_id or -1)
    if outcome is None:  # routed by a job later
        return ItemOutcome(row=item.row, status="queued", message_id=accepted.message_id,
                           warnings=accepted.warnings)
    outcome.row = item.row
    outcome.warnings = accepted.warnings
    return outcome


def enqueue_routing(ctx: RoutingContext, queue: Any, message_ids: list[int]) -> int:
    """Enqueue one routing job per message; returns how many were enqueued.

    A failure to reach Redis is logged, not raised: the messages are committed and the
    sweeper (``routing.sweeper``) enqueues them again once the queue is back.
    """
    from routing.jobs import enqueue_route

    done = 0
    for message_id in message_ids:
        if not enqueue_route(queue, message_id):
            logger.warning("queue unreachable: %d message(s) left for the sweeper",
                           len(message_ids) - done)
            break
        done += 1
    return done


# -- routing ------------------------------------------------------------------------------------


def route_messages(ctx: RoutingContext, message_ids: list[int]) -> list[ItemOutcome]:
    """Open (or find) the ticket of each message: idempotent, one transaction per call.

    Running it twice for a message makes one ticket; a message that is a 重复件 joins its
    original's ticket once that exists.
    """
    now = ctx.now()
    predictor = ctx.predictor()
    with ctx.session() as session:
        units = UnitIndex(list_units(session))
        messages = _load(session, message_ids)
        fresh = [m for m in messages if m.status == MessageStatus.RECEIVED.value]
        existing = _tickets_of(session, [m.id for m in messages])
        fresh = [m for m in fresh if m.id not in existing]
        decisions = decide(fresh, units=units, rules=ctx.route_rules(), predictor=predictor,
                           threshold=ctx.policy.routing.confidence_threshold)
        outcomes: dict[int, ItemOutcome] = {}
        for message, decision in zip(fresh, decisions, strict=True):
            ticket = _open(session, message, decision, ctx=ctx, now=now)
            existing[message.id] = ticket
            outcomes[message.id] = _ticket_outcome(ticket, decision, units)
        for message in messages:
            if message.id in outcomes:
                continue
            if message.duplicate_of_id is not None:
                outcomes[message.id] = _link(session, message, ctx=ctx, now=now)
            elif message.id in existing:
                outcomes[message.id] = _existing_outcome(existing[message.id], units)
        _link_waiting(session, [m.id for m in fresh], ctx=ctx, now=now)
    return [outcomes[m.id] for m in messages if m.id in outcomes]


def _load(session: Session, ids: list[int]) -> list[Message]:
    found: list[Message] = []
    for start in range(0, len(ids), 900):
        found.extend(session.exec(
            select(Message).where(col(Message.id).in_(ids[start:start + 900]))
            .order_by(col(Message.id))))
    return found


def _tickets_of(session: Session, message_ids: list[int]) -> dict[int, Ticket]:
    found: dict[int, Ticket] = {}
    for start in range(0, len(message_ids), 900):
        for ticket in session.exec(select(Ticket).where(
                col(Ticket.message_id).in_(message_ids[start:start + 900]))):
            found[ticket.message_id] = ticket
    return found


def _open(session: Session, message: Message, decision: Decision, *, ctx: RoutingContext,
          now: datetime) -> Ticket:
    ticket = T.open_ticket(session, message, rules=ctx.rules, now=now, actor=ROUTER)
    ticket.suggestions = decision.suggestions
    ticket.confidence = decision.confidence
    ticket.classifier_version = decision.classifier_version
    if decision.unit is not None:
        event = T.assign(session, ticket, decision.unit, actor=ROUTER, now=now,
                         routed_by=decision.routed_by,
                         classifier_version=decision.classifier_version,
                         confidence=decision.confidence)
        notify.assigned(session, ticket, rules=ctx.rules, now=now, event_id=event.id)
    else:
        ticket.routed_by = None
        session.add(ticket)
        triage_notice(session, ticket, ctx=ctx, now=now, reason="置信度不足，请人工分办")
    return ticket


def triage_notice(session: Session, ticket: Ticket, *, ctx: RoutingContext, now: datetime,
                  reason: str) -> None:
    """Tell the intake desk a ticket waits in the triage queue, with the top suggestions."""
    lines = [f"【待分办】{ticket.number}：{reason}"]
    message = session.get(Message, ticket.message_id)
    if message is not None:
        preview = message.text if len(message.text) <= 120 else message.text[:120] + "……"
        lines.append(f"内容：{preview}")
    actions = []
    for index, suggestion in enumerate(ticket.suggestions, start=1):
        lines.append(f"{index}. {suggestion['unit_name']}（{suggestion['confidence']:.0%}）")
        actions.append({"label": suggestion["unit_name"],
                        "command": f"/分办 {ticket.number} {suggestion['unit_name']}"})
    lines.append(f"分办：/分办 {ticket.number} 单位名称")
    notify.write(session, dedupe_key=f"triage:{ticket.id}:{ticket.version}", kind="triage",
                 audience=notify.AUDIENCE_INTAKE, ticket=ticket, now=now,
                 text="\n".join(lines), payload={"ticket": ticket.number, "actions": actions})


def _ticket_outcome(ticket: Ticket, decision: Decision, units: UnitIndex) -> ItemOutcome:
    unit = decision.unit
    return ItemOutcome(
        row=None,
        status="opened" if unit is not None else "triage",
        ticket=ticket.number,
        unit=unit.code if unit else None,
        unit_name=unit.short_name if unit else None,
        confidence=decision.confidence,
        suggestions=decision.suggestions,
        due_date=ticket.due_date.isoformat(),
        message_id=ticket.message_id,
    )


def _existing_outcome(ticket: Ticket, units: UnitIndex) -> ItemOutcome:
    unit = next((u for u in units.units if u.id == ticket.unit_id), None)
    in_triage = ticket.state in (TicketState.REGISTERED, TicketState.RETURNED)
    return ItemOutcome(
        row=None, status="triage" if in_triage else "opened", ticket=ticket.number,
        unit=unit.code if unit else None, unit_name=unit.short_name if unit else None,
        confidence=ticket.confidence, suggestions=ticket.suggestions,
        due_date=ticket.due_date.isoformat(), message_id=ticket.message_id,
    )


def _link(session: Session, message: Message, *, ctx: RoutingContext, now: datetime
          ) -> ItemOutcome:
    """A 重复件: add it to its original's ticket (once that ticket exists)."""
    original = session.exec(
        select(Ticket).where(Ticket.message_id == message.duplicate_of_id)).first()
    if original is None:  # the original is still being routed; it links this one later
        return ItemOutcome(row=None, status="duplicate", message_id=message.id)
    if message.status == MessageStatus.DUPLICATE.value:
        if original.state == TicketState.ARCHIVED:  # closed in between: keep it on record
            original.duplicate_count += 1
            T.comment(session, original, f"归档后又收到重复件（消息 {message.id}）",
                      actor=ROUTER, now=now, data={"message_id": message.id})
        else:
            T.link_duplicate(session, original, message, actor=ROUTER, now=now)
        message.status = MessageStatus.ROUTED.value
        session.add(message)
    return ItemOutcome(row=None, status="duplicate", duplicate_of=original.number,
                       ticket=original.number, message_id=message.id,
                       due_date=original.due_date.isoformat())


def _link_waiting(session: Session, original_ids: list[int], *, ctx: RoutingContext,
                  now: datetime) -> None:
    """Duplicates that arrived before their original had a ticket join it now."""
    if not original_ids:
        return
    waiting = session.exec(
        select(Message)
        .where(col(Message.duplicate_of_id).in_(original_ids))
        .where(Message.status == MessageStatus.DUPLICATE.value)
    ).all()
    for message in waiting:
        _link(session, message, ctx=ctx, now=now)


def chunks(values: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
