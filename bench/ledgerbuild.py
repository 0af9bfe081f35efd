"""A realistic ledger of N tickets, built fast with bulk SQL, for the scale benchmark.

    build_ledger("sqlite:///var/scale/1m.db", tickets=1_000_000, seed=7)

The ledger is what duban would hold after N messages went through their whole lifecycle:

- the demo district (data/units.yaml) loaded by the real ``load_directory``, the schema by
  the real migrations;
- messages about 1,000 a day (``days`` defaults to N / 1000) ending at the fixed ``NOW``,
  texts recombined by bench/synth.py (a pool fingerprinted by intake's own ``fingerprint``,
  each message made unique), complainants, MinHash bands (``messageband``);
- one ticket per message (3 % of messages are reposts joined to an earlier ticket as 重复件,
  status routed with ``duplicate_of_id``, the ticket's ``link_duplicate`` event, or the
  ``comment`` the router writes when the original was archived meanwhile);
- each ticket's events as ``ledger.tickets`` writes them (register, assign by the classifier
  or by a person from triage, acknowledge, reply in parts and rounds, extension requests
  approved or denied with the deadline moved on the real calendar, 退回 and re-assignment,
  核查 pass / fail with a score, 续办, 通报 by the scheduler, archive), with the ``Reply``,
  ``Extension`` and ``TrainingLabel`` rows, and the ticket row's columns as the replay of its
  events leaves them; events after ``NOW`` are never written, so recent tickets are open;
- a backlog: about 1 % of tickets are never answered (stuck at a unit or in triage), so
  the 超期 list is about 1 % of the ledger, as in issue 14;
- the per-year ticket number counters, so later imports number on.

Left out: the outbox (notifications and chat deliveries), views of complainant data.
Rows go in with explicit ids, in time order (event ids follow the moment, as in a running
office), by ``executemany`` on SQLite and ``COPY`` on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import text as sql_text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from ledger import schema  # noqa: E402
from ledger.calendar import load_calendar  # noqa: E402
from ledger.db import make_engine, session_scope  # noqa: E402
from ledger.deadlines import DeadlineRules  # noqa: E402
from ledger.directory import load_directory  # noqa: E402
from ledger.models import (  # noqa: E402
    Complainant,
    Event,
    Extension,
    Message,
    MessageBand,
    Person,
    Reply,
    SourceKind,
    Ticket,
    TrainingLabel,
    Unit,
)
from ledger.policy import load_policy  # noqa: E402
from ledger.tickets import assign_data  # noqa: E402

# A Monday, 10:00 in Beijing: the moment the ledger stands at (reports take it as --as-of).
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DATA = REPO / "data"
CHANNEL = "import:留言板导出.csv"
CLASSIFIER_VERSION = "20260901T080000-scale"
DUPLICATE_SHARE = 0.03
STUCK_SHARE = 0.011  # never answered: the backlog of 超期 tickets
CHUNK = 20_000
POOL = 3000  # distinct synthetic texts, fingerprinted once


@dataclass
class BuildResult:
    url: str
    tickets: int
    messages: int
    events: int
    seconds: float
    states: dict[str, int]
    overdue: int  # open tickets past their deadline at NOW
    now: datetime = NOW
    numbers: list[str] = field(default_factory=list)  # a few ticket numbers, for `show`

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "tickets": self.tickets,
            "messages": self.messages,
            "events": self.events,
            "seconds": round(self.seconds, 1),
            "states": self.states,
            "overdue": self.overdue,
            "now": self.now.isoformat(),
            "numbers": self.numbers,
        }


# -- who acts -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Who:
    id: int | None
    label: str


ROUTER = Who(None, "system:router")
SCHEDULER = Who(None, "system:scheduler")


def _who(person: Person) -> Who:
    return Who(person.id, f"{person.name}({person.code})")


# -- one ticket's life, as ledger.tickets writes it ---------------------------------------------


class Sim:
    """A ticket being moved along its steps; every step appends the event ``_apply`` would."""

    __slots__ = (
        "acknowledged_at",
        "assigned_at",
        "classifier_version",
        "closed_at",
        "confidence",
        "cursor",
        "due_at",
        "due_date",
        "duplicate_count",
        "escalated_at",
        "events",
        "excluded",
        "extension_days",
        "id",
        "limit",
        "message_id",
        "number",
        "original_due_at",
        "original_due_date",
        "provisional",
        "quality_score",
        "received",
        "reopen_count",
        "replied_at",
        "return_count",
        "routed_by",
        "source_kind",
        "state",
        "stopped",
        "suggestions",
        "unit_id",
        "verified_at",
        "version",
    )

    def __init__(self, **kw: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, kw.get(name))
        self.state = "registered"
        self.extension_days = self.reopen_count = self.return_count = 0
        self.duplicate_count = 0
        self.version = 1
        self.excluded = []
        self.suggestions = []
        self.events = []
        self.stopped = False

    def at(self, moment: datetime) -> bool:
        """May a step happen at ``moment`` (before NOW)? Steps come in time order."""
        if self.stopped:
            return False
        if self.cursor is not None and moment < self.cursor:
            raise ValueError(f"{self.number}: a step at {moment} before {self.cursor}")
        if moment >= NOW_NAIVE:
            self.stopped = True
            return False
        self.cursor = moment
        return True

    def event(
        self,
        action: str,
        to_state: str,
        who: Who,
        at: datetime,
        *,
        note: str | None = None,
        data: dict[str, Any] | None = None,
        bump: bool = True,
        from_state: str | bool | None = True,
    ) -> None:
        before = self.state if from_state is True else from_state
        self.state = to_state
        if bump:
            self.version += 1
        self.events.append(
            (action, before, to_state, who.id, who.label, self.unit_id, note, data or {}, at)
        )


NOW_NAIVE = NOW.replace(tzinfo=None)
OPEN = frozenset({"registered", "returned", "assigned", "acknowledged", "reopened"})
TABLES = ("message", "messageband", "complainant", "ticket", "event", "extension", "reply")
TABLES += ("traininglabel",)


class Office:
    """Units, people, the calendar: what the steps need, with cached deadline arithmetic."""

    def __init__(self, session: Any) -> None:
        from sqlmodel import select

        self.rules = DeadlineRules(
            calendar=load_calendar(DATA / "calendar.yaml"),
            policy=load_policy(DATA / "policy.yaml").deadlines,
            tz=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"),
        )
        units = list(session.exec(select(Unit).order_by(Unit.id)))
        people = list(session.exec(select(Person).order_by(Person.id)))
        self.units = [u for u in units if u.kind != "desk" and u.active]
        admin = next(p for p in people if "admin" in p.roles)
        self.intake = [_who(p) for p in people if "intake" in p.roles] or [_who(admin)]
        self.supervisors = [_who(p) for p in people if "supervisor" in p.roles] or [_who(admin)]
        self.members: dict[int, list[Who]] = {}
        for unit in self.units:
            found = [
                _who(p)
                for p in people
                if p.unit_id == unit.id and {"member", "leader"} & set(p.roles)
            ]
            self.members[unit.id or 0] = found or [_who(admin)]
        self._count: dict[tuple[date, int], tuple[date, datetime, bool]] = {}
        self._extend: dict[tuple[date, int], tuple[date, datetime, bool]] = {}

    def local_date(self, moment: datetime) -> date:
        return moment.replace(tzinfo=UTC).astimezone(self.rules.tz).date()

    def count(self, received: datetime, limit: int) -> tuple[date, datetime, bool]:
        key = (self.local_date(received), limit)
        found = self._count.get(key)
        if found is None:
            deadline = self.rules.count(received.replace(tzinfo=UTC), limit)
            found = (deadline.due_date, _naive(deadline.due_at), deadline.provisional)
            self._count[key] = found
        return found

    def extend(self, due: date, days: int) -> tuple[date, datetime, bool]:
        key = (due, days)
        found = self._extend.get(key)
        if found is None:
            moved = self.rules.extend(due, days)
            found = (moved.due_date, _naive(moved.due_at), moved.provisional)
            self._extend[key] = found
        return found


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


H = timedelta(hours=1)
D = timedelta(days=1)
REASONS = ["涉及多个部门，需协调", "需现场勘查并委托检测", "需上级部门批复", "资金需走审批程序"]
RETURN_REASONS = ["不属于本单位职责", "该路段归属其他街道管理", "应由行业主管部门办理"]
REPLY_TEXTS = [
    "已安排人员现场核实，问题已整改完毕，已电话回复群众。",
    "经核查，情况属实，已责令相关单位限期整改，后续将加强巡查。",
    "已协调维修单位处理，预计本周内完成，完成后将回访。",
    "经调查，该情况已纳入年度计划，将于下月开工，已向群众解释。",
]
FAIL_NOTES = ["群众反映问题仍未解决，请继续办理", "答复过于笼统，请补充整改措施和时限"]


class Planner:
    """Draws each ticket's path; the shares follow a district desk's year."""

    def __init__(self, office: Office, rng: random.Random) -> None:
        self.office = office
        self.rng = rng
        self.next_extension = 1
        self.next_reply = 1
        self.next_label = 1
        self.extensions: list[tuple] = []
        self.replies: list[tuple] = []
        self.labels: list[tuple] = []

    def live(self, sim: Sim, stuck: bool) -> None:
        rng, office = self.rng, self.office
        t = sim.received + timedelta(seconds=rng.randint(20, 600))
        if not sim.at(t):
            return
        sim.event(
            "register",
            "registered",
            ROUTER,
            t,
            data={
                "due_date": sim.due_date.isoformat(),
                "limit_days": sim.limit,
                "provisional": sim.provisional,
            },
            bump=False,
            from_state=None,
        )
        unit = rng.choice(office.units)
        by_person = rng.random() < 0.25
        if by_person:  # below the threshold: the triage queue, a person picks the unit
            sim.suggestions = [
                {"unit": u.code, "unit_name": u.short_name, "confidence": round(c, 4)}
                for u, c in zip(rng.sample(office.units, 3), (0.41, 0.22, 0.09), strict=True)
            ]
            if stuck and rng.random() < 0.12:
                return  # still waiting in triage
            t += rng.uniform(0.3, 30) * H
        if not self.assign(sim, unit, t, by_person):
            return
        if rng.random() < 0.04:  # 退回, then a person assigns it elsewhere
            t += rng.uniform(4, 60) * H
            if not sim.at(t):
                return
            sim.return_count += 1
            if sim.unit_id not in sim.excluded:
                sim.excluded = [*sim.excluded, sim.unit_id]
            sim.event(
                "return",
                "returned",
                self.member(sim),
                t,
                note=rng.choice(RETURN_REASONS),
                data={"returned_by_unit_id": sim.unit_id},
            )
            sim.unit_id = sim.assigned_at = sim.acknowledged_at = None
            if stuck and rng.random() < 0.2:
                return
            t += rng.uniform(1, 30) * H
            choices = [u for u in office.units if u.id not in sim.excluded]
            if not self.assign(sim, rng.choice(choices), t, True):
                return
        if rng.random() < 0.85:
            t += rng.uniform(1, 48) * H
            if not sim.at(t):
                return
            sim.acknowledged_at = t
            sim.event("acknowledge", "acknowledged", self.member(sim), t)
        if rng.random() < 0.06:
            t = self.extension(sim, t)
            if t is None:
                return
        if stuck:
            self.escalate(sim, sim.due_at + rng.uniform(4, 7) * D)
            return
        # the answer: mostly well before the deadline, one in ten late
        if rng.random() < 0.1:
            answer = sim.due_at + rng.uniform(0.5, 20) * D
            self.escalate_if_late(sim, answer)
        else:
            span = max((sim.due_at - t).total_seconds(), 3600)
            answer = t + timedelta(seconds=span * rng.betavariate(2, 3))
        answer = max(answer, t + H)
        round_no = 1
        while True:
            if not self.reply(sim, answer, round_no):
                return
            t = answer
            if rng.random() < 0.1:  # a second part of the same answer
                t += rng.uniform(2, 30) * H
                if not self.reply(sim, t, round_no):
                    return
            t += rng.uniform(4, 120) * H
            if not sim.at(t):
                return
            passed = round_no > 1 or rng.random() < 0.88
            score = rng.choice((3, 4, 4, 5, 5)) if passed else rng.choice((1, 2))
            self.verify(sim, t, passed, score, round_no)
            if not passed:
                round_no += 1
                answer = t + rng.uniform(1, 8) * D
                continue
            if round_no == 1 and rng.random() < 0.01:  # a supervisor orders 续办 later
                t += rng.uniform(1, 10) * D
                if not sim.at(t):
                    return
                sim.reopen_count += 1
                sim.verified_at = None
                sim.event(
                    "reopen", "reopened", rng.choice(office.supervisors), t, note="群众再次来电反映"
                )
                round_no += 1
                answer = t + rng.uniform(1, 8) * D
                continue
            break
        if rng.random() < 0.92:
            t += rng.uniform(0.5, 12) * D
            if sim.at(t):
                sim.closed_at = t
                sim.event("archive", "archived", rng.choice(office.supervisors), t)

    def member(self, sim: Sim) -> Who:
        return self.rng.choice(self.office.members[sim.unit_id])

    def assign(self, sim: Sim, unit: Unit, t: datetime, by_person: bool) -> bool:
        if not sim.at(t):
            return False
        who = self.rng.choice(self.office.intake) if by_person else ROUTER
        routed_by = "triage" if by_person else "classifier"
        confidence = None if by_person else round(self.rng.uniform(0.55, 0.99), 4)
        version = None if by_person else CLASSIFIER_VERSION
        previous = sim.unit_id
        action = "reassign" if sim.state in ("assigned", "acknowledged") else "assign"
        sim.unit_id = unit.id
        sim.assigned_at = t
        sim.acknowledged_at = None
        sim.routed_by = routed_by
        if not by_person:
            sim.classifier_version = version
            sim.confidence = confidence
        if by_person:
            self.labels.append(
                (
                    self.next_label,
                    sim.message_id,
                    unit.id,
                    "reassign" if action == "reassign" else "triage",
                    previous,
                    who.id,
                    t,
                )
            )
            self.next_label += 1
        sim.event(
            action,
            "assigned",
            who,
            t,
            data=assign_data(unit.code, previous, routed_by, confidence, version),
        )
        return True

    def extension(self, sim: Sim, t: datetime) -> datetime | None:
        rng = self.rng
        t = t + rng.uniform(1, 8) * D
        if not sim.at(t):
            return None
        days = rng.choice((5, 10, 15))
        reason = rng.choice(REASONS)
        ext_id = self.next_extension
        self.next_extension += 1
        who = self.member(sim)
        sim.event(
            "request_extension",
            sim.state,
            who,
            t,
            note=reason,
            data={"days": days, "extension_id": ext_id},
        )
        decided = t + rng.uniform(2, 40) * H
        if not sim.at(decided):
            self.extensions.append(
                (ext_id, sim.id, days, reason, "requested", who.id, t) + (None,) * 6
            )
            return None
        boss = rng.choice(self.office.supervisors)
        if rng.random() < 0.8:
            old = sim.due_date
            new_date, new_at, provisional = self.office.extend(old, days)
            sim.due_date, sim.due_at = new_date, new_at
            sim.extension_days += days
            sim.provisional = sim.provisional or provisional
            sim.event(
                "approve_extension",
                sim.state,
                boss,
                decided,
                data={
                    "extension_id": ext_id,
                    "days": days,
                    "old_due": old.isoformat(),
                    "new_due": new_date.isoformat(),
                },
            )
            row = ("approved", who.id, t, boss.id, decided, None, days, old, new_date)
        else:
            sim.event("deny_extension", sim.state, boss, decided, data={"extension_id": ext_id})
            row = ("denied", who.id, t, boss.id, decided, None, None, None, None)
        self.extensions.append((ext_id, sim.id, days, reason, *row))
        return decided

    def escalate(self, sim: Sim, t: datetime) -> None:
        if sim.cursor is not None and t < sim.cursor:
            return
        if sim.state in OPEN and sim.at(t):
            sim.escalated_at = t
            note = f"{sim.number} 已超期 3 个工作日未反馈，予以通报"
            sim.event("escalate", sim.state, SCHEDULER, t, note=note)

    def escalate_if_late(self, sim: Sim, answer: datetime) -> None:
        mark = sim.due_at + 4 * D
        if answer > mark:
            self.escalate(sim, mark)

    def reply(self, sim: Sim, t: datetime, round_no: int) -> bool:
        if not sim.at(t):
            return False
        body = self.rng.choice(REPLY_TEXTS)
        if sim.acknowledged_at is None:
            sim.acknowledged_at = t
        first = sim.state != "replied"
        if first:
            sim.replied_at = t
        who = self.member(sim)
        self.replies.append([self.next_reply, sim.id, who.id, body, t, None, round_no])
        self.next_reply += 1
        sim.event(
            "reply", "replied", who, t, note=body, data={"round": round_no, "first_part": first}
        )
        return True

    def verify(self, sim: Sim, t: datetime, passed: bool, score: int, round_no: int) -> None:
        sim.quality_score = score
        for reply in reversed(self.replies):
            if reply[1] != sim.id:
                break
            if reply[6] == round_no:
                reply[5] = score
        if passed:
            sim.verified_at = t
        else:
            sim.reopen_count += 1
        sim.event(
            "verify_pass" if passed else "verify_fail",
            "verified" if passed else "reopened",
            self.rng.choice(self.office.supervisors),
            t,
            note=None if passed else self.rng.choice(FAIL_NOTES),
            data={"score": score},
        )


# -- texts ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Text:
    title: str
    text: str
    user: str
    core_hash: str
    bands: tuple[int, ...]


def text_pool(seed: int, size: int = POOL) -> list[Text]:
    """Distinct synthetic texts (another seed than the import benchmark's CSV), each with
    intake's own fingerprint."""
    from bench.synth import generate
    from intake.dedupe import BANDS, fingerprint

    pool = []
    for item in generate(size, seed=seed + 1009, repost_rate=0.0):
        fp = fingerprint(item.text)
        core = fp.core_hash or fp.content_hash
        pool.append(Text(item.title, item.text, item.user, core, tuple(fp.bands[:BANDS])))
    return pool


# -- writing --------------------------------------------------------------------------------


class Writer:
    """Rows to tables in bulk: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.indexes: list[str] = []
        engine.dispose()  # one connection only: SQLite's journal mode changes below
        self.raw = engine.raw_connection()
        if self.sqlite:
            cur = self.raw.cursor()
            # A ledger being built is thrown away on a crash: no journal, no syncs.
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("PRAGMA cache_size=-200000")
            cur.close()

    def drop_indexes(self, tables: list[str]) -> None:
        """SQLite: drop the secondary indexes of ``tables`` before the load and make them
        again after it (one sort each instead of millions of random B-tree inserts)."""
        if not self.sqlite:
            return
        cur = self.raw.cursor()
        marks = ", ".join("?" for _ in tables)
        cur.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            f" AND tbl_name IN ({marks})",
            tables,
        )
        for name, sql in cur.fetchall():
            self.indexes.append(sql)
            cur.execute(f'DROP INDEX "{name}"')
        cur.close()

    def restore_indexes(self) -> None:
        cur = self.raw.cursor()
        for sql in self.indexes:
            cur.execute(sql)
        cur.close()
        self.indexes = []

    def dt(self, value: datetime | None) -> Any:
        if value is None:
            return None
        return value.isoformat(" ", "microseconds") if self.sqlite else value.replace(tzinfo=UTC)

    def day(self, value: date | None) -> Any:
        if value is None:
            return None
        return value.isoformat() if self.sqlite else value

    def flag(self, value: bool) -> Any:
        return int(value) if self.sqlite else value

    def put(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        cur = self.raw.cursor()
        names = ", ".join(f'"{c}"' for c in columns)
        if self.sqlite:
            marks = ", ".join("?" for _ in columns)
            cur.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        else:
            with cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        cur.close()

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        if self.sqlite:
            cur = self.raw.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # as duban opens it
            cur.close()
        self.raw.close()


MESSAGE_COLS = [
    "id",
    "source_kind",
    "channel",
    "external_id",
    "received_at",
    "submitter",
    "title",
    "raw_text",
    "text",
    "unit_text",
    "content_hash",
    "core_hash",
    "duplicate_of_id",
    "has_time_limit",
    "time_limit_days",
    "status",
    "created_at",
]
TICKET_COLS = [
    "id",
    "number",
    "message_id",
    "unit_id",
    "state",
    "source_kind",
    "opened_at",
    "assigned_at",
    "acknowledged_at",
    "replied_at",
    "verified_at",
    "closed_at",
    "escalated_at",
    "due_date",
    "due_at",
    "original_due_date",
    "original_due_at",
    "limit_days",
    "deadline_provisional",
    "extension_days",
    "routed_by",
    "classifier_version",
    "confidence",
    "suggestions",
    "excluded_units",
    "quality_score",
    "reopen_count",
    "return_count",
    "duplicate_count",
    "version",
]
EVENT_COLS = [
    "id",
    "ticket_id",
    "action",
    "from_state",
    "to_state",
    "actor_id",
    "actor",
    "unit_id",
    "note",
    "data",
    "at",
]
EXTENSION_COLS = [
    "id",
    "ticket_id",
    "days",
    "reason",
    "status",
    "requested_by_id",
    "requested_at",
    "decided_by_id",
    "decided_at",
    "decision_note",
    "granted_days",
    "old_due_date",
    "new_due_date",
]
REPLY_COLS = ["id", "ticket_id", "author_id", "text", "created_at", "quality", "round"]
LABEL_COLS = [
    "id",
    "message_id",
    "unit_id",
    "source",
    "rejected_unit_id",
    "created_by_id",
    "created_at",
]
BAND_COLS = ["message_id", "band", "value", "day"]
COMPLAINANT_COLS = ["id", "message_id", "name", "contact", "extra"]


def _tables_exist() -> None:  # the column lists above name real columns (checked at build)
    for model, cols in (
        (Message, MESSAGE_COLS),
        (Ticket, TICKET_COLS),
        (Event, EVENT_COLS),
        (Extension, EXTENSION_COLS),
        (Reply, REPLY_COLS),
        (TrainingLabel, LABEL_COLS),
        (MessageBand, BAND_COLS),
        (Complainant, COMPLAINANT_COLS),
    ):
        missing = set(cols) - set(model.__table__.c.keys())  # type: ignore[attr-defined]
        if missing:
            raise RuntimeError(f"{model.__name__}: no columns {sorted(missing)}")


# -- the build ------------------------------------------------------------------------------


def build_ledger(
    url: str,
    tickets: int,
    seed: int = 7,
    *,
    days: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Fill the empty ledger at ``url`` (created and migrated here) with ``tickets`` tickets
    received over ``days`` (default ``tickets / 1000``) days ending at ``NOW``."""
    started = time.perf_counter()
    _tables_exist()
    say = progress or (lambda _line: None)
    engine = make_engine(url)
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, DATA / "units.yaml")
        if session.exec(sql_text("SELECT count(*) FROM ticket")).one()[0]:
            raise RuntimeError(f"{url}: the ledger already holds tickets")
        office = Office(session)
    rng = random.Random(seed)
    pool = text_pool(seed, min(POOL, max(tickets, 200)))
    span = timedelta(days=days if days is not None else max(tickets / 1000, 0.01))
    start = NOW_NAIVE - span
    total_messages = round(tickets / (1 - DUPLICATE_SHARE))
    step = span / total_messages
    planner = Planner(office, rng)
    writer = Writer(engine)
    writer.drop_indexes(list(TABLES))
    dt, day, flag = writer.dt, writer.day, writer.flag
    counters: dict[int, int] = {}
    heap: list[tuple[datetime, int, int, tuple]] = []  # (at, ticket id, seq, event)
    seq = itertools.count()
    pending: deque[Sim] = deque()  # tickets a repost may still join
    recent: deque[Sim] = deque(maxlen=2000)
    buf: dict[str, list[tuple]] = {k: [] for k in ("m", "t", "e", "b", "c")}
    event_id = 0
    states: dict[str, int] = {}
    overdue = 0
    numbers: list[str] = []
    message_id = ticket_id = closed_upto = 0
    hold = 10 * D  # reposts join tickets received at most this long before them

    def flush_events(until: datetime | None) -> None:
        nonlocal event_id
        rows = buf["e"]
        while heap and (until is None or heap[0][0] < until):
            at, t_id, _, ev = heapq.heappop(heap)
            event_id += 1
            action, before, to_state, actor_id, actor, unit_id, note, data, _at = ev
            rows.append(
                (
                    event_id,
                    t_id,
                    action,
                    before,
                    to_state,
                    actor_id,
                    actor,
                    unit_id,
                    note,
                    json.dumps(data) if data else "{}",
                    dt(at),
                )
            )

    def emit(sim: Sim) -> None:
        nonlocal overdue
        for ev in sim.events:
            heapq.heappush(heap, (ev[8], sim.id, next(seq), ev))
        sim.events = []

    def close_ticket(sim: Sim) -> None:
        nonlocal overdue, closed_upto
        closed_upto = sim.id
        states[sim.state] = states.get(sim.state, 0) + 1
        if sim.state in OPEN and sim.due_at < NOW_NAIVE:
            overdue += 1
        buf["t"].append(
            (
                sim.id,
                sim.number,
                sim.message_id,
                sim.unit_id,
                sim.state,
                sim.source_kind,
                dt(sim.received),
                dt(sim.assigned_at),
                dt(sim.acknowledged_at),
                dt(sim.replied_at),
                dt(sim.verified_at),
                dt(sim.closed_at),
                dt(sim.escalated_at),
                day(sim.due_date),
                dt(sim.due_at),
                day(sim.original_due_date),
                dt(sim.original_due_at),
                sim.limit,
                flag(sim.provisional),
                sim.extension_days,
                sim.routed_by,
                sim.classifier_version,
                sim.confidence,
                json.dumps(sim.suggestions, ensure_ascii=False),
                json.dumps(sim.excluded),
                sim.quality_score,
                sim.reopen_count,
                sim.return_count,
                sim.duplicate_count,
                sim.version,
            )
        )

    def flush() -> None:
        writer.put("message", MESSAGE_COLS, buf["m"])
        writer.put("complainant", COMPLAINANT_COLS, buf["c"])
        writer.put("messageband", BAND_COLS, buf["b"])
        writer.put("ticket", TICKET_COLS, buf["t"])
        writer.put("event", EVENT_COLS, buf["e"])
        # replies and extensions of tickets not written yet wait (their foreign key)
        ext = [r for r in planner.extensions if r[1] <= closed_upto]
        writer.put(
            "extension",
            EXTENSION_COLS,
            [(*r[:6], dt(r[6]), r[7], dt(r[8]), r[9], r[10], day(r[11]), day(r[12])) for r in ext],
        )
        done_replies = [r for r in planner.replies if r[1] <= closed_upto]
        writer.put(
            "reply",
            REPLY_COLS,
            [(r[0], r[1], r[2], r[3], dt(r[4]), r[5], r[6]) for r in done_replies],
        )
        writer.put(
            "traininglabel",
            LABEL_COLS,
            [(*r[:6], dt(r[6])) for r in planner.labels],
        )
        planner.extensions = [r for r in planner.extensions if r[1] > closed_upto]
        planner.replies = [r for r in planner.replies if r[1] > closed_upto]
        planner.labels = []
        for key in buf:
            buf[key] = []

    kinds = (("online", 0.85), ("letter", 0.10), ("instruction", 0.05))
    last = NOW_NAIVE - timedelta(minutes=15)  # every message is routed by NOW
    index = -1
    while ticket_id < tickets:
        index += 1
        received = min(start + step * index + timedelta(seconds=rng.uniform(0, 30)), last)
        message_id += 1
        # tickets no repost can join any more are final: their rows go out
        while pending and pending[0].received < received - hold:
            sim = pending.popleft()
            emit(sim)
            close_ticket(sim)
        flush_events(received - hold)
        original: Sim | None = None
        if recent and rng.random() < DUPLICATE_SHARE:
            original = recent[rng.randrange(len(recent))]
            if original.received < received - hold:  # its row is out: a fresh complaint
                original = None
        base = pool[rng.randrange(len(pool))]
        body = f"{base.text}（编号{message_id:08d}）"
        chash = hashlib.sha256(body.encode()).hexdigest()
        core = hashlib.sha256(f"{base.core_hash}{message_id}".encode()).hexdigest()
        kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        limited = kind == "instruction" and rng.random() < 0.5
        buf["m"].append(
            (
                message_id,
                original.source_kind if original else kind,
                CHANNEL,
                f"L{seed}-{message_id:08d}",
                dt(received),
                None,
                base.title or None,
                f"{base.title}\n{body}" if base.title else body,
                body,
                body,
                chash,
                core,
                original.message_id if original else None,
                flag(limited and not original),
                None,
                "routed",
                dt(received),
            )
        )
        buf["c"].append((message_id, message_id, base.user, None, "{}"))
        epoch = int(received.replace(tzinfo=UTC).timestamp() // 86400)
        buf["b"].extend((message_id, b, v, epoch) for b, v in enumerate(base.bands))
        if original is not None:
            link = received + timedelta(seconds=rng.randint(20, 600))
            original.duplicate_count += 1
            if link < NOW_NAIVE:
                archived = original.closed_at is not None and original.closed_at < link
                # the original's later steps are planned already: the link goes in between
                if archived:
                    note = f"归档后又收到重复件（消息 {message_id}）"
                    _insert_event(original, "comment", ROUTER, link, note, message_id)
                else:
                    _insert_event(original, "link_duplicate", ROUTER, link, None, message_id)
            continue
        ticket_id += 1
        year = office.local_date(received).year
        counters[year] = counters.get(year, 0) + 1
        limit = office.rules.policy.limit_for(
            SourceKind(kind), explicit_days=None, has_limit=limited
        )
        due_date, due_at, provisional = office.count(received, limit)
        sim = Sim(
            id=ticket_id,
            message_id=message_id,
            number=f"DB-{year}-{counters[year]:06d}",
            received=received,
            limit=limit,
            due_date=due_date,
            due_at=due_at,
            original_due_date=due_date,
            original_due_at=due_at,
            provisional=provisional,
            source_kind=kind,
        )
        planner.live(sim, stuck=rng.random() < STUCK_SHARE)
        if sim.events:
            sim.received = sim.events[0][8]  # opened_at is the register moment
        pending.append(sim)
        recent.append(sim)
        if len(numbers) < 5 and ticket_id % max(tickets // 5, 1) == 1:
            numbers.append(sim.number)
        if len(buf["m"]) >= CHUNK:
            flush()
        if index % 100_000 == 0 and index:
            say(
                f"  {ticket_id:,} tickets, {event_id:,} events "
                f"({time.perf_counter() - started:.0f} s)"
            )
    while pending:
        sim = pending.popleft()
        emit(sim)
        close_ticket(sim)
    flush_events(None)
    flush()
    writer.put(
        "counter", ["name", "value"], [(f"ticket-{y}", n) for y, n in sorted(counters.items())]
    )
    writer.restore_indexes()
    writer.commit()
    writer.close()
    _fix_sequences(engine)
    engine.dispose()
    return BuildResult(
        url=url,
        tickets=ticket_id,
        messages=message_id,
        events=event_id,
        seconds=time.perf_counter() - started,
        states=dict(sorted(states.items())),
        overdue=overdue,
        numbers=numbers,
    )


def _insert_event(
    sim: Sim, action: str, who: Who, at: datetime, note: str | None, message_id: int
) -> None:
    """A 重复件 joins a ticket whose later steps are planned: its event goes in at its moment
    (the state it sees is the one the earlier steps left); the version counts it."""
    state = "registered"
    position = 0
    while position < len(sim.events) and sim.events[position][8] <= at:
        state = sim.events[position][2]
        position += 1
    sim.version += 1
    unit_id = None
    for ev in sim.events[:position]:
        if ev[0] in ("assign", "reassign"):
            unit_id = ev[5]
        elif ev[0] == "return":
            unit_id = None
    sim.events.insert(
        position,
        (action, state, state, who.id, who.label, unit_id, note, {"message_id": message_id}, at),
    )


def _fix_sequences(engine: Engine) -> None:
    """PostgreSQL: the id sequences continue after the explicit ids written here."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in (
            "message",
            "complainant",
            "ticket",
            "event",
            "extension",
            "reply",
            "traininglabel",
        ):
            conn.execute(
                sql_text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 1))"
                )
            )


def iter_counts(engine: Engine) -> Iterator[tuple[str, int]]:
    with engine.connect() as conn:
        for table in ("message", "ticket", "event", "reply", "extension", "messageband"):
            yield table, conn.execute(sql_text(f"SELECT count(*) FROM {table}")).scalar_one()


def replay_mismatches(url: str, *, limit: int = 20) -> tuple[int, list[str]]:
    """Replay every ticket's events as the reports do (``reports.figures.facts_at`` at a
    moment after ``NOW``) and compare with the stored ticket: state, unit, deadline in force.
    Returns the tickets checked and the first ``limit`` disagreements."""
    from sqlmodel import select

    from reports.figures import facts_at, load_histories

    engine = make_engine(url)
    office_rules = DeadlineRules(
        calendar=load_calendar(DATA / "calendar.yaml"),
        policy=load_policy(DATA / "policy.yaml").deadlines,
        tz=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"),
    )
    until = NOW + timedelta(seconds=1)
    bad: list[str] = []
    with session_scope(engine) as session:
        stored = {
            row[0]: row[1:]
            for row in session.exec(
                select(Ticket.id, Ticket.state, Ticket.unit_id, Ticket.due_date)
            )
        }
        histories = load_histories(session, until=until)
    for history in histories:
        facts = facts_at(history, until, office_rules)
        state, unit_id, due_date = stored[history.id]
        seen = (facts.state.value, facts.unit_id, facts.due_date)
        if seen != (state, unit_id, due_date) and len(bad) < limit:
            bad.append(f"{history.number}: replay {seen} stored {(state, unit_id, due_date)}")
    engine.dispose()
    return len(histories), bad
