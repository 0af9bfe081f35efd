"""DingTalk end to end: the real ``dingtalk-stream`` SDK and our adapter against a fake DingTalk.

Robot messages and card presses arrive as Stream-mode frames in DingTalk's JSON shapes over
a real WebSocket on loopback (tests/fakes/dingtalk_api.py); the bot runs as ``duban bot
--dingtalk`` does (BotRunner: adapter, hub, outbox). No mocks.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlmodel import select

from bots import identity
from bots.dingtalk import (
    DingTalkAdapter,
    DingTalkWebhookAdapter,
    make_adapter,
    sign,
    strip_mentions,
)
from bots.errors import NotConfigured, SendFailed
from bots.messages import Action, OutgoingMessage
from bots.platforms import PlatformSetup, resolve_platform
from bots.runner import BotRunner
from duban.settings import Settings
from ledger.directory import find_unit, get_person
from ledger.models import ChatAccount, ChatDelivery, Message, Notification, Reply, TicketState
from routing.context import RoutingContext
from tests.bots.conftest import bind_all
from tests.fakes.dingtalk_api import CLIENT_ID, CLIENT_SECRET, FakeDingTalk, Sent
from tests.helpers import Clock

CHATS = {
    "intake": "cidINTAKEfake0001==",
    "zjj": "cidZJJfake0002==",
    "sup": "cidSUPfake0003==",
    "cgj": "cidCGJfake0004==",
}
TITLES = {
    "intake": "滨河区督查室录入台",
    "zjj": "住建局督办群",
    "sup": "督查室",
    "cgj": "城管局督办群",
}
USERS = {
    "luru1": ("luru1-staff", "王晓燕"),
    "zjj-1": ("zjj1-staff", "刘洋"),
    "ducha1": ("ducha1-staff", "陈立新"),
    "cgj-1": ("cgj1-staff", "何志强"),
    "zjj-ld": ("zjjld-staff", "李建国"),
    "admin": ("admin-staff", "周敏"),
    "stroller": ("stranger-staff", "路人"),
}
INSTRUCTION = "批示件：请住建局牵头，限5个工作日内办结东湖新城小区积水问题"
GROUP_SEND = "/v1.0/robot/groupMessages/send"


class World:
    """The fake DingTalk: groups and people as the robot sees them."""

    def __init__(self, api: FakeDingTalk) -> None:
        self.api = api
        self.groups = {
            key: {"conversationId": cid, "conversationType": "2", "title": TITLES[key]}
            for key, cid in CHATS.items()
        }
        self.users = {k: {"staffId": s, "nick": n} for k, (s, n) in USERS.items()}

    def say(self, chat: str, who: str, text: str, **kw) -> dict:
        return self.api.say(self.groups[chat], self.users[who], text, **kw)

    def private(self, who: str, text: str) -> dict:
        user = self.users[who]
        chat = {"conversationId": f"cidPRIVATE{user['staffId']}", "conversationType": "1"}
        return self.api.say(chat, user, text)

    def press(self, who: str, card: Sent, label: str) -> str:
        return self.api.press(self.users[who], card, label)

    def sent(self, chat: str) -> list[Sent]:
        return self.api.sent(CHATS[chat])

    def texts(self, chat: str) -> list[str]:
        return [m.text for m in self.sent(chat)]

    def ack(self, message_id: str) -> dict | None:
        for ack in self.api.acks:
            if ack["headers"].get("messageId") == message_id:
                return ack
        return None


@pytest.fixture
def world_ctx(ctx: RoutingContext) -> RoutingContext:
    bind_all(
        ctx,
        "dingtalk",
        chats=CHATS,
        people={k: USERS[k][0] for k in USERS if k != "stroller"},
    )
    return ctx


def adapter_for(ctx: RoutingContext, api: FakeDingTalk, **kw) -> DingTalkAdapter:
    return DingTalkAdapter(
        CLIENT_ID,
        CLIENT_SECRET,
        engine=ctx.engine,
        api_url=api.base_url,
        oapi_url=api.base_url,
        request_timeout=10,
        max_backoff=0.2,
        **kw,
    )


@asynccontextmanager
async def dingtalk_bot(ctx: RoutingContext, api: FakeDingTalk, **kw):
    """``duban bot --dingtalk`` against the fake, stopped cleanly at the end."""
    adapter = adapter_for(ctx, api, **kw)
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


def run(scenario: Callable[[FakeDingTalk], Awaitable[None]]) -> None:
    async def main() -> None:
        api = FakeDingTalk()
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


def test_mentions_are_stripped() -> None:
    assert strip_mentions("@督办助手 /签收 DB-2026-000001") == "/签收 DB-2026-000001"
    assert strip_mentions(" @督办助手 @刘洋  东湖路积水") == "东湖路积水"
    assert strip_mentions("  /待办 ") == "/待办"
    assert strip_mentions("邮箱 a@b.cn 收到") == "邮箱 a@b.cn 收到"


def test_the_story_over_dingtalk(world_ctx: RoutingContext, clock: Clock) -> None:
    ctx = world_ctx

    async def scenario(api: FakeDingTalk) -> None:
        w = World(api)
        async with dingtalk_bot(ctx, api) as adapter:
            w.say("intake", "luru1", INSTRUCTION)  # "@督办助手 批示件：…"
            await api.wait_for(lambda: w.texts("intake"), timeout=60)
            answer = w.texts("intake")[0]
            assert answer.startswith("【已立项】") and "住建局" in answer
            number = number_in(answer)

            # the unit gets a card with the same buttons as on Telegram
            await api.wait_for(lambda: w.sent("zjj"))
            card = w.sent("zjj")[0]
            assert card.kind == "card" and card.text.startswith(f"【交办】{number}")
            assert card.labels() == [["签收", "回复"], ["申请延期", "退回"]]
            first = card.buttons()[0][0]["id"]
            assert await asyncio.to_thread(adapter.state.button_command, first) == (
                f"/签收 {number}"
            )

            # 刘洋 presses 签收: the callback is answered, the spent button taken off
            pressed = w.press("zjj-1", card, "签收")
            await api.wait_for(lambda: w.ack(pressed) is not None)
            assert api.called("/v1.0/im/robots/interactiveCards")  # updated before the ack
            ack = w.ack(pressed)
            assert ack is not None and ack["code"] == 200
            assert json.loads(ack["data"])["response"] == {"answer": "已办理"}
            assert card.labels() == [["回复", "申请延期"], ["退回"]]
            assert ticket_state(ctx, number) == TicketState.ACKNOWLEDGED

            # an extension asked for with the card's button, then granted
            w.press("zjj-1", card, "申请延期")
            await api.wait_for(lambda: any("延期天数 理由" in t for t in w.texts("zjj")))
            w.say("zjj", "zjj-1", "3 需协调供电部门")
            await api.wait_for(lambda: any(t.startswith("【延期申请】") for t in w.texts("sup")))
            w.say("sup", "ducha1", f"/批准延期 {number} 2 同意")
            await api.wait_for(lambda: any("【延期已批准】" in t for t in w.texts("zjj")))

            # the reply: the 回复 button, the text, then 办结
            w.press("zjj-1", card, "回复")
            await api.wait_for(lambda: any("可分多条发送" in t for t in w.texts("zjj")))
            w.say("zjj", "zjj-1", "已组织排水，积水已清除")
            w.say("zjj", "zjj-1", "/办结")
            await api.wait_for(lambda: any(t.startswith("【反馈待核查】") for t in w.texts("sup")))
            w.say("sup", "ducha1", f"/核查 {number} 通过 5 处置及时")
            await api.wait_for(lambda: ticket_state(ctx, number) == TicketState.VERIFIED)
            await api.wait_for(lambda: any("【核查通过】" in t for t in w.texts("zjj")))
            # every frame was acknowledged
            await api.wait_for(lambda: not api.pending)

        actions = [e for e in events(ctx, number)][2:]
        assert ("acknowledge", "刘洋(zjj-1)") in actions
        assert ("reply", "刘洋(zjj-1)") in actions
        assert actions[-1] == ("verify_pass", "陈立新(ducha1)")
        with ctx.session() as session:
            pasted = session.exec(select(Message)).one()
        assert pasted.channel == "dingtalk" and "东湖新城小区积水问题" in pasted.text
        assert "@" not in pasted.text and "督办助手" not in pasted.text  # the mention is gone
        assert api.subscriptions == [
            {"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"},
            {"type": "CALLBACK", "topic": "/v1.0/card/instances/callback"},
        ]

    run(scenario)


def test_another_unit_and_a_stranger_are_refused(world_ctx: RoutingContext) -> None:
    ctx = world_ctx

    async def scenario(api: FakeDingTalk) -> None:
        w = World(api)
        async with dingtalk_bot(ctx, api):
            w.say("intake", "luru1", INSTRUCTION)
            await api.wait_for(lambda: w.sent("zjj"), timeout=60)
            card = w.sent("zjj")[0]
            number = number_in(card.text)
            before = events(ctx, number)

            w.say("cgj", "cgj-1", f"/签收 {number}")
            w.say("zjj", "stroller", f"/签收 {number}")
            presses = [w.press("stroller", card, "签收"), w.press("cgj-1", card, "签收")]
            await api.wait_for(lambda: all(w.ack(p) for p in presses))

            assert "无权" in w.texts("cgj")[-1]
            assert sum("尚未在督办系统登记" in t for t in w.texts("zjj")) == 1
            answers = [json.loads(w.ack(p)["data"])["response"] for p in presses]
            assert answers == [{"answer": "未能办理，请看群内说明"}] * 2
            assert api.called("/v1.0/im/robots/interactiveCards") == []  # nobody spent it
            assert events(ctx, number) == before
            assert ticket_state(ctx, number) == TicketState.ASSIGNED

    run(scenario)


def test_invite_code_links_an_account_in_a_private_chat(world_ctx: RoutingContext) -> None:
    ctx = world_ctx
    with ctx.session() as session:
        code = identity.create_invite(
            session, get_person(session, "jjdd-1"), created_by="test", now=ctx.now()
        ).code

    async def scenario(api: FakeDingTalk) -> None:
        w = World(api)
        w.users["newcomer"] = {"staffId": "jjdd1-staff", "nick": "蒋卫东"}
        async with dingtalk_bot(ctx, api):
            w.private("newcomer", f"/绑定 {code}")
            await api.wait_for(lambda: api.sent("user:jjdd1-staff"))
            assert api.texts("user:jjdd1-staff")[0].startswith("绑定成功：蒋卫东（交警大队）")
            w.private("newcomer", f"/绑定 {code}")
            await api.wait_for(lambda: len(api.sent("user:jjdd1-staff")) == 2)
            assert "无效或已过期" in api.texts("user:jjdd1-staff")[1]
        with ctx.session() as session:
            linked = session.exec(
                select(ChatAccount).where(ChatAccount.account_id == "jjdd1-staff")
            ).one()
        assert linked.private_chat_id == "user:jjdd1-staff" and linked.linked_via == "invite"
        assert api.called("/v1.0/robot/oToMessages/batchSend")[0].body["userIds"] == ["jjdd1-staff"]

    run(scenario)


def test_reconnect_after_the_stream_drops_and_nothing_twice(world_ctx: RoutingContext) -> None:
    ctx = world_ctx
    with ctx.session() as session:
        from tests.helpers import make_ticket

        number = make_ticket(session, ctx.rules, now=ctx.now()).number
    from desk import tickets as actions
    from ledger.tickets import Actor

    actions.assign(ctx, number, "住建局", actor=Actor.system("test"))

    def parts() -> list[str]:
        with ctx.session() as session:
            return list(session.exec(select(Reply.text).order_by(Reply.id)))

    async def scenario(api: FakeDingTalk) -> None:
        w = World(api)
        async with dingtalk_bot(ctx, api) as adapter:
            first = w.say("zjj", "zjj-1", f"/回复 {number} 第一段")
            await api.wait_for(lambda: parts() == ["第一段"] and not api.pending)
            ping = api.system("ping")
            await api.wait_for(lambda: w.ack(ping) is not None)
            assert json.loads(w.ack(ping)["data"]) == {"opaque": ping}

            await api.drop()  # the gateway restarts
            # while the bot is away: a new message, and DingTalk re-sending the first one
            w.say("zjj", "zjj-1", f"/回复 {number} 第二段")
            api.push("/v1.0/im/bot/messages/get", first)
            await api.wait_for(lambda: api.connections == 2 and adapter.connections == 2)
            await api.wait_for(lambda: len(parts()) == 2 and not api.pending)

            # DingTalk asks the client to reconnect: it does
            api.system("disconnect")
            await api.wait_for(lambda: api.connections == 3)
            w.say("zjj", "zjj-1", f"/回复 {number} 第三段")
            await api.wait_for(lambda: len(parts()) == 3 and not api.pending)
        assert parts() == ["第一段", "第二段", "第三段"]  # nothing twice, nothing missed
        answers = [t for t in w.texts("zjj") if "已收到反馈" in t]
        assert len(answers) == 3  # the re-sent message got no second answer

    run(scenario)


def test_error_mapping_at_the_boundary(world_ctx: RoutingContext) -> None:
    ctx = world_ctx

    async def scenario(api: FakeDingTalk) -> None:
        adapter = adapter_for(ctx, api)
        api.members = {USERS[k][0] for k in USERS}
        try:
            out = OutgoingMessage(chat_id=CHATS["zjj"], text="测试")
            cases = [
                (429, "Forbidden.AccessDenied.QpsLimitForApi", {"Retry-After": "7"}),
                (429, "Throttling.Api", {}),
                (403, "Forbidden.AccessDenied.AccessTokenPermissionDenied", {}),
                (400, "resource.not.found", {}),
                (502, "ServiceUnavailable", {}),
            ]
            results = []
            for status, code, headers in cases:
                api.fail(GROUP_SEND, status, code, "失败", **headers)
                with pytest.raises(SendFailed) as caught:
                    await adapter.send(out)
                results.append((caught.value.retry_after, caught.value.permanent))
            assert results == [
                (7.0, False),
                (60.0, False),
                (None, True),
                (None, True),
                (None, False),
            ]
            assert await adapter.send(out)  # and then it works
            with pytest.raises(SendFailed) as caught:
                await adapter.send(OutgoingMessage(chat_id="user:left-staff", text="测试"))
            assert caught.value.permanent
        finally:
            await adapter.http.close()

    run(scenario)


def test_access_token_kept_renewed_before_expiry_and_after_refusal(
    world_ctx: RoutingContext,
) -> None:
    ctx = world_ctx
    now = [1000.0]

    async def scenario(api: FakeDingTalk) -> None:
        adapter = adapter_for(ctx, api, clock=lambda: now[0])
        out = OutgoingMessage(chat_id=CHATS["zjj"], text="测试")
        try:
            await adapter.send(out)
            await adapter.send(out)
            assert len(api.called("/v1.0/oauth2/accessToken")) == 1  # kept
            # DingTalk no longer takes the token (revoked, expired early): renewed at once
            api.expire_tokens()
            await adapter.send(out)
            assert len(api.called("/v1.0/oauth2/accessToken")) == 2
            assert [c.token in api.tokens for c in api.called(GROUP_SEND)] == [
                False,
                False,
                False,
                True,
            ]
            # five minutes before it expires, it is renewed before sending
            now[0] += 7200 - 300 + 1
            await adapter.send(out)
            assert len(api.called("/v1.0/oauth2/accessToken")) == 3
            assert len(api.called(GROUP_SEND)) == 5  # no refused call this time
            assert len(api.texts(CHATS["zjj"])) == 4
        finally:
            await adapter.http.close()

    run(scenario)


def test_twenty_messages_a_minute_to_a_group(world_ctx: RoutingContext) -> None:
    ctx = world_ctx
    now = [0.0]

    async def scenario(api: FakeDingTalk) -> None:
        adapter = adapter_for(ctx, api, clock=lambda: now[0])
        api.clock = lambda: now[0]
        try:
            for i in range(20):
                await adapter.send(OutgoingMessage(chat_id=CHATS["zjj"], text=f"第{i}条"))
            now[0] += 15
            with pytest.raises(SendFailed) as caught:
                await adapter.send(OutgoingMessage(chat_id=CHATS["zjj"], text="第21条"))
            assert caught.value.retry_after == pytest.approx(45)
            assert not caught.value.permanent
            await adapter.send(OutgoingMessage(chat_id=CHATS["cgj"], text="别的群"))
            now[0] += 45
            await adapter.send(OutgoingMessage(chat_id=CHATS["zjj"], text="第21条"))
            assert api.throttled == 0  # DingTalk never had to refuse
            assert len(api.texts(CHATS["zjj"])) == 21
        finally:
            await adapter.http.close()

    run(scenario)


def test_outbox_waits_out_a_throttle_and_records_a_permanent_failure(
    world_ctx: RoutingContext, clock: Clock
) -> None:
    ctx = world_ctx
    with ctx.session() as session:
        for key, unit in (("n-zjj", "zjj"), ("n-cgj", "cgj")):
            session.add(
                Notification(
                    dedupe_key=key,
                    kind="reminder",
                    audience="unit",
                    unit_id=find_unit(session, unit).id,
                    text=f"【催办】{unit}",
                    created_at=ctx.now(),
                    not_before=ctx.now(),
                )
            )

    def delivery(chat: str) -> ChatDelivery | None:
        with ctx.session() as session:
            return session.exec(
                select(ChatDelivery).where(ChatDelivery.chat_id == CHATS[chat])
            ).first()

    def status(chat: str) -> str | None:
        row = delivery(chat)
        return row.status if row is not None else None

    async def scenario(api: FakeDingTalk) -> None:
        api.fail(
            GROUP_SEND, 429, "Forbidden.AccessDenied.QpsLimitForApi", "限流", **{"Retry-After": "7"}
        )
        api.fail(GROUP_SEND, 400, "resource.not.found", "机器人不在群内")
        async with dingtalk_bot(ctx, api):
            await api.wait_for(lambda: status("cgj") == "failed" and status("zjj") == "pending")
            waiting = delivery("zjj")
            assert waiting.next_attempt_at - ctx.now() == timedelta(seconds=7)
            assert "resource.not.found" in delivery("cgj").last_error
            clock.advance(seconds=7)
            await api.wait_for(lambda: api.texts(CHATS["zjj"]) == ["【催办】zjj"])
        assert delivery("zjj").status == "sent" and api.texts(CHATS["cgj"]) == []

    run(scenario)


def test_images_and_cards_in_a_private_chat_and_pictures_ignored(
    world_ctx: RoutingContext, tmp_path
) -> None:
    ctx = world_ctx
    image = tmp_path / "chart.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    async def scenario(api: FakeDingTalk) -> None:
        w = World(api)
        async with dingtalk_bot(ctx, api) as adapter:
            sent = await adapter.send(
                OutgoingMessage(chat_id=CHATS["sup"], text="图 1/1", images=(image,))
            )
            assert [m.kind for m in w.sent("sup")] == ["image", "text"]
            assert w.sent("sup")[0].key == sent and api.uploads == ["chart.png"]
            card = await adapter.send(
                OutgoingMessage(
                    chat_id="user:zjj1-staff",
                    text="【待签收】",
                    actions=(Action("签收", "/签收 DB-2026-000001"),),
                    idempotency_key="d7:0",
                )
            )
            assert api.cards[card].chat == "user:zjj1-staff"
            # the same delivery part again (a retry after a crash) is the same card, once
            again = await adapter.send(
                OutgoingMessage(
                    chat_id="user:zjj1-staff",
                    text="【待签收】",
                    actions=(Action("签收", "/签收 DB-2026-000001"),),
                    idempotency_key="d7:0",
                )
            )
            assert again == card and len(api.sent("user:zjj1-staff")) == 1
            assert len(api.called("/v1.0/im/v1.0/robot/interactiveCards/send")) == 1
            picture = api.picture(w.groups["zjj"], w.users["zjj-1"])
            await api.wait_for(lambda: not api.pending)
            assert picture["msgtype"] == "picture" and w.texts("zjj") == []

    run(scenario)


def test_push_only_webhook_is_signed_and_throttled(world_ctx: RoutingContext) -> None:
    now = [0.0]

    async def scenario(api: FakeDingTalk) -> None:
        api.webhooks["fake-robot-token"] = "SEC0123456789abcdef"
        api.clock = lambda: now[0]
        hook = DingTalkWebhookAdapter(
            api.webhook_url(), "SEC0123456789abcdef", clock=lambda: now[0]
        )
        wrong = DingTalkWebhookAdapter(api.webhook_url(), "SECwrong")
        unsigned = DingTalkWebhookAdapter(api.webhook_url())
        try:
            await hook.start(None)  # type: ignore[arg-type]
            for i in range(20):
                await hook.send(OutgoingMessage(chat_id="webhook", text=f"【日报】第{i}条"))
            assert api.webhook_posts[0]["body"] == {
                "msgtype": "text",
                "text": {"content": "【日报】第0条"},
            }
            with pytest.raises(SendFailed) as caught:
                await hook.send(OutgoingMessage(chat_id="webhook", text="第21条"))
            assert caught.value.retry_after == pytest.approx(60) and api.throttled == 0
            for adapter in (wrong, unsigned):
                with pytest.raises(SendFailed) as caught:
                    await adapter.send(OutgoingMessage(chat_id="webhook", text="测试"))
                assert caught.value.permanent and "310000" in caught.value.reason
            with pytest.raises(SendFailed) as caught:
                await hook.send(OutgoingMessage(chat_id=CHATS["zjj"], text="测试"))
            assert caught.value.permanent
            assert len(api.webhook_posts) == 20
        finally:
            for adapter in (hook, wrong, unsigned):
                await adapter.stop()

    run(scenario)


def test_signature_of_the_documented_recipe() -> None:
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote_plus

    secret, timestamp = "SECabc", "1700000000000"
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    assert sign(timestamp, secret) == quote_plus(base64.b64encode(digest.digest()))


def test_the_platform_registry_builds_either_mode(world_ctx: RoutingContext) -> None:
    ctx = world_ctx
    factory = resolve_platform("dingtalk")

    def setup(**env: str) -> PlatformSetup:
        return PlatformSetup(settings=Settings(**env), engine=ctx.engine, now=ctx.now)

    with pytest.raises(NotConfigured):
        factory(setup())
    stream = factory(setup(dingtalk_client_id="ding1", dingtalk_client_secret="s"))
    assert isinstance(stream, DingTalkAdapter) and stream.robot_code == "ding1"
    push = factory(
        setup(dingtalk_webhook_url="https://oapi.dingtalk.com/robot/send?access_token=x")
    )
    assert isinstance(push, DingTalkWebhookAdapter)
    assert make_adapter is factory


def test_duban_bot_dingtalk_says_which_setting_is_missing() -> None:
    from typer.testing import CliRunner

    from duban.cli import app

    cli = CliRunner()
    assert cli.invoke(app, ["init"]).exit_code == 0
    result = cli.invoke(app, ["bot", "--dingtalk"])
    assert result.exit_code == 2
    assert result.stderr.startswith("错误") and "DUBAN_DINGTALK_CLIENT_ID" in result.stderr
