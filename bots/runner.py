"""One bot process: several adapters and the outbox loop, started and stopped together.

``duban bot --telegram --matrix`` builds one :class:`BotRunner` with both adapters; they
share the hub (handlers) and the outbox, so one process serves every platform the office
runs. Stopping (SIGINT / SIGTERM, or the console reaching the end of its input) lets the
delivery in flight finish and be recorded before the adapters disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from bots import state
from bots.adapter import ChatAdapter
from bots.handlers import Handlers
from bots.hub import ChatHub
from bots.outbox import Outbox, OutboxPolicy
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

INBOX_KEEP = timedelta(days=30)


class BotRunner:
    def __init__(
        self,
        ctx: RoutingContext,
        adapters: Sequence[ChatAdapter],
        *,
        handlers: Handlers | None = None,
        outbox_interval: float = 0.5,
        policy: OutboxPolicy | None = None,
        redis_url: str | None = None,
    ) -> None:
        if not adapters:
            raise ValueError("a bot needs at least one adapter")
        self.ctx = ctx
        self.hub = ChatHub(ctx, handlers, on_activity=self._activity)
        for adapter in adapters:
            self.hub.add(adapter)
        self.outbox = Outbox(ctx, self.hub.adapters, policy=policy)
        self.outbox_interval = outbox_interval
        self.redis_url = redis_url  # workers publish on OUTBOX_CHANNEL after committing rows
        self._stop: asyncio.Event | None = None

    def _activity(self) -> None:
        self.outbox.wake()

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    async def run(
        self, *, until: asyncio.Event | None = None, ready: asyncio.Event | None = None
    ) -> None:
        """Run until :meth:`request_stop` (or ``until`` is set: then drain the outbox first)."""
        self._stop = stop = asyncio.Event()
        outbox_stop = asyncio.Event()
        await asyncio.to_thread(
            state.prune_inbox, self.ctx.engine, before=self.ctx.now() - INBOX_KEEP
        )
        started: list[ChatAdapter] = []
        outbox_task: asyncio.Task | None = None
        listener: asyncio.Task | None = None
        try:
            for adapter in self.hub.adapters.values():
                await adapter.start(self.hub.on_message)
                started.append(adapter)
                logger.info("%s adapter started", adapter.platform)
            outbox_task = asyncio.create_task(
                self.outbox.run(outbox_stop, interval=self.outbox_interval), name="outbox"
            )
            if self.redis_url:
                listener = asyncio.create_task(self._listen(self.redis_url), name="nudges")
            if ready is not None:
                ready.set()
            waiters = [asyncio.ensure_future(stop.wait())]
            if until is not None:
                waiters.append(asyncio.ensure_future(until.wait()))
            waiters.append(outbox_task)
            done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                if waiter is not outbox_task:
                    waiter.cancel()
            if outbox_task in done:
                outbox_task.result()  # the loop only ends on stop: surface its error
            if until is not None and until.is_set() and not stop.is_set():
                outbox_stop.set()
                await outbox_task
                await self.outbox.drain()
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            outbox_stop.set()
            if outbox_task is not None and not outbox_task.done():
                await outbox_task
            try:
                await self.hub.flush_cards()
            except Exception:
                logger.exception("recording the last answers' tickets failed")
            for adapter in reversed(started):
                try:
                    await adapter.stop()
                except Exception:
                    logger.exception("stopping the %s adapter failed", adapter.platform)
            logger.info("bot stopped")

    async def _listen(self, url: str) -> None:
        """Wake the outbox whenever a worker says it committed new rows (Redis pub/sub).

        Best effort: the outbox still polls, so a lost nudge or a Redis outage only
        delays a card to the next poll. Reconnects after an error.
        """
        from redis.asyncio import Redis
        from redis.exceptions import RedisError

        from routing.notify import OUTBOX_CHANNEL

        while True:
            client = Redis.from_url(url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(OUTBOX_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.outbox.wake()
            except (RedisError, OSError) as exc:
                logger.warning("outbox nudges unavailable (%s); polling only, retrying", exc)
                await asyncio.sleep(5)
            finally:
                await client.aclose()
