"""The ticket state machine on SQLite and PostgreSQL: every legal and illegal step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, select

from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit, get_person
from ledger.errors import BadInput, IllegalTransition, PermissionDenied
from ledger.models import Event, Extension, Ticket, TicketState, TrainingLabel
from tests.helpers import local, make_ticket, rules_for

S = TicketState
RULES = rules_for()
NOW = local(2026, 11, 16, 10)
ADMIN = T.Actor.system("test")


def _drive(session: Session, state: S) -> Ticket:
    """A ticket brought to ``state`` by legal steps."""
    ticket = make_ticket(session, RULES, received_at=NOW)
    if state is S.REGISTERED:
        return ticket
    zjj = find_unit(session, "zjj")
    T.assign(session, ticket, zjj, actor=ADMIN, now=NOW, routed_by="manual")
    if state is S.ASSIGNED:
        return ticket
    if state is S.RETURNED:
        T.return_ticket(session, ticket, "不属于我单位职责", actor=ADMIN, now=NOW)
        return ticket
    T.acknowledge(session, ticket, actor=ADMIN, now=NOW)
    if state is S.ACKNOWLEDGED:
        return ticket
    T.reply(session, ticket, "已安排维修", actor=ADMIN, now=NOW)
    if state is S.REPLIED:
        return ticket
    if state is S.REOPENED:
        T.verify(session, ticket, passed=False, score=2, actor=ADMIN, now=NOW, note="未落实")
        return ticket
    T.verify(session, ticket, passed=True, score=5, actor=ADMIN, now=NOW)
    if state is S.VERIFIED:
        return ticket
    T.archive(session, ticket, actor=ADMIN, now=NOW)
    assert state is S.ARCHIVED
    return ticket


def _steps(session: Session) -> dict[str, Callable[[Ticket], object]]:
    other = find_unit(session, "cgj")
    return {
        "assign": lambda t: T.assign(session, t, other, actor=ADMIN, now=NOW, routed_by="m"),
        "acknowledge": lambda t: T.acknowledge(session, t, actor=ADMIN, now=NOW),
        "reply": lambda t: T.reply(session, t, "答复", actor=ADMIN, now=NOW),
        "request_extension": lambda t: T.request_extension(
            session, t, 3, "需协调", actor=ADMIN, now=NOW, max_days=15
        ),
        "return": lambda t: T.return_ticket(session, t, "非本单位", actor=ADMIN, now=NOW),
        "verify_pass": lambda t: T.verify(session, t, passed=True, score=4, actor=ADMIN, now=NOW),
        "verify_fail": lambda t: T.verify(
            session, t, passed=False, score=2, actor=ADMIN, now=NOW, note="答复不全"
        ),
        "reopen": lambda t: T.reopen(session, t, "群众不满意", actor=ADMIN, now=NOW),
        "escalate": lambda t: T.escalate(session, t, "超期未办", actor=ADMIN, now=NOW),
        "archive": lambda t: T.archive(session, t, actor=ADMIN, now=NOW),
    }


def _legal_states(action: str) -> frozenset[S]:
    if action == "assign":  # one function: 交办 from triage, 改派 from a unit
        return T.TRANSITIONS["assign"][0] | T.TRANSITIONS["reassign"][0]
    return T.TRANSITIONS[action][0]


ACTIONS = [
    "assign",
    "acknowledge",
    "reply",
    "request_extension",
    "return",
    "verify_pass",
    "verify_fail",
    "reopen",
    "escalate",
    "archive",
]


@pytest.mark.parametrize("state", list(S), ids=lambda s: s.value)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_step_from_every_state(engine: Engine, state: S, action: str) -> None:
    legal = state in _legal_states(action)
    with session_scope(engine) as session:
        ticket = _drive(session, state)
        before_events = len(T.events_of(session, ticket))
        before = (ticket.state, ticket.unit_id, ticket.version, ticket.due_date)
        if legal:
            _steps(session)[action](ticket)
            events = T.events_of(session, ticket)
            assert len(events) == before_events + 1, "every step writes exactly one event"
            expected_target = T.TRANSITIONS.get(action, (None, None))[1]
            if action == "assign":
                expected_target = S.ASSIGNED
            assert ticket.state == (expected_target or state).value
            assert events[-1].to_state == ticket.state
            assert events[-1].from_state == state.value
        else:
            with pytest.raises(IllegalTransition, match=ticket.number):
                _steps(session)[action](ticket)
            session.expire_all()
            reloaded = session.get(Ticket, ticket.id)
            assert (reloaded.state, reloaded.unit_id, reloaded.version, reloaded.due_date) == before
            assert len(T.events_of(session, reloaded)) == before_events


def test_full_life_writes_the_history_in_order(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ARCHIVED)
        actions = [e.action for e in T.events_of(session, ticket)]
        number = ticket.number
    assert actions == ["register", "assign", "acknowledge", "reply", "verify_pass", "archive"]
    assert number == "DB-2026-000001"


def test_ticket_numbers_count_per_year(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = make_ticket(session, RULES, now=local(2026, 12, 31, 23))
        second = make_ticket(session, RULES, now=local(2026, 12, 31, 23, 30), text="另一件")
        third = make_ticket(session, RULES, now=local(2027, 1, 1, 0, 30), text="新年第一件")
    assert (first.number, second.number, third.number) == (
        "DB-2026-000001",
        "DB-2026-000002",
        "DB-2027-000001",
    )


def test_returned_ticket_goes_back_to_triage_and_excludes_the_unit(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.RETURNED)
        zjj = find_unit(session, "zjj")
        assert ticket.unit_id is None
        assert ticket.excluded_units == [zjj.id]
        assert ticket.return_count == 1
        supervisor = get_person(session, "ducha1")
        T.assign(
            session,
            ticket,
            find_unit(session, "城管局"),
            actor=T.Actor.of(supervisor),
            now=NOW,
            routed_by="triage",
        )
        label = session.exec(select(TrainingLabel)).one()
        assert label.unit_id == find_unit(session, "cgj").id
        assert label.source == "triage"


def test_reply_parts_and_rounds(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ACKNOWLEDGED)
        T.reply(session, ticket, "第一部分", actor=ADMIN, now=NOW)
        T.reply(session, ticket, "第二部分", actor=ADMIN, now=NOW + timedelta(minutes=5))
        assert ticket.replied_at == NOW  # the first part counts as the answer time
        T.verify(session, ticket, passed=False, score=2, actor=ADMIN, now=NOW, note="不具体")
        assert ticket.state == S.REOPENED
        T.reply(session, ticket, "补充答复", actor=ADMIN, now=NOW + timedelta(days=1))
        T.verify(session, ticket, passed=True, score=4, actor=ADMIN, now=NOW + timedelta(days=2))
        rounds = [(r.round, r.quality) for r in T.replies_of(session, ticket)]
    assert rounds == [(1, 2), (1, 2), (2, 4)]


def test_reply_must_not_be_empty(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ACKNOWLEDGED)
        with pytest.raises(BadInput, match="回复内容"):
            T.reply(session, ticket, "   ", actor=ADMIN, now=NOW)
        assert ticket.state == S.ACKNOWLEDGED


def test_extension_approval_moves_the_deadline_and_keeps_history(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ACKNOWLEDGED)
        original = ticket.due_date
        member = T.Actor.of(get_person(session, "zjj-1"))
        boss = T.Actor.of(get_person(session, "ducha1"))
        T.request_extension(
            session, ticket, 5, "需要跨部门协调", actor=member, now=NOW, max_days=15
        )
        with pytest.raises(IllegalTransition, match="待审批"):
            T.request_extension(session, ticket, 2, "再延", actor=member, now=NOW, max_days=15)
        T.decide_extension(session, ticket, approve=True, actor=boss, now=NOW, rules=RULES)
        assert ticket.due_date == RULES.calendar.add_workdays(original, 5).due
        assert ticket.original_due_date == original
        assert ticket.extension_days == 5
        T.request_extension(session, ticket, 3, "仍需时间", actor=member, now=NOW, max_days=15)
        T.decide_extension(
            session, ticket, approve=False, actor=boss, now=NOW, rules=RULES, note="不予批准"
        )
        history = [(x.status, x.granted_days) for x in T.extensions_of(session, ticket)]
        with pytest.raises(IllegalTransition, match="没有待审批"):
            T.decide_extension(session, ticket, approve=True, actor=boss, now=NOW, rules=RULES)
    assert history == [("approved", 5), ("denied", None)]


@pytest.mark.parametrize("days", [0, 16, -1])
def test_extension_days_out_of_range(engine: Engine, days: int) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ASSIGNED)
        with pytest.raises(BadInput, match="延期天数"):
            T.request_extension(session, ticket, days, "理由", actor=ADMIN, now=NOW, max_days=15)
        assert session.exec(select(Extension)).first() is None


def test_extension_needs_a_reason(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ASSIGNED)
        with pytest.raises(BadInput, match="延期理由"):
            T.request_extension(session, ticket, 3, " ", actor=ADMIN, now=NOW, max_days=15)


@pytest.mark.parametrize(
    ("person", "action", "allowed"),
    [
        ("zjj-1", "acknowledge", True),  # member of the ticket's unit
        ("zjj-ld", "acknowledge", True),  # its leader
        ("cgj-1", "acknowledge", False),  # another unit's member
        ("luru1", "acknowledge", False),  # intake staff
        ("ducha1", "acknowledge", False),  # a supervisor is not the unit
        ("admin", "acknowledge", True),  # admin may do anything
        ("zjj-1", "escalate", False),
        ("ducha1", "escalate", True),
        ("zjj-1", "assign", False),
        ("luru1", "assign", True),
        ("cgj-1", "return", False),
        ("zjj-1", "return", True),
    ],
)
def test_permissions(engine: Engine, person: str, action: str, allowed: bool) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ASSIGNED)
        actor = T.Actor.of(get_person(session, person))
        calls = {
            "acknowledge": lambda: T.acknowledge(session, ticket, actor=actor, now=NOW),
            "escalate": lambda: T.escalate(session, ticket, "通报", actor=actor, now=NOW),
            "assign": lambda: T.assign(
                session, ticket, find_unit(session, "cgj"), actor=actor, now=NOW, routed_by="triage"
            ),
            "return": lambda: T.return_ticket(session, ticket, "非本单位", actor=actor, now=NOW),
        }
        events = len(T.events_of(session, ticket))
        if allowed:
            calls[action]()
            assert len(T.events_of(session, ticket)) == events + 1
        else:
            with pytest.raises(PermissionDenied):
                calls[action]()
            assert ticket.state == S.ASSIGNED
            assert len(T.events_of(session, ticket)) == events


def test_inactive_person_is_refused(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ASSIGNED)
        person = get_person(session, "zjj-1")
        person.active = False
        with pytest.raises(PermissionDenied, match="停用"):
            T.acknowledge(session, ticket, actor=T.Actor.of(person), now=NOW)


def test_events_record_who_did_it(engine: Engine) -> None:
    with session_scope(engine) as session:
        ticket = _drive(session, S.ASSIGNED)
        member = get_person(session, "zjj-1")
        T.acknowledge(session, ticket, actor=T.Actor.of(member), now=NOW)
        event = T.events_of(session, ticket)[-1]
    assert event.actor_id == member.id
    assert event.actor == "刘洋(zjj-1)"
    assert event.at == NOW and event.at.tzinfo is not None


def test_event_log_is_append_only(engine: Engine) -> None:
    with session_scope(engine) as session:
        _drive(session, S.ASSIGNED)
    for statement in ("UPDATE event SET note = 'x'", "DELETE FROM event"):
        with (
            pytest.raises((IntegrityError, DBAPIError), match="append-only"),
            engine.begin() as conn,
        ):
            conn.execute(text(statement))
    with session_scope(engine) as session:
        assert len(list(session.exec(select(Event)))) == 2


# -- time zones and deadlines on both databases ---------------------------------------------


def test_timestamps_come_back_utc_aware(engine: Engine) -> None:
    received = local(2026, 9, 30, 23, 30)  # 15:30 UTC
    with session_scope(engine) as session:
        ticket = make_ticket(
            session, RULES, received_at=received, kind="instruction", has_time_limit=True
        )
        ticket_id = ticket.id
    with session_scope(engine) as session:
        if engine.dialect.name == "postgresql":  # a different session zone must not matter
            session.execute(text("SET TIME ZONE 'America/New_York'"))
        loaded = session.get(Ticket, ticket_id)
        assert loaded.opened_at == received
        assert loaded.opened_at.tzinfo is not None
        assert loaded.opened_at.utcoffset() == timedelta(0)
        assert loaded.due_date == date(2026, 10, 15)  # 7 working days: 限期 批示件
        # End of 2026-10-15 in Shanghai is 15:59:59 UTC.
        assert loaded.due_at == loaded.due_at.replace(tzinfo=UTC)
        assert (loaded.due_at.hour, loaded.due_at.minute) == (15, 59)
        assert loaded.due_at.date() == date(2026, 10, 15)


def test_deadline_counts_from_the_local_day_of_receipt(engine: Engine) -> None:
    # 2026-11-19 16:30 UTC is Friday 2026-11-20 00:30 in Shanghai: day 1 is Monday 11-23.
    from datetime import datetime

    received = datetime(2026, 11, 19, 16, 30, tzinfo=UTC)
    with session_scope(engine) as session:
        ticket = make_ticket(
            session, RULES, received_at=received, time_limit_days=1, kind="instruction"
        )
        assert ticket.due_date == date(2026, 11, 23)


@pytest.mark.parametrize(
    ("kind", "explicit", "has_limit", "days"),
    [
        ("instruction", None, True, 7),  # 批示件 that says 限期
        ("instruction", None, False, 15),  # other 批示件
        ("instruction", 5, True, 5),  # 限5个工作日
        ("online", None, False, 15),
        ("letter", None, False, 15),
        ("other", None, False, 15),
    ],
)
def test_limits_by_source_kind(
    engine: Engine, kind: str, explicit: int | None, has_limit: bool, days: int
) -> None:
    with session_scope(engine) as session:
        ticket = make_ticket(
            session,
            RULES,
            received_at=local(2026, 9, 30),
            kind=kind,
            time_limit_days=explicit,
            has_time_limit=has_limit,
        )
        assert ticket.limit_days == days
        assert ticket.due_date == RULES.calendar.add_workdays(date(2026, 9, 30), days).due


def test_provisional_deadline_in_2027_is_recomputed_when_the_notice_arrives(
    engine: Engine, tmp_path
) -> None:
    from ledger.calendar import load_calendar
    from ledger.deadlines import DeadlineRules

    with session_scope(engine) as session:
        ticket = make_ticket(session, RULES, received_at=local(2026, 12, 28))
        assert ticket.deadline_provisional
        provisional_due = ticket.due_date
        ticket_id = ticket.id
    overrides = tmp_path / "calendar.yaml"
    overrides.write_text(
        "years:\n  2027:\n    published: true\n    holidays: [[2027-01-01, 2027-01-04]]\n",
        encoding="utf-8",
    )
    published = DeadlineRules(calendar=load_calendar(overrides), policy=RULES.policy, tz=RULES.tz)
    with session_scope(engine) as session:
        changed = T.recompute_provisional(session, rules=published, now=NOW, actor=ADMIN)
        ticket = session.get(Ticket, ticket_id)
        assert not ticket.deadline_provisional
        # 15 working days after Mon 2026-12-28: the provisional count already skipped 元旦
        # (Fri 2027-01-01, statutory); the notice adds a bridge day (Mon 01-04): one later.
        assert (provisional_due, ticket.due_date) == (date(2027, 1, 19), date(2027, 1, 20))
        assert changed == [
            (ticket.number, provisional_due.isoformat(), ticket.due_date.isoformat(), False)
        ]
        assert T.events_of(session, ticket)[-1].action == "recompute_deadline"
