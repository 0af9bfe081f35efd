"""Reminders, overdue notices and escalation as the clock advances (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from desk import tickets as A
from duban.runtime import Runtime
from ledger import tickets as T
from ledger.directory import find_unit, get_person
from ledger.models import Notification, Unit
from routing.reminders import ReminderRun, _escalate, run_reminders
from tests.helpers import Clock, local, make_ticket


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.clock = Clock(local(2026, 11, 2, 9))  # Monday
    return runtime


def _open(rt: Runtime, days: int = 5) -> str:
    now = rt.now()
    with rt.session() as session:
        ticket = make_ticket(
            session, rt.rules, received_at=now, kind="instruction", time_limit_days=days
        )
        T.assign(
            session,
            ticket,
            find_unit(session, "zjj"),
            actor=T.Actor.system("t"),
            now=now,
            routed_by="manual",
        )
        return ticket.number


def _notices(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.session() as session:
        rows = session.exec(select(Notification).order_by(Notification.id)).all()
        return [(n.kind, n.audience, n.dedupe_key) for n in rows]


def _at(rt: Runtime, day: date, hour: int) -> None:
    rt.clock.now = local(day.year, day.month, day.day, hour)


def test_reminder_schedule_over_a_ticket_life(rt: Runtime) -> None:
    number = _open(rt, days=5)  # received Mon 11-02: due Mon 11-09
    with rt.session() as session:
        assert T.get_ticket(session, number).due_date == date(2026, 11, 9)
    _at(rt, date(2026, 11, 4), 10)  # Wed: 3 working days left (Thu, Fri, Mon)
    assert run_reminders(rt.routing).reminders == 0
    _at(rt, date(2026, 11, 5), 8)  # Thu before 09:00: not yet
    assert run_reminders(rt.routing).reminders == 0
    _at(rt, date(2026, 11, 5), 9)  # Thu 09:00: 2 working days left
    assert run_reminders(rt.routing).reminders == 1
    assert run_reminders(rt.routing).reminders == 0  # the same run again writes nothing
    _at(rt, date(2026, 11, 9), 9)  # the due day
    assert run_reminders(rt.routing).reminders == 1
    _at(rt, date(2026, 11, 10), 9)  # 1 working day overdue
    assert run_reminders(rt.routing).overdue == 1
    _at(rt, date(2026, 11, 10), 15)
    assert run_reminders(rt.routing).overdue == 0  # once a day
    _at(rt, date(2026, 11, 11), 10)  # 2 working days overdue
    result = run_reminders(rt.routing)
    assert (result.overdue, result.escalated) == (1, 0)
    _at(rt, date(2026, 11, 12), 10)  # 3 working days overdue: 通报
    result = run_reminders(rt.routing)
    assert (result.overdue, result.escalated) == (1, 1)
    _at(rt, date(2026, 11, 13), 10)
    result = run_reminders(rt.routing)
    assert (result.overdue, result.escalated) == (1, 0)  # escalated once per deadline
    _at(rt, date(2026, 11, 14), 10)  # Saturday: no notices on a day off
    result = run_reminders(rt.routing)
    assert (result.overdue, result.escalated) == (0, 0)
    kinds = [k for k, _, _ in _notices(rt)]
    assert kinds.count("reminder") == 2 and kinds.count("overdue") == 4
    assert kinds.count("escalation") == 2  # supervisors and the unit
    with rt.session() as session:
        ticket = T.get_ticket(session, number)
        assert ticket.escalated_at is not None
        assert T.events_of(session, ticket)[-1].action == "escalate"


def test_extension_restarts_the_reminders(rt: Runtime) -> None:
    number = _open(rt, days=5)
    with rt.session() as session:
        member = T.Actor.of(get_person(session, "zjj-1"))
        boss = T.Actor.of(get_person(session, "ducha1"))
    A.request_extension(rt.routing, number, 3, "需要协调产权单位", actor=member)
    A.decide_extension(rt.routing, number, approve=True, actor=boss)
    with rt.session() as session:
        assert T.get_ticket(session, number).due_date == date(2026, 11, 12)
    _at(rt, date(2026, 11, 10), 9)  # two working days before the new due day
    assert run_reminders(rt.routing).reminders == 1
    _at(rt, date(2026, 11, 12), 9)
    assert run_reminders(rt.routing).reminders == 1
    keys = [key for kind, _, key in _notices(rt) if kind == "reminder"]
    assert all("2026-11-12" in key for key in keys)


def test_replied_tickets_get_no_reminders(rt: Runtime) -> None:
    number = _open(rt, days=2)
    with rt.session() as session:
        member = T.Actor.of(get_person(session, "zjj-1"))
    A.reply(rt.routing, number, "已处理完毕", actor=member)
    _at(rt, date(2026, 11, 20), 10)
    result = run_reminders(rt.routing)
    assert (result.reminders, result.overdue, result.escalated) == (0, 0, 0)


def test_triage_ticket_past_its_deadline_alerts_the_desk(rt: Runtime) -> None:
    with rt.session() as session:
        make_ticket(session, rt.rules, received_at=rt.now(), kind="instruction", time_limit_days=1)
    _at(rt, date(2026, 11, 4), 10)
    assert run_reminders(rt.routing).triage_overdue == 1
    assert [a for _, a, _ in _notices(rt)] == ["intake"]


def _unit_notices(rt: Runtime) -> list[tuple[str, str, str]]:
    """(kind, unit code, dedupe key) of the notices to units, in order."""
    with rt.session() as session:
        codes = {u.id: u.code for u in session.exec(select(Unit))}
        rows = session.exec(select(Notification).order_by(Notification.id)).all()
        return [
            (n.kind, codes[n.unit_id], n.dedupe_key)
            for n in rows
            if n.audience == "unit" and n.kind != "assigned"
        ]


def _reroute(rt: Runtime, number: str, unit: str) -> None:
    """退回 by the first unit, then 交办 by the desk to ``unit``."""
    with rt.session() as session:
        member = T.Actor.of(get_person(session, "zjj-1"))
        desk = T.Actor.of(get_person(session, "luru1"))
    A.return_ticket(rt.routing, number, "不属于本单位职责", actor=member)
    A.assign(rt.routing, number, unit, actor=desk)


def test_nothing_goes_out_before_the_morning_in_office_time(rt: Runtime) -> None:
    _open(rt, days=5)  # due Mon 11-09
    rt.clock.now = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)  # 07:30 on the due day
    assert run_reminders(rt.routing).reminders == 0
    rt.clock.now = datetime(2026, 11, 9, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    assert run_reminders(rt.routing).reminders == 1
    rt.clock.now = datetime(2026, 11, 9, 16, 0, 30, tzinfo=UTC)  # 00:00:30 the day after
    assert run_reminders(rt.routing) == ReminderRun()  # no 超期催办 at midnight
    rt.clock.now = datetime(2026, 11, 9, 23, 30, tzinfo=UTC)  # 07:30
    assert run_reminders(rt.routing) == ReminderRun()
    rt.clock.now = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 09:00
    assert run_reminders(rt.routing).overdue == 1


def test_a_tiaoxiu_saturday_is_a_working_day_for_reminders(rt: Runtime) -> None:
    rt.clock.now = local(2026, 9, 30, 10)
    number = _open(rt, days=5)  # 10-08, 10-09, 10-10 (Saturday, 调休), 10-12, 10-13
    with rt.session() as session:
        assert T.get_ticket(session, number).due_date == date(2026, 10, 13)
    _at(rt, date(2026, 10, 10), 9)
    assert run_reminders(rt.routing).reminders == 1
    _at(rt, date(2026, 10, 11), 9)  # Sunday
    assert run_reminders(rt.routing) == ReminderRun()


def test_a_rerouted_ticket_gives_the_new_unit_its_own_notices(rt: Runtime) -> None:
    number = _open(rt, days=5)  # due Mon 11-09
    _at(rt, date(2026, 11, 9), 9)
    assert run_reminders(rt.routing).reminders == 1  # 今日到期 to 住建局
    _at(rt, date(2026, 11, 9), 10)
    _reroute(rt, number, "cgj")
    _at(rt, date(2026, 11, 9), 11)
    assert run_reminders(rt.routing).reminders == 1  # and to 城管局, which has it now
    assert run_reminders(rt.routing).reminders == 0
    _at(rt, date(2026, 11, 10), 9)
    assert run_reminders(rt.routing).overdue == 1
    assert _unit_notices(rt) == [
        ("reminder", "zjj", "due:1:2026-11-09"),
        ("reminder", "cgj", f"due:1:2026-11-09:u{_unit_id(rt, 'cgj')}"),
        ("overdue", "cgj", "overdue:1:2026-11-09:2026-11-10"),
    ]


def test_the_new_unit_is_escalated_on_its_own_working_days(rt: Runtime) -> None:
    number = _open(rt, days=5)  # due Mon 11-09
    _at(rt, date(2026, 11, 12), 9)  # 3 working days late: 通报 for 住建局
    assert run_reminders(rt.routing).escalated == 1
    _at(rt, date(2026, 11, 12), 10)
    _reroute(rt, number, "cgj")
    escalated = []
    for day in (12, 13, 16, 17, 18):  # 城管局 holds it from Thu 11-12
        _at(rt, date(2026, 11, day), 11)
        escalated.append(run_reminders(rt.routing).escalated)
    assert escalated == [0, 0, 0, 1, 0]
    assert [(k, u) for k, u, _ in _unit_notices(rt) if k == "escalation"] == [
        ("escalation", "zjj"),
        ("escalation", "cgj"),
    ]


def test_escalation_reads_the_ticket_again_before_writing(rt: Runtime) -> None:
    """Two schedulers listed the ticket; the first escalated it: the second does nothing."""
    number = _open(rt, days=5)
    _at(rt, date(2026, 11, 12), 9)
    with rt.session() as session:
        listed = T.get_ticket(session, number)
        session.expunge(listed)
    assert run_reminders(rt.routing).escalated == 1
    with rt.session() as session:
        session.add(listed)
        assert _escalate(session, listed, rt.routing, rt.now()) is False
    with rt.session() as session:
        actions = [e.action for e in T.events_of(session, T.get_ticket(session, number))]
    assert actions.count("escalate") == 1


def test_a_scheduler_back_after_days_sends_the_current_state_only(rt: Runtime) -> None:
    _open(rt, days=5)  # due Mon 11-09
    _at(rt, date(2026, 11, 9), 9)
    assert run_reminders(rt.routing).reminders == 1
    _at(rt, date(2026, 11, 13), 10)  # down Tue to Thu; back on Friday, 4 working days late
    result = run_reminders(rt.routing)
    assert (result.reminders, result.overdue, result.escalated) == (0, 1, 1)
    assert [k for k, _, _ in _unit_notices(rt)] == ["reminder", "overdue", "escalation"]


def _unit_id(rt: Runtime, code: str) -> int:
    with rt.session() as session:
        return find_unit(session, code).id
