"""Outage scenarios on PostgreSQL + Redis + rq workers: recovery times and counts.

    .venv/bin/python bench/faults.py [--count 10000] [--workers 2] [--outage 10]

Each scenario imports ``--count`` synthetic messages (bench/synth.py) into a fresh
PostgreSQL database while ``--workers`` ``duban worker`` processes route them, with one
fault injected:

- baseline      no fault: the import speed every other figure is compared with;
- redis-stop    Redis stops a quarter into the import and comes back (empty) ``--outage``
                seconds later; then one sweep (what the scheduler's next tick does);
- worker-kill   a worker is SIGKILLed (with its work horse) mid-import and restarted at
                once under the same name;
- inline-sweep  ``duban sweep`` without a queue runs beside the workers on a backlog;
- pg-restart    PostgreSQL restarts (fast mode) a quarter into the import.

Printed per scenario: import seconds and messages/s, messages stranded, recovery seconds
(from the end of the fault, or of the import, until every message is routed) and that as
a ratio of the baseline import time, and the counts (stored, tickets, still waiting,
duplicate tickets) — nothing accepted lost, nothing doubled.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlmodel import func, select  # noqa: E402

from bench.synth import write_csv  # noqa: E402
from duban.runtime import Runtime  # noqa: E402
from duban.settings import Settings  # noqa: E402
from intake.items import IntakeItem  # noqa: E402
from intake.readers import ImportOptions, read_file  # noqa: E402
from ledger import schema  # noqa: E402
from ledger.directory import load_directory  # noqa: E402
from ledger.models import Message, MessageStatus, Ticket  # noqa: E402
from routing import pipeline  # noqa: E402
from routing.sweeper import sweep  # noqa: E402
from tests.services.postgres import PostgresCluster, start_cluster  # noqa: E402
from tests.services.redis import RedisServer, start_redis  # noqa: E402

WAITING = [MessageStatus.RECEIVED.value, MessageStatus.DUPLICATE.value]


class Bench:
    def __init__(self, home: Path, csv_path: Path, count: int, workers: int) -> None:
        self.home, self.csv_path, self.count, self.workers = home, csv_path, count, workers
        self.cluster: PostgresCluster = start_cluster()
        self.redis: RedisServer = start_redis()
        self.procs: list[subprocess.Popen] = []

    def close(self) -> None:
        self.stop_workers()
        self.redis.stop()
        self.cluster.stop()

    # -- set-up ------------------------------------------------------------------------------

    def fresh(self, name: str) -> Runtime:
        import redis

        self.stop_workers()  # the last scenario's workers route into its own ledger
        if self.redis.process is None:
            self.redis.start()
        redis.Redis.from_url(self.redis.url).flushall()
        self.url = self.cluster.create_database()
        settings = Settings(
            home=self.home / name,
            database_url=self.url,
            redis_url=self.redis.url,
            queue_name="faults",
        )
        rt = Runtime(settings=settings)
        schema.upgrade(rt.engine)
        with rt.session() as session:
            load_directory(session, REPO / "data" / "units.yaml")
        self.env = {
            **os.environ,
            "DUBAN_DATABASE_URL": self.url,
            "DUBAN_REDIS_URL": self.redis.url,
            "DUBAN_HOME": str(self.home / name),
            "DUBAN_QUEUE_NAME": "faults",
        }
        started = time.perf_counter()
        for index in range(self.workers):
            self.start_worker(f"fault-{index}")
        for proc in self.procs:
            self.wait_registered(proc)
        self.startup_seconds = time.perf_counter() - started
        return rt

    def wait_registered(self, proc: subprocess.Popen, name: str | None = None) -> bool:
        """Until the worker's rq registration carries its pid (False if it exited)."""
        import redis

        connection = redis.Redis.from_url(self.redis.url)
        key = f"rq:worker:{name or f'fault-{self.procs.index(proc)}'}"
        while int(connection.hget(key, "pid") or 0) != proc.pid:
            if proc.poll() is not None:
                return False
            time.sleep(0.05)
        return True

    def start_worker(self, name: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "duban", "worker", "--name", name],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.home / f"{name}.log").open("ab"),
        )
        self.procs.append(proc)
        return proc

    def kill_worker(self, proc: subprocess.Popen) -> None:
        for pid in [proc.pid, *descendants(proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        proc.wait(30)

    def stop_workers(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill_worker(proc)
        self.procs = []

    def items(self, rt: Runtime) -> Iterator[IntakeItem]:
        return read_file(self.csv_path, ImportOptions(tz=rt.tz))

    def restart_postgres(self) -> None:
        data, log = self.cluster.root / "data", self.cluster.root / "server.log"
        self.cluster._run("pg_ctl", "-D", str(data), "-l", str(log), "-m", "fast", "-w", "restart")

    # -- measuring ---------------------------------------------------------------------------

    def import_all(self, rt: Runtime, items: Any = None) -> float:
        started = time.perf_counter()
        pipeline.file_items(rt.routing, items or self.items(rt), keep_outcomes=False, parallel=True)
        return time.perf_counter() - started

    def until_routed(self, rt: Runtime, timeout: float = 3600) -> float:
        started = time.perf_counter()
        while counts(rt)["waiting"]:
            if time.perf_counter() - started > timeout:
                break
            time.sleep(0.25)
        return time.perf_counter() - started


def counts(rt: Runtime) -> dict[str, int]:
    with rt.session() as session:
        stored = session.exec(select(func.count()).select_from(Message)).one()
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        distinct = session.exec(select(func.count(func.distinct(Ticket.message_id)))).one()
        waiting = session.exec(
            select(func.count()).select_from(Message).where(Message.status.in_(WAITING))
        ).one()
    return {
        "stored": stored,
        "tickets": tickets,
        "waiting": waiting,
        "duplicate_tickets": tickets - distinct,
    }


def descendants(pid: int) -> list[int]:
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


def when_stored(rt: Runtime, share: float, count: int, action: Any) -> threading.Thread:
    """Run ``action`` once ``share`` of the import is stored (polled from the ledger)."""

    def watch() -> None:
        while True:
            try:
                stored = counts(rt)["stored"]
            except OperationalError:  # the ledger restarting under us: look again
                stored = 0
            if stored >= share * count:
                action()
                return
            time.sleep(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# -- scenarios -------------------------------------------------------------------------------------


def baseline(b: Bench) -> dict[str, Any]:
    rt = b.fresh("baseline")
    seconds = b.import_all(rt)
    routed = b.until_routed(rt)
    return {"import_seconds": seconds, "routed_after_import": routed, **counts(rt)}


def redis_stop(b: Bench, outage: float) -> dict[str, Any]:
    rt = b.fresh("redis-stop")
    marks: dict[str, float] = {}

    def stop() -> None:
        b.redis.stop()
        marks["stopped"] = time.perf_counter()
        time.sleep(outage)
        b.redis.start()
        marks["started"] = time.perf_counter()

    watcher = when_stored(rt, 0.25, b.count, stop)
    seconds = b.import_all(rt)
    watcher.join()
    stranded = counts(rt)["waiting"]
    swept_at = time.perf_counter()
    handed = sweep(rt.routing, rt.queue(), grace=timedelta(0))
    b.until_routed(rt)
    recovery = time.perf_counter() - swept_at  # the sweep itself included
    return {
        "import_seconds": seconds,
        "outage_seconds": marks["started"] - marks["stopped"],
        "waiting_after_import": stranded,
        "swept": handed,
        "recovery_seconds": recovery,
        "recovery_messages_per_s": handed / max(recovery, 1e-9),
        **counts(rt),
    }


def worker_kill(b: Bench) -> dict[str, Any]:
    rt = b.fresh("worker-kill")
    marks: dict[str, float] = {}

    def kill() -> None:
        victim = b.procs[0]
        b.kill_worker(victim)
        marks["killed"] = time.perf_counter()
        b.procs.remove(victim)
        restarted = b.start_worker("fault-0")
        marks["restarted"] = time.perf_counter()
        marks["alive"] = b.wait_registered(restarted, "fault-0")
        marks["registered"] = time.perf_counter()

    startup = b.startup_seconds
    watcher = when_stored(rt, 0.25, b.count, kill)
    seconds = b.import_all(rt)
    watcher.join()
    back = marks["registered"] - marks["restarted"]
    routed = b.until_routed(rt)
    return {
        "import_seconds": seconds,
        "fresh_workers_registered_seconds": startup,
        "restarted_worker_registered_seconds": back,
        "restarted_worker_alive": marks["alive"],
        "routed_after_import": routed,
        **counts(rt),
    }


def inline_sweep(b: Bench) -> dict[str, Any]:
    rt = b.fresh("inline-sweep")
    b.stop_workers()
    b.redis.stop()  # the import leaves everything stranded
    seconds = b.import_all(rt)
    b.redis.start()
    for index in range(b.workers):
        b.start_worker(f"fault-{index}")
    with rt.session() as session:  # the sweeper's grace period has passed
        session.execute(text("UPDATE message SET created_at = created_at - interval '5 minutes'"))
    sweep(rt.routing, rt.queue())  # the workers get the backlog ...
    env = {k: v for k, v in b.env.items() if k != "DUBAN_REDIS_URL"}
    started = time.perf_counter()
    cli = subprocess.run(  # ... and `duban sweep` without a queue routes it beside them
        [sys.executable, "-m", "duban", "sweep", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    b.until_routed(rt)
    return {
        "import_seconds": seconds,
        "sweep_exit_code": cli.returncode,
        "sweep_output": (cli.stdout or cli.stderr).strip()[-300:],
        "recovery_seconds": time.perf_counter() - started,
        **counts(rt),
    }


def pg_restart(b: Bench) -> dict[str, Any]:
    rt = b.fresh("pg-restart")
    marks: dict[str, float] = {}

    def restart() -> None:
        marks["down"] = time.perf_counter()
        b.restart_postgres()
        marks["up"] = time.perf_counter()

    watcher = when_stored(rt, 0.25, b.count, restart)
    error = None
    try:
        seconds = b.import_all(rt)
    except Exception as exc:  # reported, not hidden
        seconds, error = float("nan"), repr(exc)
    watcher.join()
    routed = b.until_routed(rt, timeout=600)
    return {
        "import_seconds": seconds,
        "restart_seconds": marks.get("up", 0) - marks.get("down", 0),
        "import_error": error,
        "routed_after_import": routed,
        **counts(rt),
    }


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on a kill
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds Redis is down")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--only",
        action="append",
        choices=["redis-stop", "worker-kill", "inline-sweep", "pg-restart"],
        help="run this scenario (repeatable); all by default",
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="duban-faults-"))
    csv_path = home / "export.csv"
    write_csv(csv_path, args.count)
    bench = Bench(home, csv_path, args.count, args.workers)
    results: dict[str, dict[str, Any]] = {}
    try:
        scenarios = {
            "redis-stop": lambda: redis_stop(bench, args.outage),
            "worker-kill": lambda: worker_kill(bench),
            "inline-sweep": lambda: inline_sweep(bench),
            "pg-restart": lambda: pg_restart(bench),
        }
        results["baseline"] = baseline(bench)
        for name in args.only or list(scenarios):
            results[name] = scenarios[name]()
    finally:
        bench.close()
    base = results["baseline"]["import_seconds"]
    rate = args.count / base
    if args.json:
        print(json.dumps({"count": args.count, "results": results}, ensure_ascii=False))
        return
    print(f"{args.count} messages, {args.workers} workers, PostgreSQL + Redis; logs in {home}")
    print(f"baseline import: {base:.1f} s, {rate:.0f} messages/s")
    for name, figures in results.items():
        print(f"\n{name}")
        for key, value in figures.items():
            if isinstance(value, float):
                ratio = ""
                if "seconds" in key:
                    ratio = f"  ({value / base:.2f} x baseline import time)"
                elif key.endswith("_per_s"):
                    ratio = f"  ({value / rate:.2f} x baseline import speed)"
                print(f"  {key:38} {value:10.1f}{ratio}")
            else:
                print(f"  {key:38} {value}")
        ok = figures["waiting"] == 0 and figures["duplicate_tickets"] == 0
        ok = ok and figures["stored"] == args.count
        print(f"  {'accounted for':38} {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
