"""A worker runs its jobs in its own process: no work horse forked per job (each paid for
the loaded model's pages, a new database connection and rq's set-up)."""

from __future__ import annotations

import os

from redis import Redis
from rq import Queue

from routing.worker import serve


def test_a_worker_runs_its_jobs_in_its_own_process(redis_url: str) -> None:
    queue = Queue("in-process", connection=Redis.from_url(redis_url))
    jobs = [queue.enqueue("os.getpid") for _ in range(3)]
    serve(queue, name="in-process-1", burst=True)
    assert [job.return_value(refresh=True) for job in jobs] == [os.getpid()] * 3
