"""The desk's verbs and rules, called directly: what every front end relies on."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import func, select

from desk import queries as Q
from desk import tickets as D
from desk.errors import DutyConflict, StaleVersion
from desk.permissions import Viewer, visible_ticket
from ledger.directory import find_unit, get_person
from ledger.errors import PermissionDenied, user_text
from ledger.models import Complainant, Event, Message, Person, SourceKind, Ticket, TicketState
from ledger.tickets import Actor
from routing.context import RoutingContext
from tests.helpers import make_ticket


def open_ticket(ctx: RoutingContext, text: str = "东湖路路灯不亮，晚上很黑", **kw) -> str:
    with ctx.session() as session:
        return make_ticket(session, ctx.rules, text=text, now=ctx.now(), **kw).number


def person(ctx: RoutingContext, code: str) -> Actor:
    with ctx.session() as session:
        found = get_person(session, code)
        session.expunge(found)
        return Actor.of(found)


def move(ctx: RoutingContext, code: str, unit: str, roles: list[str]) -> None:
    """Give a person of the demo district another unit and roles (people hold two hats)."""
    with ctx.session() as session:
        found = get_person(session, code)
        found.unit_id = find_unit(session, unit).id
        found.roles = roles
        session.add(found)


def state_and_events(ctx: RoutingContext, number: str) -> tuple[str, int, int]:
    with ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        events = session.exec(
            select(func.count()).select_from(Event).where(Event.ticket_id == ticket.id)
        ).one()
        return ticket.state, ticket.version, events


def assigned(ctx: RoutingContext, unit: str = "住建局") -> str:
    number = open_ticket(ctx)
    D.assign(ctx, number, unit, actor=person(ctx, "luru1"))
    return number


# -- the version the caller saw -------------------------------------------------------------


def test_a_step_on_a_stale_view_is_refused_and_changes_nothing(ctx: RoutingContext) -> None:
    number = assigned(ctx)
    seen = D.acknowledge(ctx, number, actor=person(ctx, "zjj-1")).version
    D.reply(ctx, number, "已更换路灯", actor=person(ctx, "zjj-1"), expected_version=seen)
    before = state_and_events(ctx, number)
    # a supervisor's page still shows the acknowledged ticket: its step must not act
    with pytest.raises(StaleVersion) as refused:
        D.comment(ctx, number, "请加快办理", actor=person(ctx, "ducha1"), expected_version=seen)
    assert "已有新的办理进展" in user_text(refused.value) and "刷新" in user_text(refused.value)
    assert state_and_events(ctx, number) == before
    # with the version it has now, the same step goes through
    result = D.comment(
        ctx, number, "请加快办理", actor=person(ctx, "ducha1"), expected_version=before[1]
    )
    assert result.version == before[1] + 1


# -- separation of duties ---------------------------------------------------------------------


def test_nobody_approves_or_checks_the_work_of_their_own_unit(ctx: RoutingContext) -> None:
    move(ctx, "ducha1", "zjj", ["supervisor", "member"])  # a supervisor seconded to 住建局
    number = assigned(ctx)
    D.request_extension(ctx, number, 3, "需协调供电公司", actor=person(ctx, "zjj-1"))
    before = state_and_events(ctx, number)
    with pytest.raises(DutyConflict) as refused:
        D.decide_extension(ctx, number, approve=True, actor=person(ctx, "ducha1"))
    assert "职责分离" in user_text(refused.value) and "住建局" in user_text(refused.value)
    with pytest.raises(DutyConflict):
        D.decide_extension(ctx, number, approve=False, actor=person(ctx, "ducha1"), note="不行")
    assert state_and_events(ctx, number) == before
    # another supervisor decides
    D.decide_extension(ctx, number, approve=True, actor=person(ctx, "admin"))

    D.reply(ctx, number, "已更换路灯", actor=person(ctx, "ducha1"))  # as a member: allowed
    with pytest.raises(DutyConflict):
        D.verify(ctx, number, passed=True, score=5, actor=person(ctx, "ducha1"))
    with pytest.raises(DutyConflict):
        D.reopen(ctx, number, "再查", actor=person(ctx, "ducha1"))
    assert state_and_events(ctx, number)[0] == TicketState.REPLIED
    D.verify(ctx, number, passed=True, score=4, actor=person(ctx, "admin"))
    assert state_and_events(ctx, number)[0] == TicketState.VERIFIED


def test_nobody_pulls_a_ticket_into_their_own_unit(ctx: RoutingContext) -> None:
    move(ctx, "luru1", "cgj", ["intake", "member"])
    number = open_ticket(ctx)
    with pytest.raises(DutyConflict) as refused:
        D.assign(ctx, number, "城管局", actor=person(ctx, "luru1"))
    assert "城管局" in user_text(refused.value) and "职责分离" in user_text(refused.value)
    assert state_and_events(ctx, number)[0] == TicketState.REGISTERED
    D.assign(ctx, number, "住建局", actor=person(ctx, "luru1"))
    # nor by re-assignment (改派) from another unit
    with pytest.raises(DutyConflict):
        D.assign(ctx, number, "城管局", actor=person(ctx, "luru1"))
    D.assign(ctx, number, "城管局", actor=person(ctx, "luru2"))


def test_a_state_refusal_is_still_told_before_duties(ctx: RoutingContext) -> None:
    move(ctx, "ducha1", "zjj", ["supervisor", "member"])
    number = assigned(ctx)
    with pytest.raises(Exception) as refused:
        D.verify(ctx, number, passed=True, score=5, actor=person(ctx, "ducha1"))
    assert "当前状态" in user_text(refused.value)


# -- who may see ------------------------------------------------------------------------------


def test_visibility_is_one_rule_for_every_front_end(ctx: RoutingContext) -> None:
    number = assigned(ctx, "住建局")
    triage = open_ticket(ctx, "某小区电梯经常故障")
    with ctx.session() as session:
        people = {p.code: p for p in session.exec(select(Person))}
        zjj = people["zjj-1"].unit_id
        cgj = people["cgj-1"].unit_id

        def sees(viewer: Viewer, wanted: str) -> bool:
            return visible_ticket(session, viewer, wanted) is not None

        assert sees(Viewer(people["zjj-1"]), number)
        assert not sees(Viewer(people["cgj-1"]), number)  # another unit: as if it did not exist
        assert not sees(Viewer(people["zjj-1"]), triage)  # not yet any unit's
        assert sees(Viewer(people["luru1"]), triage) and sees(Viewer(people["ducha1"]), number)
        assert sees(Viewer(None), number)  # the console operator
        # in a unit's chat only that unit's tickets, whoever asks
        assert sees(Viewer(people["ducha1"], unit_scope=zjj, in_unit_chat=True), number)
        assert not sees(Viewer(people["ducha1"], unit_scope=cgj, in_unit_chat=True), number)
        assert not sees(Viewer(people["zjj-1"]), "DB-2026-999999")
        people["zjj-1"].active = False
        assert not sees(Viewer(people["zjj-1"]), number)  # a deactivated person sees nothing


def test_the_complainant_is_for_staff_only_and_every_view_is_logged(
    ctx: RoutingContext,
) -> None:
    number = assigned(ctx)
    with ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        session.add(Complainant(message_id=ticket.message_id, name="张三", contact="13812345678"))
    before = state_and_events(ctx, number)
    with ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        unit_member = get_person(session, "zjj-1")
        with pytest.raises(PermissionDenied):
            Q.reveal_complainant(
                session, ticket, viewer=Viewer(unit_member), actor=Actor.of(unit_member),
                now=ctx.now(),
            )  # fmt: skip
    assert state_and_events(ctx, number) == before  # a refusal writes nothing
    with ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        staff = get_person(session, "ducha1")
        shown = Q.reveal_complainant(
            session, ticket, viewer=Viewer(staff), actor=Actor.of(staff), now=ctx.now()
        )
        assert shown is not None and (shown.name, shown.contact) == ("张三", "13812345678")
        detail = Q.ticket_detail(
            session, ticket, viewer=Viewer(unit_member), rules=ctx.rules, now=ctx.now(),
            with_events=True,
        )  # fmt: skip
        assert "13812345678" not in str(detail.as_dict())
    state, version, events = state_and_events(ctx, number)
    assert (state, version, events) == (before[0], before[1], before[2] + 1)  # logged, not moved
    with ctx.session() as session:
        last = session.exec(select(Event).order_by(Event.id.desc())).first()  # type: ignore[union-attr]
        assert last is not None and (last.action, last.actor) == (
            "view_complainant",
            "陈立新(ducha1)",
        )


# -- reading -----------------------------------------------------------------------------------


def test_the_ledger_list_filters_and_stays_within_the_viewers_unit(ctx: RoutingContext) -> None:
    lamp = assigned(ctx, "住建局")
    lift = open_ticket(ctx, "锦绣小区电梯经常故障，困人多次", kind="letter")
    D.assign(ctx, lift, "城管局", actor=person(ctx, "luru1"))
    D.escalate(ctx, lift, "群众反映强烈", actor=person(ctx, "ducha1"))

    def numbers(viewer_code: str | None, **filters) -> list[str]:
        with ctx.session() as session:
            viewer = Viewer(get_person(session, viewer_code) if viewer_code else None)
            rows = Q.search_tickets(
                session, Q.TicketFilter(**filters), viewer=viewer, rules=ctx.rules, now=ctx.now()
            )
            return [row.number for row in rows]

    assert numbers(None) == [lift, lamp]
    assert numbers(None, keyword="电梯") == [lift]
    assert numbers(None, keyword="100%") == []  # LIKE wildcards are text
    assert numbers(None, source=SourceKind.LETTER) == [lift]
    assert numbers(None, escalated=True) == [lift]
    today = ctx.rules.local_date(ctx.now())
    assert numbers(None, received_from=today, received_to=today) == [lift, lamp]
    assert numbers(None, received_to=date(2020, 1, 1)) == []
    with ctx.session() as session:
        ducha = get_person(session, "ducha1").id
    assert numbers(None, person_id=ducha) == [lift]
    assert numbers("zjj-1") == [lamp]  # a unit sees only its own, whatever it asks
    assert numbers("zjj-1", keyword="电梯") == []
    with ctx.session() as session:
        rows = Q.search_tickets(
            session, Q.TicketFilter(keyword="电梯"), viewer=Viewer(None), rules=ctx.rules,
            now=ctx.now(),
        )  # fmt: skip
    assert rows[0].title is None or isinstance(rows[0].title, str)


def test_what_each_role_owes(ctx: RoutingContext) -> None:
    waiting = open_ticket(ctx)
    number = assigned(ctx)
    D.request_extension(ctx, number, 2, "需协调", actor=person(ctx, "zjj-1"))

    def owed(code: str, chat_kind: str | None = None) -> dict[str, list[str]]:
        with ctx.session() as session:
            viewer = Viewer(get_person(session, code))
            sections = Q.todo(session, viewer, rules=ctx.rules, now=ctx.now(), chat_kind=chat_kind)
            return {s.title: [r.number for r in s.rows] for s in sections}

    assert owed("zjj-1") == {"住建局待办": [number]}
    assert owed("ducha1") == {"待核查": [], "待审批延期": [number], "待分办": [waiting]}
    assert owed("ducha1", "supervisors") == {"待核查": [], "待审批延期": [number]}
    assert owed("luru1") == {"待分办": [waiting]}


def test_assigning_back_to_the_unit_that_returned_it_says_so(ctx: RoutingContext) -> None:
    number = assigned(ctx, "住建局")
    D.return_ticket(ctx, number, "不属于本单位职责", actor=person(ctx, "zjj-1"))
    result = D.assign(ctx, number, "住建局", actor=person(ctx, "luru1"))
    assert result.unit == "zjj" and "曾退回此件" in result.text
    D.return_ticket(ctx, number, "确实不是", actor=person(ctx, "zjj-1"))
    assert "曾退回" not in D.assign(ctx, number, "城管局", actor=person(ctx, "luru1")).text


def test_a_unit_reads_masked_titles_and_not_who_looked_up_the_complainant(
    ctx: RoutingContext,
) -> None:
    number = assigned(ctx)
    with ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        message = session.get(Message, ticket.message_id)
        assert message is not None
        message.text = "我叫张三丰，电话13812345678，东湖路路灯不亮"
        message.unit_text = "我叫***，电话138****5678，东湖路路灯不亮"
        session.add(message)
        session.add(Complainant(message_id=ticket.message_id, name="张三丰"))
        staff, member = get_person(session, "ducha1"), get_person(session, "zjj-1")
        Q.reveal_complainant(
            session, ticket, viewer=Viewer(staff), actor=Actor.of(staff), now=ctx.now()
        )
    with ctx.session() as session:
        staff, member = get_person(session, "ducha1"), get_person(session, "zjj-1")
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()

        def title(viewer: Viewer) -> str | None:
            rows = Q.search_tickets(
                session, Q.TicketFilter(), viewer=viewer, rules=ctx.rules, now=ctx.now()
            )
            return rows[0].title

        assert "13812345678" in (title(Viewer(staff)) or "")
        unit_title = title(Viewer(member)) or ""
        assert "13812345678" not in unit_title and "张三丰" not in unit_title
        unit_chat = Viewer(staff, unit_scope=ticket.unit_id, in_unit_chat=True)
        assert "13812345678" not in (title(unit_chat) or "")
        seen_by_unit = [e.action for e in Q.event_views(session, ticket, viewer=Viewer(member))]
        seen_by_staff = [e.action for e in Q.event_views(session, ticket, viewer=Viewer(staff))]
        assert "view_complainant" in seen_by_staff and "view_complainant" not in seen_by_unit
