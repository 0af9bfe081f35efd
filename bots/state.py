"""Conversation state, all in the database: cards, drafts, the inbox, button keys, key-values.

Nothing here lives in adapter memory, so a restart (or a second process) sees the same state.
Functions take a keyword-only ``session`` and ``now``; the caller commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ledger.db import session_scope
from ledger.models import BotState, ChatButton, ChatCard, ChatDraft, ChatInbox, Ticket
from ledger.types import utcnow

DRAFT_TTL = timedelta(hours=2)

# -- key-value ---------------------------------------------------------------------------------


def get_value(session: Session, key: str) -> str | None:
    row = session.get(BotState, key)
    return row.value if row is not None else None


def set_value(session: Session, key: str, value: str, *, now: datetime) -> None:
    row = session.get(BotState, key)
    if row is None:
        row = BotState(key=key, value=value, updated_at=now)
    else:
        row.value, row.updated_at = value, now
    session.add(row)
    session.flush()


class AdapterState:
    """What an adapter keeps between runs (offset, sync token), and its button keys.

    Adapters call these from a thread (``asyncio.to_thread``); each call is one transaction.
    Keys are namespaced by platform: ``telegram:offset``, ``matrix:sync_token``.
    """

    def __init__(self, engine: Engine, platform: str) -> None:
        self.engine = engine
        self.platform = platform

    def get(self, name: str) -> str | None:
        with session_scope(self.engine) as session:
            return get_value(session, f"{self.platform}:{name}")

    def put(self, name: str, value: str) -> None:
        with session_scope(self.engine) as session:
            set_value(session, f"{self.platform}:{name}", value, now=utcnow())

    def button_key(self, command: str) -> str:
        """A short key for a long button command (``k:`` + 10 characters)."""
        with session_scope(self.engine) as session:
            existing = session.exec(select(ChatButton).where(ChatButton.command == command)).first()
            if existing is not None:
                return f"k:{existing.key}"
            key = secrets.token_urlsafe(8)[:10]
            session.add(ChatButton(key=key, command=command, created_at=utcnow()))
        return f"k:{key}"

    def button_command(self, data: str) -> str | None:
        """The command behind a callback payload: a ``k:`` key, or the command itself."""
        if not data.startswith("k:"):
            return data
        with session_scope(self.engine) as session:
            row = session.exec(select(ChatButton).where(ChatButton.key == data[2:])).first()
            return row.command if row is not None else None


# -- cards: sent message -> ticket -------------------------------------------------------------


def record_card(
    session: Session,
    *,
    platform: str,
    chat_id: str,
    message_id: str,
    ticket_id: int,
    now: datetime,
) -> None:
    exists = session.exec(
        select(ChatCard.id)
        .where(ChatCard.platform == platform)
        .where(ChatCard.chat_id == chat_id)
        .where(ChatCard.message_id == message_id)
    ).first()
    if exists is None:
        session.add(
            ChatCard(
                platform=platform,
                chat_id=chat_id,
                message_id=message_id,
                ticket_id=ticket_id,
                created_at=now,
            )
        )
        session.flush()


def record_cards(
    session: Session, cards: list[tuple[str, str, str, int]], *, now: datetime
) -> None:
    """Several ``(platform, chat_id, message_id, ticket_id)`` at once (the hub's sent answers)."""
    for platform, chat_id, message_id, ticket_id in cards:
        record_card(
            session,
            platform=platform,
            chat_id=chat_id,
            message_id=message_id,
            ticket_id=ticket_id,
            now=now,
        )


def ticket_of_card(
    session: Session, *, platform: str, chat_id: str, message_id: str
) -> Ticket | None:
    """The ticket a bot message was about, when someone replies to it."""
    card = session.exec(
        select(ChatCard)
        .where(ChatCard.platform == platform)
        .where(ChatCard.chat_id == chat_id)
        .where(ChatCard.message_id == message_id)
    ).first()
    return session.get(Ticket, card.ticket_id) if card is not None else None


# -- drafts: a command waiting for more text -----------------------------------------------------


def get_draft(
    session: Session, *, platform: str, chat_id: str, account_id: str, now: datetime
) -> ChatDraft | None:
    """The sender's open draft in this chat; one idle longer than ``DRAFT_TTL`` is dropped."""
    draft = session.exec(
        select(ChatDraft)
        .where(ChatDraft.platform == platform)
        .where(ChatDraft.chat_id == chat_id)
        .where(ChatDraft.account_id == account_id)
    ).first()
    if draft is not None and now - draft.updated_at > DRAFT_TTL:
        session.delete(draft)
        session.flush()
        return None
    return draft


def start_draft(
    session: Session,
    *,
    platform: str,
    chat_id: str,
    account_id: str,
    command: str,
    ticket_id: int | None,
    now: datetime,
) -> ChatDraft:
    """Open (or replace) the sender's draft in this chat."""
    drop_draft(session, platform=platform, chat_id=chat_id, account_id=account_id)
    draft = ChatDraft(
        platform=platform,
        chat_id=chat_id,
        account_id=account_id,
        command=command,
        ticket_id=ticket_id,
        parts=[],
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    return draft


def add_to_draft(session: Session, draft: ChatDraft, text: str, *, now: datetime) -> int:
    draft.parts = [*draft.parts, text]
    draft.updated_at = now
    session.add(draft)
    session.flush()
    return len(draft.parts)


def drop_draft(session: Session, *, platform: str, chat_id: str, account_id: str) -> bool:
    result = session.execute(
        delete(ChatDraft)
        .where(col(ChatDraft.platform) == platform)
        .where(col(ChatDraft.chat_id) == chat_id)
        .where(col(ChatDraft.account_id) == account_id)
    )
    return bool(result.rowcount)


# -- inbox: each incoming message handled once ----------------------------------------------------


def claim(
    session: Session, *, platform: str, chat_id: str, message_id: str, now: datetime
) -> ChatInbox | None:
    """Record an incoming message, as the first write of ``session``'s transaction; None
    when it was handled already (or is being handled by another process right now).

    The caller handles the message in the same transaction and sets ``handled_at`` and
    ``outcome`` on the returned row before committing: the effects and the record commit
    together. A second process receiving the same message waits at the unique key (on
    SQLite at the write lock) and then finds it handled. A message recorded but never
    marked handled (a process died after committing the claim alone, see
    ``bots.work.own_transactions``) is handled again: the ledger's own checks (state
    machine, ``external_id``) make that safe.
    """
    row = ChatInbox(platform=platform, chat_id=chat_id, message_id=message_id, received_at=now)
    session.add(row)
    try:
        session.flush()
        return row
    except IntegrityError:
        session.rollback()
    found = session.exec(
        select(ChatInbox)
        .where(ChatInbox.platform == platform)
        .where(ChatInbox.chat_id == chat_id)
        .where(ChatInbox.message_id == message_id)
    ).first()
    if found is None or found.handled_at is not None:
        return None
    taken = session.execute(  # take the row (and the write lock) before handling it again
        update(ChatInbox)
        .where(col(ChatInbox.id) == found.id)
        .where(col(ChatInbox.handled_at).is_(None))
        .values(received_at=found.received_at)
    )
    return found if isinstance(taken, CursorResult) and taken.rowcount else None


def mark_handled(session: Session, row: ChatInbox, *, outcome: str, now: datetime) -> None:
    row.handled_at, row.outcome = now, outcome
    session.add(row)
    session.flush()


def prune_inbox(engine: Engine, *, before: datetime) -> int:
    """Forget handled messages older than ``before`` (platforms never re-deliver those)."""
    with session_scope(engine) as session:
        result = session.execute(
            delete(ChatInbox)
            .where(col(ChatInbox.received_at) < before)
            .where(col(ChatInbox.handled_at).is_not(None))
        )
        return int(result.rowcount or 0)


# -- refusals: at most one per chat per interval ------------------------------------------------


def may_refuse(
    session: Session, *, platform: str, chat_id: str, now: datetime, every: timedelta
) -> bool:
    """True (and remembered) when this chat has not been refused within ``every``."""
    key = f"refusal:{platform}:{chat_id}"
    last = get_value(session, key)
    if last is not None and now - datetime.fromisoformat(last) < every:
        return False
    set_value(session, key, now.isoformat(), now=now)
    return True
