"""rq jobs. Importable functions taking IDs; enqueued by dotted name after the commit.

A worker process (``duban worker``) calls ``configure(factory)`` before it starts working;
every job builds nothing else. Jobs are idempotent: running one twice changes nothing more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from routing.context import RoutingContext
from routing.errors import NotConfigured

logger = logging.getLogger(__name__)

ROUTE_JOB = "routing.jobs.route_message"
ROUTE_BATCH_JOB = "routing.jobs.route_batch"
RETRY_INTERVALS = [2, 10, 60, 300, 900]
JOB_TIMEOUT = 300

_factory: Callable[[], RoutingContext] | None = None
_context: RoutingContext | None = None
_pid: int | None = None


def configure(factory: Callable[[], RoutingContext] | None, *, eager: bool = True) -> None:
    """Set how jobs get their context. ``eager`` builds it now (before workers fork)."""
    global _factory, _context, _pid
    _factory, _context, _pid = factory, None, None
    if factory is not None and eager:
        context()


def context() -> RoutingContext:
    """The process's routing context; after a fork the child gets its own DB connections."""
    global _context, _pid
    if _factory is None:
        raise NotConfigured(
            "routing jobs need a context: start workers with `duban worker` "
            "(or call routing.jobs.configure)"
        )
    if _context is None:
        _context = _factory()
        _context.predictor()  # load the model once, before forking
        _pid = os.getpid()
    elif _pid != os.getpid():
        _context.engine.dispose(close=False)  # never share the parent's connections
        _pid = os.getpid()
    return _context


def route_message(message_id: int) -> dict[str, Any]:
    """Open the ticket of one stored message (or find the one already opened)."""
    from routing.pipeline import route_messages

    outcomes = route_messages(context(), [message_id])
    return asdict(outcomes[0]) if outcomes else {"status": "missing", "message_id": message_id}


def route_batch(message_ids: list[int]) -> dict[str, int]:
    """Route a batch of stored messages (a bulk import enqueues one job per chunk)."""
    from routing.pipeline import route_messages

    outcomes = route_messages(context(), message_ids)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def send_reminders() -> dict[str, int]:
    from routing.reminders import run_reminders

    return asdict(run_reminders(context()))


def sweep() -> int:
    """Enqueue (or route) messages left behind while the queue was down."""
    from routing.sweeper import sweep as run_sweep

    ctx = context()
    return run_sweep(ctx, ctx.queue())


def enqueue_route(queue: Any, message_id: int) -> bool:
    """Enqueue the routing job of ``message_id``; False when Redis cannot be reached."""
    return _enqueue(
        queue,
        ROUTE_JOB,
        message_id,
        job_id=f"route-{message_id}",
        description=f"route message {message_id}",
    )


def enqueue_route_batch(queue: Any, message_ids: list[int]) -> bool:
    """One job for a chunk of a bulk import; False when Redis cannot be reached."""
    if len(message_ids) == 1:
        return enqueue_route(queue, message_ids[0])
    return _enqueue(
        queue,
        ROUTE_BATCH_JOB,
        list(message_ids),
        job_id=f"route-batch-{message_ids[0]}-{message_ids[-1]}-{len(message_ids)}",
        description=f"route {len(message_ids)} messages from {message_ids[0]}",
    )


def _enqueue(queue: Any, func: str, *args: Any, job_id: str, description: str) -> bool:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from rq import Retry

    try:
        queue.enqueue(
            func,
            *args,
            job_id=job_id,
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
            job_timeout=JOB_TIMEOUT,
            result_ttl=24 * 3600,
            failure_ttl=30 * 24 * 3600,
            description=description,
        )
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        logger.warning("could not enqueue %s: %s", job_id, exc)
        return False
    return True
