"""The 台账 list read through indexes and keysets gives exactly what a plain query gives.

``search_tickets`` reads 未办结 / 超期 one open state at a time, 分办方式 one routed_by value at
a time (found by walking the distinct values), and pages after / before a ticket instead of
skipping rows. Each filter combination and order is compared here with a straightforward
query (the filters as plain WHERE clauses, ``startswith`` as a LIKE, OFFSET paging) on a
ledger with tied deadlines, NULL routes and routes whose prefixes hold ``%`` and ``_``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from desk import queries as Q
from desk.permissions import Viewer
from ledger.db import session_scope
from ledger.errors import NotFound
from ledger.models import Event, Message, Person, Ticket, TicketState, Unit
from ledger.states import OPEN_STATES
from tests.helpers import local, make_ticket
from tests.reports import scenario

RULES, NOW = scenario.RULES, scenario.REPORT_NOW
ROUTES = [
    None,
    "classifier",
    "triage",
    "manual",
    "rule:a%b",
    "rule:a_b",
    "rule:axb",
    "rule:ab",
    "rule:Ab",
    "rule:A%",
    "rule:",
]
STATES = [
    TicketState.REGISTERED,
    TicketState.ASSIGNED,
    TicketState.ACKNOWLEDGED,
    TicketState.REPLIED,
    TicketState.ARCHIVED,
    TicketState.REOPENED,
    TicketState.RETURNED,
    TicketState.VERIFIED,
]
PREFIXES = [None, "classifier", "rule:", "rule:a%", "rule:a_", "rule:A", "tri", "rule:a%b", "zz"]
ORDERS = sorted(Q.TICKET_ORDERS)


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    """43 tickets: four deadlines shared by many (ties broken by id), past and future; every
    route, NULL included; some escalated; two units and none."""
    with session_scope(engine) as session:
        units = [u.id for u in session.exec(select(Unit).order_by(col(Unit.id))).all()][:2]
        base = NOW.replace(hour=15, minute=59, second=59)
        deadlines = [base - timedelta(days=3), base, base + timedelta(days=2), base]
        for n in range(43):
            ticket = make_ticket(
                session, RULES, received_at=local(2026, 11, 2, 9) + timedelta(minutes=n)
            )
            ticket.state = STATES[n % len(STATES)].value
            ticket.routed_by = ROUTES[(n * 7) % len(ROUTES)]
            ticket.due_at = deadlines[(n * 5) % len(deadlines)]
            ticket.escalated_at = NOW - timedelta(days=1) if n % 3 == 0 else None
            ticket.unit_id = [*units, None][n % 3]
            session.add(ticket)
    return engine


def reference(session: Session, f: Q.TicketFilter, order: str) -> list[str]:
    """The list as a plain query reads it: every filter a WHERE clause, all rows sorted."""
    query = select(Ticket.number).join(Message, col(Message.id) == Ticket.message_id)
    if f.state is not None:
        query = query.where(col(Ticket.state) == f.state.value)
    if f.unit_id is not None:
        query = query.where(col(Ticket.unit_id) == f.unit_id)
    if f.open_only or f.overdue:
        query = query.where(col(Ticket.state).in_([s.value for s in OPEN_STATES]))
    if f.overdue:
        query = query.where(col(Ticket.due_at) < NOW)
    if f.escalated:
        query = query.where(col(Ticket.escalated_at).is_not(None))
    if f.routed_by:
        query = query.where(col(Ticket.routed_by).startswith(f.routed_by, autoescape=True))
    if f.person_id is not None:
        acted = select(Event.ticket_id).where(col(Event.actor_id) == f.person_id)
        query = query.where(col(Ticket.id).in_(acted))
    keys: dict[str, Any] = {
        "new": (col(Ticket.id).desc(),),
        "old": (col(Ticket.id).asc(),),
        "due": (col(Ticket.due_at).asc(), col(Ticket.id).asc()),
        "due_desc": (col(Ticket.due_at).desc(), col(Ticket.id).desc()),
    }
    return list(session.exec(query.order_by(*keys[order])).all())


def numbers(session: Session, f: Q.TicketFilter, **kw: Any) -> list[str]:
    rows = Q.search_tickets(session, f, viewer=Viewer(None), rules=RULES, now=NOW, **kw)
    return [r.number for r in rows]


def walk_forward(session: Session, f: Q.TicketFilter, order: str, size: int) -> list[str]:
    seen: list[str] = []
    page = numbers(session, f, order=order, limit=size)
    while page:
        seen += page
        page = numbers(session, f, order=order, limit=size, after=page[-1])
    return seen


def walk_back(session: Session, f: Q.TicketFilter, order: str, size: int, last: str) -> list[str]:
    seen = [last]
    page = numbers(session, f, order=order, limit=size, before=last)
    while page:
        seen = page + seen
        page = numbers(session, f, order=order, limit=size, before=page[0])
    return seen


def test_every_filter_and_order_reads_what_a_plain_query_reads(ledger: Engine) -> None:
    with session_scope(ledger) as session:
        unit = session.exec(select(Unit).order_by(col(Unit.id))).first()
        assert unit is not None
        checked = 0
        for routed_by, opened, overdue, escalated, unit_id, state in itertools.product(
            PREFIXES, (False, True), (False, True), (False, True), (None, unit.id),
            (None, TicketState.ASSIGNED),
        ):  # fmt: skip
            f = Q.TicketFilter(
                routed_by=routed_by,
                open_only=opened,
                overdue=overdue,
                escalated=escalated,
                unit_id=unit_id,
                state=state,
            )
            for order in ORDERS:
                expected = reference(session, f, order)
                assert numbers(session, f, order=order, limit=1000) == expected, (f, order)
                assert numbers(session, f, order=order, limit=3, offset=2) == expected[2:5]
                if len(expected) >= 3:
                    assert walk_forward(session, f, order, 4) == expected, (f, order)
                    assert walk_back(session, f, order, 4, expected[-1]) == expected
                checked += bool(expected)
        assert checked > 300  # most combinations find something


@pytest.mark.parametrize("many", [10**9, 3])
def test_the_person_filter_reads_what_a_plain_query_reads(
    ledger: Engine, many: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """办理人: the tickets a person took a step on, the person's steps read first or (a
    person with many steps) each ticket probed in the event index, combined with the
    per-state and per-route reads, in every order and page walk."""
    monkeypatch.setattr(Q, "PERSON_STEPS_MANY", many)
    with session_scope(ledger) as session:
        people = [p.id for p in session.exec(select(Person).order_by(col(Person.id))).all()][:3]
        tickets = session.exec(select(Ticket).order_by(col(Ticket.id))).all()
        for n, ticket in enumerate(tickets):
            # person 0 on most tickets (several steps each), person 1 on a few old ones,
            # person 2 on none; system steps (no actor) everywhere
            actors = [None, people[0], people[0]] if n % 4 else [None]
            actors += [people[1]] if n < 9 and n % 2 else []
            for k, actor in enumerate(actors):
                session.add(
                    Event(
                        ticket_id=ticket.id, action="comment", to_state=ticket.state,
                        actor_id=actor, actor="system:test" if actor is None else "某人",
                        at=NOW - timedelta(hours=k),
                    )
                )  # fmt: skip
    with session_scope(ledger) as session:
        found = 0
        for person, opened, routed_by in itertools.product(
            people, (False, True), (None, "classifier", "rule:")
        ):
            f = Q.TicketFilter(person_id=person, open_only=opened, routed_by=routed_by)
            for order in ORDERS:
                expected = reference(session, f, order)
                assert numbers(session, f, order=order, limit=1000) == expected, (f, order)
                if len(expected) >= 3:
                    assert walk_forward(session, f, order, 2) == expected, (f, order)
                    assert walk_back(session, f, order, 2, expected[-1]) == expected
                found += len(expected)
        assert found > 100
        assert numbers(session, Q.TicketFilter(person_id=people[2])) == []
        assert len(numbers(session, Q.TicketFilter(person_id=people[1]))) == 4


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL plans by statistics
@pytest.mark.parametrize("many", [10**9, 0])
def test_the_person_filter_reads_the_event_index(
    ledger: Engine, many: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite keeps no statistics: the statement itself must lead it to the index, or it
    reads every event of the ledger (614 ms at 1M tickets)."""
    monkeypatch.setattr(Q, "PERSON_STEPS_MANY", many)
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if " event" in statement and "count(" not in statement:
            seen.append((statement, parameters))

    sa_event.listen(ledger, "before_cursor_execute", keep)
    try:
        with session_scope(ledger) as session:
            for opened in (False, True):
                numbers(session, Q.TicketFilter(person_id=1, open_only=opened), order="new")
    finally:
        sa_event.remove(ledger, "before_cursor_execute", keep)
    assert len(seen) == 2
    assert all(("EXISTS" in st) == (many == 0) for st, _ in seen)
    with ledger.connect() as conn:
        for statement, parameters in seen:
            plan = " | ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            )
            assert "ix_event_actor_ticket" in plan, plan
            assert "SCAN event" not in plan, plan


def test_the_fixture_has_ties_nulls_and_wildcard_routes(ledger: Engine) -> None:
    with session_scope(ledger) as session:
        tickets = session.exec(select(Ticket)).all()
        routes = {t.routed_by for t in tickets}
        assert None in routes and {"rule:a%b", "rule:a_b", "rule:axb"} <= routes
        assert len({t.due_at for t in tickets}) == 3  # 43 tickets on three deadlines
        assert any(t.escalated_at is None for t in tickets)
        # the wildcards are text: rule:a% finds rule:a%b (and rule:A% where LIKE ignores case)
        found = reference(session, Q.TicketFilter(routed_by="rule:a%"), "new")
        routes_found = {t.routed_by for t in tickets if t.number in found}
        assert "rule:a%b" in routes_found and routes_found <= {"rule:a%b", "rule:A%"}
        found = reference(session, Q.TicketFilter(routed_by="rule:a_"), "new")
        assert {t.routed_by for t in tickets if t.number in found} == {"rule:a_b"}
        assert numbers(session, Q.TicketFilter(routed_by="zz")) == []


def test_many_routes_fall_back_to_matching_each_row(
    ledger: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Q, "ROUTED_BY_VALUES", 2)  # the ledger holds ten distinct routes
    with session_scope(ledger) as session:
        for prefix in ("rule:", "rule:a_", "classifier"):
            f = Q.TicketFilter(routed_by=prefix, open_only=True)
            for order in ORDERS:
                assert numbers(session, f, order=order) == reference(session, f, order)
                assert walk_forward(session, f, order, 3) == reference(session, f, order)


def test_a_page_after_an_unknown_ticket_is_refused(ledger: Engine) -> None:
    with session_scope(ledger) as session, pytest.raises(NotFound, match="翻页位置"):
        numbers(session, Q.TicketFilter(), after="DB-2099-999999")
