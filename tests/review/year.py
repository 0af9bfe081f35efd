"""A year built by the tests: 2026 of 住建局 (zjj) and 城管局 (cgj), every figure logged as it
is made so the tests can recompute the annual figures without ``reports``.

Tickets: each month January–November, four tickets to each unit, one per pattern:
  0 answered the next day, 核查 pass with score 4 (zjj) or 5 (cgj)
  1 answered 20 calendar days after receipt (late), 核查 fail (续办) score 2
  2 never answered
  3 returned by the unit the day after, reassigned to the other unit, answered a day later
One ticket received on 2025-12-29 is due in January (counts as due, not as received); one is
received on 2027-01-04 (after the year, never seen). zjj gets one ticket 通报 in May.

Tasks (lead zjj): A due 2026-06-30, finished 06-20, verified, 销号 07-01; B due 2026-09-30,
never finished (overdue, 红), 通报 in October. Lead cgj: C due 2027-03-31, open.

Flags: zjj 2026-01 红旗 rank 1, 2026-02 黄旗 rank 5, 2026-03 none; 2025-12 红旗 (not the year).
Check-ins: the group is zjj; 刘洋 (zjj-1) posts 10 windows on time, 2 late, 1 of them found 不实.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from ledger import tickets as T
from ledger.deadlines import DeadlineRules
from ledger.directory import find_unit, get_person
from ledger.models import CheckinPost, Message, Ticket, UnitFlag
from ledger.policy import CheckinGroup, CheckinPolicy
from tasks import workflow as W
from tests.helpers import local, make_ticket

ACTOR = T.Actor.system("test")
REPORT_NOW = local(2027, 1, 6, 9)
YEAR_START, YEAR_END = local(2026, 1, 1, 0), local(2027, 1, 1, 0)
CHECKIN_POLICY = CheckinPolicy.model_validate(
    {"groups": {"jianshe": CheckinGroup(label="城建口", units=["zjj"])}}
)


@dataclass
class Made:
    """One ticket as the test made it."""

    received: datetime
    unit: str | None  # the unit holding it at the end
    due_at: datetime | None = None
    due_date: date | None = None
    replied: datetime | None = None
    verified: bool = False
    returned_by: str | None = None
    scores: list[tuple[str, int]] = field(default_factory=list)  # (unit, score)
    reopened_by: str | None = None


@dataclass
class Year:
    tickets: list[Made] = field(default_factory=list)
    flags: list[tuple[str, str, int | None, str | None]] = field(default_factory=list)
    posts: dict[str, int] = field(default_factory=dict)


def build(session: Session, rules: DeadlineRules) -> Year:
    zjj, cgj = find_unit(session, "zjj"), find_unit(session, "cgj")
    units = {"zjj": zjj, "cgj": cgj}
    year = Year()
    serial = 0

    def ticket(received: datetime, unit: str, pattern: int) -> Made:
        nonlocal serial
        serial += 1
        t = make_ticket(
            session,
            rules,
            received_at=received,
            time_limit_days=5,
            text=f"第{serial}件 东湖路路灯不亮",
            external_id=f"Y{serial}",
        )
        made = Made(received=received, unit=unit)
        T.assign(
            session,
            t,
            units[unit],
            actor=ACTOR,
            now=received + timedelta(hours=1),
            routed_by="manual",
        )
        if pattern == 0:
            T.reply(session, t, "已处理", actor=ACTOR, now=received + timedelta(days=1))
            made.replied = received + timedelta(days=1)
            score = 4 if unit == "zjj" else 5
            T.verify(session, t, passed=True, score=score, actor=ACTOR, now=made.replied)
            made.verified = True
            made.scores.append((unit, score))
        elif pattern == 1:
            made.replied = received + timedelta(days=20)
            T.reply(session, t, "已处理", actor=ACTOR, now=made.replied)
            T.verify(
                session, t, passed=False, score=2, actor=ACTOR, now=made.replied, note="不到位"
            )
            made.scores.append((unit, 2))
            made.reopened_by = unit
        elif pattern == 3:
            other = "cgj" if unit == "zjj" else "zjj"
            T.return_ticket(session, t, "非本单位职责", actor=ACTOR, now=received + timedelta(1))
            made.returned_by = unit
            T.assign(
                session,
                t,
                units[other],
                actor=ACTOR,
                now=received + timedelta(1, hours=1),
                routed_by="manual",
            )
            made.unit = other
            made.replied = received + timedelta(days=2)
            T.reply(session, t, "已处理", actor=ACTOR, now=made.replied)
        made.due_at, made.due_date = t.due_at, t.due_date
        year.tickets.append(made)
        return made

    ticket(local(2025, 12, 29, 10), "zjj", 0)
    for month in range(1, 12):
        for unit in ("zjj", "cgj"):
            for pattern in range(4):
                ticket(local(2026, month, 6 + pattern, 10), unit, pattern)
    # 通报 of zjj's unanswered April ticket, in May
    may = session.exec(
        select(Ticket).join(Message).where(Message.external_id == "Y28")  # April, zjj, pattern 2
    ).one()
    T.escalate(session, may, "办理迟缓", actor=ACTOR, now=local(2026, 5, 20, 10))
    late = make_ticket(session, rules, received_at=local(2027, 1, 4, 10), external_id="Y-late")
    T.assign(session, late, zjj, actor=ACTOR, now=local(2027, 1, 4, 11), routed_by="manual")

    _tasks(session, rules)
    for month, code, rank, flag in (
        ("2025-12", "zjj", 1, "红旗"),
        ("2026-01", "zjj", 1, "红旗"),
        ("2026-02", "zjj", 5, "黄旗"),
        ("2026-03", "zjj", 3, None),
        ("2026-01", "cgj", 5, "黄旗"),
    ):
        session.add(
            UnitFlag(
                month=month,
                unit_id=units[code].id,
                group="department",
                rank=rank,
                score=80.0 - rank,
                flag=flag,
                recorded_at=REPORT_NOW,
            )
        )
        if month.startswith("2026"):
            year.flags.append((code, month, rank, flag))
    year.posts = _posts(session, rules)
    session.flush()
    return year


def _tasks(session: Session, rules: DeadlineRules) -> None:
    def task(title: str, lead: str, due: date):
        spec = W.TaskSpec(
            title=title,
            lead_unit=find_unit(session, lead),
            source=W.TaskSource.KEY,
            due_date=due,
            limit_days=None,
            ongoing=False,
            leader=None,
            support_units=(),
            milestones=(),
            requirements="按期完成",
        )
        made = W.register(session, spec, rules=rules, now=local(2026, 3, 1, 9), actor=ACTOR)
        W.assign(session, made, actor=ACTOR, now=local(2026, 3, 2, 9), rules=rules)
        return made

    a = task("东湖路改造", "zjj", date(2026, 6, 30))
    W.finish(session, a, "已完工", actor=ACTOR, now=local(2026, 6, 20, 10))
    W.verify(session, a, passed=True, score=5, actor=ACTOR, now=local(2026, 6, 25, 10))
    W.close(session, a, actor=ACTOR, now=local(2026, 7, 1, 10))
    b = task("西湖路改造", "zjj", date(2026, 9, 30))
    W.escalate(session, b, "进度滞后", actor=ACTOR, now=local(2026, 10, 15, 10))
    task("城区灯光提升", "cgj", date(2027, 3, 31))


def _posts(session: Session, rules: DeadlineRules) -> dict[str, int]:
    person = get_person(session, "zjj-1")
    zjj = find_unit(session, "zjj")
    day, made, late = date(2026, 3, 2), 0, 0
    windows = ("早晒", "午晒", "晚晒")
    while made + late < 12:
        if rules.calendar.is_workday(day):
            for window in windows:
                if made + late >= 12:
                    break
                is_late = made >= 10
                session.add(
                    CheckinPost(
                        platform="console",
                        chat_id="c1",
                        message_id=f"m{made + late}",
                        person_id=person.id,
                        unit_id=zjj.id,
                        group_key="jianshe",
                        day=day,
                        window=window,
                        late=is_late,
                        text="今日计划",
                        posted_at=local(day.year, day.month, day.day, 9),
                        check_state="false" if made + late == 0 else None,
                    )
                )
                if is_late:
                    late += 1
                else:
                    made += 1
        day += timedelta(days=1)
    return {"posted": made + late, "late": late, "false": 1}
