"""周交办: the Monday list pasted line by line, and next Monday's answers (一周一答卷)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from bots.messages import Outcome
from desk import tasks as D
from routing.context import RoutingContext
from tests.bots.conftest import Desk, bind_all
from tests.helpers import local
from tests.tasks.conftest import actor

MONDAY_LIST = """1. 住建局：东湖路积水点改造方案（本周五前）
2、城管局、交警大队：学府路占道经营整治（11月30日前）

民政局：养老服务设施摸底（5个工作日）
教育局：校园周边安全排查
宇宙局：不存在的单位（本周内）
这一行没有单位和冒号
水务局：排水管网普查（尽快）
"""


def test_a_pasted_monday_list_is_handed_over_line_by_line(ctx: RoutingContext, clock) -> None:
    clock.now = local(2026, 9, 28, 9)  # Monday before the National Day holiday
    result = D.weekly_paste(ctx, MONDAY_LIST, actor=actor(ctx, "ducha1"))
    rows = {r.lead_unit_name: r for r in result.created}
    assert list(rows) == ["住建局", "城管局", "民政局", "教育局"]
    assert rows["住建局"].due_date == date(2026, 9, 30)  # 本周五: Fri 2 Oct is a holiday
    assert rows["城管局"].support_units == ("交警大队",)
    assert rows["城管局"].due_date == date(2026, 11, 30)
    assert rows["民政局"].due_date == date(2026, 10, 10)  # 29, 30 Sep, 8, 9, Sat 10 Oct (调休)
    assert rows["教育局"].due_date == rows["民政局"].due_date  # no limit: by the next meeting
    assert [n for n, _ in result.rejected] == [6, 7, 8]
    assert "宇宙局" in result.rejected[0][1] and "单位：事项" in result.rejected[1][1]
    assert rows["住建局"].source == "weekly"
    again = D.weekly_paste(ctx, MONDAY_LIST, actor=actor(ctx, "ducha1"))
    assert (len(again.created), again.known) == (0, 4)
    with pytest.raises(Exception) as refused:
        D.weekly_paste(ctx, MONDAY_LIST, actor=actor(ctx, "zjj-1"))
    assert "只有录入员或督查人员" in str(refused.value)


@pytest.fixture
def desk(ctx: RoutingContext) -> Iterator[Desk]:
    bind_all(ctx, "memory")
    yield Desk(ctx)


def test_the_weekly_list_in_chat_and_next_mondays_answers(desk: Desk, clock) -> None:
    clock.now = local(2026, 11, 16, 9)
    text = "/周交办\n住建局：东湖路积水点改造方案（本周五前）\n城管局：学府路占道经营整治"
    assert desk.say("sup", "ducha1", text) == Outcome.DONE
    reply = desk.last("sup")
    assert reply.startswith("周交办：交办 2 项") and "RW-2026-0001 住建局" in reply
    assert desk.deliver() == 2
    assert desk.last("zjj").startswith("【督办事项·交办】RW-2026-0001【")
    desk.say("zjj", "zjj-1", "/办结 RW-2026-0001 方案已报区政府")
    clock.now += timedelta(days=7)
    assert desk.say("sup", "ducha1", "/周交办") == Outcome.ANSWERED
    answers = desk.last("sup")
    assert answers.startswith("【周交办·一周一答卷】")
    assert "RW-2026-0001 住建局：东湖路积水点改造方案【已报办结】答：方案已报区政府" in answers
    assert "RW-2026-0002 城管局：学府路占道经营整治【已交办】尚未答复" in answers
    assert desk.say("zjj", "zjj-1", "/周交办\n住建局：自己交办") == Outcome.REFUSED
