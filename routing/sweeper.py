"""The sweeper: messages stored while the queue was down (or whose job was lost) get routed.

A message still *received* (no ticket) some time after it was stored, or a 重复件 whose
original now has a ticket, is enqueued again — or routed inline without a queue — in
chunks of the import's size, one job per chunk, so a backlog left by an outage is routed
at the speed of an import. Messages a routing job still waiting, running or due for a
retry covers are left to that job. Running it beside workers is harmless: routing is
idempotent and survives a concurrent router (``route_messages``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlmodel import col, select

from ledger.models import Message, MessageStatus
from routing.context import RoutingContext
from routing.enqueue import ROUTE_BATCH_JOB, ROUTE_JOB, enqueue_route_batch
from routing.pipeline import CHUNK, route_messages

logger = logging.getLogger(__name__)

GRACE = timedelta(seconds=30)
BATCH = CHUNK  # the import's chunk: one routing job per chunk, either way
_ROUTE_JOBS = {ROUTE_JOB, ROUTE_BATCH_JOB}


def stranded(
    ctx: RoutingContext, *, grace: timedelta = GRACE, limit: int = BATCH, after: int = 0
) -> list[int]:
    """Ids (above ``after``) of stored messages no ticket covers yet, older than ``grace``."""
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
            .where(col(Message.id) > after)
            .order_by(col(Message.id))
            .limit(limit)
        ).all()
    return list(rows)


def pages(ctx: RoutingContext, *, grace: timedelta = GRACE) -> Iterator[list[int]]:
    """Every stranded message, a chunk at a time (keyset pages: memory stays flat)."""
    after = 0
    while ids := stranded(ctx, grace=grace, limit=BATCH, after=after):
        yield ids
        after = ids[-1]


def sweep(ctx: RoutingContext, queue: Any | None, *, grace: timedelta = GRACE) -> int:
    """Route or enqueue every stranded message; returns how many were handed on."""
    if queue is None:
        handed = 0
        for ids in pages(ctx, grace=grace):
            route_messages(ctx, ids)
            handed += len(ids)
        return handed
    try:
        covered = pending_message_ids(queue)
    except RedisError as exc:  # unreachable: nothing can be enqueued now anyway
        logger.warning("sweeper: queue unreachable (%s); next time", exc)
        return 0
    handed = 0
    waiting: list[int] = []
    for ids in pages(ctx, grace=grace):
        waiting.extend(i for i in ids if i not in covered)
        while len(waiting) >= BATCH:
            chunk, waiting = waiting[:BATCH], waiting[BATCH:]
            if not enqueue_route_batch(queue, chunk):
                return handed
            handed += len(chunk)
    if waiting and enqueue_route_batch(queue, waiting):
        handed += len(waiting)
    if handed:
        logger.info("sweeper enqueued %d stranded message(s)", handed)
    return handed


def pending_message_ids(queue: Any) -> set[int]:
    """Messages a routing job covers that is waiting, running or due for a retry (a worker
    killed mid-batch). Other jobs (this very sweep, the reminders beside it) do not count."""
    job_ids = {
        *queue.get_job_ids(),
        *StartedJobRegistry(queue=queue).get_job_ids(),
        *ScheduledJobRegistry(queue=queue).get_job_ids(),
    }
    covered: set[int] = set()
    unknown: list[str] = []
    for job_id in job_ids:
        if job_id.startswith("route-") and job_id[6:].isdigit():
            covered.add(int(job_id[6:]))  # one message: its id is in the job id
        else:
            unknown.append(job_id)
    for job in Job.fetch_many(unknown, connection=queue.connection):
        if job is None or job.func_name not in _ROUTE_JOBS:
            continue
        first = job.args[0] if job.args else []
        covered.update(first if isinstance(first, list) else [first])
    return covered
