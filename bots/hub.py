"""The one place adapters call: ``ChatHub.on_message`` handles a message and sends the replies.

For the Matrix (or any new) adapter, the whole contract is::

    hub.add(adapter)                 # before start; send() is routed by adapter.platform
    await adapter.start(hub.on_message)
    outcome = await hub.on_message(IncomingMessage(...))   # for every message received

``on_message`` handles a message in one worker thread (the ledger is synchronous) and one
transaction (``bots.work``): the inbox record that makes a re-delivered message a
duplicate, who is speaking, the :class:`bots.handlers.Handlers` step and its outbox rows
commit together. Then it sends the replies split under the adapter's ``text_limit`` and
remembers which sent message is about which ticket, so replying to it names the ticket.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from bots import identity, state
from bots.adapter import ChatAdapter, Invitable
from bots.compose import compose
from bots.errors import SendFailed
from bots.handlers import Handlers
from bots.messages import IncomingMessage, Outcome, OutgoingMessage, Reply, Response
from bots.work import ChatContext, MessageWork, UnitCache
from ledger.db import session_scope
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

SHORT_RETRY_SECONDS = 5.0  # an answer waits this long for a rate limit, once; then it is dropped
CARD_FLUSH_SECONDS = 1.0  # sent answers are recorded at the latest this long after, when quiet

Card = tuple[str, str, str, int]  # platform, chat id, sent message id, ticket id


class ChatHub:
    def __init__(
        self,
        ctx: RoutingContext,
        handlers: Handlers | None = None,
        *,
        on_activity: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ChatContext.of(ctx)
        self.handlers = handlers or Handlers(self.ctx)
        # the handlers' sessions are savepoints of the message's one transaction
        self.handlers.ctx = ChatContext.of(self.handlers.ctx)
        self.adapters: dict[str, ChatAdapter] = {}
        self.on_activity = on_activity  # e.g. wake the outbox: a step may have written rows
        # answers about a ticket, sent but not recorded yet: (platform, chat, message, ticket)
        self._cards: list[Card] = []
        self._cards_lock = threading.Lock()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        self._flushes: set[asyncio.Future[None]] = set()
        self._units = UnitCache()  # unit names for the answers, not re-read per command

    def add(self, adapter: ChatAdapter) -> None:
        if adapter.platform in self.adapters:
            raise ValueError(f"two adapters for platform {adapter.platform!r}")
        self.adapters[adapter.platform] = adapter
        if isinstance(adapter, Invitable):
            adapter.on_invite = self.may_join

    async def may_join(self, platform: str, inviter_id: str) -> bool:
        """The bot joins a chat it is invited to only on an administrator's invitation: the
        inviter's account is linked to an active person with the admin role."""
        return await asyncio.to_thread(self._is_admin, platform, inviter_id)

    def _is_admin(self, platform: str, account_id: str) -> bool:
        with self.ctx.session() as session:
            return identity.is_admin(session, platform=platform, account_id=account_id)

    async def on_message(self, msg: IncomingMessage) -> Outcome:
        """Handle one incoming message (at most once) and post the answers."""
        response = await asyncio.to_thread(self._handle, msg)
        if response is None:
            logger.info(
                "%s message %s in %s already handled: skipped",
                msg.platform,
                msg.message_id,
                msg.chat_id,
            )
            return Outcome.DUPLICATE
        quote = msg.reply_to if msg.message_id.startswith("cb:") else msg.message_id
        for reply in response.replies:
            await self.post(
                msg.platform, msg.chat_id, reply, reply_to=quote if reply.quote else None
            )
        if self._cards:
            self._flush_later()
        if self.on_activity is not None and response.outcome == Outcome.DONE:
            self.on_activity()
        return response.outcome

    def _handle(self, msg: IncomingMessage) -> Response | None:
        """In a worker thread: the message in one transaction (see ``bots.work``); None
        when it was handled before. The answers are sent after the commit."""
        now = self.ctx.now()
        cards = self._take_cards()
        work = MessageWork(self.ctx.engine, units=self._units)
        try:
            with work.active():
                response = self._handle_in(work, msg, cards, now)
        except BaseException:
            self._return_cards(cards)  # recorded again later (a card is never written twice)
            raise
        finally:
            work.close()
        if response is None:
            self._return_cards(cards)
        if work.nudge_wanted:
            self.ctx.nudge()  # outside the message now: the bots are told after the commit
        return response

    def _handle_in(
        self, work: MessageWork, msg: IncomingMessage, cards: list[Card], now: datetime
    ) -> Response | None:
        logger.debug(
            "%s message from %s (%s) in %s: %r",
            msg.platform,
            msg.sender_id,
            msg.sender_name,
            msg.chat_id,
            msg.text,
        )
        while True:
            outcome = self._try(work, msg, cards, now)
            if not work.tainted or work.detached:
                return outcome
            logger.info(
                "%s message %s in %s: a step wrote, then was refused; handled again",
                msg.platform,
                msg.message_id,
                msg.chat_id,
            )
            work.retry_strictly()

    def _try(
        self, work: MessageWork, msg: IncomingMessage, cards: list[Card], now: datetime
    ) -> Response | None:
        """One try at the message; the caller tries again when it comes back tainted."""
        session = work.session
        where = {"platform": msg.platform, "chat_id": msg.chat_id, "message_id": msg.message_id}
        row = state.claim(session, **where, now=now)
        if row is None:
            session.rollback()
            return None
        state.record_cards(session, cards, now=now)  # answers sent since the last message
        try:
            response = self.handlers.handle(msg)
        except Exception:
            if work.tainted and not work.detached:
                return None  # tried again strictly
            logger.exception(
                "handling %s message %s in %s failed", msg.platform, msg.message_id, msg.chat_id
            )
            response = Response(Outcome.FAILED, [Reply("系统出错，本条消息未能处理，请稍后重发。")])
            if not work.detached:  # nothing of it is kept; the message is recorded as failed
                session.rollback()
                work.nudge_wanted = False
                row = state.claim(session, **where, now=now)
                if row is None:
                    return None
                state.record_cards(session, cards, now=now)
        if work.tainted and not work.detached:
            return None  # tried again strictly
        state.mark_handled(session, row, outcome=response.outcome.value, now=now)
        session.commit()
        return response

    async def post(
        self, platform: str, chat_id: str, reply: Reply, *, reply_to: str | None = None
    ) -> list[str]:
        """Send one answer now (not through the outbox); returns the platform message ids.

        An answer is immediate or useless: it waits once for a short rate limit, otherwise
        it is logged and dropped (the step itself is in the ledger either way). Which sent
        message is about which ticket is recorded with the next message's transaction (a
        reply to it is always a later message), or by :meth:`flush_cards` when the chat
        stays quiet for ``CARD_FLUSH_SECONDS``.
        """
        adapter = self.adapters[platform]
        sent: list[str] = []
        for out in compose(
            chat_id,
            reply.text,
            limit=adapter.text_limit,
            reply_to=reply_to,
            actions=reply.actions,
            images=reply.images,
        ):
            message_id = await _send_once(adapter, out)
            if message_id is None:
                break
            sent.append(message_id)
        if reply.ticket_id is not None and sent:
            self._return_cards([(platform, chat_id, m, reply.ticket_id) for m in sent])
        return sent

    # -- which sent message is about which ticket ------------------------------------------

    def _take_cards(self) -> list[Card]:
        with self._cards_lock:
            cards, self._cards = self._cards, []
        return cards

    def _return_cards(self, cards: list[Card]) -> None:
        if cards:
            with self._cards_lock:
                self._cards[:0] = cards

    def _flush_later(self) -> None:
        loop = asyncio.get_running_loop()
        if self._flush_handle is not None and self._flush_loop is loop:
            return  # one is due already
        self._flush_loop = loop
        self._flush_handle = loop.call_later(CARD_FLUSH_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        self._flush_handle = None
        task = asyncio.ensure_future(self.flush_cards())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush_cards(self) -> None:
        """Record the answers sent but not recorded yet (the runner calls this on stop)."""
        if self._cards:
            await asyncio.to_thread(self._write_cards)

    def _write_cards(self) -> None:
        cards = self._take_cards()
        if not cards:
            return
        try:
            with session_scope(self.ctx.engine) as session:
                state.record_cards(session, cards, now=self.ctx.now())
        except Exception:
            self._return_cards(cards)
            raise


async def _send_once(adapter: ChatAdapter, out: OutgoingMessage) -> str | None:
    for attempt in (1, 2):
        try:
            return await adapter.send(out)
        except SendFailed as exc:
            wait = exc.retry_after
            if (
                attempt == 1
                and not exc.permanent
                and wait is not None
                and wait <= SHORT_RETRY_SECONDS
            ):
                await asyncio.sleep(wait)
                continue
            logger.warning(
                "answer to %s chat %s not sent: %s", adapter.platform, out.chat_id, exc.reason
            )
            return None
    return None
