"""Jobs on a real redis-server: commit first then enqueue, Redis down, SIGKILL, idempotence."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlmodel import select

from duban.runtime import Runtime
from duban.settings import Settings
from intake.items import IntakeItem
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import load_directory
from ledger.models import Message, MessageStatus, Ticket
from ledger.types import utcnow
from routing import jobs
from routing.enqueue import ROUTE_BATCH_JOB, ROUTE_JOB
from routing.pipeline import file_items
from routing.sweeper import sweep
from tests.conftest import DATA_DIR
from tests.helpers import Clock
from tests.services.redis import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def rt(runtime: Runtime, redis_url: str) -> Iterator[Runtime]:
    runtime.settings = runtime.settings.model_copy(update={"redis_url": redis_url})
    jobs.configure(lambda: runtime.routing)
    yield runtime
    jobs.configure(None)


def _work(rt: Runtime) -> None:
    queue = rt.queue()
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def _tickets(rt: Runtime) -> list[Ticket]:
    with rt.session() as session:
        return list(session.exec(select(Ticket)))


def test_intake_commits_then_a_worker_routes(rt: Runtime) -> None:
    summary = file_items(
        rt.routing, [IntakeItem(text="东湖路路灯不亮已经三天了", external_id="a1", channel="test")]
    )
    outcome = summary.outcomes[0]
    assert outcome.status == "queued" and summary.queued == 1
    assert _tickets(rt) == []  # stored, not yet routed
    with rt.session() as session:
        assert session.get(Message, outcome.message_id).status == MessageStatus.RECEIVED.value
    job = Job.fetch(f"route-{outcome.message_id}", connection=rt.queue().connection)
    assert job.func_name == "routing.jobs.route_message"
    _work(rt)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value()["ticket"] == _tickets(rt)[0].number


def test_running_the_job_twice_makes_one_ticket(rt: Runtime) -> None:
    outcome = file_items(rt.routing, [IntakeItem(text="金色家园电梯停运四天")]).outcomes[0]
    queue = rt.queue()
    queue.enqueue(ROUTE_JOB, outcome.message_id)  # a second job for the same message
    _work(rt)
    assert len(_tickets(rt)) == 1


def test_redis_down_loses_nothing_and_the_sweeper_catches_up(
    rt: Runtime, redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        summary = file_items(
            rt.routing,
            [IntakeItem(text="学府路占道经营严重"), IntakeItem(text="解放路夜市噪音扰民")],
        )
        assert summary.queued == 2  # stored; enqueue failed and was logged
        with rt.session() as session:
            stored = session.exec(select(Message)).all()
            assert len(stored) == 2
            assert all(m.status == MessageStatus.RECEIVED.value for m in stored)
    finally:
        redis_server.start()
    rt.clock = Clock(utcnow() + timedelta(seconds=120))  # the grace period has passed
    assert sweep(rt.routing, rt.queue()) == 2
    assert sweep(rt.routing, rt.queue()) == 0  # already queued: not enqueued twice
    _work(rt)
    assert len(_tickets(rt)) == 2
    assert sweep(rt.routing, rt.queue()) == 0


def test_the_scheduler_sweep_job_on_a_worker_enqueues_what_redis_missed(
    rt: Runtime, redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        file_items(rt.routing, [IntakeItem(text="江州路菜市场门口占道经营")])
    finally:
        redis_server.start()
    rt.clock = Clock(utcnow() + timedelta(seconds=120))
    queue = rt.queue()
    # What `duban scheduler` enqueues each tick: the sweep must not take itself, or the
    # reminders job beside it, for routing still in flight.
    queue.enqueue("routing.jobs.sweep")
    queue.enqueue("routing.jobs.send_reminders")
    _work(rt)
    assert len(_tickets(rt)) == 1


def test_the_sweeper_leaves_messages_to_a_batch_waiting_for_its_retry(
    rt: Runtime, redis_server: RedisServer
) -> None:
    redis_server.stop()
    try:
        ids = [
            o.message_id
            for o in file_items(
                rt.routing,
                [IntakeItem(text="青山大道路面塌陷"), IntakeItem(text="创业路工地夜间施工")],
            ).outcomes
        ]
    finally:
        redis_server.start()
    rt.clock = Clock(utcnow() + timedelta(seconds=120))
    queue = rt.queue()
    # A batch whose worker was killed: rq put it back with a back-off before its retry.
    queue.enqueue_in(timedelta(minutes=5), ROUTE_BATCH_JOB, ids, job_id="route-batch-x")
    assert sweep(rt.routing, queue) == 0
    queue.connection.delete(ScheduledJobRegistry(queue=queue).key)
    assert sweep(rt.routing, queue) == 2


def test_sweeper_without_a_queue_routes_inline(runtime: Runtime) -> None:
    from intake.store import accept

    with runtime.session() as session:  # stored by a process that died before routing
        accept(
            session,
            [IntakeItem(text="青山水库边有人电鱼")],
            policy=runtime.policy,
            now=runtime.now() - timedelta(minutes=5),
        )
    assert sweep(runtime.routing, None) == 1
    assert len(_tickets(runtime)) == 1


def test_worker_killed_mid_job_leaves_no_half_ticket_and_the_job_is_retried(
    tmp_path: Path, redis_url: str
) -> None:
    db_path = tmp_path / "ledger.db"
    url = f"sqlite:///{db_path}"
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, DATA_DIR / "units.yaml")
    settings = Settings(
        home=tmp_path / "home", database_url=url, redis_url=redis_url, queue_name="killtest"
    )
    rt = Runtime(settings=settings)
    summary = file_items(rt.routing, [IntakeItem(text="东湖新城小区门口垃圾成堆无人清运")])
    message_id = summary.outcomes[0].message_id
    # Hold the ledger's write lock so the job blocks inside its transaction.
    blocker = sqlite3.connect(db_path, timeout=1)
    blocker.execute("BEGIN IMMEDIATE")
    env = {
        **os.environ,
        "DUBAN_DATABASE_URL": url,
        "DUBAN_REDIS_URL": redis_url,
        "DUBAN_HOME": str(tmp_path / "home"),
        "DUBAN_QUEUE_NAME": "killtest",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "duban", "worker"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "worker.log").open("wb"),
    )
    connection = Redis.from_url(redis_url)
    job = Job.fetch(f"route-{message_id}", connection=connection)
    try:
        deadline = time.monotonic() + 30
        while job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
            time.sleep(0.1)
        time.sleep(0.5)  # the job is inside its transaction, waiting for the lock
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        blocker.rollback()
        blocker.close()
    with session_scope(engine) as session:
        assert session.exec(select(Ticket)).all() == []
        assert session.get(Message, message_id).status == MessageStatus.RECEIVED.value
    # rq finds the abandoned job and retries it (it has retries left).
    queue = Queue("killtest", connection=connection)
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
    assert job.get_status(refresh=True) in ("queued", "scheduled")
    jobs.configure(lambda: rt.routing)
    try:
        if job.get_status(refresh=True) == "scheduled":
            queue.enqueue_job(job)  # the retry's back-off is not waited for in a test
        SimpleWorker([queue], connection=connection).work(burst=True)
    finally:
        jobs.configure(None)
    with session_scope(engine) as session:
        tickets = session.exec(select(Ticket)).all()
        assert len(tickets) == 1
        assert session.get(Message, message_id).status == MessageStatus.ROUTED.value
    engine.dispose()
