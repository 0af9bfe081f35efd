"""The ticket export and the overdue list do not grow in memory with the ledger.

Measured in fresh processes (their own VmHWM: ru_maxrss would carry pytest's high-water
mark across fork and exec), on ledgers of 2,000 and 20,000 tickets built by bulk inserts;
and no ORM object is built per ticket (plain columns, a chunk at a time).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine
from sqlmodel import select

from ledger import schema
from ledger.db import make_engine, session_scope
from ledger.directory import load_directory
from ledger.models import Event, Message, Reply, Ticket, Unit
from reports.export import export_tickets_csv
from reports.overdue import write_overdue
from tests.helpers import local
from tests.reports import scenario

REPO = Path(__file__).resolve().parents[2]
TEXT = "市民反映东湖路与建设路交叉口路灯已连续多日不亮，夜间行人和车辆通行存在安全隐患，" * 4


def bulk_ledger(engine: Engine, first: int, last: int) -> None:
    """Tickets ``first``..``last`` (ids), each with its message, three events and, for
    every other one, a reply; a third still open, and overdue at the report's time."""
    start = local(2026, 1, 5, 9)
    with session_scope(engine) as session:
        units = [u.id for u in session.exec(select(Unit)) if u.kind != "desk"]
        for low in range(first, last + 1, 2000):
            ids = range(low, min(low + 2000, last + 1))
            messages, tickets, events, replies = [], [], [], []
            for i in ids:
                received = start + timedelta(minutes=7 * i)
                due = received + timedelta(days=7)
                text = f"{TEXT}（第{i}件）"
                open_ = i % 3 == 0
                messages.append(
                    dict(id=i, source_kind="online", channel="bulk", external_id=f"B{i}",
                         received_at=received, title=f"路灯不亮{i}", raw_text=text, text=text,
                         unit_text=text, content_hash=f"h{i}", core_hash=f"c{i}",
                         has_time_limit=False, status="routed", created_at=received)
                )  # fmt: skip
                tickets.append(
                    dict(id=i, number=f"DB-2026-{i:07d}", message_id=i,
                         unit_id=units[i % len(units)],
                         state="acknowledged" if open_ else "archived", source_kind="online",
                         opened_at=received, assigned_at=received,
                         acknowledged_at=received + timedelta(hours=2),
                         replied_at=None if open_ else received + timedelta(days=3),
                         closed_at=None if open_ else received + timedelta(days=4),
                         due_date=due.date(), due_at=due, original_due_date=due.date(),
                         original_due_at=due, limit_days=5, routed_by="classifier",
                         suggestions=[], excluded_units=[], quality_score=None if open_ else 5)
                )  # fmt: skip
                for n, action in enumerate(("assign", "acknowledge", "reply")):
                    events.append(
                        dict(id=3 * i + n, ticket_id=i, action=action, to_state="assigned",
                             actor="system:bulk", data={}, at=received + timedelta(hours=n))
                    )  # fmt: skip
                if not open_:
                    replies.append(
                        dict(ticket_id=i, text="已处理，路灯已修复。" * 5, round=1,
                             created_at=received + timedelta(days=3))
                    )  # fmt: skip
            session.execute(insert(Message), messages)
            session.execute(insert(Ticket), tickets)
            session.execute(insert(Event), events)
            session.execute(insert(Reply), replies)


def test_export_builds_no_orm_object_per_ticket(engine: Engine, tmp_path: Path) -> None:
    bulk_ledger(engine, 1, 30)
    loaded: list[object] = []

    def seen(target, _context) -> None:
        loaded.append(target)

    for model in (Ticket, Message, Event, Reply):
        event.listen(model, "load", seen)
    try:
        with session_scope(engine) as session:
            count = export_tickets_csv(
                session, tmp_path / "t.csv", rules=scenario.RULES, now=scenario.REPORT_NOW
            )
            listed = write_overdue(
                session, tmp_path / "o.csv", rules=scenario.RULES, now=scenario.REPORT_NOW
            )
    finally:
        for model in (Ticket, Message, Event, Reply):
            event.remove(model, "load", seen)
    assert (count, listed) == (30, 10)
    assert loaded == []


_PEAK = """
import sys
from pathlib import Path
from ledger.db import make_engine, session_scope
from reports.export import export_tickets_csv
from reports.overdue import write_overdue
from tests.reports import scenario

url, what, out = sys.argv[1:]
engine = make_engine(url)
with session_scope(engine) as session:
    if what == "export":
        count = export_tickets_csv(
            session, Path(out), rules=scenario.RULES, now=scenario.REPORT_NOW
        )
    else:
        count = write_overdue(
            session, Path(out), rules=scenario.RULES, now=scenario.REPORT_NOW, fmt="xlsx"
        )
status = Path("/proc/self/status").read_text()
print(count, next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:")))
"""


def _peak_kb(engine: Engine, what: str, out: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, engine.url.render_as_string(hide_password=False), what,
         str(out)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    count, peak = done.stdout.split()
    return int(count), int(peak)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """The memory test on SQLite only (the same code reads PostgreSQL: the test above)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, REPO / "data" / "units.yaml")
    yield engine
    engine.dispose()


def test_export_and_overdue_peak_memory_does_not_grow_with_the_ledger(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """Holding every row (a dict each, ~4 KB with its text) would add some 50 MB between
    1,500 and 15,000 tickets; streamed, the peak stays where it was."""
    engine = sqlite_engine
    bulk_ledger(engine, 1, 1_500)
    small = {what: _peak_kb(engine, what, tmp_path / f"s-{what}") for what in ("export", "ov")}
    bulk_ledger(engine, 1_501, 15_000)
    big = {what: _peak_kb(engine, what, tmp_path / f"b-{what}") for what in ("export", "ov")}
    assert (small["export"][0], big["export"][0]) == (1_500, 15_000)
    assert (small["ov"][0], big["ov"][0]) == (500, 5_000)
    for what in ("export", "ov"):
        grown = big[what][1] - small[what][1]
        assert grown < 0.1 * small[what][1], f"{what}: {small[what][1]} -> {big[what][1]} KB"


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)
