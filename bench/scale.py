"""Scale: build realistic ledgers of N tickets, time the reports and desk operations at two
sizes in paired runs (issue 14).

    .venv/bin/python bench/scale.py build --tickets 1000000 --db sqlite:///var/scale/1m.db
        [--seed 7]
    .venv/bin/python bench/scale.py run --sizes 10000,1000000 [--db sqlite|postgresql] [--repeat 2]

``build`` fills an empty ledger (bench/ledgerbuild.py: the demo district, ~1,000 messages a
day ending at a fixed NOW, every ticket through its lifecycle, a backlog, duplicates).
``run`` builds (or reuses, under var/scale/, keyed by size and seed) one ledger per size and
times each operation in a fresh subprocess through the real CLI code path, alternating the
sizes (small, large, small, large …): CPU seconds (user + sys of the child) and peak
resident memory (the child's own VmHWM). It prints the medians and the ratio large / small
next to the issue's targets. Figures only; nothing is asserted.

Read the ratios knowing that the density is kept (N / 1000 days): a 10k ledger spans 10 days,
so its weekly report's eight trend weeks and its 超期 list are nearly empty, while 100k and 1M
cover them fully (100k against 1M is the pure growth of the ledger). On PostgreSQL the child's
CPU leaves out the server's own (the wall time is in the --json output).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.ledgerbuild import NOW, build_ledger  # noqa: E402

VAR = REPO / "var" / "scale"  # gitignored; builds are cached here by size and seed
AS_OF = "2026-11-23T10:00"  # NOW in the office's time
# The last complete week; the month so far (a 10k ledger, 10 days at ~1,000 a day, holds
# nothing of October: its 月讲评 of 2026-10 would be empty).
WEEK, MONTH = "2026-W47", "2026-11"
PASSWORD = "bench-password-1"
# operation -> (the target, ratio limit or None for "flat"/"linear")
TARGETS = {
    "weekly md": "CPU <= x2.5",
    "weekly xlsx": "CPU <= x2.5",
    "monthly": "CPU <= x2.5",
    "export": "MB <= x1.2, CPU ~ size ratio",
    "tickets list": "flat",
    "tickets show": "flat",
    "triage list": "flat",
    "web /tickets": "flat",
    "import 1000": "flat",
}


def cmd_build(args: argparse.Namespace) -> None:
    started = time.process_time()
    result = build_ledger(args.db, args.tickets, args.seed, days=args.days, progress=print)
    info = result.as_dict()
    info["cpu_seconds"] = round(time.process_time() - started, 1)
    if args.json:
        print(json.dumps(info, ensure_ascii=False))
        return
    print(
        f"{result.tickets:,} tickets ({result.messages:,} messages, {result.events:,} events) "
        f"in {result.seconds:.1f} s wall, {info['cpu_seconds']} CPU-s -> {args.db}"
    )
    print("  states: " + ", ".join(f"{k} {v:,}" for k, v in result.states.items()))
    print(f"  overdue at {result.now:%Y-%m-%d %H:%M} UTC: {result.overdue:,}")


# -- ledgers, the model, the import file ----------------------------------------------------------


def _last_json(path: Path) -> dict[str, Any]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return json.loads(lines[-1])


def sqlite_ledger(tickets: int, seed: int) -> tuple[str, dict[str, Any]]:
    """The cached SQLite ledger of ``tickets`` (built now when missing or incomplete)."""
    VAR.mkdir(parents=True, exist_ok=True)
    stem = VAR / f"sqlite-{tickets}-s{seed}"
    url = f"sqlite:///{stem}.db"
    marker = stem.with_suffix(".json")
    if marker.exists():
        print(f"reusing {stem}.db")
        return url, _last_json(marker)
    for suffix in (".db", ".db-wal", ".db-shm"):
        Path(f"{stem}{suffix}").unlink(missing_ok=True)
    print(f"building {tickets:,} tickets -> {stem}.db", flush=True)
    started = time.process_time()
    info = build_ledger(url, tickets, seed, progress=print).as_dict()
    info["cpu_seconds"] = round(time.process_time() - started, 1)
    print(f"  built in {info['seconds']} s wall, {info['cpu_seconds']} CPU-s", flush=True)
    marker.write_text(json.dumps(info, ensure_ascii=False) + "\n", encoding="utf-8")
    return url, info


def ensure_model() -> Path:
    """A classifier trained on data/messages.csv and promoted (as bench/pipeline.py does):
    imports route with it."""
    from classifier.registry import Registry

    models = VAR / "models"
    if Registry(models).current():
        return models
    home = VAR / "train-home"
    env = {**_clean_env(), "DUBAN_HOME": str(home), "DUBAN_MODEL_DIR": str(models)}
    run = [sys.executable, "-m", "duban"]
    subprocess.run([*run, "init"], env=env, check=True, capture_output=True)
    print("training the model for the import (data/messages.csv) …", flush=True)
    sample = str(REPO / "data" / "messages.csv")
    subprocess.run(
        [*run, "train", "--input", sample, "--label-col", "单位代码", "--promote", "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    return models


def prepare(url: str, models: Path) -> None:
    """Once per ledger: its schema at head (a cached ledger may predate a migration), the
    promoted model recorded in it, a supervisor's web password."""
    from sqlmodel import select

    from classifier.registry import Registry
    from ledger import schema
    from ledger.db import make_engine, session_scope
    from ledger.directory import get_person
    from ledger.models import ModelPromotion
    from routing.training import record_promotion
    from web.auth import set_password

    engine = make_engine(url)
    schema.upgrade(engine)
    registry = Registry(models)
    with session_scope(engine) as session:
        if session.exec(select(ModelPromotion)).first() is None:
            record_promotion(session, registry, registry.current(), by="bench", now=NOW)
            set_password(session, get_person(session, "ducha1"), PASSWORD, by="bench", now=NOW)
    engine.dispose()


def import_csv(seed: int) -> Path:
    """1,000 synthetic messages (bench/synth.py) received in the days before NOW."""
    from bench.synth import generate

    path = VAR / f"import-1000-s{seed}.csv"
    if path.exists():
        return path
    local = NOW.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["留言编号", "留言用户", "留言主题", "留言时间", "留言详情"])
        for index, item in enumerate(generate(1000, seed=seed)):
            moment = local - timedelta(minutes=14 * (1000 - index))
            writer.writerow(
                [item.external_id, item.user, item.title, f"{moment:%Y/%m/%d %H:%M:%S}", item.text]
            )
    return path


# -- what an operation leaves behind is taken out again -------------------------------------------


def watermark(url: str) -> dict[str, Any]:
    """The largest id of every table (and the counters): rows above it are an operation's."""
    from sqlalchemy import MetaData, text

    from ledger.db import make_engine

    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    marks: dict[str, Any] = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            if "id" in table.c:
                marks[table.name] = conn.execute(
                    text(f'SELECT max(id) FROM "{table.name}"')
                ).scalar()
        marks["messageband"] = conn.execute(
            text("SELECT max(message_id) FROM messageband")
        ).scalar()
        marks["counter"] = [tuple(r) for r in conn.execute(text("SELECT name, value FROM counter"))]
    engine.dispose()
    return marks


def restore(url: str, marks: dict[str, Any]) -> int:
    """Delete the rows written since ``marks`` (an import, a web login, a view's audit
    event); returns how many.

    The event logs are append-only (triggers) and foreign keys would be checked by scans
    (``message.duplicate_of_id`` has no index): for these rows of the bench ledger's own
    making both are lifted, in this transaction only.
    """
    from sqlalchemy import MetaData, text

    from ledger.db import make_engine

    engine = make_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    sqlite = engine.dialect.name == "sqlite"
    removed = 0
    with engine.connect() as conn:
        triggers: list[Any] = []
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction
            triggers = list(
                conn.execute(
                    text(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                        " AND name LIKE '%no_delete'"
                    )
                )
            )
            for name, _sql in triggers:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        removed += conn.execute(
            text("DELETE FROM messageband WHERE message_id > :m"),
            {"m": marks["messageband"] or 0},
        ).rowcount
        for table in reversed(meta.sorted_tables):
            if "id" in table.c and table.name in marks:
                removed += conn.execute(
                    text(f'DELETE FROM "{table.name}" WHERE id > :m'),
                    {"m": marks[table.name] or 0},
                ).rowcount
        for _name, sql in triggers:
            conn.execute(text(sql))
        conn.execute(text("DELETE FROM counter"))
        for name, value in marks["counter"]:
            conn.execute(
                text("INSERT INTO counter (name, value) VALUES (:n, :v)"), {"n": name, "v": value}
            )
        conn.commit()
    engine.dispose()
    return removed


# -- one operation in a fresh process -----------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DUBAN_")}


def cmd_child(args: argparse.Namespace) -> None:
    """Run one operation in this process, then write its CPU time and peak memory."""
    status: Any = 0
    begun = os.times()  # after the interpreter and this module's imports
    try:
        if args.op == "web":
            _web_page(args.rest)
        else:
            from duban.cli import main as duban_main

            rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
            sys.argv = ["duban", *rest]
            duban_main()
    except SystemExit as exc:
        status = exc.code or 0
    finally:
        times = os.times()
        peak = 0
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
        Path(args.result).write_text(
            json.dumps(
                {
                    "status": status,
                    "cpu": times.user + times.system + times.children_user + times.children_system,
                    "op_cpu": times.user
                    + times.system
                    - begun.user
                    - begun.system
                    + times.children_user
                    + times.children_system,
                    "peak_mb": peak / 1024,
                }
            ),
            encoding="utf-8",
        )


def _web_page(rest: list[str]) -> None:
    """The web desk's ticket list (and one ticket) for a supervisor, in-process (ASGI)."""
    from fastapi.testclient import TestClient

    from duban.runtime import Runtime
    from web.app import create_app

    app = create_app(Runtime(clock=lambda: NOW))
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    done = client.post("/login", data={"csrf": csrf, "code": "ducha1", "password": PASSWORD})
    if done.status_code != 303:
        raise SystemExit(f"login failed: {done.status_code}")
    for path in ["/tickets", *(f"/tickets/{number}" for number in rest)]:
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")


def operations(number: str, csv_path: Path, out: Path) -> list[tuple[str, list[str]]]:
    report = ["report"]
    weekly = [*report, "weekly", "--week", WEEK, "--as-of", AS_OF]
    xlsx = ["--format", "xlsx", "--out", str(out / "weekly.xlsx"), "--force"]
    return [
        ("weekly md", weekly),
        ("weekly xlsx", [*weekly, *xlsx]),
        ("monthly", [*report, "monthly", "--month", MONTH, "--as-of", AS_OF]),
        (
            "export",
            [*report, "export", "--out", str(out / "export.csv"), "--as-of", AS_OF, "--force"],
        ),
        ("tickets list", ["tickets", "list", "--limit", "50"]),
        ("tickets show", ["tickets", "show", number]),
        ("triage list", ["triage", "list"]),
        ("web /tickets", ["web", number]),
        ("import 1000", ["intake", str(csv_path), "--json"]),
    ]


def measure(op: list[str], url: str, home: Path, models: Path) -> dict[str, Any]:
    result = home / "child.json"
    result.unlink(missing_ok=True)
    env = {
        **_clean_env(),
        "DUBAN_HOME": str(home),
        "DUBAN_DATABASE_URL": url,
        "DUBAN_MODEL_DIR": str(models),
    }
    marks = watermark(url)
    if op[0] == "web":
        argv = [sys.executable, __file__, "child", "--result", str(result), "--op", "web", *op[1:]]
    else:
        argv = [sys.executable, __file__, "child", "--result", str(result), "--", *op]
    started = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wall = time.perf_counter() - started
    restore(url, marks)
    if not result.exists():
        return {"status": proc.returncode, "error": proc.stderr[-400:], "wall": wall}
    found = json.loads(result.read_text(encoding="utf-8"))
    found["wall"] = wall
    if found["status"] not in (0, None):
        found["error"] = proc.stderr[-400:]
    return found


def cmd_run(args: argparse.Namespace) -> None:
    sizes = [int(part) for part in args.sizes.split(",")]
    cluster = None
    urls: dict[int, str] = {}
    infos: dict[int, dict[str, Any]] = {}
    scratch = Path(tempfile.mkdtemp(prefix="duban-scale-"))
    try:
        if args.db == "postgresql":
            from tests.services.postgres import start_cluster

            cluster = start_cluster()
            for size in sizes:
                urls[size] = cluster.create_database()
                print(f"building {size:,} tickets on PostgreSQL …", flush=True)
                started = time.process_time()
                infos[size] = build_ledger(urls[size], size, args.seed, progress=print).as_dict()
                infos[size]["cpu_seconds"] = round(time.process_time() - started, 1)
        else:
            for size in sizes:
                urls[size], infos[size] = sqlite_ledger(size, args.seed)
        for size in sizes:
            print(
                f"  {size:,}: built in {infos[size]['seconds']} s wall"
                + (f", {infos[size]['cpu_seconds']} CPU-s" if "cpu_seconds" in infos[size] else "")
                + f"; {infos[size]['events']:,} events, overdue {infos[size]['overdue']:,}",
                flush=True,
            )
        models = ensure_model()
        csv_path = import_csv(args.seed)
        for size in sizes:
            prepare(urls[size], models)
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        homes = {size: scratch / f"home-{size}" for size in sizes}
        for home in homes.values():
            home.mkdir()
        chosen = set(args.only.split(",")) if args.only else None
        op_names = [name for name, _ in operations("x", csv_path, scratch)]
        for name in op_names:
            if chosen and name not in chosen:
                continue
            for _ in range(args.repeat):
                for size in sizes:  # paired: small, large, small, large
                    number = infos[size]["numbers"][len(infos[size]["numbers"]) // 2]
                    op = dict(operations(number, csv_path, homes[size]))[name]
                    found = measure(op, urls[size], homes[size], models)
                    results.setdefault((name, size), []).append(found)
                    if "error" in found:
                        print(f"  {name} at {size:,}: exit {found['status']}: {found['error']}")
            _print_row(name, sizes, results)
        print_table(sizes, results, op_names)
        if args.json:
            print(json.dumps({f"{k[0]}@{k[1]}": v for k, v in results.items()}, ensure_ascii=False))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if cluster is not None:
            cluster.stop()


def _medians(runs: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Median CPU-s of the whole child, of the operation alone (without the interpreter's
    start), and median peak MB."""
    ok = [r for r in runs if "cpu" in r and "error" not in r] or runs
    nan = float("nan")
    return (
        statistics.median(r.get("cpu", nan) for r in ok),
        statistics.median(r.get("op_cpu", nan) for r in ok),
        statistics.median(r.get("peak_mb", nan) for r in ok),
    )


def _print_row(name: str, sizes: list[int], results: dict) -> None:
    cells = []
    for size in sizes:
        cpu, op_cpu, mb = _medians(results.get((name, size), [{}]))
        cells.append(f"{size:,}: {cpu:.2f} CPU-s ({op_cpu:.2f} in the operation) {mb:.0f} MB")
    print(f"  {name:<14} " + "   ".join(cells), flush=True)


def print_table(sizes: list[int], results: dict, names: list[str]) -> None:
    """Medians at the smallest and largest size; ratios large / small. CPU-s is the whole
    child process (interpreter start included), "op" the operation alone."""
    small, large = sizes[0], sizes[-1]
    print(
        f"\n| operation | CPU-s (op) at {small:,} | MB | CPU-s (op) at {large:,} | MB "
        f"| CPU ratio | op CPU ratio | MB ratio | target (size ×{large / small:g}) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        if (name, small) not in results or (name, large) not in results:
            continue
        cpu_s, op_s, mb_s = _medians(results[(name, small)])
        cpu_l, op_l, mb_l = _medians(results[(name, large)])
        print(
            f"| {name} | {cpu_s:.2f} ({op_s:.2f}) | {mb_s:.0f} | {cpu_l:.2f} ({op_l:.2f}) "
            f"| {mb_l:.0f} | ×{cpu_l / cpu_s:.2f} | ×{op_l / max(op_s, 0.01):.2f} "
            f"| ×{mb_l / mb_s:.2f} | {TARGETS[name]} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="fill an empty ledger with N tickets")
    build.add_argument("--tickets", type=int, required=True)
    build.add_argument("--db", required=True, help="sqlite:///path.db or postgresql://…")
    build.add_argument("--seed", type=int, default=7)
    build.add_argument("--days", type=float, default=None, help="default tickets / 1000")
    build.add_argument("--json", action="store_true")
    build.set_defaults(func=cmd_build)
    run = sub.add_parser("run", help="time the operations at two sizes, paired")
    run.add_argument("--sizes", default="10000,1000000")
    run.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--repeat", type=int, default=2)
    run.add_argument("--only", help="comma-separated operation names (default: all)")
    run.add_argument("--json", action="store_true", help="also print every run as JSON")
    run.set_defaults(func=cmd_run)
    child = sub.add_parser("child", help=argparse.SUPPRESS)
    child.add_argument("--result", required=True)
    child.add_argument("--op", default="cli")
    child.add_argument("rest", nargs=argparse.REMAINDER)
    child.set_defaults(func=cmd_child)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
