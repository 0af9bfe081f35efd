"""Workers on several machines: routing throughput with 1 and 2 workers, and the recovery
after one is killed — each worker in a working folder of its own, no shared files.

    .venv/bin/python bench/multi_worker.py [--count 10000] [--chunk 500]

1. Trains a model on data/messages.csv (``duban train``) in the trainer's own DUBAN_HOME —
   the only folder that holds the model registry.
2. Starts a throw-away PostgreSQL cluster and a redis-server (tests/services), and, for each
   run, a fresh ledger in which the model is promoted (its files stored in the ledger).
3. Workers (``duban worker``) each get their own DUBAN_HOME and no DUBAN_MODEL_DIR: the
   model reaches them only through the ledger. Prints how long a new machine takes to
   fetch the model from the ledger, against reading the same bytes from its own disk.
4. Imports ``--count`` synthetic messages (bench/synth.py) through the queue, ``--chunk``
   per routing job, with 1 worker, then 2; messages/s from the start of the import until
   the last one is routed, and the ratio of 2 workers to 1.
5. 2 workers again, one killed with SIGKILL in the middle of a job once about half the
   tickets are open and restarted under its name (as systemd on its machine would): the
   time to route everything against the run without a kill, and a check that every
   message was routed exactly once (one ticket per message, no message left waiting).

No timing is asserted; the figures are ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from redis import Redis  # noqa: E402
from rq import Worker  # noqa: E402
from sqlmodel import col, func, select  # noqa: E402

from bench.synth import write_csv  # noqa: E402
from classifier.registry import MODEL_FILE, Registry, sha256_file  # noqa: E402
from duban.runtime import Runtime  # noqa: E402
from duban.settings import Settings  # noqa: E402
from intake.readers import ImportOptions, read_file  # noqa: E402
from ledger import schema  # noqa: E402
from ledger.directory import load_directory  # noqa: E402
from ledger.models import Message, MessageStatus, Ticket  # noqa: E402
from routing import pipeline  # noqa: E402
from routing.modelstore import fetch_version  # noqa: E402
from routing.training import promote_version, recorded_sha256  # noqa: E402


def train(home: Path) -> str:
    env = {**os.environ, "DUBAN_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "duban", "init"], env=env, check=True, capture_output=True
    )
    out = subprocess.run(
        [
            *(sys.executable, "-m", "duban", "train"),
            *("--input", str(REPO / "data" / "messages.csv"), "--label-col", "单位代码"),
            *("--promote", "--json"),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["version"]


def counts(rt: Runtime) -> dict[str, int]:
    with rt.session() as session:
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        distinct = session.exec(select(func.count(func.distinct(Ticket.message_id)))).one()
        messages = session.exec(select(func.count()).select_from(Message)).one()
        waiting = session.exec(
            select(func.count())
            .select_from(Message)
            .where(Message.status == MessageStatus.RECEIVED.value)
        ).one()
        duplicates = session.exec(  # 重复件: joined to their original's ticket
            select(func.count())
            .select_from(Message)
            .where(col(Message.duplicate_of_id).is_not(None))
        ).one()
    return {
        "messages": messages,
        "tickets": tickets,
        "distinct": distinct,
        "waiting": waiting,
        "duplicates": duplicates,
    }


class Run:
    """One fresh ledger on the cluster, the model promoted in it, workers of their own."""

    def __init__(self, cluster, redis, home: Path, registry: Registry, version: str, tag: str):
        self.url = cluster.create_database()
        self.redis = redis
        self.home = home / tag
        self.home.mkdir(parents=True, exist_ok=True)
        self.queue = f"bench-{tag}"
        Redis.from_url(redis.url).flushall()
        self.rt = Runtime(
            settings=Settings(
                home=self.home / "intake",
                database_url=self.url,
                redis_url=redis.url,
                queue_name=self.queue,
            )
        )
        schema.upgrade(self.rt.engine)
        with self.rt.session() as session:
            load_directory(session, REPO / "data" / "units.yaml")
            promote_version(session, registry, version, by="bench", now=self.rt.now())
        self.version = version
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str) -> subprocess.Popen:
        box = self.home / name
        box.mkdir(parents=True, exist_ok=True)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")},
            "DUBAN_DATABASE_URL": self.url,
            "DUBAN_REDIS_URL": self.redis.url,
            "DUBAN_HOME": str(box),  # its own machine: no model folder, no shared files
            "DUBAN_QUEUE_NAME": self.queue,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "duban", "worker", "--name", name],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=(box / "worker.log").open("ab"),
        )
        self.procs[name] = proc
        return proc

    def ready(self, names: list[str]) -> None:
        """Wait until each worker is registered (it loads the model before it registers)."""
        connection = Redis.from_url(self.redis.url)
        deadline = time.monotonic() + 300
        while {w.name for w in Worker.all(connection=connection)} < set(names):
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"worker {name} exited:\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise SystemExit("workers did not start in 300 s")
            time.sleep(0.2)

    def log(self, name: str) -> str:
        return (self.home / name / "worker.log").read_text(errors="replace")[-3000:]

    def current_job(self, name: str) -> str | None:
        worker = Worker.find_by_key(f"rq:worker:{name}", connection=Redis.from_url(self.redis.url))
        return worker.get_current_job_id() if worker is not None else None

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the worker and its work horse
        proc.wait(30)

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.rt.close()


def route(run: Run, csv_path: Path, *, kill: str | None = None) -> dict:
    """Import through the queue; seconds until nothing waits. ``kill``: that worker is
    killed mid-job once about half of the tickets are open, and restarted."""
    started = time.perf_counter()
    pipeline.file_items(
        run.rt.routing,
        read_file(csv_path, ImportOptions(tz=run.rt.tz)),
        keep_outcomes=False,
        parallel=True,
    )
    imported = time.perf_counter() - started
    total = counts(run.rt)["messages"]
    killed_at = None
    while True:
        now = counts(run.rt)
        if kill and killed_at is None and now["tickets"] >= total // 2 and run.current_job(kill):
            run.kill(kill)
            killed_at = time.perf_counter() - started
            run.start(kill)
        if now["waiting"] == 0 and (kill is None or killed_at is not None):
            break
        for name, proc in run.procs.items():
            if proc.poll() is not None:
                raise SystemExit(f"worker {name} exited:\n{run.log(name)}")
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "import_seconds": imported,
        "rate": total / seconds,
        "killed_at": killed_at,
        **counts(run.rt),
    }


def fetch_figures(run: Run, registry: Registry, version: str) -> dict:
    """A new machine's first load: the model's bytes from the ledger into its cache,
    against reading the same bytes from a local disk."""
    path = registry.folder(version) / MODEL_FILE
    started = time.perf_counter()
    sha256_file(path)
    local = time.perf_counter() - started
    target = Path(tempfile.mkdtemp(dir=run.home))
    with run.rt.session() as session:
        expected = recorded_sha256(session, version)
        started = time.perf_counter()
        fetch_version(session, version, target, expected_sha256=expected)
        fetched = time.perf_counter() - started
    return {"bytes": path.stat().st_size, "fetch": fetched, "local": local}


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on a kill
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=500, help="messages per routing job")
    args = parser.parse_args()
    pipeline.CHUNK = args.chunk

    from tests.services.postgres import start_cluster
    from tests.services.redis import start_redis

    home = Path(tempfile.mkdtemp(prefix="duban-bench-machines-"))
    csv_path = home / "export.csv"
    reposts = write_csv(csv_path, args.count)
    print(f"synthetic export: {args.count:,} messages ({reposts} reposts), {args.chunk} per job")
    trainer = home / "trainer"
    version = train(trainer)
    registry = Registry(trainer / "models")
    print(f"model {version} trained on the trainer's machine only ({trainer / 'models'})")

    cluster = start_cluster()
    redis = start_redis()
    results: dict[str, dict] = {}
    runs: list[Run] = []
    try:
        for tag, names, kill in (
            ("one", ["box-1"], None),
            ("two", ["box-1", "box-2"], None),
            ("kill", ["box-1", "box-2"], "box-2"),
        ):
            run = Run(cluster, redis, home, registry, version, tag)
            runs.append(run)
            if tag == "one":
                figures = fetch_figures(run, registry, version)
                print(
                    f"\nmodel {figures['bytes'] / 1e6:.1f} MB: fetched from the ledger into a"
                    f" cache in {figures['fetch']:.2f} s; hashing it from a local disk"
                    f" {figures['local']:.3f} s (×{figures['fetch'] / figures['local']:.1f})"
                )
            for name in names:
                run.start(name)
            run.ready(names)
            results[tag] = route(run, csv_path, kill=kill)
            run.stop()
    finally:
        for run in runs:
            with contextlib.suppress(Exception):
                run.stop()
        redis.stop()
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)

    one, two, kill = results["one"], results["two"], results["kill"]
    print(f"\n{'workers':<26}{'msg/s':>8}{'seconds':>9}{'import s':>10}{'tickets':>9}")
    for label, result in (
        ("1 (own folder)", one),
        ("2 (own folders)", two),
        ("2, one killed + restarted", kill),
    ):
        print(
            f"{label:<26}{result['rate']:>8.0f}{result['seconds']:>9.1f}"
            f"{result['import_seconds']:>10.1f}{result['tickets']:>9,}"
        )
    print(f"\n2 workers / 1 worker: ×{two['rate'] / one['rate']:.2f} messages/s")
    print(
        f"killed at {kill['killed_at']:.1f} s: everything routed at {kill['seconds']:.1f} s,"
        f" ×{kill['seconds'] / two['seconds']:.2f} the run without a kill"
        f" (+{kill['seconds'] - two['seconds']:.1f} s)"
    )
    for label, result in (("1", one), ("2", two), ("kill", kill)):
        once = result["tickets"] == result["distinct"] == result["messages"] - result["duplicates"]
        print(
            f"  {label}: {result['messages']:,} messages, {result['duplicates']} 重复件 joined,"
            f" {result['tickets']:,} tickets for {result['distinct']:,} messages,"
            f" {result['waiting']} waiting -> {'each routed once' if once else 'MISMATCH'}"
        )


if __name__ == "__main__":
    main()
