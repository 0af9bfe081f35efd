"""Workers on several machines (issue 14): ``duban worker`` subprocesses, each with its own
working folder (DUBAN_HOME) and no model folder — nothing shared but one PostgreSQL and one
Redis, as on separate machines. The promoted model reaches them through the ledger.

One worker is killed with SIGKILL in the middle of a job and restarted under its name (as
systemd on its machine does); every message is routed exactly once. A promotion made on the
trainer's machine reaches the running workers at their next job: the tickets routed after it
name the new version.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import psycopg
import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import func
from sqlmodel import col, select

import routing.pipeline
from classifier.registry import MODEL_FILE, Registry, sha256_file
from classifier.segment import Segmenter
from classifier.train import train, user_dictionary
from ledger.models import Ticket
from routing.pipeline import file_items
from routing.training import promote_version
from tests.classifier.conftest import small_sample
from tests.conftest import DATA_DIR
from tests.helpers import local
from tests.routing.test_outage import Workers, counts, ledger, messages, runtime_on, until

pytestmark = [pytest.mark.postgres]

NOW = local(2026, 12, 1, 9)
QUEUE = "machines"


class Machines(Workers):
    """``duban worker`` processes, each in a DUBAN_HOME of its own (its "machine")."""

    def start(self, name: str) -> tuple[subprocess.Popen, Path]:
        self.env = {**self.env, "DUBAN_HOME": str(self.tmp_path / name)}
        return super().start(name)


def trained_version(registry: Registry, *, skip: int, seed: int) -> str:
    sample = small_sample(skip=skip, per_unit=8)
    segmenter = Segmenter("rjieba", user_dictionary(DATA_DIR))
    return registry.save(train(sample.texts, sample.labels, segmenter=segmenter, seed=seed)).name


def versions_of_tickets(rt, after_id: int = 0) -> dict[str | None, int]:
    with rt.session() as session:
        rows = session.exec(
            select(Ticket.classifier_version, func.count())
            .where(col(Ticket.id) > after_id)
            .group_by(Ticket.classifier_version)
        ).all()
    return dict(rows)


@pytest.mark.slow
@pytest.mark.redis
def test_workers_on_separate_machines_route_each_message_once_and_follow_promotions(
    tmp_path: Path, pg_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routing.pipeline, "CHUNK", 20)
    ledger(pg_url)
    trainer = Registry(tmp_path / "trainer" / "models")  # only the trainer's machine has it
    first = trained_version(trainer, skip=0, seed=0)
    rt = runtime_on(tmp_path / "intake", pg_url, redis_url, QUEUE)
    with rt.session() as session:
        promote_version(session, trainer, first, by="admin", now=NOW, action="manual")

    machines = Machines(tmp_path, pg_url, redis_url, QUEUE)
    connection = Redis.from_url(redis_url)
    names = ["box-1", "box-2", "box-3"]
    try:
        for name in names:
            machines.start(name)
        until(
            lambda: len(Worker.all(connection=connection)) == 3,
            what="three workers registered",
            workers=machines.running,
        )
        total = 400
        items = list(messages(total + 100, seed=14))  # distinct texts: no 重复件
        # Routing waits at the ticket-number counter until this lock is let go, so box-2 is
        # surely mid-job when it is killed (jobs run in the worker's process: fast enough to
        # route all 400 before a poll could see box-2 busy).
        blocker = psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"))
        blocker.execute("LOCK TABLE counter IN EXCLUSIVE MODE")
        summary = file_items(rt.routing, items[:total])
        assert summary.received == total and summary.queued == total

        def busy() -> str | None:
            worker = Worker.find_by_key("rq:worker:box-2", connection=connection)
            return worker.get_current_job_id() if worker is not None else None

        until(lambda: busy() is not None, what="box-2 to take a job", workers=machines.running)
        job_id = busy()
        assert job_id is not None and counts(rt)[1] < total, "all routed before the kill"
        machines.kill(machines.running[1][0])  # mid-job: its transaction is rolled back
        machines.running.pop(1)
        blocker.rollback()
        blocker.close()
        machines.start("box-2")  # its machine's systemd restarts it, under its name
        until(
            lambda: counts(rt) == (total, total, 0),
            what="every message routed",
            timeout=300,
            workers=machines.running,
        )
        with rt.session() as session:
            message_ids = session.exec(select(Ticket.message_id)).all()
            last = session.exec(select(func.max(Ticket.id))).one()
        assert len(message_ids) == len(set(message_ids)) == total  # once each, none lost
        assert versions_of_tickets(rt) == {first: total}

        # A new version promoted on the trainer's machine: the running workers load it at
        # their next job (no restart), from the ledger into their own cache.
        second = trained_version(trainer, skip=8, seed=1)
        with rt.session() as session:
            promote_version(session, trainer, second, by="admin", now=NOW, action="manual")
        more = file_items(rt.routing, items[total:])
        assert more.queued == 100
        until(
            lambda: counts(rt) == (total + 100, total + 100, 0),
            what="the messages after the promotion routed",
            timeout=300,
            workers=machines.running,
        )
        assert versions_of_tickets(rt, after_id=last) == {second: 100}
        assert all(process.poll() is None for process, _ in machines.running)
    finally:
        machines.stop_all()

    expected = sha256_file(trainer.folder(second) / MODEL_FILE)
    cached = [tmp_path / name / "cache" / "models" / second / MODEL_FILE for name in names]
    assert [sha256_file(path) for path in cached if path.exists()]  # fetched, not shared
    assert all(sha256_file(path) == expected for path in cached if path.exists())
    assert not any((tmp_path / name / "models").exists() for name in names)
    assert os.listdir(trainer.root) and trainer.current() == second


# -- the scheduler on several machines -----------------------------------------------------------


def test_two_schedulers_ticking_at_once_without_redis_notify_and_escalate_once(
    tmp_path: Path, pg_url: str
) -> None:
    """Redis unreachable: the scheduler on each machine runs the reminders itself, at the
    same moment. Each overdue notice is written once and each ticket escalated once."""
    from datetime import date

    from duban.cli.jobs import tick
    from ledger import tickets as T
    from ledger.directory import find_unit
    from ledger.models import Event, Notification
    from tests.helpers import Clock, make_ticket
    from tests.services.postgres import free_port

    ledger(pg_url)
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    boxes = [runtime_on(tmp_path / name, pg_url, nowhere, QUEUE) for name in ("a", "b")]
    received = local(2026, 11, 2, 9)  # Monday; 5 working days: due Monday 11-09
    with boxes[0].session() as session:
        for index in range(6):
            ticket = make_ticket(
                session,
                boxes[0].rules,
                received_at=received,
                kind="instruction",
                time_limit_days=5,
                external_id=f"late-{index}",
                text=f"东湖路{index}号路灯不亮",
            )
            T.assign(
                session,
                ticket,
                find_unit(session, "zjj"),
                actor=T.Actor.system("t"),
                now=received,
                routed_by="manual",
            )
    for rt in boxes:  # Thursday 11-12: three working days overdue, a 通报 is due
        rt.clock = Clock(local(2026, 11, 12, 10))
        assert rt.rules.local_date(rt.now()) == date(2026, 11, 12)
    barrier = threading.Barrier(2)
    results: list[dict[str, object]] = []
    failures: list[BaseException] = []

    def run(rt) -> None:
        try:
            barrier.wait(30)
            results.append(tick(rt, interval=60))
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in boxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, repr(failures)
    assert all("redis_unavailable" in result for result in results)
    escalated = sum(result["reminders"]["escalated"] for result in results)  # type: ignore[index]
    assert escalated == 6  # by one scheduler or the other, never both
    with boxes[0].session() as session:
        keys = session.exec(select(Notification.dedupe_key)).all()
        events = session.exec(
            select(Event.ticket_id, func.count())
            .where(Event.action == "escalate")
            .group_by(Event.ticket_id)
        ).all()
    assert len(keys) == len(set(keys))
    assert sum(key.startswith("overdue:") for key in keys) == 6
    assert sorted(count for _, count in events) == [1] * 6
