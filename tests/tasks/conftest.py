"""督办事项 on the real ledger (SQLite and PostgreSQL), with the demo district's people
and a 区领导 made here."""

from __future__ import annotations

from datetime import date

import pytest

from duban.runtime import Runtime
from ledger.directory import find_unit, get_person
from ledger.models import Person
from ledger.tickets import Actor
from routing.context import RoutingContext
from tasks import workflow as W
from tests.helpers import Clock


@pytest.fixture
def ctx(runtime: Runtime, clock: Clock) -> RoutingContext:
    runtime.clock = clock
    context = runtime.routing
    with context.session() as session:
        session.add(Person(code="qld-1", name="王区长", roles=["district_leader"]))
        session.add(Person(code="qld-2", name="李副区长", roles=["district_leader"]))
    return context


def actor(ctx: RoutingContext, code: str) -> Actor:
    with ctx.session() as session:
        found = get_person(session, code)
        session.expunge(found)
        return Actor.of(found)


def spec(
    ctx: RoutingContext,
    *,
    title: str = "推进东湖路老旧小区改造",
    lead: str = "住建局",
    support: tuple[str, ...] = ("城管局",),
    due: date | None = date(2026, 12, 31),
    limit_days: int | None = None,
    ongoing: bool = False,
    leader: str | None = "qld-1",
    milestones: tuple[tuple[str, date], ...] = (),
) -> W.TaskSpec:
    with ctx.session() as session:
        lead_unit = find_unit(session, lead)
        support_units = tuple(find_unit(session, name) for name in support)
        person = get_person(session, leader) if leader else None
        for obj in (lead_unit, *support_units, *([person] if person else [])):
            session.expunge(obj)
    return W.TaskSpec(
        title=title,
        lead_unit=lead_unit,
        source=W.TaskSource.KEY,
        due_date=due,
        limit_days=limit_days,
        ongoing=ongoing,
        leader=person,
        support_units=support_units,
        milestones=tuple(W.MilestoneSpec(t, d) for t, d in milestones),
        requirements="年底前完成改造并通过验收",
    )
