"""One chat message, one transaction (SQLite and PostgreSQL): counted with SQLAlchemy's
``begin`` event on the engine, never timed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import event
from sqlmodel import Session, func, select

from bots import state
from bots.handlers import Handlers
from bots.messages import Outcome, Response
from bots.registry import all_commands
from desk import tickets as D
from ledger.db import make_engine
from ledger.directory import find_unit
from ledger.errors import BadInput
from ledger.models import ChatCard, ChatInbox, Event, Notification, Ticket, TicketState
from ledger.tickets import Actor
from routing.context import RoutingContext
from tests.bots.conftest import Desk, bind_all
from tests.bots.test_handlers import assigned, open_ticket


@dataclass
class Count:
    transactions: int = 0


@contextmanager
def transactions(ctx: RoutingContext) -> Iterator[Count]:
    count = Count()

    def begin(_conn: object) -> None:
        count.transactions += 1

    event.listen(ctx.engine, "begin", begin)
    try:
        yield count
    finally:
        event.remove(ctx.engine, "begin", begin)


def inbox(ctx: RoutingContext, message_id: str) -> ChatInbox:
    with ctx.session() as session:
        return session.exec(select(ChatInbox).where(ChatInbox.message_id == message_id)).one()


@pytest.mark.parametrize(
    ("chat", "person", "line", "outcome"),
    [
        ("zjj", "zjj-1", "/签收 {number}", Outcome.DONE),
        ("zjj", "zjj-1", "/回复 {number} 已更换路灯", Outcome.DONE),
        ("zjj", "zjj-1", "/待办", Outcome.ANSWERED),
        ("zjj", "zjj-1", "/详情 {number}", Outcome.ANSWERED),
        ("sup", "ducha1", "/详情 {number}", Outcome.ANSWERED),
        ("sup", "ducha1", "/待办", Outcome.ANSWERED),
        ("zjj", "zjj-1", "/核查 {number} 通过", Outcome.REFUSED),  # not theirs to judge
        ("cgj", "cgj-1", "/签收 {number}", Outcome.REFUSED),  # another unit's: hidden
        ("intake", "luru1", "/帮助", Outcome.ANSWERED),
    ],
)
def test_a_command_is_one_transaction(
    desk: Desk, chat: str, person: str, line: str, outcome: Outcome
) -> None:
    number = assigned(desk)
    desk.say("zjj", "zjj-1", f"/详情 {number}")  # an answer about a ticket: a card to record
    with transactions(desk.ctx) as count:
        got = desk.say(chat, person, line.format(number=number), message_id="m-1")
    assert got == outcome
    assert count.transactions == 1
    assert inbox(desk.ctx, "m-1").outcome == outcome.value


def test_a_staff_step_is_one_transaction_and_the_bots_are_nudged_after_it(
    ctx: RoutingContext,
) -> None:
    bind_all(ctx, "memory")
    seen: list[int] = []
    elsewhere = make_engine(ctx.engine.url.render_as_string(hide_password=False))

    def nudge() -> None:  # what a bot process would read when woken: the card is there
        with Session(elsewhere) as other:
            seen.append(
                other.exec(
                    select(func.count())
                    .select_from(Notification)
                    .where(Notification.kind == "assigned")
                ).one()
            )

    ctx.nudge = nudge
    desk = Desk(ctx)
    number = open_ticket(ctx)
    with transactions(ctx) as count:
        assert desk.say("intake", "luru1", f"/分办 {number} 住建局") == Outcome.DONE
    elsewhere.dispose()
    assert count.transactions == 1
    assert seen == [1]
    assert desk.ticket(number).state == TicketState.ASSIGNED


def test_a_reply_to_an_answer_names_its_ticket_before_and_after_the_flush(desk: Desk) -> None:
    first, second = assigned(desk), assigned(desk)
    desk.say("zjj", "zjj-1", f"/详情 {first}")
    about_first = desk.adapter.last("zjj")
    assert desk.say("zjj", "zjj-1", "/签收", reply_to=about_first.message_id) == Outcome.DONE
    assert desk.ticket(first).state == TicketState.ACKNOWLEDGED

    desk.say("zjj", "zjj-1", f"/详情 {second}")
    about_second = desk.adapter.last("zjj")
    asyncio.run(desk.hub.flush_cards())  # the chat went quiet: recorded on their own
    with desk.ctx.session() as session:
        card = session.exec(
            select(ChatCard).where(ChatCard.message_id == about_second.message_id)
        ).one()
        assert session.get(Ticket, card.ticket_id).number == second  # type: ignore[union-attr]
    other = Desk(desk.ctx)  # another process (after a restart) knows it too
    assert other.say("zjj", "zjj-1", "/签收", reply_to=about_second.message_id) == Outcome.DONE
    assert desk.ticket(second).state == TicketState.ACKNOWLEDGED


def broken(chat: Handlers, msg, who, cmd) -> Response:  # type: ignore[no-untyped-def]
    """Takes a step, then fails: nothing of the message may be kept."""
    assert who.person is not None
    D.acknowledge(chat.ctx, cmd.number or "", actor=Actor.of(who.person))
    raise RuntimeError("boom after the step")


def test_a_message_that_fails_keeps_nothing_and_is_not_handled_again(ctx: RoutingContext) -> None:
    bind_all(ctx, "memory")
    commands = tuple(replace(c, callback=broken) if c.name == "签收" else c for c in all_commands())
    desk = Desk(ctx, handlers=Handlers(ctx, commands=commands))
    number = assigned(desk)
    events = desk.events(number)

    assert desk.say("zjj", "zjj-1", f"/签收 {number}", message_id="m-9") == Outcome.FAILED
    assert "系统出错" in desk.last("zjj")
    assert desk.ticket(number).state == TicketState.ASSIGNED  # the step was rolled back
    assert desk.events(number) == events
    assert inbox(ctx, "m-9").outcome == Outcome.FAILED.value
    assert desk.say("zjj", "zjj-1", f"/签收 {number}", message_id="m-9") == Outcome.DUPLICATE

    plain = Desk(ctx)  # the ordinary 签收 still works
    assert plain.say("zjj", "zjj-1", f"/签收 {number}") == Outcome.DONE
    assert [a for a, _ in desk.events(number)].count("acknowledge") == 1


def test_a_refused_step_keeps_what_the_message_did_before_it(desk: Desk) -> None:
    """/签收 while a /回复 waits for its text: the prompt is dropped, the step refused (rolled
    back to its savepoint), and the dropped prompt stays dropped."""
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/延期 {number}") == Outcome.ANSWERED  # waits for text
    assert desk.say("zjj", "zjj-1", f"/签收 {number}") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/延期 {number}") == Outcome.ANSWERED
    assert desk.say("zjj", "zjj-1", f"/签收 {number}", message_id="m-7") == Outcome.REFUSED
    assert "已取消" in desk.last("zjj")
    assert inbox(desk.ctx, "m-7").outcome == Outcome.REFUSED.value
    assert desk.say("zjj", "zjj-1", "3 需协调供电部门") == Outcome.IGNORED  # no prompt left
    with desk.ctx.session() as session:
        acks = session.exec(
            select(func.count()).select_from(Event).where(Event.action == "acknowledge")
        ).one()
    assert acks == 1


def test_plain_text_in_the_intake_desk_is_filed_in_its_own_transactions(desk: Desk) -> None:
    """Filing commits, then enqueues its routing: the message's claim is committed first."""
    text = "批示件：请区住建局牵头，限5个工作日内办结。东湖路路灯不亮，晚上很黑"
    assert desk.say("intake", "luru1", text, message_id="m-5") == Outcome.DONE
    assert inbox(desk.ctx, "m-5").outcome == Outcome.DONE.value
    assert desk.say("intake", "luru1", text, message_id="m-5") == Outcome.DUPLICATE
    with desk.ctx.session() as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 1


def half_done(chat: Handlers, msg, who, cmd) -> Response:  # type: ignore[no-untyped-def]
    """A step that writes, then is refused (against the desk's contract): nothing of the
    step may be kept, what the message did before it is."""

    def run(ctx: RoutingContext, actor: Actor) -> object:
        with ctx.session() as session:
            state.set_value(session, "test:half", "written", now=ctx.now())
            raise BadInput("不能办理", "refused after writing")

    return chat.step(who, cmd, run)  # type: ignore[arg-type]


def test_a_step_refused_after_writing_keeps_nothing_of_it(ctx: RoutingContext) -> None:
    bind_all(ctx, "memory")
    commands = tuple(
        replace(c, callback=half_done) if c.name == "签收" else c for c in all_commands()
    )
    desk = Desk(ctx, handlers=Handlers(ctx, commands=commands))
    number = assigned(desk)
    assert desk.say("zjj", "zjj-1", f"/延期 {number}") == Outcome.ANSWERED  # waits for text
    with transactions(ctx) as count:
        got = desk.say("zjj", "zjj-1", f"/签收 {number}", message_id="m-3")
    assert got == Outcome.REFUSED
    assert count.transactions == 2  # rolled back, then handled again with savepoints
    refusal, dropped = desk.texts("zjj")[-2:]
    assert "不能办理" in refusal and "已取消" in dropped
    with ctx.session() as session:
        assert state.get_value(session, "test:half") is None
    assert inbox(ctx, "m-3").outcome == Outcome.REFUSED.value
    assert desk.say("zjj", "zjj-1", "3 需协调供电部门") == Outcome.IGNORED  # the prompt is gone


@contextmanager
def unit_lists(ctx: RoutingContext) -> Iterator[list[str]]:
    """The statements that read the whole unit list (not one unit by its id)."""
    seen: list[str] = []

    def statement(_conn, _cursor, sql: str, *_args: object) -> None:  # type: ignore[no-untyped-def]
        if "FROM unit" in sql and "unit.id =" not in sql and "WHERE" not in sql:
            seen.append(sql)

    event.listen(ctx.engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        event.remove(ctx.engine, "before_cursor_execute", statement)


def test_the_unit_list_is_not_read_again_for_every_command(desk: Desk) -> None:
    number = assigned(desk)
    desk.say("zjj", "zjj-1", "/待办")
    with unit_lists(desk.ctx) as reads:
        assert desk.say("zjj", "zjj-1", f"/签收 {number}") == Outcome.DONE
        assert desk.say("zjj", "zjj-1", "/待办") == Outcome.ANSWERED
    assert reads == []
    assert number in desk.last("zjj")

    with desk.ctx.session() as session:  # renamed here: the next answer shows the new name
        unit = find_unit(session, "zjj")
        unit.short_name = "住房城乡建设局"
        session.add(unit)
    assert desk.say("zjj", "zjj-1", "/待办") == Outcome.ANSWERED
    assert f"{number} 已签收 住房城乡建设局" in "\n".join(desk.texts("zjj")[-3:])
