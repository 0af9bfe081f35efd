"""Reading: 详情, 待办, 报表."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bots import render
from bots.chat import HIDDEN, Chat, ChatCommand, Section, refused
from bots.identity import ROLE_INTAKE, ROLE_SUPERVISORS, ROLE_UNIT, Speaker
from bots.messages import Command, IncomingMessage, Outcome, Reply, Response
from bots.work import own_transactions
from desk import queries as Q
from ledger.errors import DubanError, user_text
from ledger.models import Role
from ledger.tickets import Actor
from reports.errors import BadPeriod
from reports.periods import last_complete_week, parse_week, week_of
from reports.post import weekly_chat
from routing.context import RoutingContext

CHAT_KINDS: dict[str, str] = {
    ROLE_UNIT: "unit",
    ROLE_SUPERVISORS: "supervisors",
    ROLE_INTAKE: "intake",
}


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
# ``.images``), or None when reports are not available.
ReportHook = Callable[[RoutingContext, ReportRequest], Any]


def weekly_report(ctx: RoutingContext, request: ReportRequest) -> ReportAnswer | None:
    """The 督查周报 from ``reports.post.weekly_chat``: its chat text and its charts."""
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
            session, now=request.now, rules=ctx.rules, policy=ctx.policy.ranking,
            out_dir=request.out_dir, week=week, office=ctx.policy.office,
            task_policy=ctx.policy.tasks,
        )  # fmt: skip
    return ReportAnswer(text=chat.text, images=tuple(chat.charts))


def detail(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """A ticket in full; in staff chats with the complainant for 回访 (each view logged)."""
    person = who.person
    assert person is not None
    viewer, now = chat.viewer(who), chat.ctx.now()
    with chat.ctx.session() as session:
        ticket = chat.visible(session, who, cmd.number)
        if ticket is None:
            return refused(HIDDEN)
        view = Q.ticket_detail(
            session, ticket, viewer=viewer, rules=chat.ctx.rules, now=now, with_events=True
        )
        complainant = None
        if viewer.is_staff and not viewer.in_unit_chat:
            complainant = Q.reveal_complainant(
                session, ticket, viewer=viewer, actor=Actor.of(person), now=now
            )
    text = render.detail_text(view, tz=chat.ctx.rules.tz)
    if complainant is not None:
        text += (
            f"\n来信人：{complainant.name or '-'}　联系方式：{complainant.contact or '-'}"
            "（仅供回访，查看已记录）"
        )
    return Response(Outcome.ANSWERED, [Reply(text, ticket_id=ticket.id)])


def todo(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    with chat.ctx.session() as session:
        sections = Q.todo(
            session, chat.viewer(who), rules=chat.ctx.rules, now=chat.ctx.now(),
            chat_kind=CHAT_KINDS.get(who.role or ""),
        )  # fmt: skip
    replies = [Reply(render.todo_text(s.title, s.rows, empty=s.empty)) for s in sections]
    return Response(Outcome.ANSWERED, replies or [Reply("【待办】没有与您相关的待办")])


def report(chat: Chat, msg: IncomingMessage, who: Speaker, cmd: Command) -> Response:
    """督查周报 for supervisors (and the intake desk); not posted into a unit's chat."""
    person = who.person
    assert person is not None
    if who.role == ROLE_UNIT or not person.has_role(Role.SUPERVISOR, Role.ADMIN, Role.INTAKE):
        return refused("督查周报由督查室发布；单位可用 /待办 查看本单位办理情况")
    request = ReportRequest(
        period=cmd.args.strip(), unit=None, person=person.code, now=chat.ctx.now(),
        out_dir=chat.report_dir,
    )  # fmt: skip
    own_transactions()  # a report reads for a while: not inside the message's write lock
    try:
        answer = chat.report(chat.ctx, request)
    except DubanError as exc:
        return refused("未能生成报表：" + user_text(exc))
    if answer is None:
        return Response(Outcome.ANSWERED, [Reply("报表功能尚未启用，请用 duban report 生成")])
    images = tuple(Path(p) for p in getattr(answer, "images", ()) or ())
    return Response(Outcome.ANSWERED, [Reply(str(answer.text), images=images)])


COMMANDS = (
    ChatCommand("报表", ("report",), "/报表 [上周|本周|2026-W47]", "督查周报（附图表）",
                Section.SUPERVISOR, report),
    ChatCommand("待办", ("todo", "list"), "/待办", "我的待办", Section.COMMON, todo),
    ChatCommand("详情", ("show", "info"), "/详情 编号", "查看督办件", Section.COMMON, detail,
                needs_ticket=True),
)  # fmt: skip
