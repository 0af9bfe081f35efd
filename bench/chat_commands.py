"""Chat commands per second, in process: the memory adapter -> the hub -> the desk -> the ledger.

    .venv/bin/python bench/chat_commands.py [--rounds 200] [--db sqlite|postgresql|both]

No network and no chat platform: a :class:`bots.memory.MemoryAdapter` plays the people,
as the tests do, on a fresh ledger (a SQLite file, and a PostgreSQL database taken from
``DUBAN_DATABASE_URL`` when it names one, else a throw-away cluster started as the tests
start theirs). ``--rounds`` tickets are opened and assigned to 住建局 first; then each
round sends three commands, one after the other, each awaited:

- a unit member's ``/签收 编号`` in the unit's chat (a step: the ticket is written),
- the same member's ``/待办`` (a list),
- a supervisor's ``/详情 编号`` in the supervisors' chat (a read that logs the view).

Printed per database: commands/s and ms per command, and what one command costs the
ledger (transactions, statements, thread hops), against a floor measured in the same run:
one thread hop and one bare ``SELECT 1`` transaction per command (what any design that
touches the ledger in a worker thread pays). Figures only, never asserted.

To compare with an older tree, run this file from a worktree of that commit
(``git worktree add /tmp/chat-base HEAD``; copy this file there): it imports the tree it
sits in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CHATS = {"sup": ("supervisors", None), "zjj": ("unit", "zjj"), "intake": ("intake", None)}
PEOPLE = ("luru1", "ducha1", "zjj-1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="tickets, 3 commands each")
    parser.add_argument("--warmup", type=int, default=10, help="rounds not counted")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args(argv)
    import bots

    print(f"code under test: {Path(bots.__file__).resolve().parent.parent}")
    with ExitStack() as stack:
        for name, url in databases(args.db, stack):
            report(name, measure(url, args.rounds, args.warmup))
    return 0


def databases(which: str, stack: ExitStack) -> Iterator[tuple[str, str]]:
    if which in ("sqlite", "both"):
        folder = Path(tempfile.mkdtemp(prefix="duban-chat-cmds-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        yield "SQLite", f"sqlite:///{folder / 'duban.db'}"
    if which in ("postgresql", "both"):
        yield "PostgreSQL", postgres_url(stack)


def postgres_url(stack: ExitStack) -> str:
    given = os.environ.get("DUBAN_DATABASE_URL", "")
    if given.startswith("postgresql"):
        return given  # must be an empty database: the ledger is built in it
    from tests.services.postgres import start_cluster

    cluster = start_cluster()
    stack.callback(cluster.stop)
    url = cluster.create_database()
    stack.callback(cluster.drop_database, url)
    return url


# -- the ledger and the chats -------------------------------------------------------------------


def build(url: str, home: Path, rounds: int) -> tuple[Any, list[str]]:
    """A routing context on a fresh ledger, the chats bound, ``rounds`` tickets at 住建局."""
    from bots import identity
    from desk import tickets as D
    from duban.runtime import Runtime
    from duban.settings import Settings
    from ledger import schema
    from ledger.directory import find_unit, get_person, load_directory
    from ledger.tickets import Actor
    from tests.helpers import make_ticket

    runtime = Runtime(settings=Settings(home=home, database_url=url))
    schema.upgrade(runtime.engine)
    ctx = runtime.routing
    with ctx.session() as session:
        load_directory(session, REPO / "data" / "units.yaml")
    with ctx.session() as session:
        for chat_id, (role, unit_code) in CHATS.items():
            identity.bind_chat(
                session,
                platform="memory",
                chat_id=chat_id,
                role=role,
                unit=find_unit(session, unit_code) if unit_code else None,
                bound_by="bench",
                now=ctx.now(),
            )
        for code in PEOPLE:
            identity.link_account(
                session,
                platform="memory",
                account_id=f"u-{code}",
                person=get_person(session, code),
                via="cli",
                now=ctx.now(),
            )
    numbers = []
    now = ctx.now()
    with ctx.session() as session:
        desk = Actor.of(get_person(session, "luru1"))
        for index in range(rounds):
            text = f"东湖路{index}号路灯不亮，晚上很黑，压测{index:04d}"
            numbers.append(
                make_ticket(session, ctx.rules, text=text, now=now, received_at=now).number
            )
    for number in numbers:
        D.assign(ctx, number, "住建局", actor=desk)
    return runtime, numbers


# -- counting -----------------------------------------------------------------------------------


@dataclass
class Counts:
    transactions: int = 0
    statements: int = 0
    hops: int = 0


@contextmanager
def counting(engine: Any) -> Iterator[Counts]:
    """Transactions (``begin``), statements and ``asyncio.to_thread`` hops while inside."""
    from sqlalchemy import event

    counts = Counts()
    real = asyncio.to_thread

    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        counts.hops += 1
        return await real(func, *args, **kwargs)

    def begin(_conn: Any) -> None:
        counts.transactions += 1

    def statement(*_args: Any) -> None:
        counts.statements += 1

    event.listen(engine, "begin", begin)
    event.listen(engine, "before_cursor_execute", statement)
    asyncio.to_thread = to_thread  # type: ignore[assignment]
    try:
        yield counts
    finally:
        asyncio.to_thread = real  # type: ignore[assignment]
        event.remove(engine, "begin", begin)
        event.remove(engine, "before_cursor_execute", statement)


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Figures:
    commands: int
    seconds: float
    floor_seconds: float
    counts: Counts
    outcomes: dict[str, int]
    kinds: dict[str, float]  # command -> seconds in all
    cpu: float  # this process's CPU seconds (the bot's own cost, whatever the machine's load)
    floor_cpu: float


def measure(url: str, rounds: int, warmup: int) -> Figures:
    from sqlalchemy import text

    from bots.hub import ChatHub
    from bots.memory import MemoryAdapter
    from ledger.db import session_scope

    home = Path(tempfile.mkdtemp(prefix="duban-chat-cmds-home-"))
    runtime, numbers = build(url, home, rounds + warmup)
    ctx = runtime.routing
    engine = ctx.engine
    adapter = MemoryAdapter("memory", clock=ctx.now)
    hub = ChatHub(ctx)
    hub.add(adapter)

    def bare() -> None:
        with session_scope(engine) as session:
            session.execute(text("SELECT 1")).scalar_one()

    async def floor(count: int) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            await asyncio.to_thread(bare)
        return time.perf_counter() - started, time.process_time() - cpu

    async def commands(
        batch: list[str], outcomes: dict[str, int], kinds: dict[str, float]
    ) -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        for number in batch:
            for chat, person, line in (
                ("zjj", "zjj-1", f"/签收 {number}"),
                ("zjj", "zjj-1", "/待办"),
                ("sup", "ducha1", f"/详情 {number}"),
            ):
                began = time.perf_counter()
                outcome = await adapter.say(chat, f"u-{person}", line)
                kind = line.split()[0]
                kinds[kind] = kinds.get(kind, 0.0) + time.perf_counter() - began
                outcomes[outcome.value] = outcomes.get(outcome.value, 0) + 1
        return time.perf_counter() - started, time.process_time() - cpu

    async def run() -> Figures:
        await adapter.start(hub.on_message)
        await commands(numbers[:warmup], {}, {})
        await floor(3 * warmup)
        outcomes: dict[str, int] = {}
        kinds: dict[str, float] = {}
        with counting(engine) as counts:
            seconds, cpu = await commands(numbers[warmup:], outcomes, kinds)
        floor_seconds, floor_cpu = await floor(3 * rounds)
        flush = getattr(hub, "flush_cards", None)
        if flush is not None:
            await flush()
        return Figures(3 * rounds, seconds, floor_seconds, counts, outcomes, kinds, cpu, floor_cpu)

    try:
        return asyncio.run(run())
    finally:
        runtime.close()
        shutil.rmtree(home, ignore_errors=True)


def report(name: str, figures: Figures) -> None:
    n = figures.commands
    per = figures.seconds / n * 1000
    floor = figures.floor_seconds / n * 1000
    c = figures.counts
    print(
        f"\n{name}: {n} commands (/签收, /待办, /详情 in turn), outcomes {figures.outcomes}\n"
        f"  commands/s      {n / figures.seconds:8.1f}   ms/command {per:7.2f}\n"
        f"  floor/s         {n / figures.floor_seconds:8.1f}   ms/command {floor:7.2f}"
        "   (one thread hop + one bare SELECT 1 transaction)\n"
        f"  ratio to floor  {per / floor:8.1f}x\n"
        f"  CPU ms/command  {figures.cpu / n * 1000:8.2f}   floor "
        f"{figures.floor_cpu / n * 1000:.2f}   ratio {figures.cpu / figures.floor_cpu:.1f}x"
        "   (this process's CPU: steadier than the clock on a loaded machine)\n"
        f"  per command     {c.transactions / n:.2f} transactions, "
        f"{c.statements / n:.1f} statements, {c.hops / n:.2f} thread hops\n"
        "  ms by command   "
        + "   ".join(f"{k} {v / (n / 3) * 1000:.2f}" for k, v in figures.kinds.items())
    )


if __name__ == "__main__":
    sys.exit(main())
