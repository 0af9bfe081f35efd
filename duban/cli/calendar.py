"""``duban calendar``: working days on the statutory calendar."""

from __future__ import annotations

from typing import Annotated

import typer

from duban.cli.common import ByOpt, JsonOpt, bad_input, emit_json, parse_date, runtime, say
from duban.cli.tickets import actor_for


def register(app: typer.Typer) -> None:
    cal = typer.Typer(help="工作日历 (statutory working-day calendar)", no_args_is_help=True)
    cal.command("due", help="第 N 个工作日 (the N-th working day after a date)")(due)
    cal.command("is-workday", help="是否工作日 (is this date a working day)")(is_workday)
    cal.command("recompute", help="按新日历重算临时时限 (recount provisional deadlines)")(recompute)
    app.add_typer(cal, name="calendar")


def due(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="收件日期 YYYY-MM-DD (day of receipt)")],
    days: Annotated[int, typer.Option("--days", help="工作日数 (working days)")],
    json: JsonOpt = False,
) -> None:
    if days < 1:
        bad_input(f"--days: 须为正整数 (got {days})")
    rt = runtime(ctx)
    result = rt.calendar.add_workdays(parse_date(start, "--from"), days)
    if json:
        emit_json({"due": result.due, "provisional": result.provisional})
    else:
        note = "  (临时: 该年度节假日安排未发布)" if result.provisional else ""
        say(result.due.isoformat() + note)


def is_workday(
    ctx: typer.Context,
    day: Annotated[str, typer.Argument(help="日期 YYYY-MM-DD")],
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    value = parse_date(day, "DATE")
    workday = rt.calendar.is_workday(value)
    provisional = not rt.calendar.is_known(value.year)
    if json:
        emit_json({"date": value, "workday": workday, "provisional": provisional})
    else:
        note = "  (临时: 按周一至周五推算)" if provisional else ""
        say(("工作日" if workday else "休息日") + note)


def recompute(ctx: typer.Context, by: ByOpt = None, json: JsonOpt = False) -> None:
    from ledger.tickets import recompute_provisional

    rt = runtime(ctx)
    with rt.session() as session:
        actor = actor_for(session, by)
        changed = recompute_provisional(session, rules=rt.rules, now=rt.now(), actor=actor)
    rows = [
        {"number": n, "old_due": old, "new_due": new, "provisional": p}
        for n, old, new, p in changed
    ]
    if json:
        emit_json({"recomputed": rows})
        return
    if not rows:
        say("没有临时时限需要重算")
    for row in rows:
        flag = " (仍为临时)" if row["provisional"] else ""
        say(f"{row['number']}: {row['old_due']} -> {row['new_due']}{flag}")
