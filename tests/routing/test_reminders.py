"""Reminders, overdue notices and escalation as the clock advances (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from duban.runtime import Runtime
from ledger import tickets as T
from ledger.directory import find_unit, get_person
from ledger.models import Notification
from routing import actions as A
from routing.reminders import run_reminders
from tests.helpers import Clock, local, make_ticket


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.clock = Clock(local(2026, 11, 2, 9))  # Monday
    return runtime


def _open(rt: Runtime, days: int = 5) -> str:
    now = rt.now()
    with rt.session() as session:
        ticket = make_ticket(session, rt.rules, received_at=now, kind="instruction",
                             time_limit_days=days)
        T.assign(session, ticket, find_unit(session, "zjj"), actor=T.Actor.system("t"), now=now,
                 routed_by="manual")
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
        make_ticket(session, rt.rules, received_at=rt.now(), kind="instruction",
                    time_limit_days=1)
    _at(rt, date(2026, 11, 4), 10)
    assert run_reminders(rt.routing).triage_overdue == 1
    assert [a for _, a, _ in _notices(rt)] == ["intake"]
