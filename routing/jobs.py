"""rq jobs. Importable functions taking IDs; enqueued by dotted name after the commit.

Jobs are enqueued by ``routing.enqueue`` (which imports none of this). A worker process
(``duban worker``) calls ``configure(factory)`` before it starts working;
every job builds nothing else. Jobs are idempotent: running one twice changes nothing more.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from classifier.errors import ClassifierError
from routing.context import RoutingContext
from routing.errors import NotConfigured
from routing.pipeline import fewer_collections, retrying, route_messages
from routing.reminders import run_reminders
from routing.sweeper import sweep as run_sweep

logger = logging.getLogger(__name__)

_factory: Callable[[], RoutingContext] | None = None
_context: RoutingContext | None = None
_pid: int | None = None
_warmed: Any = None  # the predictor whose lazily built parts are built


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
        _warm(_context.predictor())  # load the model once, before forking
        _pid = os.getpid()
    elif _pid != os.getpid():
        _context.engine.dispose(close=False)  # never share the parent's connections
        _pid = os.getpid()
    return _context


def refresh_model() -> None:
    """In the worker process, before each job: load the model promoted since the last job
    (if any) and build its lazily built parts. A failure here is only logged: the job's own
    call then raises it, and the job is retried."""
    if _factory is None:
        return
    try:
        _warm(context().predictor())
    except (ClassifierError, SQLAlchemyError) as exc:
        logger.warning("could not load the promoted model before the job: %s", exc)


def _warm(predictor: Any) -> None:
    """Build what a predictor builds on first use (the segmenter's dictionary, about half
    a second of CPU) once per loaded model, before a job (when jobs ran in forked
    processes, each built it again and threw it away with itself)."""
    global _warmed
    if predictor is not None and predictor is not _warmed:
        predictor.predict(["预热"])
        _warmed = predictor


def route_message(message_id: int) -> dict[str, Any]:
    """Open the ticket of one stored message (or find the one already opened)."""
    outcomes = _route(context(), [message_id])
    return asdict(outcomes[0]) if outcomes else {"status": "missing", "message_id": message_id}


def route_batch(message_ids: list[int]) -> dict[str, int]:
    """Route a batch of stored messages (a bulk import enqueues one job per chunk)."""
    with fewer_collections():
        outcomes = _route(context(), message_ids)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def _route(ctx: RoutingContext, message_ids: list[int]) -> list[Any]:
    """Route, riding out a PostgreSQL restart inside the job rather than failing it."""
    return retrying(
        ctx.engine.dialect.name,
        lambda: route_messages(ctx, message_ids),
        what=f"{len(message_ids)} 条留言的分办",
    )


def send_reminders() -> dict[str, int]:
    return asdict(run_reminders(context()))


def sweep() -> int:
    """Enqueue (or route) messages left behind while the queue was down."""
    ctx = context()
    return run_sweep(ctx, ctx.queue())
