"""Outbox rows for the bots: workers and commands write them, bot processes deliver them.

Each row names its audience (a unit's chats, the supervisors, the intake desk) rather than
a chat, so one row reaches every platform the office runs. ``dedupe_key`` is unique: the
same notice is never written twice, so a job that runs again writes nothing new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ledger.deadlines import DeadlineRules
from ledger.models import SOURCE_LABELS, Message, Notification, SourceKind, Ticket, Unit

AUDIENCE_UNIT = "unit"
AUDIENCE_SUPERVISORS = "supervisors"
AUDIENCE_INTAKE = "intake"

PREVIEW_CHARS = 300


def write(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    audience: str,
    text: str,
    now: datetime,
    unit_id: int | None = None,
    ticket: Ticket | None = None,
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> Notification | None:
    """Add one outbox row unless one with the same key exists; returns it, or None."""
    existing = session.exec(
        select(Notification.id).where(Notification.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return None
    row = Notification(
        dedupe_key=dedupe_key,
        kind=kind,
        audience=audience,
        unit_id=unit_id,
        ticket_id=ticket.id if ticket is not None else None,
        text=text,
        payload=payload or {},
        created_at=now,
        not_before=not_before or now,
    )
    session.add(row)
    session.flush()
    return row


def deadline_phrase(ticket: Ticket, rules: DeadlineRules, now: datetime) -> str:
    left = rules.workdays_left(ticket.due_date, now)
    provisional = "（临时时限）" if ticket.deadline_provisional else ""
    if now > ticket.due_at:
        return f"{ticket.due_date.isoformat()}（已超期 {max(-left, 1)} 个工作日）{provisional}"
    return f"{ticket.due_date.isoformat()}（剩 {left} 个工作日）{provisional}"


def card_text(
    session: Session, ticket: Ticket, *, rules: DeadlineRules, now: datetime, heading: str
) -> str:
    """The 交办 card a unit receives: number, masked content, source, deadline, days left."""
    message = session.get(Message, ticket.message_id)
    assert message is not None
    if message.unit_text is not None:  # masked for units, title included
        content, title = message.unit_text, ""
    else:
        content = message.text
        title = f"标题：{message.title}\n" if message.title else ""
    if len(content) > PREVIEW_CHARS:
        content = content[:PREVIEW_CHARS] + "……（全文：/详情 " + ticket.number + "）"
    return (
        f"【{heading}】{ticket.number}\n"
        f"来源：{SOURCE_LABELS[SourceKind(ticket.source_kind)]}　"
        f"收件：{rules.local_date(message.received_at).isoformat()}\n"
        f"办理时限：{deadline_phrase(ticket, rules, now)}\n"
        f"{title}内容：{content}\n"
        f"操作：/签收 {ticket.number}　/回复 {ticket.number} 内容　"
        f"/延期 {ticket.number} 天数 理由　/退回 {ticket.number} 理由"
    )


def unit_actions(ticket: Ticket) -> list[dict[str, str]]:
    """Buttons a platform may offer on a unit card (plain commands work everywhere)."""
    return [
        {"label": "签收", "command": f"/签收 {ticket.number}"},
        {"label": "回复", "command": f"/回复 {ticket.number} "},
        {"label": "申请延期", "command": f"/延期 {ticket.number} "},
        {"label": "退回", "command": f"/退回 {ticket.number} "},
    ]


def assigned(
    session: Session, ticket: Ticket, *, rules: DeadlineRules, now: datetime, event_id: int
) -> Notification | None:
    """交办: the card to the unit's chats."""
    return write(
        session,
        dedupe_key=f"assigned:{ticket.id}:{event_id}",
        kind="assigned",
        audience=AUDIENCE_UNIT,
        unit_id=ticket.unit_id,
        ticket=ticket,
        text=card_text(session, ticket, rules=rules, now=now, heading="交办"),
        payload={"ticket": ticket.number, "actions": unit_actions(ticket)},
        now=now,
    )


def unit_name(session: Session, unit_id: int | None) -> str:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    return unit.short_name if unit else "（无）"
