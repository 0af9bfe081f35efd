"""Delivering the outbox: ``Notification`` rows -> one ``ChatDelivery`` per chat -> sent.

Workers and commands write ``Notification`` rows naming an audience (a unit, the
supervisors, the intake desk, a person). The bot process:

1. **plans** each pending notification whose ``not_before`` has passed: it resolves the
   audience to the bound chats on every platform this process runs and inserts one
   ``chat_delivery`` row per chat (unique per notification and chat), then marks the
   notification ``queued`` — or ``unbound`` when no chat is bound yet; binding a chat for
   that audience later (``duban bind``, ``/绑定``) puts it back to ``pending``;
2. **claims** a due delivery in its own transaction (``pending`` -> ``sending``, compare
   and set, so two processes never take the same row);
3. **sends** it part by part (long texts are split under the platform's limit and
   numbered). After each part it commits the part's platform message id, the next part's
   index and the card (message -> ticket, for reply-to), so a retry resumes after the last
   part sent instead of starting again;
4. marks it ``sent``; when every delivery of a notification is done the notification is
   ``sent`` (or ``failed`` if one failed for good).

Errors: ``SendFailed(retry_after=…)`` waits as the platform said; other retryable errors
(network, timeouts, unknown) back off exponentially (5 s, 10 s, … up to an hour) and are
retried for ever; ``SendFailed(permanent=True)`` (bot removed from the chat, chat gone)
marks the delivery ``failed`` with the reason and logs a WARNING; ``duban outbox retry``
queues it again. Nothing is dropped.

The guarantee, and the one window left: a delivery is never sent twice across a *clean*
restart — stop() lets the part in flight finish and be recorded. If the process dies
between the platform accepting a part and the commit recording it (one HTTP round trip),
the row is still ``sending``; after ``lease`` it is claimed again and that one part is
sent again (at-least-once: a duplicate card is visible and harmless, a lost one is not).
Platforms with idempotent sends close even that window: each part carries a stable
``idempotency_key`` (``d<delivery>-p<part>``), which the Matrix adapter uses as the
transaction id. The logs name notifications and chats, never the text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from bots import render, state
from bots.adapter import ChatAdapter
from bots.compose import compose
from bots.errors import SendFailed
from ledger.models import (
    Audience,
    ChatAccount,
    ChatBinding,
    ChatDelivery,
    DeliveryStatus,
    Notification,
    NotificationStatus,
    Ticket,
    TicketState,
)
from ledger.outbox import add_delivery, delivery_statuses, mark_answered
from ledger.states import TRIAGE_STATES, WORKING_STATES
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

REMINDER_KINDS = frozenset({"reminder", "overdue", "triage-overdue"})
# Notices that stop being true: a 待分办 notice once the unit is chosen, a unit's card once
# the ticket went elsewhere (a bot started after a day away must not flood the desk).
NOTICE_KINDS = frozenset({"triage", "assigned"})


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    lease: timedelta = timedelta(minutes=2)  # a 'sending' row older than this was interrupted
    base_backoff: float = 5.0  # seconds, doubled per attempt
    max_backoff: float = 3600.0
    batch: int = 50

    def backoff(self, attempts: int) -> float:
        return min(self.max_backoff, self.base_backoff * 2 ** max(attempts - 1, 0))


@dataclass(frozen=True, slots=True)
class Claim:
    delivery_id: int
    notification_id: int
    platform: str
    chat_id: str
    text: str
    payload: dict[str, Any]
    ticket_id: int | None
    parts_sent: int
    attempts: int


class Outbox:
    def __init__(
        self,
        ctx: RoutingContext,
        adapters: Mapping[str, ChatAdapter],
        *,
        policy: OutboxPolicy | None = None,
    ) -> None:
        self.ctx = ctx
        self.adapters = adapters  # the hub's: platform -> adapter (this process's platforms)
        self.policy = policy or OutboxPolicy()
        self._wake: asyncio.Event | None = None
        self._pass_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, interval: float = 0.5) -> None:
        """Deliver until ``stop`` is set; a pass every ``interval`` seconds or on ``wake()``."""
        self._wake = asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once(stop=stop)
            except Exception:  # the database may be away for a moment; try again next pass
                logger.exception("outbox pass failed; retrying in %.1f s", interval)
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()

    def wake(self) -> None:
        """Ask for a pass now (a handler has just written notifications)."""
        if self._wake is not None:
            self._wake.set()

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._pass_lock is None or self._pass_lock[0] is not loop:
            self._pass_lock = (loop, asyncio.Lock())
        return self._pass_lock[1]

    async def run_once(self, *, stop: asyncio.Event | None = None) -> int:
        """Plan what is due, then send every due delivery; returns how many were attempted.

        Passes in one process take turns: a :meth:`drain` called while the loop's pass is
        sending waits for it, so "drained" means the claimed deliveries were sent too."""
        async with self._lock():
            return await self._pass(stop)

    async def _pass(self, stop: asyncio.Event | None) -> int:
        await asyncio.to_thread(self.plan)
        attempted = 0
        for delivery_id in await asyncio.to_thread(self.due):
            if stop is not None and stop.is_set():
                break
            claim = await asyncio.to_thread(self.claim, delivery_id)
            if claim is not None:
                await self.deliver(claim)
                attempted += 1
        return attempted

    async def drain(self, *, rounds: int = 50) -> int:
        """Passes until nothing is due (deliveries waiting for a backoff stay waiting)."""
        total = 0
        for _ in range(rounds):
            done = await self.run_once()
            total += done
            if done == 0:
                break
        return total

    # -- planning --------------------------------------------------------------------------------

    def plan(self) -> int:
        """Fan due pending notifications out into deliveries; returns how many were planned."""
        now = self.ctx.now()
        platforms = sorted(self.adapters)
        with self.ctx.session() as session:
            ids = session.exec(
                select(Notification.id)
                .where(Notification.status == NotificationStatus.PENDING)
                .where(Notification.not_before <= now)
                .order_by(Notification.id)
                .limit(self.policy.batch)
            ).all()
        planned = 0
        for notification_id in ids:
            with self.ctx.session() as session:
                planned += self._plan_one(session, notification_id, platforms, now)
        return planned

    def _plan_one(
        self, session: Session, notification_id: int, platforms: list[str], now: datetime
    ) -> int:
        row = session.get(Notification, notification_id)
        if row is None or row.status != NotificationStatus.PENDING:
            return 0
        if outdated(session, row):
            row.status = NotificationStatus.OUTDATED
            session.add(row)
            logger.info(
                "notification %s (%s, ticket %s) outdated before it was sent: dropped",
                row.id,
                row.kind,
                row.ticket_id,
            )
            return 0
        chats = targets(session, row, platforms)
        for platform, chat_id in chats:  # a chat may have it already (answered there)
            add_delivery(
                session, notification_id=row.id, platform=platform, chat_id=chat_id, now=now
            )
        status = NotificationStatus.QUEUED if chats else NotificationStatus.UNBOUND
        changed = session.execute(
            update(Notification)
            .where(col(Notification.id) == row.id)
            .where(col(Notification.status) == NotificationStatus.PENDING)
            .values(status=status)
        ).rowcount
        session.flush()
        _settle(session, row.id)  # every chat may already have it (answered in the chat)
        if not chats:
            logger.warning(
                "notification %s (%s to %s, unit %s) has no bound chat on %s; it "
                "waits until one is bound",
                row.id,
                row.kind,
                row.audience,
                row.unit_id,
                ",".join(platforms) or "-",
            )
        return int(bool(changed and chats))

    # -- claiming and sending ----------------------------------------------------------------------

    def due(self) -> list[int]:
        now = self.ctx.now()
        stale = now - self.policy.lease
        with self.ctx.session() as session:
            return list(
                session.exec(
                    select(ChatDelivery.id)
                    .where(col(ChatDelivery.platform).in_(sorted(self.adapters)))
                    .where(
                        or_(
                            and_(
                                col(ChatDelivery.status) == DeliveryStatus.PENDING,
                                col(ChatDelivery.next_attempt_at) <= now,
                            ),
                            and_(
                                col(ChatDelivery.status) == DeliveryStatus.SENDING,
                                col(ChatDelivery.claimed_at) < stale,
                            ),
                        )
                    )
                    .order_by(ChatDelivery.id)
                    .limit(self.policy.batch)
                ).all()
            )

    def claim(self, delivery_id: int) -> Claim | None:
        """Take a due delivery (compare and set); None if someone else has it."""
        now = self.ctx.now()
        stale = now - self.policy.lease
        with self.ctx.session() as session:
            before = session.exec(
                select(ChatDelivery.status).where(ChatDelivery.id == delivery_id)
            ).first()
            taken = session.execute(
                update(ChatDelivery)
                .where(col(ChatDelivery.id) == delivery_id)
                .where(
                    or_(
                        and_(
                            col(ChatDelivery.status) == DeliveryStatus.PENDING,
                            col(ChatDelivery.next_attempt_at) <= now,
                        ),
                        and_(
                            col(ChatDelivery.status) == DeliveryStatus.SENDING,
                            col(ChatDelivery.claimed_at) < stale,
                        ),
                    )
                )
                .values(
                    status=DeliveryStatus.SENDING,
                    claimed_at=now,
                    attempts=ChatDelivery.attempts + 1,
                )
            ).rowcount
            if not taken:
                return None
            row = session.get(ChatDelivery, delivery_id)
            assert row is not None
            session.refresh(row)
            note = session.get(Notification, row.notification_id)
            assert note is not None
            if before == DeliveryStatus.SENDING:
                logger.warning(
                    "delivery %s to %s:%s was interrupted while sending part %d; sending it again",
                    row.id,
                    row.platform,
                    row.chat_id,
                    row.parts_sent + 1,
                )
            return Claim(
                delivery_id=row.id,
                notification_id=note.id,
                platform=row.platform,
                chat_id=row.chat_id,
                text=note.text,
                payload=dict(note.payload or {}),
                ticket_id=note.ticket_id,
                parts_sent=row.parts_sent,
                attempts=row.attempts,
            )

    async def deliver(self, claim: Claim) -> None:
        adapter = self.adapters[claim.platform]
        actions = render.actions(claim.payload.get("actions") or [])
        images = tuple(Path(p) for p in claim.payload.get("images") or [])
        parts = compose(
            claim.chat_id,
            claim.text,
            limit=adapter.text_limit,
            actions=actions,
            images=images,
            key=f"d{claim.delivery_id}",
        )
        for index in range(claim.parts_sent, len(parts)):
            try:
                message_id = await adapter.send(parts[index])
            except SendFailed as exc:
                await asyncio.to_thread(self._failed, claim, exc)
                return
            except Exception as exc:  # an adapter bug or an unmapped error: retry, never drop
                logger.exception(
                    "delivery %s to %s:%s: unexpected error",
                    claim.delivery_id,
                    claim.platform,
                    claim.chat_id,
                )
                await asyncio.to_thread(self._failed, claim, SendFailed(repr(exc)))
                return
            await asyncio.to_thread(self._progress, claim, index, message_id)
        await asyncio.to_thread(self._sent, claim)

    def _progress(self, claim: Claim, index: int, message_id: str) -> None:
        now = self.ctx.now()
        with self.ctx.session() as session:
            row = session.get(ChatDelivery, claim.delivery_id)
            assert row is not None
            row.parts_sent = index + 1
            row.message_ids = [*row.message_ids, message_id]
            row.claimed_at = now  # still alive: keep the lease
            session.add(row)
            if claim.ticket_id is not None:
                state.record_card(
                    session,
                    platform=claim.platform,
                    chat_id=claim.chat_id,
                    message_id=message_id,
                    ticket_id=claim.ticket_id,
                    now=now,
                )

    def _sent(self, claim: Claim) -> None:
        now = self.ctx.now()
        with self.ctx.session() as session:
            row = session.get(ChatDelivery, claim.delivery_id)
            assert row is not None
            row.status, row.sent_at, row.last_error = DeliveryStatus.SENT, now, None
            session.add(row)
            session.flush()
            _settle(session, claim.notification_id)
        logger.info(
            "delivery %s (notification %s) sent to %s:%s",
            claim.delivery_id,
            claim.notification_id,
            claim.platform,
            claim.chat_id,
        )

    def _failed(self, claim: Claim, exc: SendFailed) -> None:
        now = self.ctx.now()
        with self.ctx.session() as session:
            row = session.get(ChatDelivery, claim.delivery_id)
            assert row is not None
            row.last_error = exc.reason[:1000]
            if exc.permanent:
                row.status = DeliveryStatus.FAILED
                logger.warning(
                    "delivery %s (notification %s) to %s:%s failed for good: %s",
                    row.id,
                    claim.notification_id,
                    claim.platform,
                    claim.chat_id,
                    exc.reason,
                )
            else:
                delay = (
                    exc.retry_after
                    if exc.retry_after is not None
                    else self.policy.backoff(row.attempts)
                )
                row.status = DeliveryStatus.PENDING
                row.next_attempt_at = now + timedelta(seconds=delay)
                logger.info(
                    "delivery %s to %s:%s: retry in %.0f s (%s)",
                    row.id,
                    claim.platform,
                    claim.chat_id,
                    delay,
                    exc.reason,
                )
            session.add(row)
            session.flush()
            _settle(session, claim.notification_id)


def targets(session: Session, note: Notification, platforms: list[str]) -> list[tuple[str, str]]:
    """The chats a notification goes to, on these platforms."""
    try:
        audience = Audience(note.audience)
    except ValueError:
        logger.warning("notification %s: unknown audience %r", note.id, note.audience)
        return []
    if audience is Audience.PERSON:
        if note.person_id is None:
            return []
        rows = session.exec(
            select(ChatAccount.platform, ChatAccount.private_chat_id)
            .where(ChatAccount.person_id == note.person_id)
            .where(col(ChatAccount.private_chat_id).is_not(None))
            .where(col(ChatAccount.platform).in_(platforms))
        ).all()
        return sorted({(p, c) for p, c in rows if c})
    query = (
        select(ChatBinding.platform, ChatBinding.chat_id)
        .where(ChatBinding.role == note.audience)
        .where(col(ChatBinding.platform).in_(platforms))
    )
    if audience is Audience.UNIT:
        if note.unit_id is None:
            return []
        query = query.where(ChatBinding.unit_id == note.unit_id)
    return sorted(set(session.exec(query).all()))


def outdated(session: Session, row: Notification) -> bool:
    """A reminder or notice whose ticket has moved on since it was written (the bot was
    away, say): replied, returned, re-assigned to another unit, given a new deadline by an
    extension, or (a 待分办 notice) already assigned. Sent late it would tell a unit its
    answered ticket is overdue, or ask the desk to choose a unit already chosen."""
    if row.ticket_id is None or row.kind not in REMINDER_KINDS | NOTICE_KINDS:
        return False
    ticket = session.get(Ticket, row.ticket_id)
    if ticket is None:
        return True
    if row.kind == "assigned":  # the unit's card, after the ticket went to another unit
        return ticket.unit_id != row.unit_id
    if row.kind in ("triage", "triage-overdue"):  # a person has already chosen the unit
        return TicketState(ticket.state) not in TRIAGE_STATES
    return (
        TicketState(ticket.state) not in WORKING_STATES
        or ticket.unit_id != row.unit_id
        or f":{ticket.due_date.isoformat()}" not in row.dedupe_key
    )


def _settle(session: Session, notification_id: int) -> None:
    """A notification is sent (or failed) once every one of its deliveries is done."""
    statuses = delivery_statuses(session, notification_id)
    if not statuses or statuses & {DeliveryStatus.PENDING, DeliveryStatus.SENDING}:
        return
    note = session.get(Notification, notification_id)
    if note is not None:
        failed = DeliveryStatus.FAILED in statuses
        note.status = NotificationStatus.FAILED if failed else NotificationStatus.SENT
        session.add(note)


def record_answered(
    session: Session, notification: Notification, *, platform: str, chat_id: str, now: datetime
) -> None:
    """The bot has just said this notice's content in this chat (it answered the person who
    pasted the message): count that chat as delivered, so it is not said twice there.

    Safe against the outbox loop planning the same notification at the same moment: both
    write the delivery with insert-or-ignore (:mod:`ledger.outbox`)."""
    assert notification.id is not None
    mark_answered(session, notification.id, platform=platform, chat_id=chat_id, now=now)
    session.flush()
    status = session.exec(
        select(Notification.status).where(Notification.id == notification.id)
    ).one()
    if status != NotificationStatus.PENDING:  # planned meanwhile: maybe every chat has it now
        _settle(session, notification.id)


def requeue_failed(session: Session, *, delivery_id: int | None = None, now: datetime) -> int:
    """Queue failed deliveries again (after the bot was re-added to the chat, say)."""
    query = select(ChatDelivery).where(ChatDelivery.status == DeliveryStatus.FAILED)
    if delivery_id is not None:
        query = query.where(ChatDelivery.id == delivery_id)
    rows = list(session.exec(query))
    for row in rows:
        row.status, row.next_attempt_at, row.attempts = DeliveryStatus.PENDING, now, 0
        session.add(row)
        note = session.get(Notification, row.notification_id)
        if note is not None and note.status == NotificationStatus.FAILED:
            note.status = NotificationStatus.QUEUED
            session.add(note)
    session.flush()
    return len(rows)


def outbox_rows(
    session: Session, *, pending_only: bool = False, limit: int = 200
) -> list[dict[str, Any]]:
    """Notifications with their deliveries, newest first, for ``duban outbox list``."""
    query = select(Notification).order_by(col(Notification.id).desc()).limit(limit)
    if pending_only:
        waiting = (
            NotificationStatus.PENDING,
            NotificationStatus.QUEUED,
            NotificationStatus.UNBOUND,
            NotificationStatus.FAILED,
        )
        query = query.where(col(Notification.status).in_(waiting))
    notes = list(session.exec(query))
    by_note: dict[int, list[ChatDelivery]] = {}
    if notes:
        for d in session.exec(
            select(ChatDelivery).where(col(ChatDelivery.notification_id).in_([n.id for n in notes]))
        ):
            by_note.setdefault(d.notification_id, []).append(d)
    numbers: dict[int, str] = {}
    ticket_ids = [n.ticket_id for n in notes if n.ticket_id is not None]
    if ticket_ids:
        numbers = dict(
            session.exec(
                select(Ticket.id, Ticket.number).where(col(Ticket.id).in_(ticket_ids))
            ).all()
        )
    return [
        {
            "id": n.id,
            "kind": n.kind,
            "audience": n.audience,
            "unit_id": n.unit_id,
            "person_id": n.person_id,
            "ticket": numbers.get(n.ticket_id),
            "status": n.status,
            "created_at": n.created_at,
            "not_before": n.not_before,
            "text": n.text,
            "deliveries": [
                {
                    "id": d.id,
                    "platform": d.platform,
                    "chat_id": d.chat_id,
                    "status": d.status,
                    "attempts": d.attempts,
                    "parts_sent": d.parts_sent,
                    "message_ids": d.message_ids,
                    "next_attempt_at": d.next_attempt_at,
                    "sent_at": d.sent_at,
                    "last_error": d.last_error,
                }
                for d in sorted(by_note.get(n.id, []), key=lambda d: d.id)
            ],
        }
        for n in notes
    ]
