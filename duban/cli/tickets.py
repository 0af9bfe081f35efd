"""``duban tickets`` (read) and ``duban ticket`` (workflow steps, as the bots do them)."""

from __future__ import annotations

import getpass
from datetime import datetime, tzinfo
from typing import Annotated, Any

import typer
from sqlmodel import Session

from duban.cli.common import ByOpt, JsonOpt, bad_input, emit_json, runtime, say
from intake.display import for_reading
from ledger import tickets as T
from ledger.directory import find_unit, get_person
from ledger.models import TicketState
from ledger.views import event_rows, list_tickets, ticket_detail
from desk import tickets as A

NumberArg = Annotated[str, typer.Argument(help="督办件编号，如 DB-2026-000123 (ticket number)")]


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
    limit: Annotated[int, typer.Option(help="最多条数")] = 200,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    wanted = _state(state) if state is not None else None
    if limit < 1:
        bad_input(f"--limit: 须为正整数（{limit}）")
    with rt.session() as session:
        unit_row = find_unit(session, unit) if unit else None
        rows = list_tickets(
            session,
            rules=rt.rules,
            now=rt.now(),
            state=wanted,
            unit=unit_row,
            overdue=overdue,
            open_only=open_only,
            limit=limit,
        )
    if json:
        emit_json(rows)
        return
    if not rows:
        say("没有符合条件的督办件")
    for row in rows:
        left = row["workdays_left"]
        clock = (
            ""
            if left is None
            else (f"超期{-left}个工作日" if row["overdue"] else f"剩{left}个工作日")
        )
        say(
            f"{row['number']}  {row['state_label']:<4} {row['unit_name'] or '待分办':<8} "
            f"时限 {row['due_date']} {clock}"
        )
    if len(rows) == limit:
        say(f"（只列出前 {limit} 件，可能还有更多：用 --limit 调整，或 --open、--unit 缩小范围）")


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


def show(ctx: typer.Context, number: NumberArg, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        ticket = T.get_ticket(session, number)
        detail = ticket_detail(session, ticket, rules=rt.rules, now=rt.now(), for_unit=False)
    if json:
        emit_json(detail)
        return
    say(_render_detail(detail, rt.tz))


EXTENSION_LABELS = {"requested": "待审批", "approved": "已批准", "denied": "已驳回"}


def _render_detail(d: dict[str, Any], tz: tzinfo) -> str:
    lines = [
        f"{d['number']}  [{d['state_label']}]  {d['source_label']}",
        f"责任单位: {d['unit_name'] or '待分办'}   分办方式: {d['routed_by'] or '-'}"
        + (f" (置信度 {d['confidence']:.0%})" if d["confidence"] is not None else ""),
        f"收件: {_local(d['message']['received_at'], tz)}   时限: {d['due_date']}"
        + (" (临时)" if d["deadline_provisional"] else "")
        + (f"  原时限 {d['original_due_date']}" if d["extension_days"] else ""),
        "",
        for_reading(
            (d["message"]["title"] + "\n" if d["message"]["title"] else "") + d["message"]["text"]
        ),
    ]
    for r in d["replies"]:
        lines += [
            "",
            f"反馈(第{r['round']}轮, {r['author'] or '-'}, {_local(r['at'], tz)}): {r['text']}",
        ]
    for x in d["extensions"]:
        granted = (
            f"，批准{x['granted_days']}个工作日"
            if x["granted_days"] is not None and x["granted_days"] != x["days"]
            else ""
        )
        lines += [
            f"延期申请 {x['days']}个工作日 [{EXTENSION_LABELS.get(x['status'], x['status'])}"
            f"{granted}]: {x['reason']}"
        ]
    return "\n".join(lines)


def events(ctx: typer.Context, number: NumberArg, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        rows = event_rows(session, T.get_ticket(session, number))
    if json:
        emit_json(rows)
        return
    for row in rows:
        note = f"  {row['note']}" if row["note"] else ""
        say(
            f"{_local(row['at'], rt.tz)}  {row['action_label']:<6} {row['from_state'] or '-'} -> "
            f"{row['to_state']}  {row['actor']}{note}"
        )


# -- steps ---------------------------------------------------------------------------------


def _step(ctx: typer.Context, number: str, by: str | None, json: bool, run) -> None:
    """Resolve the actor, run one workflow step through routing.actions, print the result."""
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
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.assign(rc, number, unit, actor=a, note=note))


def ack(ctx: typer.Context, number: NumberArg, by: ByOpt = None, json: JsonOpt = False) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.acknowledge(rc, number, actor=a))


def reply(
    ctx: typer.Context,
    number: NumberArg,
    text: Annotated[str, typer.Argument(help="反馈内容")],
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.reply(rc, number, text, actor=a))


def extend(
    ctx: typer.Context,
    number: NumberArg,
    days: Annotated[int, typer.Option("--days", help="延期工作日数")],
    reason: Annotated[str | None, typer.Option("--reason", help="延期理由 (required)")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.request_extension(rc, number, days, reason or "", actor=a),
    )


def approve_extension(
    ctx: typer.Context,
    number: NumberArg,
    days: Annotated[int | None, typer.Option("--days", help="批准天数 (default: as asked)")] = None,
    note: Annotated[str | None, typer.Option(help="审批意见")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.decide_extension(rc, number, approve=True, actor=a, days=days, note=note),
    )


def deny_extension(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option(help="审批意见")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.decide_extension(rc, number, approve=False, actor=a, note=note),
    )


def return_cmd(
    ctx: typer.Context,
    number: NumberArg,
    reason: Annotated[str | None, typer.Option("--reason", help="退回理由 (required)")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.return_ticket(rc, number, reason or "", actor=a))


def verify(
    ctx: typer.Context,
    number: NumberArg,
    score: Annotated[int, typer.Option("--score", help="质量评分 1-5")],
    passed: Annotated[bool, typer.Option("--pass/--fail", help="通过 / 不通过(续办)")] = True,
    note: Annotated[str | None, typer.Option(help="核查意见 (required on --fail)")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        number,
        by,
        json,
        lambda rc, a: A.verify(rc, number, passed=passed, score=score, actor=a, note=note),
    )


def reopen(
    ctx: typer.Context,
    number: NumberArg,
    reason: Annotated[str | None, typer.Option("--reason", help="续办理由 (required)")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.reopen(rc, number, reason or "", actor=a))


def escalate(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option("--note", help="通报内容 (required)")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.escalate(rc, number, note or "", actor=a))


def archive(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option(help="说明")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.archive(rc, number, actor=a, note=note))


def comment(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str, typer.Argument(help="备注")],
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, number, by, json, lambda rc, a: A.comment(rc, number, note, actor=a))
