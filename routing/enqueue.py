"""Putting routing jobs on the queue, by dotted name (no import of the jobs themselves).

Intake, the pipeline and the sweeper enqueue; ``routing.jobs`` runs what they enqueued.
Keeping the enqueue side here means ``routing.jobs`` may import the pipeline and the
sweeper without either of them importing it back.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Retry

logger = logging.getLogger(__name__)

ROUTE_JOB = "routing.jobs.route_message"
ROUTE_BATCH_JOB = "routing.jobs.route_batch"
RETRY_INTERVALS = [2, 10, 60, 300, 900]
JOB_TIMEOUT = 300


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


def enqueue_routing(queue: Any, message_ids: list[int]) -> int:
    """Enqueue the routing of ``message_ids`` as one job; returns how many were enqueued.

    A failure to reach Redis is logged, not raised: the messages are committed and the
    sweeper (``routing.sweeper``) enqueues them again once the queue is back.
    """
    if enqueue_route_batch(queue, message_ids):
        return len(message_ids)
    logger.warning("queue unreachable: %d message(s) left for the sweeper", len(message_ids))
    return 0


def _enqueue(queue: Any, func: str, *args: Any, job_id: str, description: str) -> bool:
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
