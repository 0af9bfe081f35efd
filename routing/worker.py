"""The rq worker process: rides out Redis outages and comes back at once under its name.

rq's own loop gives up on most Redis errors ("unhandled exception, quitting"), and refuses
to start under the name of a worker whose registration still looks alive — which is what
a worker killed with SIGKILL leaves for up to its heartbeat TTL (about 90 s). ``serve``
waits for Redis and starts the loop again until it is asked to stop; ``reclaim_name``
retires a dead process's registration with our name (same host, its pid gone) and puts
the job it was running back on its queue.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, Worker, worker_registration
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.worker import BaseWorker

from routing.errors import WorkerNameTaken

logger = logging.getLogger(__name__)

REDIS_WAIT_MAX = 5.0  # seconds between looks at a Redis that is down (rq's default is 60)


class DubanWorker(SimpleWorker):
    """rq's worker, running the jobs in the worker's own process, and writing its
    registration again when Redis lost it (restarted empty).

    No work horse is forked per job: a forked job's process paid about 0.1 CPU-s for
    copying the pages of the loaded model it touched, a new database connection and
    rq's set-up — a third of a 1,000-message routing job's CPU. Here the jobs share the
    process's engine (its pooled connection) and model. A job still ends at its
    ``job_timeout`` (rq raises in it); a process killed mid-job has the job queued again
    by its successor (``reclaim_name``) or by rq's clean-up of its registry.

    rq's dequeue loop rides out a short outage by itself, but its next heartbeat then
    leaves a bare hash under the worker's key: no pid, no host. A successor restarted
    under the same name could not tell that from a live worker, and would be refused
    until the key expires.

    Before each job it checks the ledger's promoted model and loads a new one, so a
    promotion made on any machine reaches every worker at its next job.
    """

    def execute_job(self, job: Job, queue: Queue) -> None:
        # A model promoted meanwhile is loaded (and its segmenter built) before the job, one
        # indexed read per job when nothing changed.
        from routing import jobs

        jobs.refresh_model()
        super().execute_job(job, queue)

    def heartbeat(self, timeout: int | None = None, pipeline: Any | None = None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is not None or self.birth_date is None:
            return
        if self.connection.hexists(self.key, "pid"):
            return
        logger.warning("worker %s: Redis lost its registration; writing it again", self.name)
        with self.connection.pipeline() as again:
            again.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, again)
            again.execute()


def serve(
    queue: Queue,
    *,
    name: str | None = None,
    burst: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Work ``queue`` until stopped (SIGTERM / SIGINT) or, with ``burst``, until it is
    empty — starting rq's loop again whenever Redis went away under it."""
    connection = queue.connection
    while True:
        wait_for_redis(connection, sleep=sleep)
        worker: BaseWorker | None = None
        try:
            if name is not None:
                reclaim_name(connection, name)
            worker = DubanWorker([queue], connection=connection, name=name)
            worker.max_connection_wait_time = REDIS_WAIT_MAX
            worker.work(burst=burst, with_scheduler=True)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            logger.warning("worker %s lost Redis (%s); waiting for it", name or "", exc)
        except ValueError as exc:
            if "active worker named" not in str(exc):
                raise
            raise WorkerNameTaken(
                f"已有名为 {name} 的 worker 在运行（本机仍存活的进程或另一台主机）："
                "请先停止它，或换一个 --name",
                str(exc),
            ) from exc
        finally:  # rq's handlers belong to the finished loop: a signal now just stops us
            _default_signals()
        if worker is not None and (burst or _stop_requested(worker)):
            return
        logger.warning("worker %s stopped without being asked; starting again", name or "")
        sleep(1.0)


def _default_signals() -> None:
    with contextlib.suppress(ValueError):  # not the main thread (tests): nothing to undo
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _stop_requested(worker: BaseWorker) -> bool:
    return bool(
        getattr(worker, "_stop_requested", False)
        or getattr(worker, "_shutdown_requested_date", None) is not None
    )


def wait_for_redis(connection: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once Redis answers PING (backing off up to ``REDIS_WAIT_MAX`` seconds)."""
    delay = 0.2
    while True:
        try:
            connection.ping()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            logger.warning("Redis unreachable (%s); again in %.1f s", exc, delay)
        sleep(delay)
        delay = min(delay * 2, REDIS_WAIT_MAX)


def reclaim_name(connection: Any, name: str) -> bool:
    """Retire the registration of a dead worker process named ``name`` on this host.

    True when one was retired (its running job, if any, is queued again). A live worker
    with the name, or one registered from another host, is left alone: rq then refuses
    the name as before.
    """
    key = Worker.redis_worker_namespace_prefix + name
    data = {k.decode(): v.decode() for k, v in connection.hgetall(key).items()}
    if not data or "death" in data:
        return False
    if data.get("hostname") != socket.gethostname():
        return False
    pid = int(data.get("pid") or 0)
    if pid != os.getpid() and _alive(pid):
        return False
    dead = Worker.find_by_key(key, connection=connection)
    if dead is None:
        return False
    requeued = _requeue_running(connection, dead)
    dead.register_death()
    logger.warning(
        "worker %s: the registration of dead process %d retired, %d job(s) queued again",
        name,
        pid,
        requeued,
    )
    return True


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # somebody else's process
    return True


def _requeue_running(connection: Any, dead: BaseWorker) -> int:
    """Put the jobs a dead worker was running back at the head of their queues now, rather
    than after their heartbeat expires (routing jobs are idempotent)."""
    requeued = 0
    for execution in dead.get_current_executions():
        try:
            job = Job.fetch(execution.job_id, connection=connection)
        except NoSuchJobError:
            continue
        queue = Queue(job.origin, connection=connection)
        try:
            StartedJobRegistry(queue=queue).remove_execution(execution)
            queue.enqueue_job(job, at_front=True)
        except RedisError as exc:
            logger.warning("could not queue job %s again: %s", job.id, exc)
            continue
        requeued += 1
    return requeued
