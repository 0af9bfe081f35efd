"""``duban tickets`` (read) and ``duban ticket`` (workflow steps, as the bots do them)."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, tzinfo
from typing import Annotated

import typer
from sqlmodel import Session

from bots.numbers import normalise_number
from desk import queries as Q
from desk import tickets as A
from desk.permissions import Viewer, visible_ticket
from duban.cli.common import ByOpt, JsonOpt, bad_input, emit_json, parse_date, runtime, say
from duban.cli.display import clip, pad
from intake.display import for_reading
from ledger import tickets as T
from ledger.directory import find_unit, get_person
from ledger.models import SourceKind, Ticket, TicketState
from routing.context import RoutingContext

NumberArg = Annotated[str, typer.Argument(help="督办件编号，如 DB-2026-000123 (ticket number)")]
VersionOpt = Annotated[
    int | None,
    typer.Option(
        "--if-version",
        min=1,
        help="您看到的版本号（tickets show --json 的 version）；督办件已有新进展则拒绝 "
        "(the version you saw: refused if the ticket moved since)",
    ),
]
Run = Callable[[RoutingContext, T.Actor], A.StepResult]
MAX_LIMIT = 100_000  # a bigger --limit overflowed SQLite's integer (a traceback)


def register(app: typer.Typer) -> None:
    read = typer.Typer(help="查看督办件 (list and show tickets)", no_args_is_help=True)
    read.command("list", help="列表 (list tickets)")(list_cmd)
    read.command("show", help="详情 (one ticket in full)")(show)
    read.command("events", help="办理记录 (a ticket's history)")(events)
    app.add_typer(read, name="tickets")

    step = typer.Typer(help="办理督办件 (workflow steps)", no_args_is_help=True)
    step.command("assign", help="交办/改派 (assign to a unit)")(assign)
    step.command("ack", help="签收 (acknowledge)")(ack)
    step.command("reply", help="反馈 (reply)")(reply)
    step.command("extend", help="申请延期 (request an extension)")(extend)
    step.command("approve-extension", help="批准延期 (approve the pending extension)")(
        approve_extension
    )
    step.command("deny-extension", help="驳回延期 (deny the pending extension)")(deny_extension)
    step.command("return", help="退回 (send back as misrouted)")(return_cmd)
    step.command("verify", help="核查 (check the reply: pass or fail with a score)")(verify)
    step.command("reopen", help="续办 (reopen)")(reopen)
    step.command("escalate", help="通报 (escalate to supervisors)")(escalate)
    step.command("archive", help="归档 (archive)")(archive)
    step.command("comment", help="备注 (add a note)")(comment)
    app.add_typer(step, name="ticket")


def actor_for(session: Session, by: str | None) -> T.Actor:
    """The person acting, or the console operator (a trusted system actor).

    ``--by ""`` (say, an unset shell variable) is refused, never taken as the operator.
    """
    if by is not None:
        if not by.strip():
            bad_input("--by: 人员编号不能为空；省略 --by 则记为控制台操作员")
        return T.Actor.of(get_person(session, by))
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "console"
    return T.Actor.system(f"cli:{user}")


# -- reading ----------------------------------------------------------------------------


def list_cmd(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="状态 (registered, assigned, …)")] = None,
    unit: Annotated[str | None, typer.Option(help="单位 (code, name or alias)")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="只看超期 (overdue only)")] = False,
    open_only: Annotated[bool, typer.Option("--open", help="只看未办结 (open only)")] = False,
    keyword: Annotated[
        str | None, typer.Option("--keyword", "-k", help="标题或内容含关键词 (keyword)")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="来源：网民留言、群众来信、批示件、其他、代表提问 (source kind)"),
    ] = None,
    received_from: Annotated[
        str | None, typer.Option("--received-from", help="收件日期起 YYYY-MM-DD")
    ] = None,
    received_to: Annotated[
        str | None, typer.Option("--received-to", help="收件日期止 YYYY-MM-DD")
    ] = None,
    due_from: Annotated[str | None, typer.Option("--due-from", help="时限起 YYYY-MM-DD")] = None,
    due_to: Annotated[str | None, typer.Option("--due-to", help="时限止 YYYY-MM-DD")] = None,
    escalated: Annotated[
        bool, typer.Option("--escalated", help="只看已通报 (escalated only)")
    ] = False,
    person: Annotated[
        str | None, typer.Option("--person", help="某人办理过的 (person code)")
    ] = None,
    routed_by: Annotated[
        str | None, typer.Option("--routed-by", help="分办方式：rule、classifier、triage、manual")
    ] = None,
    limit: Annotated[int, typer.Option(help="最多条数")] = 200,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    if not 1 <= limit <= MAX_LIMIT:
        bad_input(f"--limit: 须为 1 到 {MAX_LIMIT} 之间的整数（{limit}）")
    with rt.session() as session:
        actor = actor_for(session, by)
        filters = Q.TicketFilter(
            state=_state(state) if state is not None else None,
            unit_id=find_unit(session, unit).id if unit else None,
            source=_source(source) if source is not None else None,
            keyword=keyword.strip() or None if keyword is not None else None,
            received_from=parse_date(received_from, "--received-from") if received_from else None,
            received_to=parse_date(received_to, "--received-to") if received_to else None,
            due_from=parse_date(due_from, "--due-from") if due_from else None,
            due_to=parse_date(due_to, "--due-to") if due_to else None,
            overdue=overdue,
            open_only=open_only,
            escalated=escalated,
            person_id=get_person(session, person).id if person else None,
            routed_by=routed_by.strip() or None if routed_by is not None else None,
        )
        rows = Q.search_tickets(
            session, filters, viewer=Q.viewer_of(actor), rules=rt.rules, now=rt.now(), limit=limit
        )
        note = Q.keyword_window_note(session, filters)
    if note is not None:
        typer.echo(f"提示：{note}", err=True)
    if json:
        emit_json([row.as_dict() for row in rows])
        return
    if not rows:
        say("没有符合条件的督办件")
    for row in rows:
        title = for_reading(row.title or "").replace("\n", " ")
        say(
            f"{row.number}  {pad(row.state_label, 6)} {pad(row.unit_name or '待分办', 12)} "
            f"时限 {row.due_date} {pad(row.clock, 14)} {clip(title, 40)}".rstrip()
        )
    if len(rows) == limit:
        say(f"（只列出前 {limit} 件，可能还有更多：用 --limit 调整，或 --open、--unit 缩小范围）")


def _source(value: str) -> SourceKind:
    try:
        return SourceKind.parse(value)
    except ValueError:
        known = "、".join(kind.label for kind in SourceKind)
        bad_input(f"--source: 未知来源「{value}」，可选：{known}")


def _state(value: str) -> TicketState:
    """A state by its value in any case (``assigned``) or its label (``已交办``)."""
    key = value.strip()
    for state in TicketState:
        if key.casefold() == state.value or key == state.label:
            return state
    known = "、".join(f"{s.value}({s.label})" for s in TicketState)
    bad_input(f"--state: 未知状态「{value}」，可选：{known}")


def _local(value: datetime | None, tz: tzinfo) -> str:
    """A stored UTC timestamp as the office reads it: ``2026-11-16 08:12``."""
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def show(ctx: typer.Context, number: NumberArg, by: ByOpt = None, json: JsonOpt = False) -> None:
    """Everything about a ticket; for staff with the complainant for 回访 (each view logged)."""
    rt = runtime(ctx)
    now = rt.now()
    with rt.session() as session:
        actor = actor_for(session, by)
        viewer = Q.viewer_of(actor)
        ticket = _visible(session, viewer, number)
        detail = Q.ticket_detail(session, ticket, viewer=viewer, rules=rt.rules, now=now)
        complainant = (
            Q.reveal_complainant(session, ticket, viewer=viewer, actor=actor, now=now)
            if viewer.is_staff
            else None
        )
    if json:
        data = detail.as_dict()
        if viewer.is_staff:
            data["complainant"] = complainant.as_dict() if complainant is not None else None
        emit_json(data)
        return
    say(_render_detail(detail, complainant, rt.tz))


def _visible(session: Session, viewer: Viewer, number: str) -> Ticket:
    """The ticket, if the viewer may see it; else bad input, as if it did not exist."""
    wanted = normalise_number(number) or number.strip()
    ticket = visible_ticket(session, viewer, wanted)
    if ticket is None:
        bad_input(f"没有找到督办件 {number}，或您无权查看（请核对编号，如 DB-2026-000123）")
    return ticket


EXTENSION_LABELS = {"requested": "待审批", "approved": "已批准", "denied": "已驳回"}


def _render_detail(d: Q.TicketDetail, who: Q.ComplainantView | None, tz: tzinfo) -> str:
    row = d.row
    lines = [
        f"{row.number}  [{row.state_label}]  {row.source_label}",
        f"责任单位: {row.unit_name or '待分办'}   分办方式: {row.routed_by or '-'}"
        + (f" (置信度 {row.confidence:.0%})" if row.confidence is not None else ""),
        f"收件: {_local(d.message.received_at, tz)}   时限: {row.due_date}"
        + (" (临时)" if row.deadline_provisional else "")
        + (f"  原时限 {d.original_due_date}" if d.extension_days else ""),
    ]
    if who is not None:
        lines.append(
            f"来信人: {who.name or '-'}   联系方式: {who.contact or '-'}（回访用，已记录查看）"
        )
    lines += [
        "",
        for_reading((d.message.title + "\n" if d.message.title else "") + d.message.text),
    ]
    for r in d.replies:
        lines += ["", f"反馈(第{r.round}轮, {r.author or '-'}, {_local(r.at, tz)}): {r.text}"]
    for x in d.extensions:
        granted = (
            f"，批准{x.granted_days}个工作日"
            if x.granted_days is not None and x.granted_days != x.days
            else ""
        )
        lines += [
            f"延期申请 {x.days}个工作日 [{EXTENSION_LABELS.get(x.status, x.status)}"
            f"{granted}]: {x.reason}"
        ]
    return "\n".join(lines)


def events(ctx: typer.Context, number: NumberArg, by: ByOpt = None, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        viewer = Q.viewer_of(actor_for(session, by))
        rows = Q.event_views(session, _visible(session, viewer, number), viewer=viewer)
    if json:
        emit_json([asdict(row) for row in rows])
        return
    for row in rows:
        note = f"  {row.note}" if row.note else ""
        say(
            f"{_local(row.at, rt.tz)}  {pad(row.action_label, 8)} {row.from_state or '-'} -> "
            f"{row.to_state}  {row.actor}{note}"
        )


# -- steps ---------------------------------------------------------------------------------


def _step(ctx: typer.Context, number: str, by: str | None, json: bool, run: Run) -> None:
    """Resolve the actor, run one ``desk`` step, print the result."""
    rt = runtime(ctx)
    with rt.session() as session:
        actor = actor_for(session, by)
    result = run(rt.routing, actor)
    if json:
        emit_json(
            {
                "number": result.number,
                "state": result.state,
                "state_label": result.state_label,
                "unit": result.unit,
                "due_date": result.due_date,
                "version": result.version,
                "message": result.text,
            }
        )
    else:
        say(result.text)


def assign(
    ctx: typer.Context,
    number: NumberArg,
    unit: Annotated[str, typer.Argument(help="单位 (code, name or alias)")],
    note: Annotated[str | None, typer.Option(help="说明")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.assign(rc, number, unit, actor=a, note=note, expected_version=version),
    )


def ack(
    ctx: typer.Context,
    number: NumberArg,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.acknowledge(rc, number, actor=a, expected_version=version),
    )


def reply(
    ctx: typer.Context,
    number: NumberArg,
    text: Annotated[str, typer.Argument(help="反馈内容")],
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.reply(rc, number, text, actor=a, expected_version=version),
    )


def extend(
    ctx: typer.Context,
    number: NumberArg,
    days: Annotated[int, typer.Option("--days", help="延期工作日数")],
    reason: Annotated[str | None, typer.Option("--reason", help="延期理由 (required)")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.request_extension(
            rc, number, days, reason or "", actor=a, expected_version=version
        ),
    )


def approve_extension(
    ctx: typer.Context,
    number: NumberArg,
    days: Annotated[int | None, typer.Option("--days", help="批准天数 (default: as asked)")] = None,
    note: Annotated[str | None, typer.Option(help="审批意见")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.decide_extension(
            rc, number, approve=True, actor=a, days=days, note=note, expected_version=version
        ),
    )


def deny_extension(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option(help="审批意见")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.decide_extension(
            rc, number, approve=False, actor=a, note=note, expected_version=version
        ),
    )


def return_cmd(
    ctx: typer.Context,
    number: NumberArg,
    reason: Annotated[str | None, typer.Option("--reason", help="退回理由 (required)")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.return_ticket(rc, number, reason or "", actor=a, expected_version=version),
    )


def verify(
    ctx: typer.Context,
    number: NumberArg,
    score: Annotated[int, typer.Option("--score", help="质量评分 1-5")],
    passed: Annotated[bool, typer.Option("--pass/--fail", help="通过 / 不通过(续办)")] = True,
    note: Annotated[str | None, typer.Option(help="核查意见 (required on --fail)")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.verify(
            rc, number, passed=passed, score=score, actor=a, note=note, expected_version=version
        ),
    )


def reopen(
    ctx: typer.Context,
    number: NumberArg,
    reason: Annotated[str | None, typer.Option("--reason", help="续办理由 (required)")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.reopen(rc, number, reason or "", actor=a, expected_version=version),
    )


def escalate(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option("--note", help="通报内容 (required)")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.escalate(rc, number, note or "", actor=a, expected_version=version),
    )


def archive(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option(help="说明")] = None,
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.archive(rc, number, actor=a, note=note, expected_version=version),
    )


def comment(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str, typer.Argument(help="备注")],
    by: ByOpt = None,
    version: VersionOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.comment(rc, number, note, actor=a, expected_version=version),
    )
