"""Outbox rows for the chats a check-in group names (not an audience of the ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from ledger.models import Audience, Notification, NotificationStatus
from ledger.outbox import add_delivery, add_notification


def post_to_chats(
    session: Session,
    *,
    dedupe_key: str,
    kind: str,
    text: str,
    chats: list[tuple[str, str]],
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> Notification | None:
    """An outbox row for named chats (a check-in group's): written queued with one
    delivery per chat, so the planner does not fan it out to an audience. None when the
    key was taken."""
    row = add_notification(
        session,
        dedupe_key=dedupe_key,
        kind=kind,
        audience=Audience.SUPERVISORS,
        text=text,
        now=now,
        payload=payload,
    )
    if row is None:
        return None
    assert row.id is not None
    row.status = NotificationStatus.QUEUED
    session.add(row)
    for platform, chat_id in chats:
        add_delivery(session, notification_id=row.id, platform=platform, chat_id=chat_id, now=now)
    return row
