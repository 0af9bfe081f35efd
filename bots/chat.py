"""What every chat command is made of: its declaration and the helpers its callback uses.

A command is declared once, as a :class:`ChatCommand` (names and aliases, whether it needs a
ticket, who it is for, its help line, its callback), in a module of ``bots.chatcommands`` by
domain. The dispatcher (``bots.handlers``), the help text and the command reference in the
manual are all built from those declarations (``bots.registry``), as python-telegram-bot
builds its dispatch from ``CommandHandler`` objects.

Callbacks are plain functions ``(chat, msg, who, cmd) -> Response``. ``chat`` is the
:class:`Chat` running them: the routing context and the helpers that turn a desk step into
a polite reply. Rules about who may see or do what are not here: they live in ``desk``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bots import state
from bots.identity import ROLE_UNIT, Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from desk.permissions import Viewer, visible_ticket
from desk.tickets import StepResult
from ledger import tickets as T
from ledger.errors import DubanError, user_text
from ledger.models import ROLE_LABELS, Role, Ticket
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

HIDDEN = "没有找到该督办件，或您无权查看、办理（请核对编号）"


class Section(StrEnum):
    """Whom a command is for: its place in the help text and the manual."""

    UNIT = "unit"
    SUPERVISOR = "supervisor"
    INTAKE = "intake"
    COMMON = "common"

    @property
    def label(self) -> str:
        return SECTION_LABELS[self]

    @property
    def roles(self) -> frozenset[str]:
        """The roles (``ledger.models.Role`` values) the help shows this section to."""
        return SECTION_ROLES[self]


SECTION_LABELS = {
    Section.UNIT: "单位经办人",
    Section.SUPERVISOR: "督查人员",
    Section.INTAKE: "录入台",
    Section.COMMON: "通用",
}
SECTION_ROLES = {
    Section.UNIT: frozenset({"member", "leader"}),
    Section.SUPERVISOR: frozenset({"supervisor", "admin"}),
    Section.INTAKE: frozenset({"intake", "supervisor", "admin"}),
    Section.COMMON: frozenset({"intake", "member", "leader", "supervisor", "admin"}),
}

Callback = Callable[["Chat", IncomingMessage, Speaker, Command], Response]


@dataclass(frozen=True, slots=True)
class ChatCommand:
    """One chat command, declared once."""

    name: str  # canonical Chinese name, e.g. "签收"
    aliases: tuple[str, ...]  # other names; ASCII ones pass Telegram's privacy mode in groups
    usage: str  # e.g. "/签收 编号"
    summary: str  # the help line, Simplified Chinese
    section: Section
    callback: Callback
    needs_ticket: bool = False  # a ticket number, typed or from the card replied to
    anyone: bool = False  # answered before the sender is known (strangers, unbound chats)
    # The same step on a 督办事项: called instead of ``callback`` when the first word of the
    # arguments is a task number (RW-2026-0001), with that number as ``Command.number``.
    task_callback: Callback | None = None

    @property
    def roles(self) -> tuple[str, ...]:
        """Who the command is for, as Chinese labels (for the help text and the manual)."""
        if self.anyone:
            return ("任何人",)
        return tuple(ROLE_LABELS[r] for r in Role if r.value in self.section.roles)


@dataclass
class Chat:
    """The state and helpers the callbacks share (``bots.handlers.Handlers`` is one)."""

    ctx: RoutingContext
    commands: tuple[ChatCommand, ...]  # every command, in help order (``bots.registry``)
    report: Any  # the ``/报表`` hook, see ``bots.chatcommands.reading``
    report_dir: Path
    refusal_every: timedelta
    web_url: str | None = None  # the web desk's address (DUBAN_WEB_URL), for /登录

    def help_text(self, roles: set[str] | None) -> str:
        return help_text(self.commands, roles)

    # -- who and what --------------------------------------------------------------------

    @staticmethod
    def viewer(who: Speaker) -> Viewer:
        """The desk's view of the sender in this chat (a unit's chat shows that unit's)."""
        return Viewer(
            person=who.person,
            unit_scope=who.binding.unit_id if who.binding is not None else None,
            in_unit_chat=who.role == ROLE_UNIT,
        )

    def visible(self, session: Session, who: Speaker, number: str | None) -> Ticket | None:
        if who.person is None:
            return None
        return visible_ticket(session, self.viewer(who), number)

    # -- steps ---------------------------------------------------------------------------

    def step(
        self, who: Speaker, cmd: Command, run: Callable[[RoutingContext, T.Actor], StepResult]
    ) -> Response:
        """Run one ``desk`` step as the sender; refusals become polite replies."""
        person = who.person
        assert person is not None
        with self.ctx.session() as session:
            ticket = self.visible(session, who, cmd.number)
        if ticket is None:
            return refused(HIDDEN)
        try:
            result = run(self.ctx, T.Actor.of(person))
        except DubanError as exc:
            logger.info(
                "chat step %s on %s refused for %s: %s",
                cmd.name,
                ticket.number,
                person.code,
                type(exc).__name__,
            )
            return refused(user_text(exc))
        return Response(Outcome.DONE, [Reply(result.text, ticket_id=ticket.id)])

    def prompt(self, msg: IncomingMessage, who: Speaker, cmd: Command, text: str) -> Response:
        """Ask for the rest of a command; the sender's next message in this chat completes it."""
        with self.ctx.session() as session:
            ticket = self.visible(session, who, cmd.number)
            if ticket is None:
                return refused(HIDDEN)
            state.start_draft(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                account_id=msg.sender_id,
                command=f"/{cmd.name} {ticket.number}",
                ticket_id=ticket.id,
                now=self.ctx.now(),
            )
        return Response(Outcome.ANSWERED, [Reply(text, ticket_id=ticket.id)])

    def drop_draft(self, msg: IncomingMessage) -> bool:
        with self.ctx.session() as session:
            return state.drop_draft(
                session, platform=msg.platform, chat_id=msg.chat_id, account_id=msg.sender_id
            )

    # -- texts for people the bot does not know yet -----------------------------------------

    @staticmethod
    def stranger_text(msg: IncomingMessage) -> str:
        return (
            "您好，您的账号尚未在督办系统登记，暂不能使用本助手。请向督查室索取绑定码，"
            f"然后发送：/绑定 绑定码\n（您的账号：{msg.platform}:{msg.sender_id}）"
        )

    @staticmethod
    def unbound_text(msg: IncomingMessage) -> str:
        return (
            "您好，本群尚未绑定到督办系统，暂不能办理。请管理员执行：\n"
            f"duban bind --platform {msg.platform} --chat {msg.chat_id} --unit 单位名称\n"
            "（录入台用 --intake，督查群用 --supervisors）"
        )


BOT_NAME = "督办助手"


def help_text(commands: tuple[ChatCommand, ...], roles: set[str] | None) -> str:
    """The commands for these roles (all of them when ``roles`` is None), by section."""
    sections = []
    for section in Section:
        if section != Section.COMMON and roles is not None and not roles & section.roles:
            continue
        lines = [f"{cmd.usage} — {cmd.summary}" for cmd in commands if cmd.section == section]
        if lines:
            sections.append(f"{section.label}：\n" + "\n".join(lines))
    ascii_names = [
        f"/{alias}"
        for cmd in commands
        if cmd.section != Section.COMMON
        for alias in cmd.aliases[:1]
        if alias.isascii()
    ]
    footer = "回复督办卡片时可省略编号；英文别名：" + " ".join(ascii_names)
    return f"【{BOT_NAME}·命令】\n" + "\n\n".join(sections) + "\n" + footer


def refused(text: str) -> Response:
    return Response(Outcome.REFUSED, [Reply(text)])


def is_reply_draft(command: str) -> bool:
    return command.startswith("/回复")
