"""The sweeper: messages stored while the queue was down (or whose job was lost) get routed.

A message still *received* (no ticket) some time after it was stored, or a 重复件 whose
original now has a ticket, is enqueued again — or routed inline without a queue. Running it
while the job is still queued is harmless: routing is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from ledger.models import Message, MessageStatus
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

GRACE = timedelta(seconds=30)
BATCH = 1000
_PENDING_JOB_STATES = {"queued", "started", "scheduled", "deferred"}


def stranded(ctx: RoutingContext, *, grace: timedelta = GRACE, limit: int = BATCH) -> list[int]:
    """Ids of stored messages that no ticket covers yet, older than ``grace``."""
    cutoff = ctx.now() - grace
    with ctx.session() as session:
        rows = session.exec(
            select(Message.id)
            .where(
                col(Message.status).in_(
                    [MessageStatus.RECEIVED.value, MessageStatus.DUPLICATE.value]
                )
            )
            .where(Message.created_at <= cutoff)
            .order_by(col(Message.id))
            .limit(limit)
        ).all()
    return list(rows)


def sweep(ctx: RoutingContext, queue: Any | None, *, grace: timedelta = GRACE) -> int:
    """Route or enqueue stranded messages; returns how many were handed on."""
    from routing.jobs import enqueue_route
    from routing.pipeline import route_messages

    ids = stranded(ctx, grace=grace)
    if not ids:
        return 0
    if queue is None:
        route_messages(ctx, ids)
        return len(ids)
    if _queue_busy(queue):  # jobs in flight may cover these; look again next time
        return 0
    handed = 0
    for message_id in ids:
        if _job_pending(queue, message_id):
            continue
        if not enqueue_route(queue, message_id):
            break
        handed += 1
    if handed:
        logger.info("sweeper enqueued %d stranded message(s)", handed)
    return handed


def _queue_busy(queue: Any) -> bool:
    """Routing jobs are waiting, running or due for a retry (a worker killed mid-batch).
    Other jobs (this very sweep, the reminders enqueued with it) do not count."""
    from redis.exceptions import RedisError
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    try:
        in_flight = [
            *queue.get_job_ids(),
            *StartedJobRegistry(queue=queue).get_job_ids(),
            *ScheduledJobRegistry(queue=queue).get_job_ids(),
        ]
    except RedisError:
        return True  # unreachable: nothing can be enqueued now anyway
    return any(job_id.startswith("route-") for job_id in in_flight)


def _job_pending(queue: Any, message_id: int) -> bool:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(f"route-{message_id}", connection=queue.connection)
    except NoSuchJobError:
        return False
    status = job.get_status(refresh=False)
    return getattr(status, "value", status) in _PENDING_JOB_STATES
