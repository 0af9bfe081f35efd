"""A worker's committed outbox rows wake the bot at once over Redis pub/sub (no polling)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from redis import Redis

from bots.memory import MemoryAdapter
from bots.runner import BotRunner
from duban.runtime import Runtime
from intake.items import IntakeItem
from ledger.models import SourceKind
from routing.notify import OUTBOX_CHANNEL
from routing.pipeline import file_items
from tests.bots.conftest import bind_all

pytestmark = pytest.mark.redis


def _route_a_card(runtime: Runtime) -> None:
    """What a worker does: route a 批示件 (a rule names 住建局), commit its card, nudge."""
    worker_ctx = dataclasses.replace(runtime.routing, queue=lambda: None, predictor=lambda: None)
    item = IntakeItem(
        text="请区住建局牵头，限5个工作日内解决金色家园电梯停运问题。",
        source_kind=SourceKind.INSTRUCTION,
    )
    file_items(worker_ctx, [item])


def test_a_committed_card_is_delivered_without_waiting_for_a_poll(
    runtime: Runtime, redis_url: str
) -> None:
    runtime.settings = runtime.settings.model_copy(update={"redis_url": redis_url})
    ctx = runtime.routing
    bind_all(ctx, "memory")
    adapter = MemoryAdapter("memory", clock=ctx.now)
    runner = BotRunner(ctx, [adapter], outbox_interval=3600, redis_url=redis_url)
    redis = Redis.from_url(redis_url)

    def cards() -> list[str]:
        return [p.chat_id for p in adapter.sent if "【交办】" in p.text]

    async def scenario() -> list[str]:
        ready = asyncio.Event()
        task = asyncio.create_task(runner.run(ready=ready))
        await ready.wait()
        for _ in range(300):  # the listener subscribes (under load this takes a while)
            if dict(await asyncio.to_thread(redis.pubsub_numsub, OUTBOX_CHANNEL)).get(
                OUTBOX_CHANNEL.encode()
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the bot never subscribed to the outbox channel")
        await asyncio.to_thread(_route_a_card, runtime)
        for _ in range(200):  # an hour-long poll interval: only the nudge can deliver it
            if cards():
                break
            await asyncio.sleep(0.05)
        runner.request_stop()
        await task
        return cards()

    assert asyncio.run(scenario()) == ["zjj"]
