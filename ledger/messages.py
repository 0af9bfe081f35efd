"""Storing what was received. Intake normalises and hashes; the ledger keeps it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from ledger.errors import BadInput
from ledger.models import Complainant, Message, SourceKind


def add_message(
    session: Session,
    *,
    source_kind: SourceKind,
    channel: str,
    received_at: datetime,
    raw_text: str,
    text: str,
    content_hash: str,
    now: datetime,
    title: str | None = None,
    unit_text: str | None = None,
    external_id: str | None = None,
    submitter: str | None = None,
    has_time_limit: bool = False,
    time_limit_days: int | None = None,
    complainant_name: str | None = None,
    complainant_contact: str | None = None,
    complainant_extra: dict | None = None,
) -> Message:
    """Keep a message (and, apart from it, who sent it). The caller commits."""
    if not text.strip():
        raise BadInput("留言内容为空 (message text is empty)")
    if received_at.tzinfo is None:
        raise BadInput("received_at must be timezone-aware")
    message = Message(
        source_kind=source_kind.value,
        channel=channel,
        external_id=external_id,
        received_at=received_at,
        submitter=submitter,
        title=title,
        raw_text=raw_text,
        text=text,
        unit_text=unit_text,
        content_hash=content_hash,
        has_time_limit=has_time_limit or time_limit_days is not None,
        time_limit_days=time_limit_days,
        created_at=now,
    )
    session.add(message)
    session.flush()
    if complainant_name or complainant_contact or complainant_extra:
        session.add(
            Complainant(
                message_id=message.id,
                name=complainant_name,
                contact=complainant_contact,
                extra=complainant_extra or {},
            )
        )
        session.flush()
    return message


def find_by_external_id(session: Session, channel: str, external_id: str) -> Message | None:
    return session.exec(
        select(Message).where(Message.channel == channel).where(Message.external_id == external_id)
    ).first()


def complainant_of(session: Session, message: Message) -> Complainant | None:
    """Staff only: never put this in anything a unit receives."""
    return session.exec(select(Complainant).where(Complainant.message_id == message.id)).first()
