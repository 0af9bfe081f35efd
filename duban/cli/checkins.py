"""``duban checkins``: 一日三晒 — the day's record per person and window, the 要情快讯
(draft, order, publish; DOCX and HTML) and spot checks (抽查)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

import typer

from checkins.record import CHECK_LABELS, status
from desk import checkins as D
from desk.checkin_documents import write_files
from duban.cli.common import ByOpt, JsonOpt, bad_input, emit_json, parse_date, runtime, say
from duban.cli.tickets import actor_for
from duban.runtime import Runtime
from ledger.directory import find_unit

DateOpt = Annotated[str | None, typer.Option("--date", help="日期 YYYY-MM-DD（默认今天）(the day)")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="一日三晒与要情快讯 (daily check-ins and the digest)", no_args_is_help=True
    )
    group.command("status", help="晒工作情况：每人每个时段已晒、迟晒、未晒 (the day's record)")(
        status_cmd
    )
    group.command("digest", help="要情快讯：生成草稿、调整顺序、发布 (the daily digest)")(digest)
    group.command("check", help="抽查：列入抽查，或记录属实 / 不实 (spot check a post)")(check)
    app.add_typer(group, name="checkins")


def _day(rt: Runtime, value: str | None) -> date:
    return parse_date(value, "--date") if value else rt.rules.local_date(rt.now())


def status_cmd(
    ctx: typer.Context,
    day: DateOpt = None,
    unit: Annotated[str | None, typer.Option("--unit", help="只看此单位 (one unit)")] = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    when = _day(rt, day)
    with rt.session() as session:
        unit_id = find_unit(session, unit).id if unit else None
        rows = status(
            session, when, policy=rt.policy.checkins, rules=rt.rules, now=rt.now(), unit_id=unit_id
        )
    if json:
        emit_json(
            {
                "date": when.isoformat(),
                "working_day": rt.calendar.is_workday(when),
                "rows": [asdict(r) for r in rows],
            }
        )
        return
    if not rt.calendar.is_workday(when):
        say(f"{when.isoformat()} 不是工作日，无需晒工作")
        return
    if not rows:
        say("没有需要晒工作的人员（请在 policy.yaml 的 checkins.groups 中设置晒工作群）")
        return
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state_label] = counts.get(r.state_label, 0) + 1
        say(
            f"{r.window}  {r.unit or '—'}  {r.name}({r.person})  {r.state_label}"
            + (f"  晒{r.post_id}" if r.post_id else "")
        )
    say("合计：" + "，".join(f"{k} {v}" for k, v in counts.items()))


def digest(
    ctx: typer.Context,
    day: DateOpt = None,
    publish: Annotated[bool, typer.Option("--publish", help="发布（编第N期，只发布一次）")] = False,
    order: Annotated[
        str | None,
        typer.Option("--order", help="选用并排序的晒编号，逗号分隔，如 12,7,9 (pick and order)"),
    ] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    when = _day(rt, day)
    with rt.session() as session:
        actor = actor_for(session, by)
    view = D.compile_digest(rt.routing, when)
    if order is not None:
        try:
            ids = [
                int(part.strip().removeprefix("晒")) for part in order.split(",") if part.strip()
            ]
        except ValueError:
            bad_input(f"--order: 「{order}」应为逗号分隔的晒编号，如 12,7,9")
        view = D.order_digest(rt.routing, when, ids, actor=actor)
    if publish:
        view = D.publish_digest(rt.routing, when, actor=actor)
    docx_path, html_path = write_files(
        view,
        rt.settings.reports_path / "checkins",
        office=rt.policy.office,
        tz=rt.tz,
        photo_dir=D.photo_dir(rt.routing),
        now=rt.now(),
    )
    if json:
        emit_json({**view.as_json(), "docx": str(docx_path), "html": str(html_path)})
        return
    say(view.text())
    say(f"已写出：{docx_path}\n　　　　{html_path}")


def check(
    ctx: typer.Context,
    post_id: Annotated[int, typer.Argument(help="晒编号 (the post's number)", min=1)],
    result: Annotated[
        str | None, typer.Option("--result", help="属实 或 不实（省略则列入抽查）")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="核实情况（不实时必填）")] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        actor = actor_for(session, by)
    if result is None:
        done = D.mark(rt.routing, post_id, actor=actor)
    elif result.strip() in ("属实", "不实"):
        done = D.check(
            rt.routing, post_id, truthful=result.strip() == "属实", note=note, actor=actor
        )
    else:
        bad_input(f"--result: 「{result}」应为 属实 或 不实")
    if json:
        emit_json({"post": done.post_id, "state": done.state, "label": CHECK_LABELS[done.state]})
    else:
        say(done.text)
