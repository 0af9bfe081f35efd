"""The chat dispatcher: one :class:`IncomingMessage` in, one :class:`Response` out.

:meth:`Handlers.handle` finds who is speaking, answers what anyone may ask (帮助, 身份,
绑定), refuses strangers and unbound chats, files pasted messages in the intake chat, and
runs declared commands (``bots.registry``) with the ticket number taken from the message,
the card replied to or the sender's open draft. :class:`bots.hub.ChatHub` runs it in a
thread and sends the replies. Every workflow step goes through ``desk``; refusals come back
as polite Chinese replies; nothing here shows a traceback to a chat.

Database sessions are short and never nested (SQLite allows one writer at a time): who is
speaking is read first, then the step runs in its own transaction.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from bots import commands, identity, state
from bots.chat import Chat, ChatCommand, is_reply_draft, refused
from bots.chatcommands.common import bind
from bots.chatcommands.reading import ReportAnswer, ReportHook, ReportRequest, weekly_report
from bots.filing import file_message
from bots.identity import ROLE_INTAKE, ROLE_SUPERVISORS, ROLE_UNIT, Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from bots.registry import all_commands
from bots.work import own_transactions
from ledger.errors import DubanError, user_text
from ledger.models import Role, Ticket
from routing.context import RoutingContext
from tasks.workflow import leading_number

logger = logging.getLogger(__name__)

__all__ = ["Handlers", "ReportAnswer", "ReportHook", "ReportRequest", "weekly_report"]


class Handlers(Chat):
    def __init__(
        self,
        ctx: RoutingContext,
        *,
        report: ReportHook = weekly_report,
        report_dir: Path | None = None,
        refusal_every: timedelta = timedelta(hours=1),
        commands: tuple[ChatCommand, ...] | None = None,
        web_url: str | None = None,
    ) -> None:
        super().__init__(
            ctx=ctx,
            commands=commands if commands is not None else all_commands(),
            report=report,
            report_dir=report_dir or Path(tempfile.gettempdir()) / "duban-reports",
            refusal_every=refusal_every,
            web_url=web_url,
        )
        self._by_name = {cmd.name: cmd for cmd in self.commands}

    # -- entry point ----------------------------------------------------------------------

    def handle(self, msg: IncomingMessage) -> Response:
        cmd = commands.parse(msg.text)
        with self.ctx.session() as session:
            who = identity.resolve(
                session, platform=msg.platform, chat_id=msg.chat_id, sender_id=msg.sender_id
            )
            if msg.private and who.account is not None:
                identity.note_private_chat(session, who.account, msg.chat_id)
        spec = self._by_name.get(cmd.name) if cmd is not None else None
        if cmd is not None and cmd.args and cmd.raw.lower().startswith("/start"):
            return bind(self, msg, who, cmd)  # "/start CODE" is Telegram's deep link
        if cmd is not None and spec is not None and spec.anyone:
            return spec.callback(self, msg, who, cmd)
        if who.person is None:
            if cmd is None and not msg.private and who.role in (ROLE_UNIT, ROLE_SUPERVISORS):
                return Response(Outcome.IGNORED)  # people talking among themselves
            return self._refuse(msg, self.stranger_text(msg))
        if who.binding is None and not msg.private:
            return self._refuse(msg, self.unbound_text(msg))
        if cmd is None and (unknown := commands.unknown_command(msg.text)) is not None:
            # never filed as a citizen's message, never silently dropped
            return refused(f"没有「/{unknown}」这个命令，发送 /帮助 查看可用命令")
        if cmd is None:
            return self._plain(msg, who)
        return self._command(msg, who, cmd)

    def _command(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        spec = self._by_name.get(cmd.name)
        if spec is None:
            return refused(f"没有「/{cmd.name}」这个命令，发送 /帮助 查看可用命令")
        if spec.task_callback is not None and cmd.number is None:
            task = leading_number(cmd.args)  # a 督办事项 (RW-2026-0001), not a ticket
            if task is not None:
                task_number, rest = task
                return spec.task_callback(
                    self,
                    msg,
                    who,
                    Command(name=cmd.name, number=task_number, args=rest, raw=cmd.raw),
                )
        if spec.needs_ticket and cmd.number is None:
            bad = commands.bad_number(cmd.args)
            if bad is not None:
                return refused(
                    f"编号「{bad}」格式不对，应为 DB-年份-序号（序号至多六位），请核对后重发"
                )
            number = self._number_from_context(msg)
            if number is None:
                return refused(
                    f"请写明督办件编号（DB-年份-序号），例如 /{cmd.name} 编号，"
                    "或直接回复督办卡片发送命令"
                )
            cmd = Command(name=cmd.name, number=number, args=cmd.args, raw=cmd.raw)
        # A command waiting for its text (not a multi-part reply) ends when the sender moves
        # on, or does it in full: the next chat message must not complete it after all.
        waiting = self._waiting_prompt(msg) if cmd.name != "取消" else None
        this = f"/{cmd.name} {cmd.number}"
        if waiting is not None and waiting != this:
            self.drop_draft(msg)
        response = spec.callback(self, msg, who, cmd)
        if waiting is not None and waiting != this:
            response.replies.append(Reply(f"（未完成的「{waiting}」已取消）", quote=False))
        elif waiting == this and response.outcome == Outcome.DONE:
            self.drop_draft(msg)
        return response

    def _waiting_prompt(self, msg: IncomingMessage) -> str | None:
        with self.ctx.session() as session:
            draft = state.get_draft(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                account_id=msg.sender_id,
                now=self.ctx.now(),
            )
            return None if draft is None or is_reply_draft(draft.command) else draft.command

    def _number_from_context(self, msg: IncomingMessage) -> str | None:
        """The ticket named by replying to a card, or by the sender's open draft."""
        with self.ctx.session() as session:
            if msg.reply_to:
                ticket = state.ticket_of_card(
                    session, platform=msg.platform, chat_id=msg.chat_id, message_id=msg.reply_to
                )
                if ticket is not None:
                    return ticket.number
            draft = state.get_draft(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                account_id=msg.sender_id,
                now=self.ctx.now(),
            )
            if draft is not None and draft.ticket_id is not None:
                ticket = session.get(Ticket, draft.ticket_id)
                return ticket.number if ticket is not None else None
        return None

    def _refuse(self, msg: IncomingMessage, text: str) -> Response:
        """Tell a stranger or an unbound chat once an hour, not at every message."""
        with self.ctx.session() as session:
            once = state.may_refuse(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                now=self.ctx.now(),
                every=self.refusal_every,
            )
        logger.info(
            "refused %s message in chat %s (reply sent: %s)", msg.platform, msg.chat_id, once
        )
        return Response(Outcome.REFUSED, [Reply(text)] if once else [])

    # -- plain text -------------------------------------------------------------------------------

    def _plain(self, msg: IncomingMessage, who: Speaker) -> Response:
        now = self.ctx.now()
        with self.ctx.session() as session:
            draft = state.get_draft(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                account_id=msg.sender_id,
                now=now,
            )
            if draft is not None and is_reply_draft(draft.command):
                count = state.add_to_draft(session, draft, msg.text.strip(), now=now)
                return Response(
                    Outcome.ANSWERED,
                    [
                        Reply(
                            f"已记录第 {count} 段。可继续发送，写完发送 /办结 提交，/取消 放弃。",
                            ticket_id=draft.ticket_id,
                        )
                    ],
                )
            if draft is not None:
                completed = f"{draft.command} {msg.text.strip()}"
                state.drop_draft(
                    session, platform=msg.platform, chat_id=msg.chat_id, account_id=msg.sender_id
                )
        if draft is not None:
            cmd = commands.parse(completed)
            assert cmd is not None
            return self._command(msg, who, cmd)
        if who.role == ROLE_INTAKE:
            return self._file(msg, who)
        if msg.reply_to and who.role == ROLE_UNIT and self._number_from_context(msg):
            return Response(
                Outcome.ANSWERED,
                [
                    Reply(
                        "如需办理，请回复卡片并发送命令，例如 /签收、/回复 办理情况；"
                        "/帮助 查看全部命令"
                    )
                ],
            )
        if msg.private:
            return Response(
                Outcome.ANSWERED,
                [
                    Reply(
                        "请发送命令，例如 /待办、/详情 编号；/帮助 查看全部命令。"
                        "登记留言请在录入台群中粘贴或转发。"
                    )
                ],
            )
        return Response(Outcome.IGNORED)

    def _file(self, msg: IncomingMessage, who: Speaker) -> Response:
        person = who.person
        assert person is not None
        if not person.has_role(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN):
            return refused("只有录入员和督查人员可以在录入台登记留言")
        own_transactions()  # the pipeline commits, then enqueues the routing
        try:
            replies = file_message(self.ctx, msg, person)
        except DubanError as exc:
            return refused("未能登记：" + user_text(exc))
        return Response(Outcome.DONE, replies)
