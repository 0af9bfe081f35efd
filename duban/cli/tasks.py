"""``duban tasks``: 督办事项 (leaders' key tasks) — import a list, add, list, show, and the
workflow steps as units and supervisors take them in chat (``--by`` the person acting)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from desk import task_queries as TQ
from desk import tasks as D
from desk.permissions import Viewer
from duban.cli.common import (
    ByOpt,
    JsonOpt,
    bad_input,
    emit_json,
    fail,
    parse_date,
    parse_moment,
    runtime,
    say,
)
from duban.cli.tickets import actor_for
from duban.runtime import Runtime
from ledger.directory import find_unit, get_person
from ledger.errors import BadInput, user_text
from ledger.tickets import Actor
from routing.context import RoutingContext
from tasks import workflow as W
from tasks.deadlines import check_task_day

NumberArg = Annotated[str, typer.Argument(help="督办事项编号，如 RW-2026-0001 (task number)")]
VersionOpt = Annotated[
    int | None,
    typer.Option(
        "--if-version", min=1, help="您看到的版本号；事项已有新进展则拒绝 (the version you saw)"
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="按此时刻计算颜色，如 2026-10-12 或 2026-10-12T09:00（默认现在）"),
]
Run = Callable[[RoutingContext, Actor], D.TaskStepResult]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="督办事项：重点工作、周交办、责任清单 (leaders' key tasks)", no_args_is_help=True
    )
    group.command("import", help="导入任务清单 XLSX/CSV (import a task list)")(import_cmd)
    group.command("add", help="新增一项督办事项 (add one task)")(add)
    group.command("list", help="列表：颜色、剩余工作日 (list tasks with their colour)")(list_cmd)
    group.command("show", help="详情：节点、进展、办理记录 (one task in full)")(show)
    group.command("assign", help="交办 (hand a registered task to its units)")(assign)
    group.command("ack", help="签收 (acknowledge)")(ack)
    group.command("progress", help="报送进展 (report progress)")(progress)
    group.command("finish", help="报送办结 (report the task done)")(finish)
    group.command("extend", help="申请延期 (request an extension)")(extend)
    group.command("approve-extension", help="批准延期 (approve the pending extension)")(
        approve_extension
    )
    group.command("deny-extension", help="驳回延期 (deny the pending extension)")(deny_extension)
    group.command("verify", help="核查：通过并评分，或续办 (check the 办结 report)")(verify)
    group.command("close", help="销号 (close: a supervisor or the 牵头领导)")(close)
    group.command("archive", help="归档 (archive a closed task)")(archive)
    group.command("remind", help="催办 (send a reminder with a note)")(remind)
    group.command("escalate", help="通报 (escalate)")(escalate)
    group.command("weekly", help="周交办：逐行交办会议事项 (hand over a pasted weekly list)")(
        weekly
    )
    group.command("answers", help="一周一答卷：周交办事项的答复 (answers to the weekly list)")(
        answers
    )
    group.command("flags", help="红黄旗流动：各单位每月的旗与名次，季度汇总 (flag history)")(flags)
    group.command("sweep", help="按颜色发催办提醒（工作日办公时间，每天一次）(colour reminders)")(
        sweep
    )
    group.command("notice", help="督办通知单 DOCX (the printed notice for a task)")(notice)
    group.command("bulletin", help="督查通报 DOCX：红旗表扬、黄旗批评、超期事项 (bulletin)")(
        bulletin
    )
    group.command("dossier", help="一事一档 DOCX (a task's whole file)")(dossier)
    app.add_typer(group, name="tasks")


def _task_day(rt: Runtime, value: str, field: str) -> date:
    """A task's due day or milestone: a date no later than ten years from today (the rule
    is tasks.deadlines.check_task_day, which a list's 完成时限 follows too)."""
    day = parse_date(value, field)
    try:
        return check_task_day(day, today=rt.rules.local_date(rt.now()), field=field, shown=value)
    except BadInput as exc:
        bad_input(str(exc))


def _now(rt: Runtime, as_of: str | None) -> datetime:
    if not as_of:
        return rt.now()
    return parse_moment(as_of, "--as-of", rt.tz, date_only=rt.rules.end_of_day)


def _source(value: str) -> W.TaskSource:
    try:
        return W.TaskSource.parse(value)
    except ValueError:
        bad_input(f"--source: 「{value}」无法识别")


# -- getting tasks in ---------------------------------------------------------------


def import_cmd(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="任务清单 .xlsx 或 .csv")],
    source: Annotated[
        str, typer.Option(help="来源：周交办、责任清单、重点工作、领导批示、会议议定、上级交办")
    ] = "责任清单",
    year: Annotated[
        int | None, typer.Option(min=2000, max=2100, help="清单年度（12月底、年底前按此年）")
    ] = None,
    no_assign: Annotated[
        bool, typer.Option("--no-assign", help="只立项，不交办 (register only)")
    ] = False,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    if not file.is_file():
        bad_input(f"找不到文件 {file}")
    kind = _source(source)
    with rt.session() as session:
        actor = actor_for(session, by)
    summary = D.import_list(
        rt.routing, file, source=kind, actor=actor, year=year, assign_now=not no_assign
    )
    if json:
        emit_json(summary.as_dict())
        return
    say(
        f"共读取 {summary.received} 行：新建 {summary.created} 项，已有 {summary.known} 项，"
        f"拒收 {summary.rejected} 行"
    )
    for row in summary.rejected_rows:
        where = f"{row['sheet']} " if row["sheet"] else ""
        say(f"  {where}第 {row['row']} 行：{row['reason']}")


def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="任务名称")],
    lead: Annotated[str, typer.Option("--lead", help="牵头单位（名称、简称或代码）")],
    support: Annotated[
        list[str] | None, typer.Option("--support", help="配合单位（可多次给出）")
    ] = None,
    leader: Annotated[
        str | None, typer.Option("--leader", help="牵头领导的人员编号（角色 district_leader）")
    ] = None,
    due: Annotated[str | None, typer.Option("--due", help="完成时限 YYYY-MM-DD")] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, max=365, help="交办后 N 个工作日内完成")
    ] = None,
    ongoing: Annotated[bool, typer.Option("--ongoing", help="长期事项（按月报送进展）")] = False,
    every: Annotated[
        int | None, typer.Option("--every", min=1, max=250, help="每 N 个工作日报送进展")
    ] = None,
    milestone: Annotated[
        list[str] | None,
        typer.Option("--milestone", help="节点：名称@YYYY-MM-DD（可多次给出）"),
    ] = None,
    requirements: Annotated[str | None, typer.Option("--requirements", help="工作要求")] = None,
    source: Annotated[str, typer.Option(help="来源")] = "重点工作",
    ref: Annotated[str | None, typer.Option("--ref", help="会议或文件名称")] = None,
    no_assign: Annotated[bool, typer.Option("--no-assign", help="只立项，不交办")] = False,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    kind = _source(source)
    stones = []
    for text in milestone or []:
        name, _, when = text.rpartition("@")
        if not name.strip():
            bad_input(f"--milestone: 「{text}」应写成 名称@YYYY-MM-DD")
        stones.append(W.MilestoneSpec(name.strip(), _task_day(rt, when, "--milestone")))
    with rt.session() as session:
        actor = actor_for(session, by)
        lead_unit = find_unit(session, lead)
        support_units = tuple(find_unit(session, name) for name in (support or []))
        person = get_person(session, leader) if leader else None
        for obj in (lead_unit, *support_units, *([person] if person else [])):
            session.expunge(obj)
    spec = W.TaskSpec(
        title=title,
        lead_unit=lead_unit,
        source=kind,
        due_date=_task_day(rt, due, "--due") if due else None,
        limit_days=days,
        ongoing=ongoing,
        report_monthly=ongoing,
        report_every_days=every,
        requirements=requirements,
        source_ref=ref,
        leader=person,
        support_units=support_units,
        milestones=tuple(stones),
    )
    result = D.create(rt.routing, spec, actor=actor, assign_now=not no_assign)
    _print(result, json)


# -- reading ---------------------------------------------------------------


def list_cmd(
    ctx: typer.Context,
    as_of: AsOfOpt = None,
    colour: Annotated[
        str | None, typer.Option("--colour", "--color", help="红 / 黄 / 蓝 / 绿 / 已办结 / 已销号")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="单位（牵头或配合）")] = None,
    state: Annotated[str | None, typer.Option(help="状态 (registered, assigned, …)")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    now = _now(rt, as_of)
    with rt.session() as session:
        actor = actor_for(session, by)
        chosen = find_unit(session, unit) if unit else None
        rows = TQ.task_rows(
            session,
            rules=rt.rules,
            policy=rt.policy.tasks,
            now=now,
            viewer=Viewer(person=actor.person),
            colour=colour,
            unit=chosen,
            state=state,
        )
    if json:
        emit_json(
            [
                {
                    "number": r.number,
                    "title": r.title,
                    "lead_unit": r.lead_unit,
                    "lead_unit_name": r.lead_unit_name,
                    "state": r.state,
                    "state_label": r.state_label,
                    "colour": r.colour,
                    "workdays_left": r.workdays_left,
                    "due_date": r.due_date,
                    "ongoing": r.ongoing,
                    "version": r.version,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        say("没有符合条件的督办事项")
    for r in rows:
        say(f"{r.number} 【{r.colour}】{r.lead_unit_name} {r.state_label} {r.clock}  {r.title}")


def show(
    ctx: typer.Context,
    number: NumberArg,
    as_of: AsOfOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    now = _now(rt, as_of)
    with rt.session() as session:
        actor = actor_for(session, by)
        task = TQ.visible_task(session, Viewer(person=actor.person), D.require_number(number))
        if task is None:
            bad_input(f"没有编号为 {number} 的督办事项，或您无权查看")
        detail = TQ.task_detail(session, task, rules=rt.rules, policy=rt.policy.tasks, now=now)
    if json:
        emit_json(detail.as_dict())
        return
    r = detail.row
    lines = [
        f"{r.number}【{r.colour}】{r.title}",
        f"来源：{r.source_label}{('（' + detail.source_ref + '）') if detail.source_ref else ''}",
        f"牵头领导：{r.leader or '—'}　牵头单位：{r.lead_unit_name}　"
        f"配合单位：{'、'.join(r.support_units) or '—'}",
        f"完成时限：{r.deadline_text}　状态：{r.state_label}　版本：{r.version}",
    ]
    if r.reasons and r.colour in ("红", "黄", "蓝"):
        lines.append("提示：" + "；".join(r.reasons))
    if detail.requirements:
        lines.append(f"工作要求：{detail.requirements}")
    for m in detail.milestones:
        done = "已完成" if m.done_at else "未完成"
        lines.append(f"节点{m.seq}：{m.title}（{m.due_date.isoformat()}，{done}）")
    lines.append("办理记录：")
    for e in detail.events:
        at = e.at.astimezone(rt.tz).strftime("%Y-%m-%d %H:%M")
        note = f"：{e.note}" if e.note else ""
        lines.append(f"  {at} {e.action_label} {e.actor}{note}")
    say("\n".join(lines))


# -- steps ---------------------------------------------------------------


def _step(ctx: typer.Context, by: str | None, json: bool, run: Run) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        actor = actor_for(session, by)
    _print(run(rt.routing, actor), json)


def _print(result: D.TaskStepResult, json: bool) -> None:
    if json:
        r = result.row
        emit_json(
            {
                "number": r.number,
                "state": r.state,
                "state_label": r.state_label,
                "colour": r.colour,
                "workdays_left": r.workdays_left,
                "due_date": r.due_date,
                "version": r.version,
                "message": result.text,
            }
        )
    else:
        say(result.text)


def assign(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option(help="交办意见")] = None,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.assign(c, number, actor=a, note=note, expected_version=if_version),
    )


def ack(
    ctx: typer.Context,
    number: NumberArg,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx, by, json, lambda c, a: D.acknowledge(c, number, actor=a, expected_version=if_version)
    )


def progress(
    ctx: typer.Context,
    number: NumberArg,
    text: Annotated[str, typer.Argument(help="进展内容")],
    milestone: Annotated[
        int | None, typer.Option("--milestone", min=1, help="完成的节点序号")
    ] = None,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.progress(
            c, number, text, actor=a, milestone=milestone, expected_version=if_version
        ),
    )


def finish(
    ctx: typer.Context,
    number: NumberArg,
    text: Annotated[str, typer.Argument(help="办结情况")],
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx, by, json, lambda c, a: D.finish(c, number, text, actor=a, expected_version=if_version)
    )


def extend(
    ctx: typer.Context,
    number: NumberArg,
    days: Annotated[int, typer.Argument(help="延期工作日数")],
    reason: Annotated[str, typer.Argument(help="延期理由")],
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.request_extension(
            c, number, days, reason, actor=a, expected_version=if_version
        ),
    )


def approve_extension(
    ctx: typer.Context,
    number: NumberArg,
    days: Annotated[int | None, typer.Option(help="批准天数（不超过申请天数）")] = None,
    note: Annotated[str | None, typer.Option(help="意见")] = None,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.decide_extension(
            c, number, approve=True, actor=a, days=days, note=note, expected_version=if_version
        ),
    )


def deny_extension(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str, typer.Argument(help="驳回意见")],
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.decide_extension(
            c, number, approve=False, actor=a, note=note, expected_version=if_version
        ),
    )


def verify(
    ctx: typer.Context,
    number: NumberArg,
    score: Annotated[int, typer.Option("--score", min=1, max=5, help="质量评分 1-5")],
    passed: Annotated[bool, typer.Option("--pass/--fail", help="通过 / 不通过（续办）")] = True,
    note: Annotated[str | None, typer.Option(help="核查意见（不通过时必填）")] = None,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.verify(
            c, number, passed=passed, score=score, actor=a, note=note, expected_version=if_version
        ),
    )


def close(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str | None, typer.Option(help="销号意见")] = None,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.close(c, number, actor=a, note=note, expected_version=if_version),
    )


def archive(
    ctx: typer.Context,
    number: NumberArg,
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(ctx, by, json, lambda c, a: D.archive(c, number, actor=a, expected_version=if_version))


def remind(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str, typer.Argument(help="催办内容")],
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx, by, json, lambda c, a: D.remind(c, number, note, actor=a, expected_version=if_version)
    )


def escalate(
    ctx: typer.Context,
    number: NumberArg,
    note: Annotated[str, typer.Argument(help="通报内容")],
    if_version: VersionOpt = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    _step(
        ctx,
        by,
        json,
        lambda c, a: D.escalate(c, number, note, actor=a, expected_version=if_version),
    )


def weekly(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="文本文件，每行「单位：事项（时限）」；- 为标准输入")],
    meeting: Annotated[str | None, typer.Option(help="会议名称（默认：日期 周交办会）")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    import sys

    rt = runtime(ctx)
    if file == "-":
        text = sys.stdin.read()
    else:
        path = Path(file)
        if not path.is_file():
            bad_input(f"找不到文件 {file}")
        text = path.read_text(encoding="utf-8-sig")
    with rt.session() as session:
        actor = actor_for(session, by)
    result = D.weekly_paste(rt.routing, text, actor=actor, meeting=meeting)
    if json:
        emit_json(result.as_dict())
    else:
        say(result.text)


def answers(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="自此日期起交办的事项（默认 7 天前）")] = None,
    json: JsonOpt = False,
) -> None:
    from datetime import timedelta

    rt = runtime(ctx)
    start = (
        rt.rules.end_of_day(parse_date(since, "--since") - timedelta(days=1))
        if since
        else rt.now() - timedelta(days=7)
    )
    lines = D.weekly_answers(rt.routing, since=start)
    if json:
        emit_json([{"number": n, "line": line} for n, line in lines])
        return
    say("\n".join(line for _, line in lines) or "没有周交办事项")


def flags(
    ctx: typer.Context,
    quarter: Annotated[str, typer.Option(help="季度，如 2026-Q4（由各月已记录的月讲评累加）")],
    json: JsonOpt = False,
) -> None:
    import re

    from reports.ranking import quarter_view

    match = re.fullmatch(r"(\d{4})-Q([1-4])", quarter.strip().upper())
    if match is None:
        bad_input(f"--quarter: 「{quarter}」应写成 2026-Q4")
    rt = runtime(ctx)
    with rt.session() as session:
        entries = quarter_view(session, int(match.group(1)), int(match.group(2)))
    if json:
        emit_json([e.as_dict() for e in entries])
        return
    if not entries:
        say(f"{quarter} 尚无已记录的月讲评（duban report monthly 生成完整月份时记录）")
    for e in entries:
        months = "　".join(f"{m}:{flag or '—'}" for m, flag, _, _ in e.months)
        say(f"{e.label}（{e.group}）合计 {e.total:.1f}　红旗 {e.red}　黄旗 {e.yellow}　{months}")


def sweep(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Run by cron or the scheduler: 红/黄/蓝 tasks remind their lead units once a day."""
    rt = runtime(ctx)
    written = D.remind_by_colour(rt.routing)
    if json:
        emit_json(written)
    else:
        say("催办提醒：" + "，".join(f"{k} {v} 项" for k, v in written.items()))


# -- documents ---------------------------------------------------------------


def notice(
    ctx: typer.Context,
    number: NumberArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="写入的 .docx 文件")],
    json: JsonOpt = False,
) -> None:
    _document(ctx, number, out, json, kind="notice")


def dossier(
    ctx: typer.Context,
    number: NumberArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="写入的 .docx 文件")],
    json: JsonOpt = False,
) -> None:
    _document(ctx, number, out, json, kind="dossier")


def _document(ctx: typer.Context, number: str, out: Path, json: bool, *, kind: str) -> None:
    from desk.task_documents import write_dossier, write_notice

    rt = runtime(ctx)
    now = rt.now()
    if out.suffix.lower() != ".docx":
        bad_input(f"--out: 须为 .docx 文件（{out}）")
    with rt.session() as session:
        task = W.get_task(session, D.require_number(number))
        detail = TQ.task_detail(session, task, rules=rt.rules, policy=rt.policy.tasks, now=now)
    writer = write_notice if kind == "notice" else write_dossier
    writer(detail, out, office=rt.policy.office, now=now, tz=rt.tz)
    if json:
        emit_json({"number": detail.row.number, "path": str(out)})
    else:
        say(str(out))


def bulletin(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", "-o", help="写入的 .docx 文件")],
    month: Annotated[
        str | None, typer.Option("--month", "-m", help="月份，如 2026-11（默认上一个完整月）")
    ] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """督查通报 of a month: the groups' flags and the tasks past their deadline at its end."""
    from desk.task_documents import write_bulletin
    from reports.errors import ReportError
    from reports.figures import cutoff_of
    from reports.monthly import office_monthly
    from reports.periods import last_complete_month, parse_month

    rt = runtime(ctx)
    now = _now(rt, as_of)
    if out.suffix.lower() != ".docx":
        bad_input(f"--out: 须为 .docx 文件（{out}）")
    try:
        period = parse_month(month) if month else last_complete_month(now, rt.tz)
        cutoff = cutoff_of(period, now=now, rules=rt.rules)
    except ReportError as exc:
        fail(user_text(exc), exc.exit_code)
    with rt.session() as session:
        report = office_monthly(session, now=now, rules=rt.rules, policy=rt.policy, month=period)
        late = TQ.task_rows(
            session, rules=rt.rules, policy=rt.policy.tasks,
            now=cutoff, colour="红",
        )  # fmt: skip
    write_bulletin(
        out, title_period=period.label, groups=report.groups, late=late,
        office=rt.policy.office, now=now, tz=rt.tz,
    )  # fmt: skip
    if json:
        emit_json({"month": period.key, "path": str(out), "late": [r.number for r in late]})
    else:
        say(str(out))
