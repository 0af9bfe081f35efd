"""Outbox delivery: fan-out, retries with backoff, never twice across a restart, never dropped."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from bots import identity
from bots.errors import SendFailed
from bots.hub import ChatHub
from bots.memory import MemoryAdapter
from bots.messages import OutgoingMessage
from bots.outbox import Outbox, OutboxPolicy, record_answered, requeue_failed
from ledger import tickets as T
from ledger.directory import find_unit, get_person
from ledger.models import ChatDelivery, Notification, Ticket
from routing.context import RoutingContext
from tests.bots.conftest import Desk
from tests.helpers import make_ticket

SECRET = "市民王某某反映：东湖路12号楼下井盖丢失"


def notify(
    ctx: RoutingContext,
    key: str,
    *,
    audience: str = "unit",
    unit: str | None = "zjj",
    text: str = SECRET,
    person: str | None = None,
    ticket_id: int | None = None,
    not_before=None,
    payload: dict | None = None,
    kind: str = "notice",
) -> int:
    with ctx.session() as session:
        unit_id = find_unit(session, unit).id if unit else None
        person_id = get_person(session, person).id if person else None
        row = Notification(
            dedupe_key=key,
            kind=kind,
            audience=audience,
            unit_id=unit_id,
            person_id=person_id,
            ticket_id=ticket_id,
            text=text,
            payload=payload or {},
            created_at=ctx.now(),
            not_before=not_before or ctx.now(),
        )
        session.add(row)
        session.flush()
        return row.id


def deliveries(ctx: RoutingContext) -> list[ChatDelivery]:
    with ctx.session() as session:
        return list(session.exec(select(ChatDelivery).order_by(ChatDelivery.id)))


def status_of(ctx: RoutingContext, notification_id: int) -> str:
    with ctx.session() as session:
        return session.get(Notification, notification_id).status


def fresh_outbox(ctx: RoutingContext, adapter: MemoryAdapter, **kw) -> Outbox:
    """A new process: its own hub and outbox on the same ledger."""
    hub = ChatHub(ctx)
    hub.add(adapter)
    return Outbox(ctx, hub.adapters, **kw)


def test_one_delivery_per_chat_on_every_platform(desk: Desk, ctx: RoutingContext) -> None:
    with ctx.session() as session:
        identity.bind_chat(
            session,
            platform="memory",
            chat_id="zjj-2",
            role=identity.ROLE_UNIT,
            unit=find_unit(session, "zjj"),
            bound_by="test",
            now=ctx.now(),
        )
        identity.bind_chat(
            session,
            platform="matrixish",
            chat_id="!zjj:example.org",
            role=identity.ROLE_UNIT,
            unit=find_unit(session, "zjj"),
            bound_by="test",
            now=ctx.now(),
        )
    other = MemoryAdapter("matrixish", clock=ctx.now)
    hub = ChatHub(ctx)
    hub.add(desk.adapter)
    hub.add(other)
    outbox = Outbox(ctx, hub.adapters)
    note = notify(ctx, "n1")
    assert asyncio.run(outbox.drain()) == 3
    assert desk.texts("zjj") == [SECRET] and desk.texts("zjj-2") == [SECRET]
    assert [p.text for p in other.in_chat("!zjj:example.org")] == [SECRET]
    assert status_of(ctx, note) == "sent"
    assert asyncio.run(outbox.drain()) == 0


def test_never_sent_twice_across_a_restart(desk: Desk, ctx: RoutingContext) -> None:
    notes = [notify(ctx, f"n{i}", text=f"通知{i}") for i in range(6)]
    first = MemoryAdapter(clock=ctx.now)
    outbox = fresh_outbox(ctx, first)
    # the platform goes away after three messages; the process is stopped
    sent_before = asyncio.run(_deliver_some(outbox, first, stop_after=3))
    assert sent_before == 3

    second = MemoryAdapter(clock=ctx.now)  # the restarted process
    assert asyncio.run(fresh_outbox(ctx, second).drain()) == 3
    texts = [p.text for p in first.sent + second.sent]
    assert sorted(texts) == sorted(f"通知{i}" for i in range(6))  # each exactly once
    assert all(status_of(ctx, n) == "sent" for n in notes)
    assert asyncio.run(fresh_outbox(ctx, MemoryAdapter(clock=ctx.now)).drain()) == 0


async def _deliver_some(outbox: Outbox, adapter: MemoryAdapter, *, stop_after: int) -> int:
    """Run the real loop until ``stop_after`` messages went out, then stop it (SIGTERM)."""
    stop = asyncio.Event()
    original = adapter.send

    async def send(msg: OutgoingMessage) -> str:
        message_id = await original(msg)
        if len(adapter.sent) >= stop_after:
            stop.set()
        return message_id

    adapter.send = send  # type: ignore[method-assign]
    await outbox.run(stop, interval=0.01)
    return len(adapter.sent)


def test_a_rate_limit_waits_as_the_platform_says(desk: Desk, ctx: RoutingContext, clock) -> None:
    note = notify(ctx, "n1")
    desk.adapter.fail_next(SendFailed("429 Too Many Requests", retry_after=7))
    assert desk.deliver() == 1
    (row,) = deliveries(ctx)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.next_attempt_at - ctx.now() == timedelta(seconds=7)
    assert desk.deliver() == 0 and desk.texts("zjj") == []
    clock.advance(seconds=7)
    assert desk.deliver() == 1
    assert desk.texts("zjj") == [SECRET]
    (row,) = deliveries(ctx)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert status_of(ctx, note) == "sent"


def test_network_errors_back_off_exponentially(desk: Desk, ctx: RoutingContext, clock) -> None:
    notify(ctx, "n1")
    desk.adapter.fail_next(*(SendFailed("timed out") for _ in range(4)))
    waits = []
    for _ in range(4):
        desk.deliver()
        (row,) = deliveries(ctx)
        waits.append((row.next_attempt_at - ctx.now()).total_seconds())
        clock.now = row.next_attempt_at
    assert waits == [5, 10, 20, 40]
    assert desk.deliver() == 1 and desk.texts("zjj") == [SECRET]


def test_an_adapter_bug_is_retried_not_dropped(desk: Desk, ctx: RoutingContext, clock) -> None:
    notify(ctx, "n1")
    desk.adapter.fail_next(RuntimeError("unmapped"))
    desk.deliver()
    assert deliveries(ctx)[0].status == "pending"
    clock.advance(seconds=5)
    assert desk.deliver() == 1 and desk.texts("zjj") == [SECRET]


def test_a_permanent_failure_is_recorded_and_can_be_retried(
    desk: Desk, ctx: RoutingContext, caplog: pytest.LogCaptureFixture
) -> None:
    note = notify(ctx, "n1")
    desk.adapter.fail_next(
        SendFailed("Forbidden: bot was kicked from the group chat", permanent=True)
    )
    with caplog.at_level(logging.DEBUG, logger="bots"):
        desk.deliver()
    (row,) = deliveries(ctx)
    assert row.status == "failed" and "kicked" in row.last_error
    assert status_of(ctx, note) == "failed"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and all(
        SECRET not in r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG
    )
    assert desk.deliver() == 0  # not retried by itself
    with ctx.session() as session:
        assert requeue_failed(session, now=ctx.now()) == 1
    assert desk.deliver() == 1 and desk.texts("zjj") == [SECRET]
    assert status_of(ctx, note) == "sent"


def test_a_reminder_the_ticket_has_moved_past_is_not_sent(desk: Desk, ctx: RoutingContext) -> None:
    """The bot was away; meanwhile the unit replied, or an extension moved the deadline."""
    from ledger import tickets as T

    admin = T.Actor.system("test")
    with ctx.session() as session:
        replied = make_ticket(session, ctx.rules, now=ctx.now(), text="东湖路井盖丢失")
        extended = make_ticket(session, ctx.rules, now=ctx.now(), text="学府路路灯不亮")
        for ticket in (replied, extended):
            T.assign(
                session,
                ticket,
                find_unit(session, "zjj"),
                actor=admin,
                now=ctx.now(),
                routed_by="manual",
            )
        T.reply(session, replied, "已补装井盖", actor=admin, now=ctx.now())
        ids = {
            name: (t.id, t.due_date.isoformat())
            for name, t in (("replied", replied), ("extended", extended))
        }
    late = notify(
        ctx,
        f"overdue:{ids['replied'][0]}:{ids['replied'][1]}:2026-11-30",
        kind="overdue",
        ticket_id=ids["replied"][0],
        text="【超期催办】已答复的件",
    )
    old_deadline = notify(
        ctx,
        f"due:{ids['extended'][0]}:2026-01-05",
        kind="reminder",
        ticket_id=ids["extended"][0],
        text="【今日到期】旧的时限",
    )
    current = notify(
        ctx,
        f"due:{ids['extended'][0]}:{ids['extended'][1]}",
        kind="reminder",
        ticket_id=ids["extended"][0],
        text="【今日到期】现在的时限",
    )
    desk.deliver()
    assert desk.texts("zjj") == ["【今日到期】现在的时限"]
    assert [status_of(ctx, n) for n in (late, old_deadline, current)] == [
        "outdated",
        "outdated",
        "sent",
    ]


def test_a_long_text_goes_in_numbered_parts_and_resumes(
    desk: Desk, ctx: RoutingContext, clock
) -> None:
    with ctx.session() as session:
        ticket = make_ticket(session, ctx.rules, now=ctx.now())
        ticket_id, number = ticket.id, ticket.number
    lines = [f"第{i}行：" + "很长的内容" * 40 for i in range(60)]
    text = "\n".join(lines)
    notify(
        ctx,
        "long",
        text=text,
        ticket_id=ticket_id,
        payload={"actions": [{"label": "签收", "command": f"/签收 {number}"}]},
    )
    original = desk.adapter.send
    calls = {"n": 0}

    async def flaky(msg: OutgoingMessage) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SendFailed("network down")
        return await original(msg)

    desk.adapter.send = flaky  # type: ignore[method-assign]
    desk.deliver()
    assert len(desk.texts("zjj")) == 1
    clock.advance(seconds=5)
    desk.deliver()
    parts = desk.adapter.in_chat("zjj")
    assert len(parts) == 4 and all(len(p.text) <= 4096 for p in parts)
    assert [p.text.rsplit("\n", 1)[1] for p in parts] == [
        "（1/4）",
        "（2/4）",
        "（3/4）",
        "（4/4）",
    ]
    assert "\n".join(p.text.rsplit("\n", 1)[0] for p in parts) == text  # nothing lost
    assert [bool(p.actions) for p in parts] == [False, False, False, True]
    assert [p.idempotency_key for p in parts] == [f"d1-p{i}" for i in range(4)]
    # replying to any part names the ticket
    assert desk.say("zjj", "zjj-1", "/详情", reply_to=parts[1].message_id).value == "refused"
    assert "没有找到该督办件" in desk.last("zjj")  # (it is not assigned to 住建局)


def test_a_crash_between_send_and_record_sends_that_part_once_more(
    desk: Desk, ctx: RoutingContext, clock
) -> None:
    """The one documented window: at-least-once for the part in flight, after the lease."""

    class Crash(BaseException):
        pass

    notify(ctx, "n1")
    dying = MemoryAdapter(clock=ctx.now)
    original = dying.send

    async def send_then_die(msg: OutgoingMessage) -> str:
        await original(msg)
        raise Crash()

    dying.send = send_then_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        asyncio.run(fresh_outbox(ctx, dying).drain())
    assert deliveries(ctx)[0].status == "sending"

    restarted = MemoryAdapter(clock=ctx.now)
    policy = OutboxPolicy(lease=timedelta(minutes=2))
    assert asyncio.run(fresh_outbox(ctx, restarted, policy=policy).drain()) == 0  # leased
    clock.advance(minutes=2, seconds=1)
    assert asyncio.run(fresh_outbox(ctx, restarted, policy=policy).drain()) == 1
    assert [p.text for p in dying.sent + restarted.sent] == [SECRET, SECRET]
    # the same idempotency key both times: a platform with idempotent sends posts it once
    assert dying.sent[0].idempotency_key == restarted.sent[0].idempotency_key == "d1-p0"
    assert deliveries(ctx)[0].status == "sent"


def test_two_processes_never_claim_the_same_delivery(desk: Desk, ctx: RoutingContext) -> None:
    notify(ctx, "n1")
    one = fresh_outbox(ctx, MemoryAdapter(clock=ctx.now))
    two = fresh_outbox(ctx, MemoryAdapter(clock=ctx.now))
    one.plan()
    (delivery_id,) = one.due()
    assert one.claim(delivery_id) is not None
    assert two.claim(delivery_id) is None
    assert two.due() == []


def test_an_unbound_audience_waits_for_its_chat(desk: Desk, ctx: RoutingContext) -> None:
    note = notify(ctx, "n1", unit="jtj")
    assert desk.deliver() == 0
    assert status_of(ctx, note) == "unbound" and deliveries(ctx) == []
    with ctx.session() as session:
        identity.bind_chat(
            session,
            platform="memory",
            chat_id="jtj",
            role="unit",
            unit=find_unit(session, "交通局"),
            bound_by="test",
            now=ctx.now(),
        )
    assert status_of(ctx, note) == "pending"
    assert desk.deliver() == 1 and desk.texts("jtj") == [SECRET]


def test_not_before_is_kept(desk: Desk, ctx: RoutingContext, clock) -> None:
    notify(ctx, "later", not_before=ctx.now() + timedelta(hours=2))
    assert desk.deliver() == 0
    clock.advance(hours=2)
    assert desk.deliver() == 1


def test_a_person_is_reached_in_their_private_chat(desk: Desk, ctx: RoutingContext) -> None:
    note = notify(ctx, "p1", audience="person", unit=None, person="zjj-ld", text="个人提醒")
    desk.deliver()
    assert status_of(ctx, note) == "unbound"
    # the person writes to the bot privately once: the bot learns where to reach them
    desk.say("u-zjj-ld", "zjj-ld", "/身份", private=True)
    assert desk.deliver() == 1
    assert desk.texts("u-zjj-ld")[-1] == "个人提醒"


# -- the outbox loop and an answer in the chat write the same delivery at the same moment ------


class _Hold:
    """Lets one thread run until it is about to insert a ``chat_delivery`` row, then lets
    the test decide what the other writer does before that insert goes to the database."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.thread: threading.Thread | None = None
        self.at_insert = threading.Event()

    def __enter__(self) -> _Hold:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, *_args) -> None:
        if threading.current_thread() is self.thread and statement.lstrip().upper().startswith(
            "INSERT INTO CHAT_DELIVERY"
        ):
            self.at_insert.set()

    def run(self, fn) -> dict[str, BaseException | None]:
        result: dict[str, BaseException | None] = {"error": None}

        def target() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the test thread
                result["error"] = exc

        self.thread = threading.Thread(target=target)
        self.thread.start()
        return result


@pytest.mark.parametrize("first", ["outbox", "chat"])
def test_an_answer_in_the_chat_and_the_outbox_loop_never_collide(
    desk: Desk, ctx: RoutingContext, first: str
) -> None:
    """``first`` writes the intake chat's delivery and has not committed when the other
    one, already past any check it makes, inserts the same row: neither may fail (a failed
    answer left a pasted message filed but unanswered), and the chat counts as answered."""
    note = notify(ctx, "triage:1:1", audience="intake", unit=None, kind="triage")
    outbox = fresh_outbox(ctx, MemoryAdapter(clock=ctx.now))

    def answer(session) -> None:
        record_answered(
            session,
            session.get(Notification, note),
            platform="memory",
            chat_id="intake",
            now=ctx.now(),
        )

    def answer_alone() -> None:
        with ctx.session() as session:
            answer(session)

    with _Hold(ctx.engine) as hold, ctx.session() as held:
        if first == "outbox":
            outbox._plan_one(held, note, ["memory"], ctx.now())
            result = hold.run(answer_alone)
        else:
            answer(held)
            result = hold.run(outbox.plan)
        assert hold.at_insert.wait(30), "the second writer never reached its insert"
        held.commit()
    assert hold.thread is not None
    hold.thread.join(30)
    assert result["error"] is None, repr(result["error"])

    rows = deliveries(ctx)
    assert [(d.platform, d.chat_id, d.status) for d in rows] == [("memory", "intake", "sent")]
    assert status_of(ctx, note) == "sent"
    assert desk.deliver() == 0 and desk.texts("intake") == []


def test_writing_the_same_notification_twice_keeps_one(ctx: RoutingContext) -> None:
    from ledger.outbox import add_notification, add_notifications, notification_row

    values = dict(dedupe_key="k1", kind="notice", audience="intake", text="一", now=ctx.now())
    with ctx.session() as session:
        assert add_notification(session, **values) is not None
        assert add_notification(session, **{**values, "text": "二"}) is None
        add_notifications(
            session,
            [
                notification_row(**{**values, "text": "三"}),
                notification_row(**{**values, "dedupe_key": "k2"}),
            ],
        )
    with ctx.session() as session:
        rows = session.exec(select(Notification.dedupe_key, Notification.text)).all()
    assert sorted(rows) == [("k1", "一"), ("k2", "一")]


def test_notices_that_stopped_being_true_are_not_sent(desk: Desk, ctx: RoutingContext) -> None:
    """A bot started after a day away: the desk has already chosen the unit of a ticket
    that was waiting in triage, and another ticket went from 住建局 to 城管局."""
    from desk import tickets as D

    with ctx.session() as session:
        waiting = make_ticket(session, ctx.rules, now=ctx.now(), text="东湖路井盖丢失").number
        moved = make_ticket(session, ctx.rules, now=ctx.now(), text="学府路路灯不亮").number
        still = make_ticket(session, ctx.rules, now=ctx.now(), text="锦绣小区电梯故障").number
    for number in (waiting, moved, still):  # each ticket's 待分办 notice goes to the desk
        with ctx.session() as session:
            from routing.pipeline import triage_notice

            ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
            triage_notice(session, ticket, ctx=ctx, now=ctx.now(), reason="测试")
    desk_actor = T.Actor.system("test")
    D.assign(ctx, waiting, "住建局", actor=desk_actor)
    D.assign(ctx, moved, "住建局", actor=desk_actor)
    D.assign(ctx, moved, "城管局", actor=desk_actor)  # 改派 before anything was delivered
    desk.deliver()
    intake = desk.texts("intake")
    assert len(intake) == 1 and still in intake[0]  # only the one still waiting
    assert [t for t in desk.texts("zjj") if moved in t] == []  # 住建局 never gets its card
    assert any(moved in t for t in desk.texts("cgj")) and any(
        waiting in t for t in desk.texts("zjj")
    )
