"""The console: one person plays every role in a terminal (``duban bot --console``).

Each line is one chat message::

    @zjj-1 /签收 DB-2026-000001        刘洋 (zjj-1) speaks in his home chat (住建局's chat)
    @luru1 #intake 东湖路路灯不亮……     王晓燕 pastes into the intake desk
    @ducha1 #私聊 /待办                 陈立新 writes to the bot privately
    @zjj-1 ^/签收                      replies to the bot's last message in that chat
    @zjj-1                             from now on, lines without @ are 刘洋's
    \\n in a line is a line break (to paste several messages: 一\\n---\\n二)

Chats: ``intake`` (录入台), ``supervisors`` (督查群), a unit's code (``zjj``) and ``私聊``
(the person's private chat with the bot). A person's home chat is the intake desk for
intake staff, the supervisors' chat for supervisors, else their unit's chat. ``{ticket}``
in a line is replaced by the last ticket number the bot mentioned.

``duban bot --console`` binds these console chats and links every person's console account
on first use (platform ``console``; nothing on Telegram or Matrix changes). It stops
cleanly when standard input is closed, after delivering what is due.

:func:`play_script` runs a list of ``(person code, chat, text)`` lines non-interactively
through the same handlers and the outbox, printing each chat message as it goes — the
scripted cast of ``make demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlmodel import Session, select

from bots import identity
from bots.commands import first_number
from bots.handlers import Handlers
from bots.hub import ChatHub
from bots.messages import IncomingMessage, OnMessage, Outcome, OutgoingMessage
from bots.outbox import Outbox
from bots.platforms import PlatformSetup
from ledger.db import session_scope
from ledger.models import Person, Role, Unit
from ledger.types import utcnow
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

PLATFORM = "console"
INTAKE_CHAT, SUPERVISORS_CHAT, PRIVATE = "intake", "supervisors", "私聊"
BOT = "督办助手"


@dataclass(frozen=True, slots=True)
class ChatLine:
    """One message as the console showed it."""

    chat: str  # chat id: intake, supervisors, a unit code, @person
    chat_label: str
    speaker: str  # "督办助手" or "刘洋(zjj-1)"
    text: str


@dataclass(frozen=True, slots=True)
class Cast:
    """Who is who on the console: chat labels, people, their home chats."""

    labels: dict[str, str]
    names: dict[str, str]  # person code -> name
    homes: dict[str, str]  # person code -> home chat


def setup_console(session: Session, *, now: datetime) -> Cast:
    """Bind the console chats and link every active person's console account (idempotent)."""
    units = [u for u in session.exec(select(Unit).order_by(Unit.id)) if u.active]
    labels = {INTAKE_CHAT: "录入台", SUPERVISORS_CHAT: "督查群"}
    wanted: list[tuple[str, str, Unit | None]] = [
        (INTAKE_CHAT, identity.ROLE_INTAKE, None),
        (SUPERVISORS_CHAT, identity.ROLE_SUPERVISORS, None),
    ]
    for unit in units:
        if unit.kind != "desk":
            wanted.append((unit.code, identity.ROLE_UNIT, unit))
            labels[unit.code] = unit.short_name
    for chat_id, role, unit in wanted:
        if identity.binding_of(session, platform=PLATFORM, chat_id=chat_id) is None:
            identity.bind_chat(
                session,
                platform=PLATFORM,
                chat_id=chat_id,
                role=role,
                unit=unit,
                bound_by="console",
                now=now,
                title=labels[chat_id],
            )
    names, homes = {}, {}
    by_id = {u.id: u for u in units}
    for person in session.exec(select(Person).order_by(Person.id)):
        if not person.active:
            continue
        names[person.code] = person.name
        homes[person.code] = _home(person, by_id)
        labels[f"@{person.code}"] = f"私聊·{person.name}"
        if identity.account_of(session, platform=PLATFORM, account_id=person.code) is None:
            identity.link_account(
                session,
                platform=PLATFORM,
                account_id=person.code,
                person=person,
                via="console",
                now=now,
                private_chat_id=f"@{person.code}",
            )
    return Cast(labels=labels, names=names, homes=homes)


def _home(person: Person, units: dict[int | None, Unit]) -> str:
    if person.has_role(Role.INTAKE):
        return INTAKE_CHAT
    if person.has_role(Role.SUPERVISOR, Role.ADMIN):
        return SUPERVISORS_CHAT
    unit = units.get(person.unit_id)
    return unit.code if unit is not None and unit.kind != "desk" else f"@{person.code}"


class ConsoleAdapter:
    """Reads ``@person [#chat] text`` lines, prints what the bot posts."""

    platform = PLATFORM
    text_limit = 4096

    def __init__(
        self,
        cast: Cast,
        *,
        out: TextIO | None = None,
        inp: TextIO | None = None,
        echo: bool = False,
        clock: Callable[[], datetime] = utcnow,
        settle: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.cast = cast
        # Awaited after each input line (``duban bot --console`` passes the outbox's drain),
        # so what a line caused is printed before the next line is read.
        self.settle = settle
        self.out = out or sys.stdout
        self.inp = inp
        self.echo = echo  # print incoming lines too (scripts; a terminal shows what you type)
        self.clock = clock
        self.closed = asyncio.Event()  # set when the input ends
        self.transcript: list[ChatLine] = []
        self.last_ticket: str | None = None
        self._last_in_chat: dict[str, str] = {}
        self._speaker: str | None = None
        self._on_message: OnMessage | None = None
        self._reader: asyncio.Task | None = None

    # -- adapter interface ---------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        if self.inp is not None:
            self._reader = asyncio.create_task(self._read(self.inp), name="console-input")

    async def stop(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def send(self, msg: OutgoingMessage) -> str:
        message_id = uuid.uuid4().hex[:12]
        self._last_in_chat[msg.chat_id] = message_id
        self.last_ticket = first_number(msg.text) or self.last_ticket
        text = msg.text
        if msg.images:
            text += "\n" + "\n".join(f"[图片] {path}" for path in msg.images)
        if msg.actions:
            text += "\n" + "  ".join(f"[{a.label}]" for a in msg.actions)
        self._print(msg.chat_id, BOT, text)
        return message_id

    # -- speaking ---------------------------------------------------------------------------------

    async def speak(self, person: str, chat: str, text: str) -> Outcome:
        """``person`` says ``text`` in ``chat`` ("" = their home chat, "私聊" = private)."""
        if self._on_message is None:
            raise RuntimeError("console adapter not started")
        if person not in self.cast.names:
            self._print("", "控制台", f"没有编号为 {person} 的人员（见 duban people list）")
            return Outcome.IGNORED
        chat_id = self._chat(person, chat)
        reply_to = None
        body = text.replace("\\n", "\n")
        if self.last_ticket:
            body = body.replace("{ticket}", self.last_ticket)
        if body.startswith("^"):
            body = body[1:].lstrip()
            reply_to = self._last_in_chat.get(chat_id)
        if self.echo:
            self._print(chat_id, f"{self.cast.names[person]}({person})", body)
        return await self._on_message(
            IncomingMessage(
                platform=PLATFORM,
                chat_id=chat_id,
                sender_id=person,
                message_id=uuid.uuid4().hex[:12],
                text=body,
                received_at=self.clock(),
                reply_to=reply_to,
                private=chat_id.startswith("@"),
                sender_name=self.cast.names[person],
            )
        )

    def _chat(self, person: str, chat: str) -> str:
        chat = chat.strip().lstrip("#")
        if not chat:
            return self.cast.homes[person]
        if chat in (PRIVATE, "dm", "private"):
            return f"@{person}"
        return chat

    async def _read(self, inp: TextIO) -> None:
        """Lines from ``inp`` (a daemon thread reads, so a blocked read never holds exit)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def pump() -> None:
            for line in inp:
                loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        try:
            while (line := await queue.get()) is not None:
                await self._line(line.rstrip("\n"))
        finally:
            self.closed.set()

    async def _line(self, line: str) -> None:
        line = line.strip()
        if not line or line.startswith("# "):
            return
        if line.startswith("@"):
            head, _, rest = line.partition(" ")
            self._speaker = head[1:]
            line = rest.strip()
            if not line:
                return
        if self._speaker is None:
            self._print("", "控制台", "请以 @人员编号 开头，例如：@zjj-1 /待办")
            return
        chat = ""
        if line.startswith("#"):
            chat, _, line = line.partition(" ")
        try:
            await self.speak(self._speaker, chat, line)
            if self.settle is not None:
                await self.settle()
        except Exception:
            logger.exception("console line failed")

    def _print(self, chat_id: str, speaker: str, text: str) -> None:
        label = self.cast.labels.get(chat_id, chat_id)
        self.transcript.append(ChatLine(chat=chat_id, chat_label=label, speaker=speaker, text=text))
        lines = text.split("\n")
        head = f"[{label}] {speaker}：" if label else f"{speaker}："
        self.out.write(head + lines[0] + "\n")
        for more in lines[1:]:
            self.out.write("    " + more + "\n")
        self.out.flush()


class ConsolePlayer:
    """Scripted console sessions on one ledger (the demo's cast); keeps state between calls."""

    def __init__(
        self, ctx: RoutingContext, *, out: TextIO | None = None, handlers: Handlers | None = None
    ) -> None:
        self.ctx = ctx
        with ctx.session() as session:
            cast = setup_console(session, now=ctx.now())
        self.adapter = ConsoleAdapter(cast, out=out, echo=True, clock=ctx.now)
        self.hub = ChatHub(ctx, handlers)
        self.hub.add(self.adapter)
        self.outbox = Outbox(ctx, self.hub.adapters)

    def play(self, lines: Iterable[tuple[str, str, str]]) -> list[ChatLine]:
        """Say each ``(person, chat, text)`` and deliver the outbox after each; returns the
        lines printed by this call."""
        start = len(self.adapter.transcript)
        asyncio.run(self._play(list(lines)))
        return self.adapter.transcript[start:]

    def deliver(self) -> list[ChatLine]:
        """Deliver what the outbox holds now (reminders written by a job, say)."""
        return self.play([])

    async def _play(self, lines: list[tuple[str, str, str]]) -> None:
        await self.adapter.start(self.hub.on_message)
        await self.outbox.drain()
        for person, chat, text in lines:
            await self.adapter.speak(person, chat, text)
            await self.outbox.drain()
        await self.hub.flush_cards()


def play_script(
    ctx: RoutingContext, lines: Iterable[tuple[str, str, str]], *, out: TextIO | None = None
) -> list[ChatLine]:
    """Run ``(person code, chat, text)`` lines through the handlers and the outbox,
    printing every chat message to ``out`` (stdout) as it goes; returns them."""
    return ConsolePlayer(ctx, out=out).play(lines)


def make_adapter(setup: PlatformSetup) -> ConsoleAdapter:
    """``duban bot --console`` (:mod:`bots.platforms`): binds the console chats and links
    everyone's console account on first use, then reads the terminal (or a piped script,
    echoed so the transcript reads like a chat)."""
    with session_scope(setup.engine) as session:
        cast = setup_console(session, now=setup.now())
    inp = setup.stdin or sys.stdin
    return ConsoleAdapter(
        cast, inp=inp, out=setup.stdout or sys.stdout, echo=not inp.isatty(), clock=setup.now
    )
