"""The console adapter and the scripted cast (``make demo``)."""

from __future__ import annotations

import asyncio
import io

from bots.console import ConsoleAdapter, ConsolePlayer, play_script, setup_console
from bots.runner import BotRunner
from routing.context import RoutingContext


def test_play_script_prints_every_chat_message(ctx: RoutingContext) -> None:
    out = io.StringIO()
    lines = play_script(
        ctx,
        [
            ("luru1", "", "批示件：请住建局牵头，限5个工作日内办结东湖新城小区积水问题"),
            ("zjj-1", "", "^/签收"),
            ("zjj-1", "", "/回复 {ticket}"),
            ("zjj-1", "", "一、已到现场。"),
            ("zjj-1", "", "二、积水已排除。"),
            ("zjj-1", "", "/办结"),
            ("ducha1", "", "/核查 {ticket} 通过 5"),
            ("zjj-1", "私聊", "/待办"),
            ("nobody", "", "/待办"),
        ],
        out=out,
    )
    printed = out.getvalue()
    assert all(line.text.split("\n")[0] in printed for line in lines)  # printed as it went
    chats = [(line.chat_label, line.speaker.split("(")[0]) for line in lines]
    assert chats[:3] == [("录入台", "王晓燕"), ("录入台", "督办助手"), ("住建局", "督办助手")]
    assert lines[2].text.startswith("【交办】DB-2026-000001")
    assert lines[4].text.startswith("DB-2026-000001 已签收")  # "^" replied to the card
    assert any(line.text.startswith("【核查通过】") and line.chat == "zjj" for line in lines)
    assert any(line.chat == "@zjj-1" and line.chat_label == "私聊·刘洋" for line in lines)
    assert "没有编号为 nobody 的人员" in printed


def test_the_player_keeps_its_state_between_calls(ctx: RoutingContext) -> None:
    player = ConsolePlayer(ctx, out=io.StringIO())
    player.play([("luru1", "", "批示件：请住建局牵头，限5个工作日内办结东湖新城小区积水问题")])
    assert player.adapter.last_ticket == "DB-2026-000001"
    more = player.play([("zjj-1", "", "/签收 {ticket}")])
    assert more[-1].text.startswith("DB-2026-000001 已签收")
    assert player.deliver() == []


def test_console_runs_until_its_input_ends(ctx: RoutingContext) -> None:
    with ctx.session() as session:
        cast = setup_console(session, now=ctx.now())
    out = io.StringIO()
    lines = io.StringIO(
        "# a comment\n\n@zjj-1\n/待办\n#私聊 /身份\n@luru1 #intake /待办\n没有人说话\n"
    )
    adapter = ConsoleAdapter(cast, inp=lines, out=out, echo=True, clock=ctx.now)
    runner = BotRunner(ctx, [adapter], outbox_interval=0.05)
    adapter.settle = runner.outbox.drain

    async def main() -> None:
        await asyncio.wait_for(runner.run(until=adapter.closed), timeout=30)

    asyncio.run(main())
    printed = out.getvalue()
    assert "[住建局] 刘洋(zjj-1)：/待办" in printed
    assert "[私聊·刘洋] 督办助手：您：刘洋（zjj-1）" in printed
    assert "[录入台] 督办助手：【待分办】" in printed
    assert adapter.closed.is_set()


def test_setup_console_is_idempotent(ctx: RoutingContext) -> None:
    with ctx.session() as session:
        first = setup_console(session, now=ctx.now())
    with ctx.session() as session:
        second = setup_console(session, now=ctx.now())
    assert first == second
    assert first.homes["luru1"] == "intake" and first.homes["ducha1"] == "supervisors"
    assert first.homes["zjj-1"] == "zjj" and first.labels["zjj"] == "住建局"
