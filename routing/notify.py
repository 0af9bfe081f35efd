"""Outbox rows for the bots: workers and commands write them, bot processes deliver them.

Each row names its audience (a unit's chats, the supervisors, the intake desk) rather than
a chat, so one row reaches every platform the office runs. ``dedupe_key`` is unique: the
same notice is never written twice, so a job that runs again writes nothing new.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from intake.display import for_reading
from ledger.deadlines import DeadlineRules
from ledger.models import (
    SOURCE_LABELS,
    Audience,
    Message,
    Notification,
    SourceKind,
    Ticket,
    Unit,
)
from ledger.outbox import add_notification, add_notifications, notification_row

OUTBOX_CHANNEL = "duban:outbox"  # Redis pub/sub: "the outbox has new rows"

PREVIEW_CHARS = 300


def write(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    audience: Audience,
    text: str,
    now: datetime,
    unit_id: int | None = None,
    ticket: Ticket | None = None,
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> Notification | None:
    """Add one outbox row unless one with the same key exists; returns it, or None."""
    return add_notification(
        session,
        dedupe_key=dedupe_key,
        kind=kind,
        audience=audience,
        unit_id=unit_id,
        ticket_id=ticket.id if ticket is not None else None,
        text=text,
        payload=payload,
        now=now,
        not_before=not_before,
    )


def to_unit(
    session: Session, ticket: Ticket, *, kind: str, key: str, text: str, now: datetime
) -> Notification | None:
    """A notice to the chats of the ticket's unit (dedupe key ``<kind>:<ticket>:<key>``)."""
    return write(
        session,
        dedupe_key=f"{kind}:{ticket.id}:{key}",
        kind=kind,
        audience=Audience.UNIT,
        unit_id=ticket.unit_id,
        ticket=ticket,
        now=now,
        text=text,
        payload={"ticket": ticket.number},
    )


def row(
    *,
    dedupe_key: str,
    kind: str,
    audience: Audience,
    text: str,
    now: datetime,
    unit_id: int | None = None,
    ticket_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An outbox row for a bulk insert (see ``insert_rows``)."""
    return notification_row(
        dedupe_key=dedupe_key,
        kind=kind,
        audience=audience,
        unit_id=unit_id,
        ticket_id=ticket_id,
        text=text,
        payload=payload,
        now=now,
    )


def insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert outbox rows; one whose key is taken is skipped."""
    add_notifications(session, rows)


def deadline_phrase(ticket: Ticket, rules: DeadlineRules, now: datetime) -> str:
    return phrase_for(ticket.due_date, ticket.due_at, ticket.deadline_provisional, rules, now)


def phrase_for(
    due_date: date, due_at: datetime, provisional: bool, rules: DeadlineRules, now: datetime
) -> str:
    """ "2026-12-07（剩 5 个工作日）" or "…（已超期 2 个工作日）"."""
    left = rules.workdays_left(due_date, now)
    note = "（临时时限）" if provisional else ""
    if now > due_at:
        return f"{due_date.isoformat()}（已超期 {max(-left, 1)} 个工作日）{note}"
    return f"{due_date.isoformat()}（剩 {left} 个工作日）{note}"


def card_text(
    session: Session, ticket: Ticket, *, rules: DeadlineRules, now: datetime, heading: str
) -> str:
    """The 交办 card a unit receives: number, masked content, source, deadline, days left."""
    message = session.get(Message, ticket.message_id)
    assert message is not None
    return compose_card(
        heading=heading,
        number=ticket.number,
        source_kind=ticket.source_kind,
        received_on=rules.local_date(message.received_at),
        deadline=deadline_phrase(ticket, rules, now),
        title=message.title,
        text=message.text,
        unit_text=message.unit_text,
    )


def compose_card(
    *,
    heading: str,
    number: str,
    source_kind: str,
    received_on: date,
    deadline: str,
    title: str | None,
    text: str,
    unit_text: str | None,
) -> str:
    if unit_text is not None:  # masked for units, title included
        content, title_line = unit_text, ""
    else:
        content = for_reading(text)
        title_line = f"标题：{for_reading(title)}\n" if title else ""
    if len(content) > PREVIEW_CHARS:
        content = content[:PREVIEW_CHARS] + "……（全文：/详情 " + number + "）"
    return (
        f"【{heading}】{number}\n"
        f"来源：{SOURCE_LABELS[SourceKind(source_kind)]}　收件：{received_on.isoformat()}\n"
        f"办理时限：{deadline}\n"
        f"{title_line}内容：{content}\n"
        f"操作：/签收 {number}　/回复 {number} 内容　/延期 {number} 天数 理由　/退回 {number} 理由"
    )


def unit_actions(ticket: Ticket | str) -> list[dict[str, str]]:
    """Buttons a platform may offer on a unit card (plain commands work everywhere)."""
    number = ticket if isinstance(ticket, str) else ticket.number
    return [
        {"label": "签收", "command": f"/签收 {number}"},
        {"label": "回复", "command": f"/回复 {number} "},
        {"label": "申请延期", "command": f"/延期 {number} "},
        {"label": "退回", "command": f"/退回 {number} "},
    ]


def assigned(
    session: Session, ticket: Ticket, *, rules: DeadlineRules, now: datetime, event_id: int
) -> Notification | None:
    """交办: the card to the unit's chats."""
    return write(
        session,
        dedupe_key=f"assigned:{ticket.id}:{event_id}",
        kind="assigned",
        audience=Audience.UNIT,
        unit_id=ticket.unit_id,
        ticket=ticket,
        text=card_text(session, ticket, rules=rules, now=now, heading="交办"),
        payload={"ticket": ticket.number, "actions": unit_actions(ticket)},
        now=now,
    )


def unit_name(session: Session, unit_id: int | None) -> str:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    return unit.short_name if unit else "（无）"
