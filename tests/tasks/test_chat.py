"""督办事项 from chat: units report, supervisors check, close and remind; cards show the
colour and the working days left; ticket commands keep working as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlmodel import select

from bots import identity
from bots.messages import Outcome
from desk import tasks as D
from ledger.directory import get_person
from ledger.models import Task
from routing.context import RoutingContext
from tests.bots.conftest import Desk, account, bind_all
from tests.helpers import make_ticket
from tests.tasks.conftest import actor, spec


@pytest.fixture
def desk(ctx: RoutingContext) -> Iterator[Desk]:
    bind_all(ctx, "memory")
    with ctx.session() as session:
        leader = get_person(session, "qld-1")
        identity.link_account(
            session, platform="memory", account_id=account("qld-1"), person=leader, via="cli",
            now=ctx.now(),
        )  # fmt: skip
    yield Desk(ctx)


def state(desk: Desk, number: str) -> str:
    with desk.ctx.session() as session:
        return session.exec(select(Task.state).where(Task.number == number)).one()


def test_a_task_from_its_card_to_its_closing_in_chat(desk: Desk) -> None:
    task = spec(desk.ctx, milestones=(("完成设计", date(2026, 11, 30)),))
    number = D.create(desk.ctx, task, actor=actor(desk.ctx, "luru1")).number
    assert desk.deliver() == 2  # the lead unit's and the 配合单位's cards
    card = desk.last("zjj")
    assert card.startswith(f"【督办事项·交办】{number}【绿】")
    assert "剩" in card and "个工作日" in card and "牵头领导：王区长" in card
    assert desk.last("cgj").startswith(f"【督办事项·交办】{number}")

    assert desk.say("zjj", "zjj-1", f"/签收 {number}") == Outcome.DONE
    assert f"{number} 已签收" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/进展 {number} 节点1 已完成设计") == Outcome.DONE
    assert "进展已报送" in desk.last("zjj")
    assert desk.say("cgj", "cgj-1", f"/进展 {number} 已配合完成占道审批") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/延期 {number} 3 雨季停工") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/办结 {number} 改造完成并通过验收") == Outcome.DONE
    assert state(desk, number) == "finished"
    desk.deliver()
    assert any(t.startswith(f"【督办事项·办结待核查】{number}") for t in desk.texts("sup"))
    assert any(t.startswith("【督办事项·延期申请】") for t in desk.texts("sup"))

    assert desk.say("sup", "ducha1", f"/核查 {number} 不通过 2 缺验收材料") == Outcome.DONE
    assert state(desk, number) == "reopened"
    desk.say("zjj", "zjj-1", f"/办结 {number} 已补充验收材料")
    assert desk.say("sup", "ducha1", f"/核查 {number} 通过 5") == Outcome.DONE
    # the 牵头领导 closes it from a private chat
    assert (
        desk.say("qld-private", account("qld-1"), f"/销号 {number} 同意销号", private=True)
        == Outcome.DONE
    )
    assert state(desk, number) == "closed"


def test_refusals_in_chat_change_nothing(desk: Desk) -> None:
    number = D.create(desk.ctx, spec(desk.ctx), actor=actor(desk.ctx, "luru1")).number
    # another unit cannot see it: answered as if it did not exist
    assert desk.say("cgj", "cgj-1", f"/签收 {number}") == Outcome.REFUSED
    assert "牵头的事项" in desk.last("cgj")
    assert desk.say("zjj", "zjj-1", "/签收 RW-2026-0099") == Outcome.REFUSED
    assert "没有找到该督办事项" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/销号 {number}") == Outcome.REFUSED
    assert desk.say("zjj", "zjj-1", f"/核查 {number} 通过 5") == Outcome.REFUSED
    assert desk.say("sup", "ducha1", f"/核查 {number} 通过 5") == Outcome.REFUSED
    assert "不能核查通过" in desk.last("sup")
    assert desk.say("zjj", "zjj-1", "/进展 内容但没有编号") == Outcome.REFUSED
    assert "RW-2026-0001" in desk.last("zjj")
    assert desk.say("zjj", "zjj-1", f"/进展 {number}") == Outcome.REFUSED
    assert desk.say("sup", "ducha1", f"/催办 {number}") == Outcome.REFUSED
    assert state(desk, number) == "assigned"


def test_a_reminder_reaches_the_units_with_the_colour(desk: Desk, clock) -> None:
    number = D.create(desk.ctx, spec(desk.ctx), actor=actor(desk.ctx, "luru1")).number
    desk.deliver()
    clock.advance(days=14)  # no report for more than 5 working days: yellow
    assert desk.say("sup", "ducha1", f"/催办 {number} 请本周内报送进展") == Outcome.DONE
    assert "第 1 次" in desk.last("sup")
    assert desk.deliver() == 2
    for chat in ("zjj", "cgj"):
        card = desk.last(chat)
        assert card.startswith(f"【督办事项·催办】{number}【黄】") and "请本周内报送进展" in card
        assert "未报送进展" in card


def test_ticket_commands_still_take_ticket_numbers(desk: Desk) -> None:
    with desk.ctx.session() as session:
        ticket = make_ticket(session, desk.ctx.rules, now=desk.ctx.now()).number
    assert desk.say("intake", "luru1", f"/分办 {ticket} 住建局") == Outcome.DONE
    assert desk.say("zjj", "zjj-1", f"/签收 {ticket}") == Outcome.DONE
    assert f"{ticket} 已签收" in desk.last("zjj")


def test_the_help_names_the_task_commands(desk: Desk) -> None:
    desk.say("zjj", "zjj-1", "/帮助")
    text = desk.last("zjj")
    assert "/进展 RW-编号 内容" in text and "RW- 编号" in text
    desk.say("sup", "ducha1", "/帮助")
    assert "/销号 RW-编号" in desk.last("sup") and "/催办 RW-编号" in desk.last("sup")


def test_the_task_list_in_chat_shows_what_the_chat_may_see(desk: Desk, clock) -> None:
    ours = D.create(desk.ctx, spec(desk.ctx), actor=actor(desk.ctx, "luru1")).number
    theirs = D.create(
        desk.ctx, spec(desk.ctx, lead="交通运输局", support=()), actor=actor(desk.ctx, "luru1")
    ).number
    assert desk.say("zjj", "zjj-1", "/事项") == Outcome.ANSWERED
    listed = desk.last("zjj")
    assert listed.startswith("【督办事项】") and ours in listed and theirs not in listed
    assert "【绿】住建局 剩" in listed
    desk.say("sup", "ducha1", "/事项")
    assert ours in desk.last("sup") and theirs in desk.last("sup")
    desk.say("sup", "ducha1", "/事项 红")
    assert desk.last("sup") == "没有需要办理的督办事项"
    assert desk.say("sup", "ducha1", "/事项 紫") == Outcome.REFUSED
