"""Telegram end to end: the real python-telegram-bot stack against a fake Bot API on loopback.

Updates are fed in the Bot API's JSON shapes (messages, replies, forwarded messages,
callback queries); the bot runs as ``duban bot --telegram`` does (BotRunner: adapter, hub,
outbox). No mocks: PTB's HTTPXRequest talks HTTP to tests/fakes/telegram_api.py.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlmodel import func, select

from bots import identity, state
from bots.errors import SendFailed
from bots.messages import Action, OutgoingMessage
from bots.runner import BotRunner
from bots.telegram import TelegramAdapter, Webhook
from ledger.db import session_scope
from ledger.directory import get_person
from ledger.models import ChatAccount, ChatDelivery, Message, Notification, Reply, TicketState
from routing.context import RoutingContext
from tests.bots.conftest import bind_all
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.helpers import Clock

INTAKE, ZJJ, SUP, CGJ = -100101, -100102, -100103, -100104
CHAT_IDS = {"intake": INTAKE, "zjj": ZJJ, "sup": SUP, "cgj": CGJ}
USER_IDS = {"luru1": 101, "zjj-1": 102, "ducha1": 103, "cgj-1": 104, "zjj-ld": 105, "admin": 106}
INSTRUCTION = "批示件：请住建局牵头，限5个工作日内办结东湖新城小区积水问题"


class World:
    """The fake Telegram: groups and people as the Bot API shows them."""

    def __init__(self, api: FakeBotAPI, clock: Clock) -> None:
        self.api = api
        self.clock = clock
        self.chats = {
            "intake": api.group(INTAKE, "滨河区督查室录入台"),
            "zjj": api.group(ZJJ, "住建局督办群"),
            "sup": api.group(SUP, "督查室"),
            "cgj": api.group(CGJ, "城管局督办群"),
        }
        self.users = {
            "luru1": api.user(101, "晓燕", "王"),
            "zjj-1": api.user(102, "洋", "刘", "liuyang"),
            "ducha1": api.user(103, "立新", "陈"),
            "cgj-1": api.user(104, "志强", "何"),
            "zjj-ld": api.user(105, "建国", "李"),
            "admin": api.user(106, "敏", "周"),
            "stranger": api.user(199, "路人"),
        }

    def say(self, chat: str, who: str, text: str, **kw) -> dict:
        kw.setdefault("date", int(self.clock().timestamp()))
        return self.api.say(self.chats[chat], self.users[who], text, **kw)

    def press(self, who: str, card: dict, label: str) -> dict:
        button = next(
            b for row in card["reply_markup"]["inline_keyboard"] for b in row if b["text"] == label
        )
        return self.api.press(self.users[who], card, button["callback_data"])

    def sent(self, chat: str) -> list[dict]:
        return self.api.sent(CHAT_IDS[chat])

    def texts(self, chat: str) -> list[str]:
        return [m.get("text") or m.get("caption", "") for m in self.sent(chat)]


@pytest.fixture
def world_ctx(ctx: RoutingContext) -> RoutingContext:
    bind_all(
        ctx,
        "telegram",
        chats={k: str(v) for k, v in CHAT_IDS.items()},
        people={k: str(v) for k, v in USER_IDS.items()},
    )
    return ctx


@asynccontextmanager
async def telegram_bot(ctx: RoutingContext, api: FakeBotAPI, **kw):
    """``duban bot --telegram`` against the fake API, stopped cleanly at the end."""
    adapter = TelegramAdapter(
        TOKEN,
        engine=ctx.engine,
        base_url=api.base_url,
        poll_timeout=1,
        request_timeout=5,
        max_backoff=0.2,
        **kw,
    )
    runner = BotRunner(ctx, [adapter], outbox_interval=0.05)
    ready = asyncio.Event()
    task = asyncio.create_task(runner.run(ready=ready))
    await asyncio.wait(
        [asyncio.ensure_future(ready.wait()), task], return_when=asyncio.FIRST_COMPLETED
    )
    if task.done():
        task.result()
    try:
        yield adapter
    finally:
        runner.request_stop()
        await task


def run(scenario: Callable[[FakeBotAPI], Awaitable[None]]) -> None:
    async def main() -> None:
        api = FakeBotAPI()
        await api.start()
        try:
            await scenario(api)
        finally:
            await api.stop()

    asyncio.run(main())


def number_in(text: str) -> str:
    found = re.search(r"DB-\d{4}-\d{6}", text)
    assert found, text
    return found.group(0)


def ticket_state(ctx: RoutingContext, number: str) -> str:
    from ledger.tickets import get_ticket

    with ctx.session() as session:
        return get_ticket(session, number).state


def events(ctx: RoutingContext, number: str) -> list[tuple[str, str]]:
    from ledger.tickets import events_of, get_ticket

    with ctx.session() as session:
        return [(e.action, e.actor) for e in events_of(session, get_ticket(session, number))]


def test_the_story_over_telegram(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        async with telegram_bot(ctx, api):
            pasted = w.say("intake", "luru1", INSTRUCTION)
            await api.wait_for(lambda: w.texts("intake"))
            answer = w.sent("intake")[0]
            assert answer["text"].startswith("【已立项】") and "住建局" in answer["text"]
            assert answer["reply_to_message"]["message_id"] == pasted["message"]["message_id"]
            number = number_in(answer["text"])

            await api.wait_for(lambda: w.sent("zjj"))
            card = w.sent("zjj")[0]
            assert card["text"].startswith(f"【交办】{number}")
            keyboard = card["reply_markup"]["inline_keyboard"]
            assert [[b["text"] for b in row] for row in keyboard] == [
                ["签收", "回复"],
                ["申请延期", "退回"],
            ]
            assert keyboard[0][0]["callback_data"] == f"/签收 {number}"

            # 刘洋 presses 签收 on the card: answered, the spent button taken off
            w.press("zjj-1", card, "签收")
            await api.wait_for(lambda: api.called("editMessageReplyMarkup"))
            assert api.called("answerCallbackQuery")[0].params["text"] == "已办理"
            edit = api.called("editMessageReplyMarkup")[0].params
            assert edit["message_id"] == card["message_id"]
            assert [b["text"] for row in edit["reply_markup"]["inline_keyboard"] for b in row] == [
                "回复",
                "申请延期",
                "退回",
            ]
            assert ticket_state(ctx, number) == TicketState.ACKNOWLEDGED

            # …and replies to the card without naming the ticket
            w.say("zjj", "zjj-1", "/回复 已组织排水，积水已清除", reply_to=card)
            await api.wait_for(lambda: w.sent("sup"))
            check = w.sent("sup")[0]
            assert check["text"].startswith(f"【反馈待核查】{number}")
            w.say("sup", "ducha1", f"/核查 {number} 通过 5 处置及时")
            await api.wait_for(lambda: ticket_state(ctx, number) == TicketState.VERIFIED)
            await api.wait_for(lambda: any("【核查通过】" in t for t in w.texts("zjj")))

        assert [e for e in events(ctx, number)][2:] == [
            ("acknowledge", "刘洋(zjj-1)"),
            ("reply", "刘洋(zjj-1)"),
            ("verify_pass", "陈立新(ducha1)"),
        ]
        # plain text: no parse_mode anywhere, so nothing is read as markup
        assert all("parse_mode" not in c.params for c in api.called("sendMessage"))

    run(scenario)


def test_another_unit_and_a_stranger_are_refused(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        async with telegram_bot(ctx, api):
            w.say("intake", "luru1", INSTRUCTION)
            await api.wait_for(lambda: w.sent("zjj"))
            card = w.sent("zjj")[0]
            number = number_in(card["text"])
            before = events(ctx, number)

            w.say("cgj", "cgj-1", f"/签收 {number}")
            w.say("zjj", "cgj-1", f"/回复 {number} 不归我们")
            w.say("zjj", "stranger", f"/签收 {number}")
            w.say("zjj", "stranger", f"/退回 {number} 乱派")
            w.press("stranger", card, "签收")
            w.press("cgj-1", card, "签收")
            await api.wait_for(lambda: len(api.called("answerCallbackQuery")) == 2)

            assert "无权" in w.texts("cgj")[-1]
            zjj = w.texts("zjj")
            assert sum("尚未在督办系统登记" in t for t in zjj) == 1  # one refusal, no spam
            assert sum("无权" in t for t in zjj) == 2  # 何志强 twice (message and button)
            assert all(
                c.params["text"] == "未能办理，请看群内说明"
                for c in api.called("answerCallbackQuery")
            )
            assert api.called("editMessageReplyMarkup") == []  # nobody spent the button
            assert events(ctx, number) == before
            assert ticket_state(ctx, number) == TicketState.ASSIGNED

    run(scenario)


def test_a_command_for_another_bot_in_the_group_is_left_alone(
    world_ctx: RoutingContext, clock: Clock
) -> None:
    ctx = world_ctx

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        async with telegram_bot(ctx, api):
            w.say("zjj", "zjj-1", "/help@other_bot")
            w.say("zjj", "zjj-1", "/帮助@duban_test_bot")
            await api.wait_for(lambda: w.texts("zjj"))
            await asyncio.sleep(0.3)  # time for a second answer, if one were coming
            assert len(w.texts("zjj")) == 1 and "/签收" in w.texts("zjj")[0]

    run(scenario)


def test_restart_neither_repeats_nor_skips_an_update(
    world_ctx: RoutingContext, clock: Clock
) -> None:
    ctx = world_ctx
    with ctx.session() as session:
        from tests.helpers import make_ticket

        ticket = make_ticket(session, ctx.rules, now=ctx.now())
        number = ticket.number
    from desk import tickets as actions
    from ledger.tickets import Actor

    actions.assign(ctx, number, "住建局", actor=Actor.system("test"))

    def parts() -> list[str]:
        with ctx.session() as session:
            return list(session.exec(select(Reply.text).order_by(Reply.id)))

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        first = w.say("zjj", "zjj-1", f"/回复 {number} 第一段")
        async with telegram_bot(ctx, api):
            await api.wait_for(lambda: parts() == ["第一段"])
            # the bot is stopped while it waits in a long poll
        stored = int(
            await asyncio.to_thread(state.AdapterState(ctx.engine, "telegram").get, "offset")
        )
        assert stored == first["update_id"] + 1

        # while the bot is down: a new message, and Telegram re-sending the first one
        second = w.say("zjj", "zjj-1", f"/回复 {number} 第二段")
        api.push(message=first["message"])
        polls_before = len(api.offsets)
        async with telegram_bot(ctx, api):  # a new process
            await api.wait_for(
                lambda: not api.updates or api.offsets[-1] == api.updates[-1]["update_id"] + 1
            )
            await api.wait_for(lambda: len(api.offsets) > polls_before + 1)
        assert api.offsets[polls_before] == first["update_id"] + 1  # resumed where it stopped
        assert parts() == ["第一段", "第二段"]  # nothing twice, nothing missed
        assert second["update_id"] < api.offsets[-1]

    run(scenario)


def test_error_mapping_at_the_boundary(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx

    async def scenario(api: FakeBotAPI) -> None:
        adapter = TelegramAdapter(
            TOKEN, engine=ctx.engine, base_url=api.base_url, poll_timeout=1, request_timeout=5
        )
        await adapter.app.initialize()
        try:
            out = OutgoingMessage(chat_id=str(ZJJ), text="测试")
            cases = [
                (429, "Too Many Requests: retry after 7", 7),
                (403, "Forbidden: bot was kicked from the supergroup chat", None),
                (400, "Bad Request: chat not found", None),
                (502, "Bad Gateway", None),
            ]
            results = []
            for status, description, retry_after in cases:
                api.fail("sendMessage", status, description, retry_after=retry_after)
                with pytest.raises(SendFailed) as caught:
                    await adapter.send(out)
                results.append((caught.value.retry_after, caught.value.permanent))
            assert results == [(7.0, False), (None, True), (None, True), (None, False)]
            assert await adapter.send(out)  # and then it works
        finally:
            await adapter.app.shutdown()

    run(scenario)


def test_outbox_waits_out_429_and_records_403(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx
    with ctx.session() as session:
        for key, unit_chat in (("n-zjj", "zjj"), ("n-cgj", "cgj")):
            from ledger.directory import find_unit

            session.add(
                Notification(
                    dedupe_key=key,
                    kind="reminder",
                    audience="unit",
                    unit_id=find_unit(session, unit_chat).id,
                    text=f"【催办】{unit_chat}",
                    created_at=ctx.now(),
                    not_before=ctx.now(),
                )
            )

    def delivery(chat: int) -> ChatDelivery | None:
        with ctx.session() as session:
            return session.exec(
                select(ChatDelivery).where(ChatDelivery.chat_id == str(chat))
            ).first()

    def status(chat: int) -> str | None:
        row = delivery(chat)
        return row.status if row is not None else None

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        api.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
        api.fail("sendMessage", 403, "Forbidden: bot was kicked from the supergroup chat")
        async with telegram_bot(ctx, api):
            await api.wait_for(lambda: status(CGJ) == "failed" and status(ZJJ) == "pending")
            waiting = delivery(ZJJ)
            assert waiting.status == "pending"
            assert waiting.next_attempt_at - ctx.now() == timedelta(seconds=7)
            assert "kicked" in delivery(CGJ).last_error
            clock.advance(seconds=7)
            await api.wait_for(lambda: w.texts("zjj") == ["【催办】zjj"])
        assert delivery(ZJJ).status == "sent" and w.texts("cgj") == []

    run(scenario)


def test_forwarded_messages_keep_their_origin(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx
    first_sent = int(datetime(2026, 11, 12, 8, 30, tzinfo=UTC).timestamp())

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        citizen = api.user(555, "先生", "张", "zhang_xs")
        channel = {"id": -100999, "type": "channel", "title": "滨河发布"}
        origins = [
            api.origin_user(citizen, first_sent),
            api.origin_hidden_user("李女士", first_sent + 60),
            api.origin_chat(
                {"id": -100777, "type": "group", "title": "东湖社区群"},
                first_sent + 120,
                signature="网格员",
            ),
            api.origin_channel(channel, 42, first_sent + 180),
        ]
        texts = [
            "东湖路路灯不亮\n\n晚上很黑",
            "学府路占道经营",
            "红星新村垃圾无人清运",
            "青山水库边有人倾倒建筑垃圾",
        ]
        async with telegram_bot(ctx, api):
            for origin, text in zip(origins, texts, strict=True):
                w.say("intake", "luru1", text, forward_origin=origin)
            # a deadline, not a timing assertion: the first message loads the classifier
            # stack, which takes many seconds on a loaded machine
            await api.wait_for(lambda: len(w.texts("intake")) >= 4, timeout=60)
        with ctx.session() as session:
            rows = session.exec(select(Message).order_by(Message.id)).all()
        assert [int(m.received_at.timestamp()) for m in rows] == [
            first_sent,
            first_sent + 60,
            first_sent + 120,
            first_sent + 180,
        ]
        assert all(m.channel == "telegram" for m in rows)
        assert rows[0].text.count("晚上很黑") == 1  # one forwarded message is one item

    run(scenario)


def test_invite_code_links_an_account_in_a_private_chat(
    world_ctx: RoutingContext, clock: Clock
) -> None:
    ctx = world_ctx
    with ctx.session() as session:
        code = identity.create_invite(
            session, get_person(session, "jjdd-1"), created_by="test", now=ctx.now()
        ).code

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        newcomer = api.user(301, "卫东", "蒋")
        chat = api.private(newcomer)
        async with telegram_bot(ctx, api):
            api.say(chat, newcomer, f"/start {code}", date=int(clock().timestamp()))
            await api.wait_for(lambda: api.sent(301))
            assert api.sent(301)[0]["text"].startswith("绑定成功：蒋卫东（交警大队）")
            api.say(chat, newcomer, f"/绑定 {code}", date=int(clock().timestamp()))
            await api.wait_for(lambda: len(api.sent(301)) == 2)
            assert "无效或已过期" in api.sent(301)[1]["text"]
        with ctx.session() as session:
            linked = session.exec(select(ChatAccount).where(ChatAccount.account_id == "301")).one()
        assert linked.private_chat_id == "301" and linked.linked_via == "invite"
        assert w.texts("intake") == []

    run(scenario)


def test_long_texts_long_buttons_and_images(
    world_ctx: RoutingContext, clock: Clock, tmp_path
) -> None:
    ctx = world_ctx
    image = tmp_path / "chart.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    long_command = "/分办 DB-2026-000001 江州市公安局滨河分局交通警察大队"
    assert len(long_command.encode()) > 64

    async def scenario(api: FakeBotAPI) -> None:
        adapter = TelegramAdapter(
            TOKEN, engine=ctx.engine, base_url=api.base_url, poll_timeout=1, request_timeout=5
        )
        await adapter.app.initialize()
        try:
            from bots.compose import compose

            text = "\n".join(f"第{i}行 " + "字" * 80 for i in range(120))
            for part in compose(
                str(SUP),
                text,
                limit=adapter.text_limit,
                actions=(Action("交警大队", long_command),),
                images=(image,),
            ):
                await adapter.send(part)
            messages = api.called("sendMessage")
            assert len(messages) == 3
            assert all(len(c.params["text"]) <= 4096 for c in messages)
            assert messages[-1].params["text"].endswith("（3/3）")
            data = messages[-1].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            assert data.startswith("k:") and len(data.encode()) <= 64
            assert await asyncio.to_thread(adapter.state.button_command, data) == long_command
            photo = api.called("sendPhoto")[0]
            assert photo.files == ["photo"] and photo.params["caption"] == "图 1/1"
        finally:
            await adapter.app.shutdown()

    run(scenario)


def test_webhook_refuses_calls_without_the_secret(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = Webhook(
        url="https://duban.example.org/telegram",
        secret="s3cret-token",
        listen="127.0.0.1",
        port=port,
    )

    async def scenario(api: FakeBotAPI) -> None:
        w = World(api, clock)
        async with telegram_bot(ctx, api, webhook=hook):
            assert api.webhook is not None
            assert api.webhook["url"] == hook.url
            assert api.webhook["secret_token"] == "s3cret-token"
            update = {
                "update_id": 1,
                "message": w.api.message(
                    w.chats["zjj"], w.users["zjj-1"], "/待办", date=int(clock().timestamp())
                ),
            }
            url = f"http://127.0.0.1:{port}/telegram"
            async with aiohttp.ClientSession() as http:
                async with http.post(url, json=update) as resp:
                    assert resp.status == 403
                async with http.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                ) as resp:
                    assert resp.status == 403
                assert w.sent("zjj") == []
                async with http.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
                ) as resp:
                    assert resp.status == 200
                assert w.texts("zjj")[0].startswith("【住建局待办】")
                async with http.post(
                    url,
                    json=update,
                    headers={  # Telegram re-sends it
                        "X-Telegram-Bot-Api-Secret-Token": "s3cret-token"
                    },
                ) as resp:
                    assert resp.status == 200
                assert len(w.sent("zjj")) == 1

    run(scenario)


def test_one_person_on_two_platforms(world_ctx: RoutingContext) -> None:
    """The same person can be linked on Telegram and on another platform at once."""
    with session_scope(world_ctx.engine) as session:
        person = get_person(session, "zjj-1")
        identity.link_account(
            session,
            platform="matrix",
            account_id="@liuyang:example.org",
            person=person,
            via="cli",
            now=world_ctx.now(),
        )
        accounts = identity.accounts_of(session, person)
        count = session.exec(select(func.count()).select_from(ChatAccount)).one()
    assert sorted(a.platform for a in accounts) == ["matrix", "telegram"]
    assert count == len(USER_IDS) + 1
