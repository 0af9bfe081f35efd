"""Server time of the web desk's pages at two ledger sizes (default 10k and 100k tickets).

    .venv/bin/python bench/web.py [--sizes 10000 100000] [--repeat 40]

Each size gets a fresh SQLite ledger under a temporary folder, filled in bulk with
synthetic tickets (messages, tickets spread over the units and states, two events each).
Requests go through the ASGI app in-process (httpx, no network), logged in as a supervisor
and as a unit leader; for each page the p50 / p95 of ``--repeat`` requests is printed, and
the ratio of the larger size's p50 to the smaller's (the list must not grow with the ledger).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from duban.runtime import Runtime  # noqa: E402
from duban.settings import Settings  # noqa: E402
from ledger import schema  # noqa: E402
from ledger.directory import get_person, list_units, load_directory  # noqa: E402
from ledger.models import Event, Message, Ticket, TicketState  # noqa: E402
from web.app import create_app  # noqa: E402
from web.auth import set_password  # noqa: E402

PASSWORD = "bench-password-1"
WORDS = [
    "路灯不亮",
    "噪音扰民",
    "占道经营",
    "积水严重",
    "垃圾清运",
    "井盖缺失",
    "电梯故障",
    "违章停车",
]
PLACES = ["东湖路", "学府路", "柳岸路", "解放路", "滨江大道", "江州路", "人民北路", "青山大道"]
STATES = [
    TicketState.ASSIGNED,
    TicketState.ACKNOWLEDGED,
    TicketState.REPLIED,
    TicketState.VERIFIED,
    TicketState.ARCHIVED,
    TicketState.ARCHIVED,
    TicketState.REGISTERED,
]
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def fill(rt: Runtime, count: int, seed: int = 7) -> str:
    """``count`` tickets in bulk; returns the number of one 住建局 ticket (for the detail)."""
    rnd = random.Random(seed)
    with rt.session() as session:
        units = [u for u in list_units(session) if u.kind != "desk"]
        actor = get_person(session, "luru1")
    start = NOW - timedelta(days=365)
    chunk = 5000
    for base in range(0, count, chunk):
        messages, tickets, events = [], [], []
        for i in range(base, min(count, base + chunk)):
            received = start + timedelta(minutes=i * 525_600 // count)
            text = f"{rnd.choice(PLACES)}{rnd.choice(WORDS)}，已经持续多日，请尽快处理（第{i}件）"
            messages.append(
                {
                    "id": i + 1,
                    "source_kind": "online",
                    "channel": "bench",
                    "external_id": str(i),
                    "received_at": received,
                    "raw_text": text,
                    "text": text,
                    "content_hash": hashlib.sha256(text.encode()).hexdigest(),
                    "has_time_limit": False,
                    "status": "routed",
                    "created_at": received,
                }
            )
            state = rnd.choice(STATES)
            unit = units[i % len(units)]
            due = (received + timedelta(days=21)).date()
            due_at = datetime(due.year, due.month, due.day, 15, 59, 59, tzinfo=UTC)
            tickets.append(
                {
                    "id": i + 1,
                    "number": f"DB-2026-{i + 1:06d}",
                    "message_id": i + 1,
                    "unit_id": None if state == TicketState.REGISTERED else unit.id,
                    "state": state.value,
                    "source_kind": "online",
                    "opened_at": received,
                    "due_date": due,
                    "due_at": due_at,
                    "original_due_date": due,
                    "original_due_at": due_at,
                    "limit_days": 15,
                    "deadline_provisional": False,
                    "extension_days": 0,
                    "routed_by": "classifier",
                    "suggestions": [],
                    "excluded_units": [],
                    "reopen_count": 0,
                    "return_count": 0,
                    "duplicate_count": 0,
                    "version": 2,
                }
            )
            for action, to_state in (("register", "registered"), ("assign", state.value)):
                events.append(
                    {
                        "ticket_id": i + 1,
                        "action": action,
                        "from_state": None,
                        "to_state": to_state,
                        "actor_id": actor.id,
                        "actor": "王晓燕(luru1)",
                        "unit_id": unit.id,
                        "data": {},
                        "at": received,
                    }
                )
        with rt.session() as session:
            session.execute(insert(Message.__table__), messages)  # type: ignore[attr-defined]
            session.execute(insert(Ticket.__table__), tickets)  # type: ignore[attr-defined]
            session.execute(insert(Event.__table__), events)  # type: ignore[attr-defined]
    with rt.session() as session:
        zjj = next(u for u in units if u.code == "zjj")
        number = (
            session.execute(
                select(Ticket.number).where(Ticket.unit_id == zjj.id).order_by(Ticket.id.desc())  # type: ignore[attr-defined]
            )
            .scalars()
            .first()
        )
    assert number is not None
    return str(number)


def client_for(app, code: str) -> TestClient:  # type: ignore[no-untyped-def]
    client = TestClient(app, follow_redirects=False)
    page = client.get("/login").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    done = client.post("/login", data={"csrf": csrf, "code": code, "password": PASSWORD})
    assert done.status_code == 303, done.text
    return client


def timed(client: TestClient, path: str, repeat: int) -> tuple[float, float]:
    client.get(path)  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def run(size: int, repeat: int) -> dict[str, tuple[float, float]]:
    home = Path(tempfile.mkdtemp(prefix=f"duban-bench-web-{size}-"))
    rt = Runtime(settings=Settings(home=home), clock=lambda: NOW)
    schema.upgrade(rt.engine)
    with rt.session() as session:
        load_directory(session, REPO / "data" / "units.yaml")
        for code in ("ducha1", "zjj-ld"):
            set_password(session, get_person(session, code), PASSWORD, by="bench", now=NOW)
    t0 = time.perf_counter()
    number = fill(rt, size)
    print(f"  {size} tickets written in {time.perf_counter() - t0:.1f} s ({home})", flush=True)
    app = create_app(rt)
    supervisor, leader = client_for(app, "ducha1"), client_for(app, "zjj-ld")
    pages = {
        "list (supervisor, newest 50)": (supervisor, "/tickets"),
        "list page 20": (supervisor, "/tickets?page=20"),
        "list state+unit+open, by due": (
            supervisor,
            "/tickets?state=acknowledged&unit=zjj&open=1&order=due",
        ),
        "list keyword 电梯 + received range": (
            supervisor,
            f"/tickets?q=电梯&received_from={date(2026, 6, 1)}&received_to={date(2026, 11, 1)}",
        ),
        "list (unit leader)": (leader, "/tickets"),
        "detail": (supervisor, f"/tickets/{number}"),
        "工作台 (supervisor)": (supervisor, "/"),
        "工作台 (unit leader)": (leader, "/"),
    }
    out = {}
    for name, (client, path) in pages.items():
        out[name] = timed(client, path, repeat)
        print(f"  {name:<36} p50 {out[name][0]:8.1f} ms   p95 {out[name][1]:8.1f} ms", flush=True)
    rt.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    results = {}
    for size in args.sizes:
        print(f"{size} tickets (SQLite):", flush=True)
        results[size] = run(size, args.repeat)
    small, large = args.sizes
    print(f"ratio of p50 at {large} to {small}:")
    for name in results[small]:
        ratio = results[large][name][0] / results[small][name][0]
        print(f"  {name:<36} ×{ratio:.2f}")


if __name__ == "__main__":
    main()
