"""The one place adapters call: ``ChatHub.on_message`` handles a message and sends the replies.

For the Matrix (or any new) adapter, the whole contract is::

    hub.add(adapter)                 # before start; send() is routed by adapter.platform
    await adapter.start(hub.on_message)
    outcome = await hub.on_message(IncomingMessage(...))   # for every message received

``on_message`` skips a message it has handled before (same platform, chat and message id),
runs :class:`bots.handlers.Handlers` in a worker thread (the ledger is synchronous), sends
the replies split under the adapter's ``text_limit`` and remembers which sent message is
about which ticket, so replying to it names the ticket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bots import identity, state
from bots.adapter import ChatAdapter, Invitable
from bots.compose import compose
from bots.errors import SendFailed
from bots.handlers import Handlers
from bots.messages import IncomingMessage, Outcome, OutgoingMessage, Reply, Response
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

SHORT_RETRY_SECONDS = 5.0  # an answer waits this long for a rate limit, once; then it is dropped


class ChatHub:
    def __init__(
        self,
        ctx: RoutingContext,
        handlers: Handlers | None = None,
        *,
        on_activity: Callable[[], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.handlers = handlers or Handlers(ctx)
        self.adapters: dict[str, ChatAdapter] = {}
        self.on_activity = on_activity  # e.g. wake the outbox: a step may have written rows

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
        engine = self.ctx.engine
        fresh = await asyncio.to_thread(
            state.claim_incoming,
            engine,
            platform=msg.platform,
            chat_id=msg.chat_id,
            message_id=msg.message_id,
            now=self.ctx.now(),
        )
        if not fresh:
            logger.info(
                "%s message %s in %s already handled: skipped",
                msg.platform,
                msg.message_id,
                msg.chat_id,
            )
            return Outcome.DUPLICATE
        logger.debug(
            "%s message from %s (%s) in %s: %r",
            msg.platform,
            msg.sender_id,
            msg.sender_name,
            msg.chat_id,
            msg.text,
        )
        try:
            response = await asyncio.to_thread(self.handlers.handle, msg)
        except Exception:
            logger.exception(
                "handling %s message %s in %s failed", msg.platform, msg.message_id, msg.chat_id
            )
            response = Response(Outcome.FAILED, [Reply("系统出错，本条消息未能处理，请稍后重发。")])
        quote = msg.reply_to if msg.message_id.startswith("cb:") else msg.message_id
        for reply in response.replies:
            await self.post(
                msg.platform, msg.chat_id, reply, reply_to=quote if reply.quote else None
            )
        await asyncio.to_thread(
            state.mark_handled,
            engine,
            platform=msg.platform,
            chat_id=msg.chat_id,
            message_id=msg.message_id,
            outcome=response.outcome.value,
            now=self.ctx.now(),
        )
        if self.on_activity is not None and response.outcome == Outcome.DONE:
            self.on_activity()
        return response.outcome

    async def post(
        self, platform: str, chat_id: str, reply: Reply, *, reply_to: str | None = None
    ) -> list[str]:
        """Send one answer now (not through the outbox); returns the platform message ids.

        An answer is immediate or useless: it waits once for a short rate limit, otherwise
        it is logged and dropped (the step itself is in the ledger either way).
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
            await asyncio.to_thread(self._record_cards, platform, chat_id, sent, reply.ticket_id)
        return sent

    def _record_cards(self, platform: str, chat_id: str, ids: list[str], ticket_id: int) -> None:
        now = self.ctx.now()
        with self.ctx.session() as session:
            for message_id in ids:
                state.record_card(
                    session,
                    platform=platform,
                    chat_id=chat_id,
                    message_id=message_id,
                    ticket_id=ticket_id,
                    now=now,
                )


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
