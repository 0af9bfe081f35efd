"""Chat latency on Matrix: a message posted in the intake room -> its 交办 card in the unit room.

    .venv/bin/python bench/chat_latency.py [--messages 200] [--rate 2] [--outbox-interval 0.5]
    .venv/bin/python bench/chat_latency.py --commands [--rounds 200] [--db sqlite|postgresql|both]

``--commands`` measures chat commands per second in process instead (no Synapse, no
network): ``bench/chat_commands.py``, whose options follow.

Everything is started here and stopped at the end: a Synapse homeserver (the tests' pinned
install in ``var/synapse-venv``), a redis-server, a fresh SQLite ledger in a temporary
``DUBAN_HOME``, an rq worker (``python -m duban worker``) and the bot
(``python -m duban bot --matrix``: a :class:`bots.runner.BotRunner` with the Matrix
adapter), each in its own process. The bot files each message and enqueues its routing; the
worker routes it (the 批示件 names 住建局, so a rule decides: no classifier needed) and
writes the card to the outbox; the bot's outbox loop delivers it.

Staff post ``--messages`` distinct 批示件 (synthetic 住建局 complaints from
``bench/synth.py``, each tagged 压测号NNNN) at ``--rate`` per second (0: as fast as they
can be posted) through their own matrix-nio client; a unit member's client syncs the unit
room and notes when each card arrives. Printed: latency p50 / p95 / max, throughput, and
where the time goes (from the ledger's timestamps). Figures only, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PASSWORD = "bench password"
MARK = re.compile(r"压测号(\d{4})")
PREFIX = "批示件：请区住建局牵头，限5个工作日内办结。"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--commands" in argv:
        from bench.chat_commands import main as commands

        return commands([a for a in argv if a != "--commands"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument(
        "--rate",
        type=float,
        default=2.0,
        help="messages posted per second; 0 = as fast as possible",
    )
    parser.add_argument(
        "--outbox-interval",
        type=float,
        default=0.5,
        help="DUBAN_BOT_OUTBOX_INTERVAL for the bot: seconds between outbox "
        "passes (default 0.5, as in duban.settings)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="messages not counted")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the last cards"
    )
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    return run(args)


# -- setup --------------------------------------------------------------------------------------


def messages(count: int, warmup: int) -> list[str]:
    """Distinct 住建局 complaints as 批示件, each tagged with its number."""
    from bench.synth import generate

    texts: list[str] = []
    for item in generate(count * 20, seed=11, repost_rate=0.0):
        if item.unit == "zjj":
            texts.append(f"{PREFIX}压测号{len(texts):04d}。{item.text}")
            if len(texts) == count + warmup:
                return texts
    raise SystemExit("not enough synthetic 住建局 messages")


def prepare_ledger(db_url: str, people: dict[str, str]) -> None:
    """Schema, the sample district, and the Matrix accounts of admin, staff and member."""
    from bots import identity
    from ledger import schema
    from ledger.db import make_engine, session_scope
    from ledger.directory import get_person, load_directory
    from ledger.types import utcnow

    engine = make_engine(db_url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, REPO / "data" / "units.yaml")
    with session_scope(engine) as session:
        for code, mxid in people.items():
            identity.link_account(
                session,
                platform="matrix",
                account_id=mxid,
                person=get_person(session, code),
                via="cli",
                now=utcnow(),
            )
    engine.dispose()


def bind_rooms(db_url: str, intake: str, unit_room: str) -> None:
    from bots import identity
    from ledger.db import make_engine, session_scope
    from ledger.directory import find_unit
    from ledger.types import utcnow

    engine = make_engine(db_url)
    with session_scope(engine) as session:
        identity.bind_chat(
            session,
            platform="matrix",
            chat_id=intake,
            role=identity.ROLE_INTAKE,
            unit=None,
            bound_by="bench",
            now=utcnow(),
        )
        identity.bind_chat(
            session,
            platform="matrix",
            chat_id=unit_room,
            role=identity.ROLE_UNIT,
            unit=find_unit(session, "zjj"),
            bound_by="bench",
            now=utcnow(),
        )
    engine.dispose()


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            args, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def run(args: argparse.Namespace) -> int:
    from tests.services.redis import start_redis
    from tests.services.synapse import SynapseServer, ensure_synapse_venv, repo_var

    texts = messages(args.messages, args.warmup)
    work = Path(tempfile.mkdtemp(prefix="duban-chat-bench-"))
    with ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        print(f"working folder {work}", flush=True)
        synapse = SynapseServer(ensure_synapse_venv(repo_var()), work / "synapse")
        synapse.start()
        stack.callback(synapse.stop)
        redis = start_redis()
        stack.callback(redis.stop)
        roles = {"admin": "admin", "staff": "luru1", "member": "zjj-1", "bot": None}
        with ThreadPoolExecutor(len(roles)) as pool:
            mxids = dict(
                zip(
                    roles,
                    pool.map(lambda role: synapse.register_user(f"{role}-bench", PASSWORD), roles),
                    strict=True,
                )
            )
        home = work / "home"
        home.mkdir()
        db_url = f"sqlite:///{home / 'duban.db'}"
        prepare_ledger(db_url, {code: mxids[role] for role, code in roles.items() if code})
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("DUBAN_") or k == "DUBAN_LOG_LEVEL"
        } | {
            "DUBAN_HOME": str(home),
            "DUBAN_DATABASE_URL": db_url,
            "DUBAN_REDIS_URL": redis.url,
            "DUBAN_MATRIX_HOMESERVER": synapse.url,
            "DUBAN_MATRIX_USER": mxids["bot"],
            "DUBAN_MATRIX_PASSWORD": PASSWORD,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        worker = spawn([sys.executable, "-m", "duban", "worker"], env, work / "worker.log")
        stack.callback(terminate, worker)
        bot = spawn(
            [sys.executable, "-m", "duban", "bot", "--matrix"],
            env | {"DUBAN_BOT_OUTBOX_INTERVAL": str(args.outbox_interval)},
            work / "bot.log",
        )
        stack.callback(terminate, bot)
        result = asyncio.run(measure(synapse.url, mxids, db_url, texts, args))
        stages = ledger_stages(db_url, result.posted)
        if bot.poll() is not None or worker.poll() is not None:
            print(f"a process died: see {work}/bot.log and worker.log", file=sys.stderr)
        report(result, stages, args)
    return 0 if not result.missing else 1


# -- measuring ----------------------------------------------------------------------------------


@dataclass
class Result:
    posted: dict[int, float] = field(default_factory=dict)  # mark -> wall clock when posted
    seen: dict[int, float] = field(default_factory=dict)  # mark -> when the card arrived
    warmup: int = 0
    missing: list[int] = field(default_factory=list)


async def measure(
    url: str, mxids: dict[str, str], db_url: str, texts: list[str], args: argparse.Namespace
) -> Result:
    import nio

    clients = {role: nio.AsyncClient(url, mxids[role]) for role in ("admin", "staff", "member")}
    result = Result(warmup=args.warmup)
    try:
        for client in clients.values():
            login = await client.login(PASSWORD)
            assert isinstance(login, nio.LoginResponse), login
        admin, staff, member = clients["admin"], clients["staff"], clients["member"]
        intake = (await admin.room_create(name="录入台", invite=[staff.user_id])).room_id
        unit_room = (await admin.room_create(name="住建局", invite=[member.user_id])).room_id
        for client, room in ((staff, intake), (member, unit_room)):
            joined = await client.join(room)
            assert isinstance(joined, nio.JoinResponse), joined
        bind_rooms(db_url, intake, unit_room)
        for room in (intake, unit_room):  # the bot accepts: the inviter is a linked admin
            await admin.room_invite(room, mxids["bot"])
        await wait_joined(admin, intake, mxids["bot"])
        await wait_joined(admin, unit_room, mxids["bot"])

        first = await member.sync(timeout=0)
        assert isinstance(first, nio.SyncResponse), first
        watcher = asyncio.create_task(watch(member, unit_room, mxids["bot"], result))
        try:
            # warm-up: the worker's and the bot's first jobs load their modules
            for index in range(args.warmup):
                await post(staff, intake, texts[index], index, result)
            await until_seen(result, range(args.warmup), args.timeout)
            started = time.monotonic()
            for index in range(args.warmup, len(texts)):
                await post(staff, intake, texts[index], index, result)
                if args.rate > 0:
                    due = started + (index - args.warmup + 1) / args.rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
            await until_seen(result, range(len(texts)), args.timeout)
        finally:
            watcher.cancel()
        result.missing = [i for i in range(len(texts)) if i not in result.seen]
    finally:
        for client in clients.values():
            await client.close()
    return result


async def post(client, room_id: str, text: str, index: int, result: Result) -> None:
    import nio

    result.posted[index] = time.time()
    sent = await client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text})
    assert isinstance(sent, nio.RoomSendResponse), sent


async def watch(client, room_id: str, bot: str, result: Result) -> None:
    """The unit member's client: note when each card (by its 压测号) arrives."""
    import nio

    while True:
        resp = await client.sync(timeout=30000)
        now = time.time()
        if not isinstance(resp, nio.SyncResponse):
            await asyncio.sleep(0.2)
            continue
        room = resp.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if (
                isinstance(event, nio.RoomMessageText)
                and event.sender == bot
                and event.body.startswith("【交办】")
            ):
                found = MARK.search(event.body)
                if found:
                    result.seen.setdefault(int(found.group(1)), now)


async def until_seen(result: Result, marks: range, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(m not in result.seen for m in marks) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def wait_joined(client, room_id: str, mxid: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = await client.joined_members(room_id)
        if mxid in {m.user_id for m in getattr(resp, "members", [])}:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"the bot did not join {room_id}: is it running? (see bot.log)")


# -- where the time goes ------------------------------------------------------------------------


def ledger_stages(db_url: str, posted: dict[int, float]) -> dict[str, list[float]]:
    """Per card: posted -> filed (bot), filed -> card written (worker), -> sent (outbox)."""
    from sqlmodel import select

    from ledger.db import make_engine, session_scope
    from ledger.models import ChatDelivery, Message, Notification, Ticket

    stages: dict[str, list[float]] = {"filed": [], "routed": [], "sent": []}
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        rows = session.exec(
            select(Message.text, Message.created_at, Notification.created_at, ChatDelivery.sent_at)
            .join(Ticket, Ticket.message_id == Message.id)
            .join(Notification, Notification.ticket_id == Ticket.id)
            .join(ChatDelivery, ChatDelivery.notification_id == Notification.id)
            .where(Notification.kind == "assigned")
        ).all()
    engine.dispose()
    for text, filed, routed, sent in rows:
        found = MARK.search(text)
        if not found or int(found.group(1)) not in posted or sent is None:
            continue
        start = posted[int(found.group(1))]
        stages["filed"].append(filed.timestamp() - start)
        stages["routed"].append(routed.timestamp() - filed.timestamp())
        stages["sent"].append(sent.timestamp() - routed.timestamp())
    return stages


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def report(result: Result, stages: dict[str, list[float]], args: argparse.Namespace) -> None:
    counted = [i for i in result.posted if i >= result.warmup]
    latencies = [result.seen[i] - result.posted[i] for i in counted if i in result.seen]
    rate = f"{args.rate:g}/s" if args.rate > 0 else "as fast as possible"
    print(
        f"\n{len(counted)} messages posted ({rate}), outbox interval {args.outbox_interval} s:"
        f" {len(latencies)} cards arrived, {len(result.missing)} missing"
    )
    if not latencies:
        return
    first = min(result.posted[i] for i in counted)
    last = max(result.seen[i] for i in counted if i in result.seen)
    print(
        f"latency   p50 {percentile(latencies, 0.5):.3f} s   p95 "
        f"{percentile(latencies, 0.95):.3f} s   max {max(latencies):.3f} s   "
        f"mean {statistics.fmean(latencies):.3f} s"
    )
    print(
        f"throughput {len(latencies) / (last - first):.1f} cards/s "
        f"({len(latencies)} in {last - first:.1f} s)"
    )
    labels = {
        "filed": "posted -> filed by the bot",
        "routed": "filed -> routed (worker)",
        "sent": "routed -> sent (outbox)",
    }
    for name, values in stages.items():
        if values:
            print(
                f"  {labels[name]:<28} p50 {percentile(values, 0.5):.3f} s   "
                f"p95 {percentile(values, 0.95):.3f} s"
            )


if __name__ == "__main__":
    sys.exit(main())
