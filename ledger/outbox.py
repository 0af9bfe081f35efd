"""The one writer of the outbox: ``Notification`` rows and their ``ChatDelivery`` rows.

Every writer (routing, the desk, reports, the bots) goes through these functions, and each
is an insert-or-ignore on the table's unique keys (``INSERT … ON CONFLICT DO NOTHING`` on
SQLite and PostgreSQL): two processes writing the same row at the same moment leave one
row and no error. A check-then-insert would let both pass the check and one of them fail
on the unique constraint, rolling back everything else of its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from ledger.bulk import insert_plain
from ledger.models import (
    Audience,
    ChatDelivery,
    DeliveryStatus,
    Notification,
    NotificationStatus,
)

NOTIFICATION_KEYS = ("dedupe_key",)
DELIVERY_KEYS = ("notification_id", "platform", "chat_id")
ANSWERED_IN_CHAT = "answered in chat"


def notification_row(
    *,
    dedupe_key: str,
    kind: str,
    audience: Audience | str,
    text: str,
    now: datetime,
    unit_id: int | None = None,
    person_id: int | None = None,
    ticket_id: int | None = None,
    payload: dict[str, Any] | None = None,
    not_before: datetime | None = None,
) -> dict[str, Any]:
    """The values of one outbox row (for :func:`add_notification` / :func:`add_notifications`)."""
    return {
        "dedupe_key": dedupe_key,
        "kind": kind,
        "audience": Audience(audience).value,
        "unit_id": unit_id,
        "person_id": person_id,
        "ticket_id": ticket_id,
        "text": text,
        "payload": payload or {},
        "status": NotificationStatus.PENDING.value,
        "created_at": now,
        "not_before": not_before or now,
    }


def add_notification(session: Session, **values: Any) -> Notification | None:
    """Write one outbox row (keywords of :func:`notification_row`) unless its
    ``dedupe_key`` is taken; returns the new row, or None when it was there already."""
    new_id = _insert_ignore(session, Notification.__table__, notification_row(**values))
    return session.get(Notification, new_id) if new_id is not None else None


def add_notifications(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write many outbox rows (from :func:`notification_row`) in one statement; a row whose
    ``dedupe_key`` is taken is skipped."""
    session.flush()
    insert_plain(session, Notification.__table__, list(rows), ignore_conflicts=True)


def add_delivery(
    session: Session,
    *,
    notification_id: int,
    platform: str,
    chat_id: str,
    now: datetime,
    status: DeliveryStatus = DeliveryStatus.PENDING,
    last_error: str | None = None,
) -> bool:
    """Make the delivery of a notification to one chat unless it exists; True if made."""
    sent = status == DeliveryStatus.SENT
    new_id = _insert_ignore(
        session,
        ChatDelivery.__table__,
        {
            "notification_id": notification_id,
            "platform": platform,
            "chat_id": chat_id,
            "status": DeliveryStatus(status).value,
            "attempts": 0,
            "parts_sent": 0,
            "message_ids": [],
            "next_attempt_at": now,
            "sent_at": now if sent else None,
            "last_error": last_error,
            "created_at": now,
        },
    )
    return new_id is not None


def mark_answered(
    session: Session, notification_id: int, *, platform: str, chat_id: str, now: datetime
) -> None:
    """The bot has just said this notification's content in this chat (it answered the
    person who pasted the message): the chat's delivery is sent, whoever made it first.

    A delivery the outbox planned meanwhile and has not claimed yet is marked sent too; one
    it is already sending is left to it (the chat may then read the notice twice, never
    zero times)."""
    if add_delivery(
        session,
        notification_id=notification_id,
        platform=platform,
        chat_id=chat_id,
        now=now,
        status=DeliveryStatus.SENT,
        last_error=ANSWERED_IN_CHAT,
    ):
        return
    session.execute(
        update(ChatDelivery)
        .where(col(ChatDelivery.notification_id) == notification_id)
        .where(col(ChatDelivery.platform) == platform)
        .where(col(ChatDelivery.chat_id) == chat_id)
        .where(col(ChatDelivery.status) == DeliveryStatus.PENDING.value)
        .values(status=DeliveryStatus.SENT.value, sent_at=now, last_error=ANSWERED_IN_CHAT)
    )


def delivery_statuses(session: Session, notification_id: int) -> set[DeliveryStatus]:
    rows = session.exec(
        select(ChatDelivery.status).where(ChatDelivery.notification_id == notification_id)
    ).all()
    return {DeliveryStatus(status) for status in rows}


def _insert(session: Session, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"insert-or-ignore on {dialect}: SQLite and PostgreSQL only")


def _insert_ignore(session: Session, table: Table, values: dict[str, Any]) -> int | None:
    """Insert one row unless a unique key is taken; its new id, or None."""
    session.flush()  # rows added to the session go first, in order
    result = session.execute(_insert(session, table).values(values).returning(table.c.id))
    return result.scalar_one_or_none()
