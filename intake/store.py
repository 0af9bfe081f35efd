"""Accepting items into the ledger: clean, normalise, dedupe, redact, store.

Nothing accepted is lost: every item either becomes a stored ``Message`` (new or a
重复件 linked to its original) or is reported back with the reason it was refused.
The caller commits; routing happens after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from classifier.normalise import normalise_text
from intake.clean import raw_rejection, rejection
from intake.dedupe import DuplicateFinder, add_bands, fingerprint
from intake.items import IntakeItem
from intake.redact import redact
from ledger.messages import add_message
from ledger.models import Message, MessageStatus
from ledger.policy import Policy

logger = logging.getLogger(__name__)

NEW, KNOWN, DUPLICATE, REJECTED = "new", "known", "duplicate", "rejected"


@dataclass
class Accepted:
    """What became of one item."""

    item: IntakeItem
    status: str  # new | known | duplicate | rejected
    message_id: int | None = None
    original_id: int | None = None  # for a duplicate: the first message of the complaint
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


def accept(
    session: Session, items: Iterable[IntakeItem], *, policy: Policy, now: datetime
) -> list[Accepted]:
    """Store ``items``; returns one ``Accepted`` per item, in order. The caller commits."""
    batch = list(items)
    known = _known_ids(session, batch)
    finder = DuplicateFinder(session, policy.routing.duplicate_window_days,
                             policy.routing.near_duplicate_similarity)
    results = []
    for item in batch:
        results.append(_accept_one(session, item, known, finder, policy=policy, now=now))
    session.flush()
    return results


def _known_ids(session: Session, batch: list[IntakeItem]) -> dict[tuple[str, str], int]:
    keys = {(i.channel, i.external_id) for i in batch if i.external_id}
    if not keys:
        return {}
    found: dict[tuple[str, str], int] = {}
    for channel in {channel for channel, _ in keys}:
        ids = [external for ch, external in keys if ch == channel]
        for start in range(0, len(ids), 500):
            rows = session.exec(
                select(Message.id, Message.external_id)
                .where(Message.channel == channel)
                .where(col(Message.external_id).in_(ids[start:start + 500]))
            )
            found.update({(channel, external): mid for mid, external in rows})
    return found


def _accept_one(
    session: Session,
    item: IntakeItem,
    known: dict[tuple[str, str], int],
    finder: DuplicateFinder,
    *,
    policy: Policy,
    now: datetime,
) -> Accepted:
    warnings = list(item.warnings)
    if item.reject_reason:
        return Accepted(item, REJECTED, reason=item.reject_reason, warnings=warnings)
    key = (item.channel, item.external_id) if item.external_id else None
    if key and key in known:
        return Accepted(item, KNOWN, message_id=known[key], warnings=warnings)
    raw_text = item.text or ""
    unreadable = raw_rejection(f"{item.title or ''}\n{raw_text}")
    if unreadable:
        return Accepted(item, REJECTED, reason=unreadable, warnings=warnings)
    text = normalise_text(raw_text)
    title = normalise_text(item.title) or None
    if not text and title and len(title) >= 8:  # some exports put the message in the title
        text, title = title, None
    reason = rejection(f"{item.title or ''}\n{raw_text}", text,
                       max_chars=policy.intake.max_message_chars)
    if reason:
        return Accepted(item, REJECTED, reason=reason, warnings=warnings)
    received_at = item.received_at or now
    fp = fingerprint(text, title)
    original = finder.find(fp, received_at)
    unit_text = None
    if policy.intake.redact_for_units:
        names = [item.complainant_name or ""]
        contacts = [item.complainant_contact or ""]
        shown = f"{title}\n{text}" if title else text
        unit_text = redact(shown, names=names, contacts=contacts)
    extra = {"forwarded_from": item.forwarded_from} if item.forwarded_from else None
    message = add_message(
        session,
        source_kind=item.source_kind,
        channel=item.channel,
        external_id=item.external_id,
        received_at=received_at,
        submitter=item.submitter,
        title=title,
        raw_text=raw_text if not item.title else f"{item.title}\n{raw_text}",
        text=text,
        unit_text=unit_text,
        content_hash=fp.content_hash,
        now=now,
        has_time_limit=item.has_time_limit,
        time_limit_days=item.time_limit_days,
        complainant_name=item.complainant_name,
        complainant_contact=item.complainant_contact,
        complainant_extra=extra,
    )
    message.core_hash = fp.core_hash
    add_bands(session, message, fp)
    if key:
        known[key] = message.id
    if original is not None:
        message.duplicate_of_id = original.id
        message.status = MessageStatus.DUPLICATE.value
        session.add(message)
        session.flush()
        return Accepted(item, DUPLICATE, message_id=message.id, original_id=original.id,
                        warnings=warnings)
    session.flush()
    return Accepted(item, NEW, message_id=message.id, warnings=warnings)
