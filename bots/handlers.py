"""Every chat behaviour, written once: commands, drafts, intake filing, binding, refusals.

:meth:`Handlers.handle` takes one :class:`IncomingMessage` and returns a :class:`Response`
(the outcome and the replies); :class:`bots.hub.ChatHub` runs it in a thread and sends the
replies. Each workflow step goes through ``routing.actions`` with the sender as the actor, so
the ledger checks permission and state and writes the event and the outbox rows. Ledger
errors come back as polite Chinese replies; nothing here shows a traceback to a chat.

Database sessions are short and never nested (SQLite allows one writer at a time): who is
speaking is read first, then the step runs in its own transaction.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from bots import commands, identity, render, state
from bots.commands import Command
from bots.errors import BotError
from bots.filing import IntakeUnavailable, file_message
from bots.identity import ROLE_INTAKE, ROLE_SUPERVISORS, ROLE_UNIT, Speaker
from bots.messages import Action, IncomingMessage, Outcome, Reply, Response
from ledger import tickets as T
from ledger.directory import list_units
from ledger.errors import LedgerError, NotFound
from ledger.models import ROLE_LABELS, Extension, Person, Role, Ticket, TicketState, Unit
from ledger.views import event_rows, list_tickets, ticket_detail
from routing import actions as A
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

NEEDS_TICKET = frozenset(
    {
        "签收",
        "回复",
        "办结",
        "延期",
        "退回",
        "批准延期",
        "驳回延期",
        "核查",
        "续办",
        "通报",
        "归档",
        "备注",
        "分办",
        "详情",
    }
)
PASS_WORDS = frozenset({"通过", "合格", "pass", "ok", "是"})
FAIL_WORDS = frozenset({"不通过", "不合格", "fail", "否", "续办"})
HIDDEN = "没有找到该督办件，或您无权查看、办理（请核对编号）"


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """What ``/报表`` asks the reports package for."""

    period: str  # as typed: "" (= 上周), "上周", "本周", "2026-W47"
    unit: str | None  # a unit code for a unit's own figures; None for the whole district
    person: str  # the asking person's code
    now: datetime
    out_dir: Path  # where report files and charts are written


@dataclass(frozen=True, slots=True)
class ReportAnswer:
    text: str
    images: tuple[Path, ...] = ()


# The hook ``/报表`` calls; returns a ReportAnswer (or anything with ``.text`` and
# ``.images``), or None when reports are not available in this build.
ReportHook = Callable[[RoutingContext, ReportRequest], Any]


def weekly_report(ctx: RoutingContext, request: ReportRequest) -> ReportAnswer | None:
    """The 督查周报 from ``reports.post.weekly_chat``: its chat text and its charts."""
    try:
        from reports.errors import BadPeriod
        from reports.periods import last_complete_week, parse_week, week_of
        from reports.post import weekly_chat
    except ImportError:
        return None
    period = request.period.strip()
    if period in ("", "上周", "周报"):
        week = last_complete_week(request.now, ctx.rules.tz)
    elif period == "本周":
        week = week_of(ctx.rules.local_date(request.now))
    elif period[:1].isdigit():
        week = parse_week(period)
    else:
        raise BadPeriod(f"「{period}」不是周，请写 上周、本周 或 2026-W47")
    with ctx.session() as session:
        chat = weekly_chat(
            session,
            now=request.now,
            rules=ctx.rules,
            policy=ctx.policy.ranking,
            out_dir=request.out_dir,
            week=week,
        )
    return ReportAnswer(text=chat.text, images=tuple(chat.charts))


class Handlers:
    def __init__(
        self,
        ctx: RoutingContext,
        *,
        report: ReportHook = weekly_report,
        report_dir: Path | None = None,
        refusal_every: timedelta = timedelta(hours=1),
    ) -> None:
        self.ctx = ctx
        self.report = report
        self.report_dir = report_dir or Path(tempfile.gettempdir()) / "duban-reports"
        self.refusal_every = refusal_every
        self._commands: dict[str, Callable[[IncomingMessage, Speaker, Command], Response]] = {
            "签收": self._acknowledge,
            "回复": self._reply,
            "办结": self._finish,
            "延期": self._extend,
            "退回": self._return,
            "批准延期": self._approve,
            "驳回延期": self._deny,
            "核查": self._verify,
            "续办": self._reopen,
            "通报": self._escalate,
            "归档": self._archive,
            "备注": self._comment,
            "分办": self._assign,
            "详情": self._detail,
            "待办": self._todo,
            "报表": self._report,
            "单位": self._units,
            "取消": self._cancel,
        }

    # -- entry point ----------------------------------------------------------------------

    def handle(self, msg: IncomingMessage) -> Response:
        cmd = commands.parse(msg.text)
        with self.ctx.session() as session:
            who = identity.resolve(
                session, platform=msg.platform, chat_id=msg.chat_id, sender_id=msg.sender_id
            )
            if msg.private and who.account is not None:
                identity.note_private_chat(session, who.account, msg.chat_id)
        deep_link = cmd is not None and cmd.args and cmd.raw.lower().startswith("/start")
        if cmd is not None and (cmd.name == "绑定" or deep_link):
            return self._redeem(msg, cmd)  # "/start CODE" is Telegram's deep link
        if cmd is not None and cmd.name == "帮助":
            return self._help(msg, who)
        if cmd is not None and cmd.name == "身份":
            return self._whoami(msg, who)
        if who.person is None:
            if cmd is None and not msg.private and who.role in (ROLE_UNIT, ROLE_SUPERVISORS):
                return Response(Outcome.IGNORED)  # people talking among themselves
            return self._refuse(msg, self._stranger_text(msg))
        if who.binding is None and not msg.private:
            return self._refuse(msg, self._unbound_text(msg))
        if cmd is None and (unknown := commands.unknown_command(msg.text)) is not None:
            # never filed as a citizen's message, never silently dropped
            return _refused(f"没有「/{unknown}」这个命令，发送 /帮助 查看可用命令")
        if cmd is None:
            return self._plain(msg, who)
        return self._command(msg, who, cmd)

    def _command(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if cmd.name in NEEDS_TICKET and cmd.number is None:
            bad = commands.bad_number(cmd.args)
            if bad is not None:
                return _refused(
                    f"编号「{bad}」格式不对，应为 DB-年份-序号（序号至多六位），请核对后重发"
                )
            number = self._number_from_context(msg)
            if number is None:
                return _refused(
                    f"请写明督办件编号（DB-年份-序号），例如 /{cmd.name} 编号，"
                    "或直接回复督办卡片发送命令"
                )
            cmd = Command(name=cmd.name, number=number, args=cmd.args, raw=cmd.raw)
        # A command waiting for its text (not a multi-part reply) ends when the sender moves
        # on, or does it in full: the next chat message must not complete it after all.
        waiting = self._waiting_prompt(msg) if cmd.name != "取消" else None
        this = f"/{cmd.name} {cmd.number}"
        if waiting is not None and waiting != this:
            self._drop_draft(msg)
        response = self._commands[cmd.name](msg, who, cmd)
        if waiting is not None and waiting != this:
            response.replies.append(Reply(f"（未完成的「{waiting}」已取消）", quote=False))
        elif waiting == this and response.outcome == Outcome.DONE:
            self._drop_draft(msg)
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
            return None if draft is None or _is_reply_draft(draft.command) else draft.command

    def _drop_draft(self, msg: IncomingMessage) -> None:
        with self.ctx.session() as session:
            state.drop_draft(
                session, platform=msg.platform, chat_id=msg.chat_id, account_id=msg.sender_id
            )

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

    # -- strangers, unbound chats, binding ------------------------------------------------------

    def _refuse(self, msg: IncomingMessage, text: str) -> Response:
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

    @staticmethod
    def _stranger_text(msg: IncomingMessage) -> str:
        return (
            "您好，您的账号尚未在督办系统登记，暂不能使用本助手。请向督查室索取绑定码，"
            f"然后发送：/绑定 绑定码\n（您的账号：{msg.platform}:{msg.sender_id}）"
        )

    @staticmethod
    def _unbound_text(msg: IncomingMessage) -> str:
        return (
            "您好，本群尚未绑定到督办系统，暂不能办理。请管理员执行：\n"
            f"duban bind --platform {msg.platform} --chat {msg.chat_id} --unit 单位名称\n"
            "（录入台用 --intake，督查群用 --supervisors）"
        )

    def _redeem(self, msg: IncomingMessage, cmd: Command) -> Response:
        code = cmd.args.strip()
        if not code:
            return _refused("请发送：/绑定 绑定码（绑定码由督查室用 duban people invite 生成）")
        try:
            with self.ctx.session() as session:
                person = identity.redeem_invite(
                    session,
                    code,
                    platform=msg.platform,
                    account_id=msg.sender_id,
                    now=self.ctx.now(),
                    private_chat_id=msg.chat_id if msg.private else None,
                )
                unit = session.get(Unit, person.unit_id) if person.unit_id else None
        except BotError as exc:
            return _refused(polite(exc))
        logger.info("linked %s account to person %s", msg.platform, person.code)
        roles = roles_label(person)
        where = f"（{unit.short_name}）" if unit is not None else ""
        return Response(
            Outcome.DONE,
            [Reply(f"绑定成功：{person.name}{where} {roles}。发送 /帮助 查看可用命令。")],
        )

    def _help(self, msg: IncomingMessage, who: Speaker) -> Response:
        roles = set(who.person.roles) if who.person is not None else None
        text = render.help_text(roles)
        if who.binding is None and not msg.private:
            text = self._unbound_text(msg) + "\n\n" + text
        elif who.person is None:
            text = self._stranger_text(msg) + "\n\n" + text
        return Response(Outcome.ANSWERED, [Reply(text)])

    def _whoami(self, msg: IncomingMessage, who: Speaker) -> Response:
        chat = "私聊" if msg.private else "未绑定的群"
        if who.binding is not None:
            chat = identity.ROLE_LABELS[who.binding.role] + (
                f"（{who.unit.short_name}）" if who.unit is not None else ""
            )
        if who.person is None:
            person = "未绑定"
        else:
            with self.ctx.session() as session:
                unit = session.get(Unit, who.person.unit_id) if who.person.unit_id else None
            roles = roles_label(who.person)
            person = (
                f"{who.person.name}（{who.person.code}）"
                + (f" {unit.short_name}" if unit is not None else "")
                + f" {roles}"
            )
        return Response(
            Outcome.ANSWERED,
            [
                Reply(
                    f"您：{person}\n账号：{msg.platform}:{msg.sender_id}\n"
                    f"本聊天：{chat}（{msg.platform}:{msg.chat_id}）"
                )
            ],
        )

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
            if draft is not None and _is_reply_draft(draft.command):
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
            return _refused("只有录入员和督查人员可以在录入台登记留言")
        try:
            replies = file_message(self.ctx, msg, person)
        except IntakeUnavailable:
            logger.error("routing.pipeline is not available: chat intake is off")
            return _refused("登记功能暂不可用（系统未安装分办模块），请稍后再试或用 duban intake")
        except _known_errors() as exc:
            return _refused("未能登记：" + polite(exc))
        return Response(Outcome.DONE, replies)

    # -- the unit's steps -----------------------------------------------------------------------

    def _acknowledge(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        return self._step(who, cmd, lambda ctx, actor: A.acknowledge(ctx, cmd.number, actor=actor))

    def _reply(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if cmd.args:
            return self._step(
                who, cmd, lambda ctx, actor: A.reply(ctx, cmd.number, cmd.args, actor=actor)
            )
        return self._prompt(
            msg,
            who,
            cmd,
            f"请发送 {cmd.number} 的反馈内容，可分多条发送；写完发送 /办结 提交，/取消 放弃。",
        )

    def _finish(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        """办结 = submit the final reply: the collected draft (plus any text given here)."""
        now = self.ctx.now()
        with self.ctx.session() as session:
            draft = state.get_draft(
                session,
                platform=msg.platform,
                chat_id=msg.chat_id,
                account_id=msg.sender_id,
                now=now,
            )
            parts: list[str] = []
            if (
                draft is not None
                and _is_reply_draft(draft.command)
                and commands.normalise_number(draft.command.split()[-1]) == cmd.number
            ):
                parts = list(draft.parts)
        text = "\n".join([*parts, cmd.args] if cmd.args else parts).strip()
        if not text:
            with self.ctx.session() as session:
                ticket = self._visible_ticket(session, who, cmd.number)
                if ticket is not None and ticket.state == TicketState.REPLIED:
                    return Response(
                        Outcome.ANSWERED,
                        [Reply(f"{ticket.number} 已反馈，等待督查室核查", ticket_id=ticket.id)],
                    )
            return _refused(
                f"请写明办结情况：/办结 {cmd.number} 办理结果；或先发送 /回复 "
                f"{cmd.number}，分多条写完后再发 /办结"
            )
        response = self._step(
            who, cmd, lambda ctx, actor: A.reply(ctx, cmd.number, text, actor=actor)
        )
        if response.outcome == Outcome.DONE and parts:
            with self.ctx.session() as session:
                state.drop_draft(
                    session, platform=msg.platform, chat_id=msg.chat_id, account_id=msg.sender_id
                )
        return response

    def _extend(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if not cmd.args:
            return self._prompt(msg, who, cmd, "请发送：延期天数 理由，例如：3 需协调供电部门检修")
        first, reason = [*cmd.args.split(maxsplit=1), ""][:2]
        days = commands.parse_int(first)
        example = f"例如：/延期 {cmd.number} 3 需协调供电部门检修"
        if days is None:
            return _refused(f"延期天数须为正整数（工作日），{example}")
        if not reason.strip():
            return _refused(f"请写明延期理由，{example}")
        return self._step(
            who,
            cmd,
            lambda ctx, actor: A.request_extension(
                ctx, cmd.number, days, reason.strip(), actor=actor
            ),
        )

    def _return(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if not cmd.args:
            return self._prompt(
                msg, who, cmd, "请发送退回理由，例如：不属于本单位职责，建议转城管局"
            )
        return self._step(
            who, cmd, lambda ctx, actor: A.return_ticket(ctx, cmd.number, cmd.args, actor=actor)
        )

    # -- the supervisors' steps -----------------------------------------------------------------

    def _approve(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        first, rest = [*cmd.args.split(maxsplit=1), "", ""][:2]
        days = commands.parse_int(first) if first else None
        note = (rest if days is not None else cmd.args).strip() or None
        return self._step(
            who,
            cmd,
            lambda ctx, actor: A.decide_extension(
                ctx, cmd.number, approve=True, actor=actor, days=days, note=note
            ),
        )

    def _deny(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if not cmd.args:
            return self._prompt(msg, who, cmd, "请发送驳回意见，例如：理由不充分，请按期办结")
        return self._step(
            who,
            cmd,
            lambda ctx, actor: A.decide_extension(
                ctx, cmd.number, approve=False, actor=actor, note=cmd.args
            ),
        )

    def _verify(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        words = cmd.args.split(maxsplit=2)
        usage = (
            f"用法：/核查 {cmd.number} 通过 评分1-5 [意见]，或 /核查 {cmd.number} 不通过 "
            "评分1-5 意见"
        )
        if len(words) < 2 or words[0].lower() not in PASS_WORDS | FAIL_WORDS:
            return _refused(usage)
        score = commands.parse_int(words[1].removesuffix("分"))
        if score is None:
            return _refused(usage)
        passed = words[0].lower() in PASS_WORDS
        note = words[2] if len(words) > 2 else None
        if not passed and note is None:
            return _refused(
                f"核查不通过须写明意见，例如：/核查 {cmd.number} 不通过 {score} 未答复费用问题"
            )
        return self._step(
            who,
            cmd,
            lambda ctx, actor: A.verify(
                ctx, cmd.number, passed=passed, score=score, actor=actor, note=note
            ),
        )

    def _reopen(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if not cmd.args:
            return self._prompt(msg, who, cmd, "请发送续办理由")
        return self._step(
            who, cmd, lambda ctx, actor: A.reopen(ctx, cmd.number, cmd.args, actor=actor)
        )

    def _escalate(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if not cmd.args:
            return self._prompt(msg, who, cmd, "请发送通报内容")
        return self._step(
            who, cmd, lambda ctx, actor: A.escalate(ctx, cmd.number, cmd.args, actor=actor)
        )

    def _archive(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        return self._step(
            who,
            cmd,
            lambda ctx, actor: A.archive(ctx, cmd.number, actor=actor, note=cmd.args or None),
        )

    def _comment(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if not cmd.args:
            return self._prompt(msg, who, cmd, "请发送备注内容")
        return self._step(
            who, cmd, lambda ctx, actor: A.comment(ctx, cmd.number, cmd.args, actor=actor)
        )

    # -- the desk ---------------------------------------------------------------------------------

    def _assign(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        if cmd.args:
            return self._step(
                who, cmd, lambda ctx, actor: A.assign(ctx, cmd.number, cmd.args, actor=actor)
            )
        with self.ctx.session() as session:
            ticket = self._visible_ticket(session, who, cmd.number)
            if ticket is None:
                return _refused(HIDDEN)
            actions = tuple(
                Action(
                    f"{i}. {s.get('unit_name') or s.get('unit')}",
                    f"/分办 {ticket.number} {s.get('unit')}",
                )
                for i, s in enumerate(ticket.suggestions[:3], start=1)
                if s.get("unit")
            )
        lines = [f"请发送：/分办 {ticket.number} 单位名称（可写简称；/单位 关键词 可查单位）"]
        if actions:
            lines.append("建议：" + "　".join(a.label for a in actions))
        return Response(
            Outcome.ANSWERED, [Reply("\n".join(lines), actions=actions, ticket_id=ticket.id)]
        )

    def _units(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        key = cmd.args.strip()
        with self.ctx.session() as session:
            units = list_units(session, active_only=True)
        found = [
            u
            for u in units
            if not key or any(key in name for name in (u.code, u.name, u.short_name, *u.aliases))
        ]
        if not found:
            return _refused(f"没有名称含「{key}」的单位")
        lines = [f"【单位】{'含「' + key + '」' if key else '全部'}（{len(found)}）"]
        lines += [f"· {u.short_name}（{u.code}）{u.name}" for u in found[:40]]
        return Response(Outcome.ANSWERED, [Reply("\n".join(lines))])

    # -- reading ----------------------------------------------------------------------------------

    def _detail(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        now = self.ctx.now()
        person = who.person
        assert person is not None
        with self.ctx.session() as session:
            ticket = self._visible_ticket(session, who, cmd.number)
            if ticket is None:
                return _refused(HIDDEN)
            staff = person.has_role(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN)
            for_unit = who.role == ROLE_UNIT or not staff
            detail = ticket_detail(
                session, ticket, rules=self.ctx.rules, now=now, for_unit=for_unit
            )
            events = event_rows(session, ticket)
        text = render.detail_text(detail, events, tz=self.ctx.rules.tz)
        return Response(Outcome.ANSWERED, [Reply(text, ticket_id=ticket.id)])

    def _todo(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        now = self.ctx.now()
        person = who.person
        assert person is not None
        replies = []
        with self.ctx.session() as session:
            unit = (
                who.unit
                if who.role == ROLE_UNIT
                else (session.get(Unit, person.unit_id) if person.unit_id else None)
            )
            member = person.has_role(Role.MEMBER, Role.LEADER)
            if who.role == ROLE_UNIT or (member and unit is not None and unit.kind != "desk"):
                rows = (
                    list_tickets(session, rules=self.ctx.rules, now=now, unit=unit, open_only=True)
                    if unit is not None
                    else []
                )
                replies.append(
                    Reply(
                        render.todo_text(
                            f"{unit.short_name if unit else ''}待办",
                            rows,
                            empty="没有未办结的督办件",
                        )
                    )
                )
            elif person.has_role(Role.SUPERVISOR, Role.ADMIN) and who.role != ROLE_INTAKE:
                rows = list_tickets(
                    session, rules=self.ctx.rules, now=now, state=TicketState.REPLIED
                )
                replies.append(Reply(render.todo_text("待核查", rows, empty="没有待核查的反馈")))
                pending = self._pending_extensions(session, now)
                replies.append(
                    Reply(render.todo_text("待审批延期", pending, empty="没有待审批的延期申请"))
                )
            if (
                person.has_role(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN)
                and who.role != ROLE_UNIT
                and (who.role != ROLE_SUPERVISORS or not replies)
            ):
                rows = [
                    r
                    for state_ in (TicketState.REGISTERED, TicketState.RETURNED)
                    for r in list_tickets(session, rules=self.ctx.rules, now=now, state=state_)
                ]
                replies.append(Reply(render.todo_text("待分办", rows, empty="没有待分办的督办件")))
        if not replies:
            replies.append(Reply("【待办】没有与您相关的待办"))
        return Response(Outcome.ANSWERED, replies)

    def _pending_extensions(self, session: Session, now: datetime) -> list[dict[str, Any]]:
        ids = session.exec(select(Extension.ticket_id).where(Extension.status == "requested")).all()
        if not ids:
            return []
        units = {u.id: u for u in list_units(session)}
        from ledger.views import ticket_row

        tickets = session.exec(select(Ticket).where(col(Ticket.id).in_(list(ids))))
        return [ticket_row(t, units=units, rules=self.ctx.rules, now=now) for t in tickets]

    def _report(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        """督查周报 for supervisors (and the intake desk); not posted into a unit's chat."""
        person = who.person
        assert person is not None
        if who.role == ROLE_UNIT or not person.has_role(Role.SUPERVISOR, Role.ADMIN, Role.INTAKE):
            return _refused("督查周报由督查室发布；单位可用 /待办 查看本单位办理情况")
        request = ReportRequest(
            period=cmd.args.strip(),
            unit=None,
            person=person.code,
            now=self.ctx.now(),
            out_dir=self.report_dir,
        )
        try:
            answer = self.report(self.ctx, request)
        except _known_errors() as exc:
            return _refused("未能生成报表：" + polite(exc))
        if answer is None:
            return Response(Outcome.ANSWERED, [Reply("报表功能尚未启用，请用 duban report 生成")])
        images = tuple(Path(p) for p in getattr(answer, "images", ()) or ())
        return Response(Outcome.ANSWERED, [Reply(str(answer.text), images=images)])

    def _cancel(self, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
        with self.ctx.session() as session:
            dropped = state.drop_draft(
                session, platform=msg.platform, chat_id=msg.chat_id, account_id=msg.sender_id
            )
        return Response(Outcome.ANSWERED, [Reply("已取消" if dropped else "没有进行中的操作")])

    # -- shared -----------------------------------------------------------------------------------

    def _visible_ticket(self, session: Session, who: Speaker, number: str | None) -> Ticket | None:
        """The ticket if this person, in this chat, may see it (else None: never say why).

        Unit members see their own unit's tickets; intake staff and supervisors see all.
        In a unit's chat only that unit's tickets are shown, whoever asks.
        """
        person = who.person
        if person is None or number is None:
            return None
        try:
            ticket = T.get_ticket(session, number)
        except NotFound:
            return None
        if who.role == ROLE_UNIT and (who.binding is None or ticket.unit_id != who.binding.unit_id):
            return None
        if person.has_role(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN):
            return ticket
        return ticket if ticket.unit_id is not None and ticket.unit_id == person.unit_id else None

    def _step(
        self, who: Speaker, cmd: Command, run: Callable[[RoutingContext, T.Actor], Any]
    ) -> Response:
        """Run one ``routing.actions`` step as the sender; errors become polite replies."""
        person = who.person
        assert person is not None
        with self.ctx.session() as session:
            ticket = self._visible_ticket(session, who, cmd.number)
        if ticket is None:
            return _refused(HIDDEN)
        try:
            result = run(self.ctx, T.Actor.of(person))
        except _known_errors() as exc:
            logger.info(
                "chat step %s on %s refused for %s: %s",
                cmd.name,
                ticket.number,
                person.code,
                type(exc).__name__,
            )
            return _refused(polite(exc))
        return Response(Outcome.DONE, [Reply(result.text, ticket_id=ticket.id)])

    def _prompt(self, msg: IncomingMessage, who: Speaker, cmd: Command, text: str) -> Response:
        """Ask for the rest of a command; the sender's next message in this chat completes it."""
        with self.ctx.session() as session:
            ticket = self._visible_ticket(session, who, cmd.number)
            if ticket is None:
                return _refused(HIDDEN)
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


def _is_reply_draft(command: str) -> bool:
    return command.startswith("/回复")


def _refused(text: str) -> Response:
    return Response(Outcome.REFUSED, [Reply(text)])


_ENGLISH_TAIL = re.compile(r"\s*\((?=[^()]*[A-Za-z])[^()]*\)\s*$")


def polite(exc: BaseException) -> str:
    """The Chinese part of a ledger/routing error message (the English gloss dropped)."""
    text = str(exc).strip()
    stripped = _ENGLISH_TAIL.sub("", text)
    return stripped or text


def _known_errors() -> tuple[type[BaseException], ...]:
    """Errors a step may raise on bad input or a refused step: each package's base error."""
    known: list[type[BaseException]] = [LedgerError, BotError]
    for module in ("routing.errors", "intake.errors", "reports.errors"):
        try:
            imported = __import__(module, fromlist=["BASE_ERROR"])
        except ImportError:
            continue
        base = getattr(imported, "BASE_ERROR", None)
        if base is not None:
            known.append(base)
    return tuple(known)


def roles_label(person: Person) -> str:
    return "、".join(ROLE_LABELS[Role(r)] for r in person.roles if r in Role._value2member_map_)
