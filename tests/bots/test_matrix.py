"""The Matrix adapter against a real Synapse: the whole desk story, refusals, restarts,
invitations and error mapping.

Users are registered once per module with ``register_new_matrix_user`` (shared by the tests:
each test makes its own rooms and its own SQLite ledger, so the bot starts for the first time
in every test). Each test drives one ``asyncio.run``: people are matrix-nio clients, the bot
is a :class:`bots.runner.BotRunner` with the :class:`bots.matrix.MatrixAdapter`, routing runs
inline (no Redis) and the 批示件 names its unit, so the rules route it without a classifier.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nio
import pytest
from sqlmodel import func, select

from bots import identity
from bots.errors import BotError, SendFailed
from bots.matrix import MatrixAdapter, send_failed, strip_reply_fallback
from bots.messages import OutgoingMessage
from bots.runner import BotRunner
from duban.runtime import Runtime
from ledger.directory import find_unit, get_person
from ledger.models import BotState, ChatInbox, Event, Message, Reply, Ticket, TicketState
from routing.context import RoutingContext
from tests.services.synapse import SynapseServer, free_port

pytestmark = pytest.mark.synapse

PASSWORD = "duban test password"
WAIT = 20.0  # seconds any one expected message may take
ZJJ_TEXT = (
    "批示件：请区住建局牵头，限5个工作日内办结。"
    "东湖路十二号附近路灯连续一周不亮，居民夜间出行不便。"
)
ZJJ_TEXT_2 = (
    "批示件：请区住建局牵头，限5个工作日内办结。滨江花园小区三号楼电梯多次困人，请尽快检修。"
)
PEOPLE = {
    "admin": "admin",
    "staff": "luru1",
    "member": "zjj-1",
    "supervisor": "ducha1",
    "other": "cgj-1",
}


@dataclass(frozen=True)
class Cast:
    url: str
    bot: str
    mxids: dict[str, str]  # role in the story -> MXID (plus "stranger")


@pytest.fixture(scope="module")
def cast(synapse: SynapseServer) -> Cast:
    run = uuid.uuid4().hex[:6]
    names = [*PEOPLE, "stranger", "bot"]
    with ThreadPoolExecutor(len(names)) as pool:  # each registration is a ~1 s subprocess
        found = pool.map(lambda name: synapse.register_user(f"{name}-{run}", PASSWORD), names)
        mxids = dict(zip(names, found, strict=True))
    return Cast(url=synapse.url, bot=mxids.pop("bot"), mxids=mxids)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the handlers' own tests cover PostgreSQL."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def ctx(runtime: Runtime) -> RoutingContext:
    return runtime.routing  # the real clock: Synapse's timestamps are real


# -- people -------------------------------------------------------------------------------------

HUMAN_FILTER = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"types": ["m.room.message"], "limit": 100},
        "state": {"types": []},
        "ephemeral": {"not_types": ["*"]},
    },
}


@dataclass
class Human:
    """A person's matrix-nio client: says things, waits for what the bot says."""

    url: str
    mxid: str
    client: nio.AsyncClient | None = None
    seen: dict[str, list[nio.RoomMessageText]] = field(default_factory=dict)
    taken: set[str] = field(default_factory=set)

    async def login(self) -> Human:
        self.client = nio.AsyncClient(self.url, self.mxid)
        resp = await self.client.login(PASSWORD, device_name="duban-tests")
        assert isinstance(resp, nio.LoginResponse), resp
        first = await self.client.sync(timeout=0, sync_filter=HUMAN_FILTER)
        assert isinstance(first, nio.SyncResponse), first
        return self

    async def create_room(self, name: str, *invite: str) -> str:
        resp = await self.client.room_create(name=name, invite=list(invite))
        assert isinstance(resp, nio.RoomCreateResponse), resp
        return resp.room_id

    async def join(self, room_id: str) -> None:
        resp = await self.client.join(room_id)
        assert isinstance(resp, nio.JoinResponse), resp

    async def say(
        self, room_id: str, text: str, *, reply_to: nio.RoomMessageText | None = None
    ) -> str:
        content: dict = {"msgtype": "m.text", "body": text}
        if reply_to is not None:  # as clients send it: a quoted fallback before the text
            quoted = reply_to.body.split("\n")[0]
            content["body"] = f"> <{reply_to.sender}> {quoted}\n\n{text}"
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to.event_id}}
        resp = await self.client.room_send(room_id, "m.room.message", content)
        assert isinstance(resp, nio.RoomSendResponse), resp
        return resp.event_id

    async def expect(
        self,
        room_id: str,
        match: str | Callable[[str], bool],
        *,
        sender: str,
        timeout: float = WAIT,
    ) -> nio.RoomMessageText:
        """The first message from ``sender`` in the room, not returned before, that matches."""
        test = match if callable(match) else (lambda body: match in body)
        deadline = time.monotonic() + timeout
        while True:
            for event in self.seen.get(room_id, []):
                if event.event_id not in self.taken and event.sender == sender and test(event.body):
                    self.taken.add(event.event_id)
                    return event
            if time.monotonic() > deadline:
                bodies = [e.body for e in self.seen.get(room_id, []) if e.sender == sender]
                raise AssertionError(f"no message matching {match!r} in {room_id}; saw {bodies}")
            await self.sync(500)

    async def sync(self, timeout_ms: int = 0) -> None:
        resp = await self.client.sync(timeout=timeout_ms, sync_filter=HUMAN_FILTER)
        assert isinstance(resp, nio.SyncResponse), resp
        for room_id, room in resp.rooms.join.items():
            self.seen.setdefault(room_id, []).extend(
                e for e in room.timeline.events if isinstance(e, nio.RoomMessageText)
            )

    def answers_to(self, room_id: str, event_id: str, bot: str) -> list[str]:
        """What the bot posted in reply to ``event_id``."""
        return [
            e.body
            for e in self.seen.get(room_id, [])
            if e.sender == bot
            and (e.source["content"].get("m.relates_to") or {})
            .get("m.in_reply_to", {})
            .get("event_id")
            == event_id
        ]

    def from_bot(self, room_id: str, bot: str) -> list[str]:
        return [e.body for e in self.seen.get(room_id, []) if e.sender == bot]

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


async def people(cast: Cast, *roles: str) -> dict[str, Human]:
    humans = [Human(cast.url, cast.mxids[role]) for role in roles]
    await asyncio.gather(*(h.login() for h in humans))
    return dict(zip(roles, humans, strict=True))


async def close_all(humans: dict[str, Human]) -> None:
    await asyncio.gather(*(h.close() for h in humans.values()))


# -- the bot ------------------------------------------------------------------------------------


@dataclass
class Bot:
    runner: BotRunner
    adapter: MatrixAdapter
    task: asyncio.Task

    async def stop(self) -> None:
        self.runner.request_stop()
        await self.task


def adapter_for(cast: Cast, ctx: RoutingContext, **kw) -> MatrixAdapter:
    return MatrixAdapter(
        homeserver=cast.url, user=cast.bot, password=PASSWORD, engine=ctx.engine, **kw
    )


async def start_bot(cast: Cast, ctx: RoutingContext, **kw) -> Bot:
    adapter = adapter_for(cast, ctx, **kw)
    runner = BotRunner(ctx, [adapter], outbox_interval=0.2)
    ready = asyncio.Event()
    task = asyncio.create_task(runner.run(ready=ready))
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # start failed: raise its error
    return Bot(runner, adapter, task)


async def until(check: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def members(human: Human, room_id: str) -> set[str]:
    resp = await human.client.joined_members(room_id)
    assert isinstance(resp, nio.JoinedMembersResponse), resp
    return {m.user_id for m in resp.members}


async def wait_joined(human: Human, room_id: str, mxid: str) -> None:
    deadline = time.monotonic() + WAIT
    while mxid not in await members(human, room_id):
        if time.monotonic() > deadline:
            raise AssertionError(f"{mxid} did not join {room_id}")
        await asyncio.sleep(0.1)


async def membership(human: Human, room_id: str, mxid: str) -> str | None:
    resp = await human.client.room_get_state_event(room_id, "m.room.member", mxid)
    if isinstance(resp, nio.ErrorResponse):
        return None
    return resp.content.get("membership")


# -- the ledger ---------------------------------------------------------------------------------


def link_admin(ctx: RoutingContext, cast: Cast) -> None:
    """The CLI's step: the administrator's account is linked before anything else."""
    link(ctx, cast, "admin")


def link(ctx: RoutingContext, cast: Cast, *roles: str) -> None:
    with ctx.session() as session:
        for role in roles:
            identity.link_account(
                session,
                platform="matrix",
                account_id=cast.mxids[role],
                person=get_person(session, PEOPLE[role]),
                via="cli",
                now=ctx.now(),
            )


def bind(ctx: RoutingContext, room_id: str, role: str, unit: str | None = None) -> None:
    with ctx.session() as session:
        identity.bind_chat(
            session,
            platform="matrix",
            chat_id=room_id,
            role=role,
            unit=find_unit(session, unit) if unit else None,
            bound_by="admin",
            now=ctx.now(),
        )


def invite_code(ctx: RoutingContext, person_code: str) -> str:
    with ctx.session() as session:
        return identity.create_invite(
            session, get_person(session, person_code), created_by="admin", now=ctx.now()
        ).code


def outcome(ctx: RoutingContext, room_id: str, event_id: str) -> str | None:
    """What the hub made of a message, once handled (None before)."""
    with ctx.session() as session:
        row = session.exec(
            select(ChatInbox)
            .where(ChatInbox.platform == "matrix")
            .where(ChatInbox.chat_id == room_id)
            .where(ChatInbox.message_id == event_id)
        ).first()
        return row.outcome if row is not None and row.handled_at is not None else None


async def handled(ctx: RoutingContext, room_id: str, event_id: str) -> str:
    return str(await until(lambda: outcome(ctx, room_id, event_id), f"event {event_id}"))


def ticket(ctx: RoutingContext, number: str) -> Ticket:
    with ctx.session() as session:
        return session.exec(select(Ticket).where(Ticket.number == number)).one()


def events(ctx: RoutingContext, number: str) -> list[tuple[str, str]]:
    with ctx.session() as session:
        found = session.exec(select(Ticket).where(Ticket.number == number)).one()
        return [
            (e.action, e.actor)
            for e in session.exec(
                select(Event).where(Event.ticket_id == found.id).order_by(Event.id)
            )
        ]


def number_in(text: str) -> str:
    from bots.commands import first_number

    number = first_number(text)
    assert number is not None, text
    return number


# -- a desk: rooms made by the admin, the bot invited and bound ---------------------------------


@dataclass
class Desk:
    bot: Bot
    humans: dict[str, Human]
    rooms: dict[str, str]  # "intake" | "zjj" | "sup" -> room id


async def open_desk(
    cast: Cast,
    ctx: RoutingContext,
    *,
    roles: tuple[str, ...],
    rooms: dict[str, tuple[str, ...]],
    **bot_kw,
) -> Desk:
    """The admin creates ``rooms`` (name -> roles invited), invites the bot, binds them."""
    link_admin(ctx, cast)
    humans = await people(cast, "admin", *roles)
    bot = await start_bot(cast, ctx, **bot_kw)
    admin = humans["admin"]
    made: dict[str, str] = {}
    for name, invited in rooms.items():
        room_id = await admin.create_room(f"督办 {name}", *(cast.mxids[r] for r in invited))
        await asyncio.gather(*(humans[r].join(room_id) for r in invited))
        invited_bot = await admin.client.room_invite(room_id, cast.bot)
        assert isinstance(invited_bot, nio.RoomInviteResponse), invited_bot
        made[name] = room_id
    for room_id in made.values():
        await wait_joined(admin, room_id, cast.bot)  # accepted: the inviter is an admin
    roles_of = {
        "intake": (identity.ROLE_INTAKE, None),
        "sup": (identity.ROLE_SUPERVISORS, None),
        "zjj": (identity.ROLE_UNIT, "zjj"),
    }
    for name, room_id in made.items():
        role, unit = roles_of[name]
        bind(ctx, room_id, role, unit)
    return Desk(bot=bot, humans=humans, rooms=made)


async def close_desk(desk: Desk) -> None:
    await desk.bot.stop()
    await close_all(desk.humans)


async def file_and_deliver(
    cast: Cast, ctx: RoutingContext, desk: Desk, text: str
) -> tuple[str, nio.RoomMessageText]:
    """Staff paste ``text`` in the intake room; returns the number and the unit's card."""
    staff, member = desk.humans["staff"], desk.humans["member"]
    await staff.say(desk.rooms["intake"], text)
    answer = await staff.expect(desk.rooms["intake"], "【已立项】", sender=cast.bot)
    number = number_in(answer.body)
    assert "住建局" in answer.body and "办理时限" in answer.body
    card = await member.expect(desk.rooms["zjj"], f"【交办】{number}", sender=cast.bot)
    return number, card


# -- (a) the story ------------------------------------------------------------------------------


def test_story_from_the_intake_room_to_a_verified_reply(cast: Cast, ctx: RoutingContext) -> None:
    asyncio.run(_story(cast, ctx))


async def _story(cast: Cast, ctx: RoutingContext) -> None:
    desk = await open_desk(
        cast,
        ctx,
        roles=("staff", "member", "supervisor"),
        rooms={"intake": ("staff",), "zjj": ("member",), "sup": ("supervisor",)},
    )
    staff, member, sup = (desk.humans[r] for r in ("staff", "member", "supervisor"))
    intake, zjj, sup_room = desk.rooms["intake"], desk.rooms["zjj"], desk.rooms["sup"]
    try:
        # everyone links their account with a one-time code, in their own room
        for human, room_id, code in (
            (staff, intake, "luru1"),
            (member, zjj, "zjj-1"),
            (sup, sup_room, "ducha1"),
        ):
            await human.say(room_id, f"/绑定 {invite_code(ctx, code)}")
            await human.expect(room_id, "绑定成功", sender=cast.bot)

        # staff paste a 批示件 naming the unit: filed, routed by rule, the card goes out
        number, card = await file_and_deliver(cast, ctx, desk, ZJJ_TEXT)
        assert "东湖路" in card.body and "/签收" in card.body  # no buttons: commands in text

        # the member acknowledges by replying to the card, then replies with the number
        ack = await member.say(zjj, "/签收", reply_to=card)
        assert await handled(ctx, zjj, ack) == "done"
        await member.expect(zjj, f"{number} 已签收", sender=cast.bot)
        await member.say(zjj, f"/回复 {number} 已更换路灯，恢复照明")
        await member.expect(zjj, number, sender=cast.bot)

        # the supervisors get the reply to check, and pass it
        check = await sup.expect(sup_room, f"【反馈待核查】{number}", sender=cast.bot)
        assert "已更换路灯" in check.body
        await sup.say(sup_room, f"/核查 {number} 通过 5 办理及时")
        await member.expect(zjj, f"【核查通过】{number}", sender=cast.bot)

        # a second 批示件, acknowledged with the number written out
        second, _ = await file_and_deliver(cast, ctx, desk, ZJJ_TEXT_2)
        explicit = await member.say(zjj, f"/签收 {second}")
        assert await handled(ctx, zjj, explicit) == "done"
    finally:
        await close_desk(desk)

    assert ticket(ctx, number).state == TicketState.VERIFIED
    steps = events(ctx, number)
    assert [action for action, _ in steps][-3:] == ["acknowledge", "reply", "verify_pass"]
    assert steps[-3:] == [
        ("acknowledge", "刘洋(zjj-1)"),
        ("reply", "刘洋(zjj-1)"),
        ("verify_pass", "陈立新(ducha1)"),
    ]
    assert steps[0][0] == "register" and any(a == "assign" for a, _ in steps)
    with ctx.session() as session:
        message = session.exec(select(Message).where(Message.channel == "matrix")).first()
        assert message is not None and message.submitter == "luru1"
        assert message.external_id.startswith(f"{intake}:$")
    assert ticket(ctx, second).state == TicketState.ACKNOWLEDGED
    assert events(ctx, second)[-1] == ("acknowledge", "刘洋(zjj-1)")


# -- (b) refusals -------------------------------------------------------------------------------


def test_another_unit_and_a_stranger_are_refused_and_nothing_changes(
    cast: Cast, ctx: RoutingContext
) -> None:
    asyncio.run(_refusals(cast, ctx))


async def _refusals(cast: Cast, ctx: RoutingContext) -> None:
    # the other unit's member and a stranger are (somehow) in the unit's room
    desk = await open_desk(
        cast,
        ctx,
        roles=("staff", "member", "other", "stranger"),
        rooms={"intake": ("staff",), "zjj": ("member", "other", "stranger")},
    )
    link(ctx, cast, "staff", "member", "other")
    zjj = desk.rooms["zjj"]
    other, stranger, member = (desk.humans[r] for r in ("other", "stranger", "member"))
    try:
        number, card = await file_and_deliver(cast, ctx, desk, ZJJ_TEXT)
        before = ticket(ctx, number)
        steps_before = events(ctx, number)

        for text in (f"/签收 {number}", f"/回复 {number} 不是我们的", f"/退回 {number} 不归我们"):
            event_id = await other.say(zjj, text)
            assert await handled(ctx, zjj, event_id) == "refused"
            refusal = await other.expect(zjj, "没有找到该督办件，或您无权", sender=cast.bot)
            assert "东湖路" not in refusal.body
        by_reply = await other.say(zjj, "/签收", reply_to=card)
        assert await handled(ctx, zjj, by_reply) == "refused"

        first = await stranger.say(zjj, f"/签收 {number}")
        assert await handled(ctx, zjj, first) == "refused"
        polite = await stranger.expect(zjj, "尚未在督办系统登记", sender=cast.bot)
        assert "/绑定" in polite.body
        second = await stranger.say(zjj, f"/回复 {number} 我来回复")
        assert await handled(ctx, zjj, second) == "refused"  # refused quietly this time
        await member.sync(0)
    finally:
        await close_desk(desk)

    after = ticket(ctx, number)
    assert (after.state, after.version, after.unit_id) == (
        before.state,
        before.version,
        before.unit_id,
    )
    assert events(ctx, number) == steps_before
    with ctx.session() as session:
        assert session.exec(select(func.count()).select_from(Reply)).one() == 0
    assert sum("尚未在督办系统登记" in b for b in member.from_bot(zjj, cast.bot)) == 1


# -- (c) restart safety -------------------------------------------------------------------------


def intake_messages(ctx: RoutingContext) -> list[str]:
    with ctx.session() as session:
        return list(session.exec(select(Message.external_id).where(Message.channel == "matrix")))


def test_messages_posted_while_the_bot_is_down_are_handled_once(
    cast: Cast, ctx: RoutingContext
) -> None:
    asyncio.run(_restart(cast, ctx))


async def _restart(cast: Cast, ctx: RoutingContext) -> None:
    # a timeline of 3 events, so the 6 messages posted while down need the gap filled
    desk = await open_desk(
        cast, ctx, roles=("staff",), rooms={"intake": ("staff",)}, timeline_limit=3
    )
    link(ctx, cast, "staff")
    staff, intake = desk.humans["staff"], desk.rooms["intake"]
    texts = [
        f"【来信】城东街道第{n}网格反映：小区门口的人行道砖块松动，雨天积水，已有老人摔倒。"
        f"请尽快修复（第{n}次反映）。"
        for n in "一二三四五六七"
    ]
    try:
        before = await staff.say(intake, texts[0])
        await handled(ctx, intake, before)
        await desk.bot.stop()
        token = await asyncio.to_thread(desk.bot.adapter.state.get, f"{cast.bot}:sync_token")

        down = [await staff.say(intake, text) for text in texts[1:]]
        desk.bot = await start_bot(cast, ctx, timeline_limit=3)
        for event_id in down:
            await handled(ctx, intake, event_id)
        await asyncio.sleep(1.0)  # time for any duplicate to show up
        await staff.sync(0)
    finally:
        await close_desk(desk)

    ids = intake_messages(ctx)
    assert sorted(ids) == sorted(f"{intake}:{e}" for e in [before, *down])
    # one answer per message (the bot quotes what it answers): none twice, none missed
    assert [len(staff.answers_to(intake, e, cast.bot)) for e in [before, *down]] == [1] * 7
    with ctx.session() as session:
        rows = session.exec(select(ChatInbox).where(ChatInbox.chat_id == intake)).all()
        assert len(rows) == 7 and all(r.handled_at is not None for r in rows)
        stored = session.exec(
            select(BotState).where(BotState.key == f"matrix:{cast.bot}:sync_token")
        ).one()
        assert stored.value != token


def test_first_start_does_not_replay_history(cast: Cast, ctx: RoutingContext) -> None:
    asyncio.run(_first_start(cast, ctx))


async def _first_start(cast: Cast, ctx: RoutingContext) -> None:
    desk = await open_desk(cast, ctx, roles=("staff",), rooms={"intake": ("staff",)})
    link(ctx, cast, "staff")
    staff, intake = desk.humans["staff"], desk.rooms["intake"]
    try:
        await desk.bot.stop()
        with ctx.session() as session:  # as if the office started on a new ledger
            session.delete(session.get(BotState, f"matrix:{cast.bot}:sync_token"))
        history = await staff.say(intake, "【来信】滨江路夜市油烟扰民，请环保部门处理。")
        desk.bot = await start_bot(cast, ctx)
        fresh = await staff.say(intake, "【来信】东湖路公交站台顶棚破损，下雨时无法避雨。")
        await handled(ctx, intake, fresh)
    finally:
        await close_desk(desk)
    assert outcome(ctx, intake, history) is None
    assert intake_messages(ctx) == [f"{intake}:{fresh}"]


# -- (d) invitations ----------------------------------------------------------------------------


def test_only_an_administrators_invitation_is_accepted(
    cast: Cast, ctx: RoutingContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="bots.matrix")
    asyncio.run(_invites(cast, ctx, caplog))


async def _invites(cast: Cast, ctx: RoutingContext, caplog: pytest.LogCaptureFixture) -> None:
    link_admin(ctx, cast)
    link(ctx, cast, "staff")  # a linked person, but not an administrator
    humans = await people(cast, "admin", "staff", "stranger")
    bot = await start_bot(cast, ctx)
    try:
        declined = {}
        for role in ("staff", "stranger"):
            room_id = await humans[role].create_room(f"{role} 的房间", cast.bot)
            declined[role] = room_id
        accepted = await humans["admin"].create_room("管理员的房间", cast.bot)
        await wait_joined(humans["admin"], accepted, cast.bot)
        for role, room_id in declined.items():
            deadline = time.monotonic() + WAIT
            while await membership(humans[role], room_id, cast.bot) == "invite":
                assert time.monotonic() < deadline, f"{role}'s invitation left unanswered"
                await asyncio.sleep(0.1)
            assert await membership(humans[role], room_id, cast.bot) == "leave"
            assert cast.bot not in await members(humans[role], room_id)

        # an encrypted room is joined, but the bot cannot read it: it says so in the log
        resp = await humans["admin"].client.room_create(
            name="加密的房间",
            invite=[cast.bot],
            initial_state=[
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        )
        assert isinstance(resp, nio.RoomCreateResponse), resp
        await until(
            lambda: f"room {resp.room_id} is end-to-end encrypted" in caplog.text,
            "a warning about the encrypted room",
        )
    finally:
        await bot.stop()
        await close_all(humans)


# -- (e) sending and its errors -----------------------------------------------------------------


def test_send_maps_errors_and_is_idempotent(
    cast: Cast, ctx: RoutingContext, tmp_path: Path
) -> None:
    asyncio.run(_sending(cast, ctx, tmp_path))


async def _sending(cast: Cast, ctx: RoutingContext, tmp_path: Path) -> None:
    link_admin(ctx, cast)
    humans = await people(cast, "admin")
    admin = humans["admin"]
    bot = await start_bot(cast, ctx)
    adapter = bot.adapter
    try:
        room_id = await admin.create_room("发送测试", cast.bot)
        await wait_joined(admin, room_id, cast.bot)

        # the same idempotency key twice: one event (a retried delivery is not posted twice)
        out = OutgoingMessage(
            room_id, "【交办】DB-2026-000001 测试<b>不是标记</b>", idempotency_key="d1-p0"
        )
        first = await adapter.send(out)
        assert await adapter.send(out) == first
        answer = await adapter.send(OutgoingMessage(room_id, "收到", reply_to=first))
        image = tmp_path / "chart.png"
        image.write_bytes(PNG)
        picture = await adapter.send(
            OutgoingMessage(room_id, "图 1/1", images=(image,), idempotency_key="d2-p1")
        )
        await admin.sync(0)
        sent = {e.event_id: e for e in admin.seen[room_id] if e.sender == cast.bot}
        assert sent[first].body == out.text and sent[first].formatted_body is None
        assert list(sent).count(first) == 1
        assert sent[answer].source["content"]["m.relates_to"] == {
            "m.in_reply_to": {"event_id": first}
        }
        got = await admin.client.room_get_event(room_id, picture)
        assert got.event.source["content"]["msgtype"] == "m.image"
        assert got.event.source["content"]["url"].startswith("mxc://")

        # the bot is removed from the room: sending there fails for good
        kicked = await admin.client.room_kick(room_id, cast.bot)
        assert isinstance(kicked, nio.RoomKickResponse), kicked
        with pytest.raises(SendFailed) as removed:
            await adapter.send(OutgoingMessage(room_id, "还在吗"))
        assert removed.value.permanent and "M_FORBIDDEN" in removed.value.reason
        with pytest.raises(SendFailed) as unknown:
            await adapter.send(OutgoingMessage("!nowhere:localhost", "你好"))
        assert unknown.value.permanent
    finally:
        await bot.stop()
        await close_all(humans)

    # after stop, sending is a retryable failure (the outbox keeps the row)
    with pytest.raises(SendFailed) as stopped:
        await adapter.send(OutgoingMessage(room_id, "x"))
    assert not stopped.value.permanent


def test_an_unreachable_homeserver_fails_the_start(ctx: RoutingContext) -> None:
    adapter = MatrixAdapter(
        homeserver=f"http://127.0.0.1:{free_port()}",
        user="@bot:localhost",
        password="x",
        engine=ctx.engine,
    )

    async def start() -> None:
        await adapter.start(_never)

    with pytest.raises(BotError, match="无法连接"):
        asyncio.run(start())


def test_wrong_password_is_a_configuration_error(cast: Cast, ctx: RoutingContext) -> None:
    from bots.errors import NotConfigured

    adapter = MatrixAdapter(homeserver=cast.url, user=cast.bot, password="wrong", engine=ctx.engine)
    with pytest.raises(NotConfigured, match="M_FORBIDDEN"):
        asyncio.run(adapter.start(_never))


async def _never(_msg):  # pragma: no cover - never called
    raise AssertionError("no message expected")


def test_error_responses_map_to_send_failed() -> None:
    limited = send_failed(nio.RoomSendError("Too Many Requests", "M_LIMIT_EXCEEDED", 2500))
    assert limited.retry_after == 2.5 and not limited.permanent
    assert send_failed(nio.RoomSendError("not in room", "M_FORBIDDEN")).permanent
    assert send_failed(nio.RoomSendError("no such room", "M_NOT_FOUND")).permanent
    token = send_failed(nio.RoomSendError("unknown token", "M_UNKNOWN_TOKEN"))
    assert not token.permanent and token.retry_after is None
    assert not send_failed(nio.RoomSendError("unknown error")).permanent  # e.g. a proxy's 502


def test_reply_fallback_is_cut_off() -> None:
    assert strip_reply_fallback("> <@bot:x> 【交办】DB-2026-000001\n> 第二行\n\n/签收") == "/签收"
    assert strip_reply_fallback("/签收 DB-2026-000001") == "/签收 DB-2026-000001"
    assert strip_reply_fallback("> 引用\n/回复 好") == "/回复 好"


def _png() -> bytes:
    """A valid 1x1 PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = _png()


def test_a_fresh_group_room_is_not_taken_for_a_private_chat(
    cast: Cast, ctx: RoutingContext
) -> None:
    """An administrator makes a room for a unit's group and invites the bot: only the two of
    them are in it yet. /帮助 there names the room and the bind command, and the room is not
    recorded as the administrator's private chat; a direct chat (is_direct) is."""
    asyncio.run(_fresh_room(cast, ctx))


async def _fresh_room(cast: Cast, ctx: RoutingContext) -> None:
    link_admin(ctx, cast)
    humans = await people(cast, "admin")
    admin = humans["admin"]
    bot = await start_bot(cast, ctx)
    try:
        group = await admin.create_room("住建局工作群", cast.bot)
        await wait_joined(admin, group, cast.bot)
        await admin.say(group, "/帮助")
        answer = await admin.expect(group, "duban bind", sender=cast.bot)
        assert group in answer.body and "--platform matrix" in answer.body

        resp = await admin.client.room_create(invite=[cast.bot], is_direct=True)
        assert isinstance(resp, nio.RoomCreateResponse), resp
        await wait_joined(admin, resp.room_id, cast.bot)
        await admin.say(resp.room_id, "/帮助")
        answer = await admin.expect(resp.room_id, "督办助手", sender=cast.bot)
        assert "duban bind" not in answer.body
        with ctx.session() as session:
            account = identity.account_of(
                session, platform="matrix", account_id=cast.mxids["admin"]
            )
            assert account is not None and account.private_chat_id == resp.room_id
    finally:
        await bot.stop()
        await close_all(humans)
