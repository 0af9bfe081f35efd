"""The intake desk chat: a pasted or forwarded message is filed like any other intake.

Everything goes through ``routing.pipeline.file_items`` (the same path as ``duban intake``);
the chat only builds the items. ``external_id`` is ``"<chat>:<message>"`` (``#n`` added
when one message holds several), so a message delivered twice is filed once.
"""

from __future__ import annotations

import logging
import re

from sqlmodel import col, select

from bots import render
from bots.messages import IncomingMessage, Reply
from bots.outbox import record_answered
from intake.items import IntakeItem
from intake.outcome import IntakeOutcome, summary_text
from intake.paste import parse_instruction, split_pasted
from ledger.models import Notification, NotificationStatus, Person, SourceKind, Ticket
from routing.context import RoutingContext
from routing.pipeline import file_items

logger = logging.getLogger(__name__)

_TAGS = "网民留言|群众来信|批示件|批示|来信|留言|来电记录|来电|其他"
# 【批示件】 or 批示件： — a tag needs its brackets or a colon ("来电话说……" is no tag)
_SOURCE_TAG = re.compile(rf"^\s*(?:[【\[]({_TAGS})[】\]]\s*[:：]?|({_TAGS})\s*[:：])\s*")


def source_of(text: str) -> tuple[SourceKind, str]:
    """A leading tag (``批示件：``, ``【来信】``) names the source; the rest is the message."""
    match = _SOURCE_TAG.match(text)
    if match is None:
        return SourceKind.ONLINE, text
    tag = match.group(1) or match.group(2)
    kind = SourceKind.OTHER if tag.startswith("来电") else SourceKind.parse(tag)  # phone notes
    return kind, text[match.end() :]


def build_items(msg: IncomingMessage, person: Person) -> list[IntakeItem]:
    """The ``IntakeItem`` s for one chat message (a forwarded message is always one)."""
    kind, body = source_of(msg.text)
    texts = [body.strip()] if msg.forwarded_from or msg.forwarded_at else split_pasted(body)
    texts = [t for t in texts if _has_words(t)]
    items = []
    for index, piece in enumerate(texts, start=1):
        # each pasted piece may carry its own tag; the message's first tag is the default
        own, text = source_of(piece) if _SOURCE_TAG.match(piece) else (kind, piece)
        text = text.strip()
        has_limit, days = (
            parse_instruction(text) if own == SourceKind.INSTRUCTION else (False, None)
        )
        suffix = f"#{index}" if len(texts) > 1 else ""
        items.append(
            IntakeItem(
                text=text,
                source_kind=own,
                channel=msg.platform,
                external_id=f"{msg.chat_id}:{msg.message_id}{suffix}",
                received_at=msg.forwarded_at or msg.received_at,
                submitter=person.code,
                forwarded_from=msg.forwarded_from,
                has_time_limit=has_limit,
                time_limit_days=days,
                row=index if len(texts) > 1 else None,
            )
        )
    return items


def _has_words(text: str) -> bool:
    """Anything to file: a letter, a digit or a Chinese character (not only 👍 or ``---``)."""
    return any(ch.isalnum() for ch in text)


def file_message(ctx: RoutingContext, msg: IncomingMessage, person: Person) -> list[Reply]:
    """File the message; one answer per item (ticket, unit, deadline, confidence)."""
    items = build_items(msg, person)
    if not items:
        return [Reply("【未登记】内容为空（没有文字），未立项")]
    summary = file_items(ctx, items)
    logger.info(
        "intake chat %s:%s filed %d item(s): %d opened, %d triage, %d duplicates",
        msg.platform,
        msg.chat_id,
        summary.received,
        summary.opened,
        summary.triage,
        summary.duplicates,
    )
    numbers = [o.ticket for o in summary.outcomes if o.ticket]
    ids = _ticket_ids(ctx, numbers)
    _answered_here(
        ctx,
        msg,
        [
            ids[o.ticket]
            for o in summary.outcomes
            if o.status == IntakeOutcome.TRIAGE and o.ticket in ids
        ],
    )
    replies = []
    if len(summary.outcomes) > 1:
        replies.append(Reply(summary_text(summary)))
    for outcome in summary.outcomes:
        text, actions = render.outcome_text(outcome)
        replies.append(Reply(text, actions=actions, ticket_id=ids.get(outcome.ticket or "")))
    return replies


def _answered_here(ctx: RoutingContext, msg: IncomingMessage, ticket_ids: list[int]) -> None:
    """The triage notices just written for these tickets are answered in this chat now."""
    if not ticket_ids:
        return
    with ctx.session() as session:
        notes = session.exec(
            select(Notification)
            .where(col(Notification.ticket_id).in_(ticket_ids))
            .where(Notification.kind == "triage")
            .where(Notification.status == NotificationStatus.PENDING)
        )
        for note in list(notes):
            record_answered(
                session, note, platform=msg.platform, chat_id=msg.chat_id, now=ctx.now()
            )


def _ticket_ids(ctx: RoutingContext, numbers: list[str]) -> dict[str, int]:
    if not numbers:
        return {}
    with ctx.session() as session:
        rows = session.exec(select(Ticket.number, Ticket.id).where(Ticket.number.in_(numbers)))  # type: ignore[attr-defined]
        return {number: ticket_id for number, ticket_id in rows}
