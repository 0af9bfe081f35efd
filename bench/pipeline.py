"""Bulk import + routing throughput: SQLite inline, and PostgreSQL with rq workers.

    .venv/bin/python bench/pipeline.py [--count 100000] [--workers 2] [--skip-postgres]
        [--timeout 300] [--statements 15]

1. Writes ``--count`` synthetic messages (bench/synth.py, recombined from data/messages.csv)
   as a 留言板 CSV export.
2. Trains a model on data/messages.csv (``duban train``) and promotes it, as an office would.
3. SQLite, jobs inline: ``duban intake``'s code path (read the CSV, normalise, dedupe,
   redact, store, classify, open tickets, write 交办 cards) end to end; prints messages/s and
   the process's resident memory as the import goes (it should stay flat).
   Then its floor, measured in the same run over what the import stored: rjieba cutting
   the texts, the predictor over them, and a raw ``executemany`` of every row the import
   wrote (messages, bands, complainants, tickets, events, notifications) into an empty
   copy of the schema; the import's time is printed as a ratio to it.
4. PostgreSQL + Redis: the same import enqueues one routing job per chunk; ``--workers`` rq
   worker processes (``duban worker``) route them. Prints messages/s from the start of the
   import until the last ticket is open, and its ratio to the SQLite import's rate.
   Stops with a message (exit 1) when a worker dies, or when nothing is routed for
   ``--timeout`` seconds. ``--statements N`` loads pg_stat_statements into the bench's
   cluster (nested statements too: the foreign-key checks) and lists the N statements
   that took the server longest on the clock, with calls and milliseconds per 1,000
   messages.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlmodel import func, select  # noqa: E402

from bench.synth import write_csv  # noqa: E402
from classifier.registry import Registry  # noqa: E402
from duban.runtime import Runtime  # noqa: E402
from duban.settings import Settings  # noqa: E402
from intake.readers import ImportOptions, read_file  # noqa: E402
from ledger import schema  # noqa: E402
from ledger.directory import load_directory  # noqa: E402
from ledger.models import Message, MessageStatus, Ticket  # noqa: E402
from routing import pipeline  # noqa: E402
from routing.training import record_promotion  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    """Peak resident memory of this process and, separately, of its finished children."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the import's preparing
    process ends with the import): on a shared machine, steadier than the wall clock."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def train(home: Path) -> dict:
    env = {**os.environ, "DUBAN_HOME": str(home)}
    # Training resolves labels against a ledger's units: an office has run `duban init`.
    subprocess.run(
        [sys.executable, "-m", "duban", "init"], env=env, check=True, capture_output=True
    )
    started = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "duban",
            "train",
            "--input",
            str(REPO / "data" / "messages.csv"),
            "--label-col",
            "单位代码",
            "--promote",
            "--json",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    summary = json.loads(out.stdout)
    summary["seconds"] = time.perf_counter() - started
    return summary


def fresh_ledger(rt: Runtime) -> None:
    schema.upgrade(rt.engine)
    registry = Registry(rt.settings.models_path)
    with rt.session() as session:
        load_directory(session, REPO / "data" / "units.yaml")
        if registry.current():  # this ledger, too, records the promoted model's sha256
            record_promotion(session, registry, registry.current(), by="bench", now=rt.now())


def counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.session() as session:
        messages = session.exec(select(func.count()).select_from(Message)).one()
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        waiting = session.exec(
            select(func.count())
            .select_from(Message)
            .where(Message.status == MessageStatus.RECEIVED.value)
        ).one()
    return messages, tickets, waiting


def run_sqlite(csv_path: Path, home: Path, count: int) -> dict:
    rt = Runtime(settings=Settings(home=home / "sqlite", model_dir=home / "models"))
    fresh_ledger(rt)
    rt.predictor()  # load the model before timing, as a running service has it loaded
    samples: list[tuple[int, float]] = []
    original = pipeline._store_and_route

    def chunk_with_memory(ctx, batch, **kwargs):
        result = original(ctx, batch, **kwargs)
        samples.append((len(samples) * pipeline.CHUNK + len(batch.items), rss_mb()))
        return result

    pipeline._store_and_route = chunk_with_memory
    started, cpu = time.perf_counter(), cpu_seconds()
    try:
        summary = pipeline.file_items(
            rt.routing,
            read_file(csv_path, ImportOptions(tz=rt.tz)),
            keep_outcomes=False,
            parallel=True,
        )
    finally:
        pipeline._store_and_route = original
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    marks = [samples[max(0, int(len(samples) * f) - 1)] for f in (0.1, 0.5, 1.0)]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rate": count / seconds,
        "summary": summary,
        "rss": marks,
        "peak": peak_mb(),
        "child_peak": children_peak_mb(),
        "counts": counts(rt),
        "floor": floor(rt),
    }


# The tables an import writes, in an order their foreign keys accept.
WRITTEN = ("message", "messageband", "complainant", "ticket", "event", "notification")


def floor(rt: Runtime, chunk: int = 1000) -> dict:
    """The import's physical floor, from the rows it stored: segmenting and classifying
    the texts, and inserting the same rows with the driver's ``executemany``."""
    predictor = rt.predictor()
    path = Path(rt.engine.url.database)
    source = sqlite3.connect(path)
    texts = [
        f"{title}\n{text}" if title else text
        for title, text in source.execute("SELECT title, text FROM message ORDER BY id")
    ]
    figures = {"rows": 0, "segment": 0.0, "predict": 0.0, "insert": 0.0, "cpu": 0.0}
    segmenter = predictor.pipeline.named_steps["segment"].segmenter if predictor else None
    if predictor is not None:  # loaded, its dictionary built: as the import had them
        predictor.predict(texts[:10])
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        if segmenter is not None:
            began, cpu = time.perf_counter(), time.process_time()
            segmenter.cut_many(part)
            figures["segment"] += time.perf_counter() - began
            figures["cpu"] += time.process_time() - cpu
        if predictor is not None:
            began, cpu = time.perf_counter(), time.process_time()
            predictor.predict(part)
            figures["predict"] += time.perf_counter() - began
            figures["cpu"] += time.process_time() - cpu
    target_path = path.with_name("floor.db")
    target = sqlite3.connect(target_path)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        target.execute(f"PRAGMA {pragma}")  # as ledger.db sets them
    for (sql,) in source.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY type = 'index'"
    ):
        target.execute(sql)
    target.commit()
    tables = [
        name
        for (name,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    # What the import did not write (units, people, the model's record …) is there before
    # the clock starts, as it was in the ledger.
    for table in [*(t for t in tables if t not in WRITTEN), *WRITTEN]:
        rows = source.execute(f'SELECT * FROM "{table}"')
        width = len(rows.description)
        statement = f'INSERT INTO "{table}" VALUES ({", ".join("?" * width)})'
        while batch := rows.fetchmany(10_000):
            began, cpu = time.perf_counter(), time.process_time()
            target.executemany(statement, batch)
            if table in WRITTEN:
                figures["insert"] += time.perf_counter() - began
                figures["cpu"] += time.process_time() - cpu
                figures["rows"] += len(batch)
        if table not in WRITTEN:
            target.commit()
    began, cpu = time.perf_counter(), time.process_time()
    target.commit()
    figures["insert"] += time.perf_counter() - began
    figures["cpu"] += time.process_time() - cpu
    target.close()
    source.close()
    target_path.unlink()
    figures["floor"] = figures["segment"] + figures["predict"] + figures["insert"]
    return figures


class WorkersGone(RuntimeError):
    """The rq workers died or stopped routing: the run cannot finish."""


def check_workers(procs: list[subprocess.Popen], logs: list[Path]) -> None:
    """Raise WorkersGone when a worker process has exited, with the end of its log."""
    for proc, log in zip(procs, logs, strict=True):
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise WorkersGone(
                f"rq worker {proc.args[-1]} exited with code {proc.returncode} before the "
                f"messages were routed; the end of {log}:\n{tail}"
            )


def wait_for_routing(
    rt: Runtime, procs: list[subprocess.Popen], *, timeout: float, logs: list[Path]
) -> tuple[int, int, int]:
    """Wait until no message waits for routing; raise WorkersGone when a worker dies, or
    when ``timeout`` seconds pass without a single message routed (workers alive but stuck)."""
    last, progressed = None, time.monotonic()
    while True:
        messages, tickets, waiting = counts(rt)
        if waiting == 0:
            return messages, tickets, waiting
        check_workers(procs, logs)
        if waiting != last:
            last, progressed = waiting, time.monotonic()
        elif time.monotonic() - progressed > timeout:
            raise WorkersGone(
                f"no message routed for {timeout:.0f} s ({waiting:,} still waiting) although "
                f"the workers are running; see their logs: {', '.join(map(str, logs))}"
            )
        time.sleep(0.5)


def wait_for_workers(
    redis_url: str, procs: list[subprocess.Popen], *, timeout: float, logs: list[Path]
) -> float:
    """Seconds until every worker has registered with Redis (rq registers a worker once
    ``duban worker`` has loaded the model); WorkersGone when one dies or ``timeout`` passes."""
    from redis import Redis
    from rq import Worker

    began = time.monotonic()
    with Redis.from_url(redis_url) as connection:
        while len(Worker.all(connection=connection)) < len(procs):
            check_workers(procs, logs)
            if time.monotonic() - began > timeout:
                raise WorkersGone(
                    f"the workers did not start within {timeout:.0f} s; see their logs: "
                    f"{', '.join(map(str, logs))}"
                )
            time.sleep(0.2)
    return time.monotonic() - began


def process_cpu(pid: int) -> float:
    """CPU seconds of a running process and of the children it has reaped (rq's work
    horses, one per job)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


STATEMENTS = ("shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all")


def run_postgres(
    csv_path: Path,
    home: Path,
    count: int,
    workers: int,
    timeout: float = 300.0,
    statements: int = 0,
) -> dict:
    from tests.services.postgres import start_cluster
    from tests.services.redis import start_redis

    cluster = start_cluster(STATEMENTS if statements else ())
    redis = start_redis()
    procs: list[subprocess.Popen] = []
    try:
        url = cluster.create_database()
        if statements:
            _admin(url, "CREATE EXTENSION pg_stat_statements")
        settings = Settings(
            home=home / "pg",
            database_url=url,
            redis_url=redis.url,
            model_dir=home / "models",
            queue_name="bench",
        )
        rt = Runtime(settings=settings)
        fresh_ledger(rt)
        env = {
            **os.environ,
            "DUBAN_DATABASE_URL": url,
            "DUBAN_REDIS_URL": redis.url,
            "DUBAN_HOME": str(home / "pg"),
            "DUBAN_MODEL_DIR": str(home / "models"),
            "DUBAN_QUEUE_NAME": "bench",
        }
        for index in range(workers):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "duban", "worker", "--name", f"bench-{index}"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=(home / f"worker-{index}.log").open("wb"),
                )
            )
        logs = [home / f"worker-{i}.log" for i in range(workers)]
        # The workers load the model before the clock starts, as running workers have it
        # (on a loaded machine that takes longer than any fixed sleep).
        ready = wait_for_workers(redis.url, procs, timeout=timeout, logs=logs)
        before = sum(process_cpu(proc.pid) for proc in procs)
        if statements:
            _admin(url, "SELECT pg_stat_statements_reset()")
        server = postgres_cpu(cluster.root / "data")
        started, cpu = time.perf_counter(), cpu_seconds()
        pipeline.file_items(
            rt.routing,
            read_file(csv_path, ImportOptions(tz=rt.tz)),
            keep_outcomes=False,
            parallel=True,
        )
        imported, import_cpu = time.perf_counter() - started, cpu_seconds() - cpu
        messages, tickets, waiting = wait_for_routing(rt, procs, timeout=timeout, logs=logs)
        seconds = time.perf_counter() - started
        server = postgres_cpu(cluster.root / "data") - server
        routing_cpu = sum(process_cpu(proc.pid) for proc in procs) - before
        top = top_statements(url, statements) if statements else []
        cpu = cpu_seconds()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        return {
            "seconds": seconds,
            "import_seconds": imported,
            "rate": count / seconds,
            "counts": (messages, tickets, waiting),
            "cpu": {
                "import": import_cpu,
                "workers": cpu_seconds() - cpu,  # with their start-up, before the clock
                "routing": routing_cpu,  # the workers' (and their jobs') on the clock
                "server": server,
            },
            "ready": ready,
            "statements": top,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        redis.stop()
        cluster.stop()


def _admin(url: str, sql: str) -> list[tuple]:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def top_statements(url: str, limit: int) -> list[tuple]:
    """(calls, total ms, rows, query) of the ``limit`` statements that took the bench's
    database longest since the reset (top-level and nested: a foreign key's check is one)."""
    return _admin(
        url,
        "SELECT s.calls, s.total_exec_time, s.rows, s.toplevel, s.query"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        " WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'"
        f" ORDER BY s.total_exec_time DESC LIMIT {int(limit)}",
    )


def postgres_cpu(data: Path) -> float:
    """CPU seconds used so far by a PostgreSQL cluster: the postmaster, the backends it
    has reaped and the ones still running."""
    try:
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:  # its own time and its reaped children's
            total += sum(int(v) for v in fields[11:15]) / tick
        elif parent == postmaster:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # stop the servers on a kill
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        help="list the N statements that took PostgreSQL longest (pg_stat_statements)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="give up when the workers route nothing for this many seconds",
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="duban-bench-"))
    try:
        csv_path = home / "export.csv"
        reposts = write_csv(csv_path, args.count)
        print(
            f"synthetic export: {args.count} messages ({reposts} reposts), "
            f"{csv_path.stat().st_size / 1e6:.1f} MB"
        )
        model = train(home)
        print(
            f"model {model.get('version')} trained in {model['seconds']:.1f} s "
            f"(cv macro-F1 {model.get('metrics', {}).get('macro_f1', float('nan')):.3f})"
        )
        result = run_sqlite(csv_path, home, args.count)
        summary = result["summary"]
        print(
            f"\nSQLite, jobs inline: {result['rate']:,.0f} messages/s "
            f"({args.count:,} in {result['seconds']:.1f} s)"
        )
        print(
            f"  opened {summary.opened:,}  triage {summary.triage:,}  duplicates "
            f"{summary.duplicates:,}  rejected {summary.rejected:,}"
        )
        print(
            "  resident memory at 10 % / 50 % / 100 % of the import: "
            + " / ".join(f"{mb:.0f} MB" for _, mb in result["rss"])
            + f"; peak {result['peak']:.0f} MB (the preparing process: "
            f"{result['child_peak']:.0f} MB)"
        )
        low = result["floor"]
        print(
            f"  floor {low['floor']:.1f} s: rjieba {low['segment']:.1f} s + predictor "
            f"{low['predict']:.1f} s + raw executemany of the same {low['rows']:,} rows "
            f"{low['insert']:.1f} s; the import is x{result['seconds'] / low['floor']:.2f} "
            f"the floor (x{result['seconds'] / (low['predict'] + low['insert']):.2f} of "
            "the predictor, which segments too, + executemany)"
        )
        print(
            f"  by CPU time (both processes of the import): x{result['cpu'] / low['cpu']:.2f} "
            f"the floor ({result['cpu']:.1f} CPU-s against {low['cpu']:.1f})"
        )
        if not args.skip_postgres:
            try:
                pg = run_postgres(
                    csv_path, home, args.count, args.workers, args.timeout, args.statements
                )
            except WorkersGone as exc:
                print(f"\nPostgreSQL + Redis: stopped, {exc}", file=sys.stderr)
                sys.exit(1)
            print(
                f"\nPostgreSQL + Redis, {args.workers} rq workers: {pg['rate']:,.0f} messages/s "
                f"end to end ({pg['seconds']:.1f} s; the import itself "
                f"{pg['import_seconds']:.1f} s)"
            )
            print(f"  messages {pg['counts'][0]:,}  tickets {pg['counts'][1]:,}")
            used = pg["cpu"]
            print(
                f"  CPU: the import {used['import']:.1f} s, the workers {used['workers']:.1f} s, "
                f"PostgreSQL {used['server']:.1f} s (SQLite's whole import: {result['cpu']:.1f} s)"
            )
            print(
                f"  the workers started in {pg['ready']:.1f} s before the clock; on the clock "
                f"they used {used['routing']:.1f} CPU-s"
            )
            print(
                f"  PostgreSQL / SQLite messages/s: x{pg['rate'] / result['rate']:.2f} "
                "(target at least x0.8)"
            )
            spent = used["import"] + used["routing"] + used["server"]
            print(
                f"  by CPU time: SQLite's import {result['cpu']:.1f} CPU-s against PostgreSQL's "
                f"{spent:.1f} on the clock (import + workers + server): "
                f"x{result['cpu'] / spent:.2f} (steadier than the wall clock on a shared machine)"
            )
            if pg["statements"]:
                per = 1000 / args.count
                print(
                    "  PostgreSQL's statements by time on the clock (per 1,000 messages; "
                    "* nested, e.g. a foreign key's check):"
                )
                for calls, total, rows, toplevel, query in pg["statements"]:
                    print(
                        f"  {total * per:8.1f} ms {calls * per:8.1f} calls {rows * per:9.0f} rows"
                        f" {' ' if toplevel else '*'} {' '.join(query.split())[:110]}"
                    )
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
