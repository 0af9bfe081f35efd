"""Recovery after an outage (issue 10, item 3), on a real redis-server, real rq workers
(``duban worker`` subprocesses) and, where it matters, a real PostgreSQL cluster.

Nothing here asserts wall-clock time except the recovery bound the issue asks for, which
scales with the import speed measured in the same test; waits are polls with generous
timeouts that fail early when a worker process exits.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import col, select

import routing.pipeline
import routing.sweeper
from duban.runtime import Runtime
from duban.settings import Settings
from intake.items import IntakeItem
from intake.store import accept
from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import load_directory
from ledger.models import Message, MessageStatus, Ticket
from routing import jobs
from routing.enqueue import enqueue_route_batch
from routing.errors import DatabaseUnavailable
from routing.pipeline import file_items, retrying
from routing.sweeper import sweep
from routing.worker import reclaim_name
from tests.conftest import DATA_DIR
from tests.services.postgres import PostgresCluster, free_port
from tests.services.redis import RedisServer

pytestmark = pytest.mark.redis

PLACES = ["东湖路", "学府路", "解放路", "青山大道", "创业路", "江州路", "滨江花园", "金色家园"]
PROBLEMS = [
    "路灯不亮，晚上很黑",
    "夜市噪音扰民到凌晨",
    "工地夜间施工，机器轰鸣",
    "占道经营，行人只能走机动车道",
    "垃圾成堆无人清运，气味很大",
    "电梯停运，老人上下楼困难",
    "路面塌陷，车辆绕行",
    "下水道堵塞，污水漫到路上",
    "小区门口停车乱收费",
    "广场舞音响声音太大",
]
FOLLOW_UPS = [
    "已经持续{n}天了。",
    "打过热线，工单号{code}。",
    "附近{n}户居民都受影响。",
    "希望有关部门尽快处理。",
    "早上{h}点最严重。",
    "前后反映了{m}次。",
]


def messages(count: int, *, seed: int = 3, channel: str = "outage") -> Iterator[IntakeItem]:
    """Distinct, plausible messages with ids, made here (no data is committed)."""
    rng = random.Random(seed)
    for index in range(count):
        parts = [f"{rng.choice(PLACES)}{rng.randrange(1, 90)}号{rng.choice(PROBLEMS)}。"]
        for pattern in rng.sample(FOLLOW_UPS, 2):
            parts.append(
                pattern.format(
                    n=rng.randrange(2, 60),
                    code=rng.randrange(10**7, 10**8),
                    h=rng.randrange(5, 23),
                    m=rng.randrange(2, 9),
                )
            )
        yield IntakeItem(
            text="".join(parts) + f"（第{index}号反映）",
            external_id=f"O{index:06d}",
            channel=channel,
        )


def until(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout: float = 120,
    workers: list[tuple[subprocess.Popen, Path]] = (),  # type: ignore[assignment]
) -> None:
    """Poll ``condition``; fail when ``timeout`` passes or a worker process has exited."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process, log in workers:
            if process.poll() is not None:
                pytest.fail(f"{what}: worker exited ({process.returncode}):\n{_tail(log)}")
        if time.monotonic() > deadline:
            logs = "\n".join(_tail(log) for _, log in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.2)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


class Workers:
    """``duban worker`` subprocesses on one ledger and queue, killed at the end."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str, queue: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DUBAN_DATABASE_URL": database_url,
            "DUBAN_REDIS_URL": redis_url,
            "DUBAN_HOME": str(tmp_path / "home"),
            "DUBAN_QUEUE_NAME": queue,
        }
        self.running: list[tuple[subprocess.Popen, Path]] = []

    def start(self, name: str) -> tuple[subprocess.Popen, Path]:
        log = self.tmp_path / f"worker-{name}-{len(self.running)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "duban", "worker", "--name", name],
            env=self.env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        self.running.append((process, log))
        return process, log

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and every process under it (rq's work horse and scheduler
        run in groups of their own), as systemd does with a unit's control group."""
        for pid in [process.pid, *_descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(30)

    def stop_all(self) -> None:
        for process, _ in self.running:
            self.kill(process)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def ledger(url: str) -> None:
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, DATA_DIR / "units.yaml")
    engine.dispose()


def runtime_on(tmp_path: Path, url: str, redis_url: str | None, queue: str) -> Runtime:
    settings = Settings(
        home=tmp_path / "home", database_url=url, redis_url=redis_url, queue_name=queue
    )
    return Runtime(settings=settings)


def stranded_now(rt: Runtime, texts: list[str]) -> list[int]:
    """Messages stored five minutes ago by a process that died before routing them."""
    with rt.session() as session:
        accepted = accept(
            session,
            [IntakeItem(text=t, external_id=f"S{i}", channel="s") for i, t in enumerate(texts)],
            policy=rt.policy,
            now=rt.now() - timedelta(minutes=5),
        )
    return [a.message_id for a in accepted]


def counts(rt: Runtime) -> tuple[int, int, int]:
    """(messages, tickets, messages still waiting for routing)."""
    with rt.session() as session:
        stored = session.exec(select(func.count()).select_from(Message)).one()
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        waiting = session.exec(
            select(func.count())
            .select_from(Message)
            .where(
                col(Message.status).in_(
                    [MessageStatus.RECEIVED.value, MessageStatus.DUPLICATE.value]
                )
            )
        ).one()
    return stored, tickets, waiting


# -- the sweeper -----------------------------------------------------------------------------------


def test_the_sweeper_hands_a_backlog_on_in_import_sized_batches(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog is enqueued as one job per import chunk, all of it in one sweep — not one
    job per message, a thousand per tick."""
    monkeypatch.setattr(routing.sweeper, "BATCH", 10)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger(url)
    rt = runtime_on(tmp_path, url, redis_url, "sweep-batches")
    ids = stranded_now(rt, [item.text for item in messages(25)])
    queue = rt.queue()
    assert sweep(rt.routing, queue) == 25
    assert queue.count == 3  # 10 + 10 + 5
    assert sweep(rt.routing, queue) == 0  # covered by the queued batches
    jobs.configure(lambda: rt.routing)
    try:
        from rq import SimpleWorker

        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        jobs.configure(None)
    assert counts(rt) == (25, 25, 0)
    assert sorted(ids) == ids


# -- an inline sweep beside a worker -------------------------------------------------------------


@pytest.mark.postgres
def test_an_inline_sweep_beside_a_worker_routes_each_message_once(
    tmp_path: Path, pg_url: str, redis_url: str
) -> None:
    """`duban sweep` without a queue and a worker route the same messages at the same
    moment: the loser of the race finds the tickets opened instead of crashing on the
    unique key (and the worker's job does not fail)."""
    ledger(pg_url)
    rt = runtime_on(tmp_path, pg_url, redis_url, "inline-sweep")
    inline = runtime_on(tmp_path, pg_url, None, "inline-sweep")
    file_items(inline.routing, [IntakeItem(text="东湖路路灯不亮已经三天了")])  # the counter row
    ids = stranded_now(rt, [item.text for item in messages(40)])
    queue = rt.queue()
    assert enqueue_route_batch(queue, ids)
    job = Job.fetch(f"route-batch-{ids[0]}-{ids[-1]}-{len(ids)}", connection=queue.connection)
    retries = job.retries_left

    # Both routers read the messages, then wait for the ticket-number counter we hold.
    parsed = make_url(pg_url)
    conninfo = dict(host=parsed.host, port=parsed.port, user=parsed.username)
    blocker = psycopg.connect(dbname=parsed.database, **conninfo)
    blocker.execute("SELECT value FROM counter FOR UPDATE")
    watcher = psycopg.connect(dbname=parsed.database, autocommit=True, **conninfo)

    def waiting_on_lock() -> int:
        return watcher.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]

    workers = Workers(tmp_path, pg_url, redis_url, "inline-sweep")
    failure: list[BaseException] = []

    def inline_sweep() -> None:
        try:
            sweep(inline.routing, None)
        except BaseException as exc:  # reported by the test below
            failure.append(exc)

    sweeper = threading.Thread(target=inline_sweep)
    try:
        workers.start("inline-1")
        until(lambda: waiting_on_lock() >= 1, what="the worker's job", workers=workers.running)
        sweeper.start()
        until(lambda: waiting_on_lock() >= 2, what="the inline sweep", workers=workers.running)
        blocker.rollback()
        sweeper.join(120)
        assert not sweeper.is_alive()
        assert not failure, repr(failure)
        until(
            lambda: job.get_status(refresh=True) == "finished",
            what="the worker's job",
            workers=workers.running,
        )
        assert job.retries_left == retries  # it never failed
    finally:
        workers.stop_all()
        blocker.close()
        watcher.close()
    assert counts(rt) == (41, 41, 0)
    with rt.session() as session:
        message_ids = session.exec(select(Ticket.message_id)).all()
    assert len(set(message_ids)) == 41


# -- workers through outages ---------------------------------------------------------------------


def _sqlite_ledger_with_a_blocked_job(
    tmp_path: Path, redis_url: str, queue_name: str
) -> tuple[Runtime, int, sqlite3.Connection, str]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger(url)
    rt = runtime_on(tmp_path, url, redis_url, queue_name)
    message_id = file_items(rt.routing, [IntakeItem(text="东湖新城小区门口垃圾成堆无人清运")])
    blocker = sqlite3.connect(tmp_path / "ledger.db", timeout=1)
    blocker.execute("BEGIN IMMEDIATE")  # the job will wait inside its transaction
    return rt, message_id.outcomes[0].message_id, blocker, url


def test_a_worker_killed_with_sigkill_comes_back_at_once_under_its_name(
    tmp_path: Path, redis_url: str
) -> None:
    rt, message_id, blocker, url = _sqlite_ledger_with_a_blocked_job(tmp_path, redis_url, "kill")
    connection = Redis.from_url(redis_url)
    job = Job.fetch(f"route-{message_id}", connection=connection)
    workers = Workers(tmp_path, url, redis_url, "kill")
    try:
        first, log = workers.start("box-1")
        until(
            lambda: job.get_status(refresh=True) == "started",
            what="the job to start",
            workers=[(first, log)],
        )
        workers.kill(first)  # mid-job, as a crash or the OOM killer would
        blocker.rollback()
        second, log = workers.start("box-1")  # systemd restarts it under the same name
        until(
            lambda: job.get_status(refresh=True) == "finished",
            what="the killed worker's job to be run again by its successor",
            workers=[(second, log)],
        )
        assert int(connection.hget("rq:worker:box-1", "pid")) == second.pid
    finally:
        workers.stop_all()
        blocker.close()
    assert counts(rt) == (1, 1, 0)


def test_reclaim_leaves_a_live_worker_s_name_alone(redis_url: str) -> None:
    connection = Redis.from_url(redis_url)
    connection.hset(
        "rq:worker:alive-1",
        mapping={"pid": os.getppid(), "hostname": socket.gethostname(), "queues": "x"},
    )
    assert not reclaim_name(connection, "alive-1")
    connection.hset("rq:worker:gone-1", mapping={"pid": 0, "hostname": socket.gethostname()})
    connection.hset("rq:worker:gone-1", "queues", "x")
    assert reclaim_name(connection, "gone-1")
    assert connection.hexists("rq:worker:gone-1", "death")


def test_a_worker_rides_out_a_redis_outage_mid_job(
    tmp_path: Path, redis_url: str, redis_server: RedisServer
) -> None:
    """Redis goes away while a job runs: the worker waits for it and works on after."""
    rt, message_id, blocker, url = _sqlite_ledger_with_a_blocked_job(tmp_path, redis_url, "outage")
    job = Job.fetch(f"route-{message_id}", connection=Redis.from_url(redis_url))
    workers = Workers(tmp_path, url, redis_url, "outage")
    try:
        process, log = workers.start("box-2")
        until(
            lambda: job.get_status(refresh=True) == "started",
            what="the job to start",
            workers=[(process, log)],
        )
        redis_server.stop()
        blocker.rollback()  # the job commits its ticket; rq cannot record it
        until(
            lambda: "Redis" in _tail(log) and counts(rt)[1] == 1,
            what="the worker to notice",
            workers=[(process, log)],
        )
        redis_server.start()  # empty: nothing persisted
        later = file_items(rt.routing, [IntakeItem(text="解放路夜市噪音扰民到凌晨两点")])
        assert later.queued == 1
        until(
            lambda: counts(rt) == (2, 2, 0),
            what="the next message routed after Redis came back",
            workers=[(process, log)],
        )
    finally:
        workers.stop_all()
        blocker.close()
        if redis_server.process is None:
            redis_server.start()


# -- intake through a PostgreSQL restart ------------------------------------------------------


def test_retrying_gives_up_with_a_clear_message() -> None:
    engine = make_engine(f"postgresql://duban@127.0.0.1:{free_port()}/nowhere")
    slept: list[float] = []

    def connect() -> None:
        with engine.connect():
            pass

    with pytest.raises(DatabaseUnavailable) as caught:
        retrying("postgresql", connect, what="第 2–1001 行的登记", sleep=slept.append)
    assert "数据库连接中断" in caught.value.user and "第 2–1001 行" in caught.value.user
    assert len(slept) == len(routing.pipeline.DB_RETRY_DELAYS)
    engine.dispose()


@pytest.mark.postgres
def test_a_running_intake_retries_its_chunk_when_postgresql_restarts(
    tmp_path: Path, pg_url: str, pg_cluster: PostgresCluster
) -> None:
    """`duban intake` is storing a chunk when PostgreSQL restarts: it tries the chunk
    again and finishes, every row stored once."""
    ledger(pg_url)
    export = tmp_path / "export.csv"
    lines = ["留言编号,留言详情"]
    lines += [f"{item.external_id},{item.text}" for item in messages(300)]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed = make_url(pg_url)
    conninfo = dict(host=parsed.host, port=parsed.port, user=parsed.username)
    blocker = psycopg.connect(dbname=parsed.database, **conninfo)
    blocker.execute("LOCK TABLE message IN EXCLUSIVE MODE")  # reads pass, the insert waits
    env = {
        **os.environ,
        "DUBAN_DATABASE_URL": pg_url,
        "DUBAN_HOME": str(tmp_path / "home"),
        "DUBAN_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "intake.log"
    intake = subprocess.Popen(
        [sys.executable, "-m", "duban", "intake", str(export), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log.open("wb"),
    )
    try:

        def insert_waiting() -> bool:
            with psycopg.connect(dbname="postgres", autocommit=True, **conninfo) as watcher:
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND wait_event_type = 'Lock'",
                    (parsed.database,),
                ).fetchone()
            return bool(row and row[0])

        until(lambda: insert_waiting() or intake.poll() is not None, what="the chunk's insert")
        assert intake.poll() is None, _tail(log)
        data, server_log = pg_cluster.root / "data", pg_cluster.root / "server.log"
        pg_cluster._run(  # a fast restart ends every session, the waiting insert's too
            "pg_ctl", "-D", str(data), "-l", str(server_log), "-m", "fast", "-w", "restart"
        )
        intake.communicate(timeout=300)
    finally:
        if intake.poll() is None:
            intake.kill()
        blocker.close()
    assert intake.returncode == 0, _tail(log)
    assert "database unavailable" in _tail(log)  # it did meet the restart
    rt = runtime_on(tmp_path, pg_url, None, "pg-restart")
    with rt.session() as session:
        stored = session.exec(select(Message.external_id)).all()
    assert len(stored) == 300 and len(set(stored)) == 300
    assert counts(rt)[2] == 0  # routed inline, nothing left waiting


# -- the trial, small: Redis stops during a bulk import on PostgreSQL, 2 workers ------


@pytest.mark.slow
@pytest.mark.postgres
def test_a_redis_stop_during_a_bulk_import_recovers_at_import_speed(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = 2000
    monkeypatch.setattr(routing.pipeline, "CHUNK", 100)
    ledger(pg_url)
    rt = runtime_on(tmp_path, pg_url, redis_url, "bulk")
    workers = Workers(tmp_path, pg_url, redis_url, "bulk")

    def with_an_outage() -> Iterator[IntakeItem]:
        for index, item in enumerate(messages(total)):
            if index == total // 4:
                redis_server.stop()  # a quarter in: enqueues fail, running jobs lose Redis
            elif index == total * 3 // 4:
                redis_server.start()  # empty: what was queued is gone too
            yield item

    try:
        for name in ("bulk-1", "bulk-2"):
            workers.start(name)
        started = time.monotonic()
        summary = file_items(rt.routing, with_an_outage())
        import_seconds = time.monotonic() - started
        assert summary.received == total and summary.rejected == 0
        # What the scheduler's next tick does (its grace period passed: nothing is young).
        handed = sweep(rt.routing, rt.queue(), grace=timedelta(0))
        assert handed > 0  # the outage did strand messages
        bound = max(120.0, 30 * import_seconds)  # recovery scales with the import
        until(
            lambda: counts(rt)[2] == 0,
            what=f"every message routed within {bound:.0f} s",
            timeout=bound,
            workers=workers.running,
        )
    finally:
        workers.stop_all()
        if redis_server.process is None:
            redis_server.start()
    stored, tickets, waiting = counts(rt)
    assert stored == total and waiting == 0
    with rt.session() as session:
        message_ids = session.exec(select(Ticket.message_id)).all()
        ids = session.exec(select(Message.external_id)).all()
    assert len(set(message_ids)) == len(message_ids) == tickets
    assert len(set(ids)) == total


def test_a_second_worker_under_a_live_worker_s_name_is_refused_in_chinese(
    tmp_path: Path, redis_url: str
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger(url)
    connection = Redis.from_url(redis_url)
    workers = Workers(tmp_path, url, redis_url, "twins")
    try:
        first, log = workers.start("twin-1")
        until(
            lambda: connection.hget("rq:worker:twin-1", "pid") == str(first.pid).encode(),
            what="the first worker to register",
            workers=[(first, log)],
        )
        second, second_log = workers.start("twin-1")
        assert second.wait(120) == 1
        assert "已有名为 twin-1 的 worker 在运行" in _tail(second_log)
        assert first.poll() is None
    finally:
        workers.stop_all()


def test_a_worker_idle_through_a_redis_restart_can_still_be_replaced_at_once(
    tmp_path: Path, redis_url: str, redis_server: RedisServer
) -> None:
    """Redis restarts empty under an idle worker: rq's loop reconnects by itself, and the
    worker writes its registration again, so a successor after SIGKILL is not refused."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    ledger(url)
    connection = Redis.from_url(redis_url)
    workers = Workers(tmp_path, url, redis_url, "idle")

    def registered(process: subprocess.Popen) -> bool:
        try:
            return connection.hget("rq:worker:idle-1", "pid") == str(process.pid).encode()
        except (OSError, RedisError):
            return False

    try:
        first, log = workers.start("idle-1")
        until(lambda: registered(first), what="the worker to register", workers=[(first, log)])
        redis_server.restart()  # empty: the registration is gone
        until(
            lambda: registered(first),
            what="the worker to register again",
            workers=[(first, log)],
        )
        workers.kill(first)
        second, log = workers.start("idle-1")
        until(lambda: registered(second), what="its successor", workers=[(second, log)])
    finally:
        workers.stop_all()
        if redis_server.process is None:
            redis_server.start()
