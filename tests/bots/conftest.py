"""A chat desk on the real ledger: memory chats bound, accounts linked, the outbox ready."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlmodel import select

from bots import identity
from bots.handlers import Handlers
from bots.hub import ChatHub
from bots.memory import MemoryAdapter, Posted
from bots.messages import Outcome
from bots.outbox import Outbox, OutboxPolicy
from duban.runtime import Runtime
from ledger.directory import find_unit, get_person
from ledger.models import Event, Ticket
from routing.context import RoutingContext
from tests.helpers import Clock

# chat id -> (role, unit code)
CHATS = {
    "intake": (identity.ROLE_INTAKE, None),
    "sup": (identity.ROLE_SUPERVISORS, None),
    "zjj": (identity.ROLE_UNIT, "zjj"),
    "cgj": (identity.ROLE_UNIT, "cgj"),
}
PEOPLE = ("luru1", "ducha1", "zjj-1", "zjj-ld", "cgj-1", "admin")


def account(code: str) -> str:
    return f"u-{code}"


def bind_all(
    ctx: RoutingContext,
    platform: str,
    chats: dict[str, str] | None = None,
    people: dict[str, str] | None = None,
) -> None:
    """Bind ``CHATS`` (chat ids renamed by ``chats``) and link ``PEOPLE`` on ``platform``."""
    chats = chats or {}
    people = people or {}
    with ctx.session() as session:
        for chat_id, (role, unit_code) in CHATS.items():
            unit = find_unit(session, unit_code) if unit_code else None
            identity.bind_chat(
                session,
                platform=platform,
                chat_id=chats.get(chat_id, chat_id),
                role=role,
                unit=unit,
                bound_by="test",
                now=ctx.now(),
            )
        for code in PEOPLE:
            identity.link_account(
                session,
                platform=platform,
                account_id=people.get(code, account(code)),
                person=get_person(session, code),
                via="cli",
                now=ctx.now(),
            )


class Desk:
    """Sync helpers over the memory adapter, the hub and the outbox."""

    def __init__(
        self,
        ctx: RoutingContext,
        *,
        platform: str = "memory",
        handlers: Handlers | None = None,
        policy: OutboxPolicy | None = None,
    ) -> None:
        self.ctx = ctx
        self.adapter = MemoryAdapter(platform, clock=ctx.now)
        self.hub = ChatHub(ctx, handlers)
        self.hub.add(self.adapter)
        self.outbox = Outbox(ctx, self.hub.adapters, policy=policy)
        asyncio.run(self.adapter.start(self.hub.on_message))

    def say(self, chat: str, who: str, text: str, **kw) -> Outcome:
        """``who`` is a person code (their linked account) or a raw account id."""
        sender = account(who) if who in PEOPLE else who
        return asyncio.run(self.adapter.say(chat, sender, text, **kw))

    def press(self, chat: str, who: str, posted: Posted, label: str) -> Outcome:
        return asyncio.run(self.adapter.press(chat, account(who), posted, label))

    def deliver(self) -> int:
        return asyncio.run(self.outbox.drain())

    def texts(self, chat: str) -> list[str]:
        return [p.text for p in self.adapter.in_chat(chat)]

    def last(self, chat: str) -> str:
        return self.adapter.last(chat).text

    def ticket(self, number: str) -> Ticket:
        with self.ctx.session() as session:
            return session.exec(select(Ticket).where(Ticket.number == number)).one()

    def events(self, number: str) -> list[tuple[str, str]]:
        with self.ctx.session() as session:
            ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
            return [
                (e.action, e.actor)
                for e in session.exec(
                    select(Event).where(Event.ticket_id == ticket.id).order_by(Event.id)
                )
            ]


@pytest.fixture
def ctx(runtime: Runtime, clock: Clock) -> RoutingContext:
    runtime.clock = clock
    return runtime.routing


@pytest.fixture
def desk(ctx: RoutingContext) -> Iterator[Desk]:
    bind_all(ctx, "memory")
    yield Desk(ctx)
