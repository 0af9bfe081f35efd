"""``duban calendar``: working days on the statutory calendar."""

from __future__ import annotations

from typing import Annotated

import typer

from duban.cli.common import (
    EXIT_FAILURE,
    ByOpt,
    JsonOpt,
    bad_input,
    emit_json,
    parse_date,
    runtime,
    say,
)
from duban.cli.tickets import actor_for

# ten years of working days; 999999999 used to walk 8,000 years, a warning for each
MAX_DUE_DAYS = 2_500


def register(app: typer.Typer) -> None:
    cal = typer.Typer(help="工作日历 (statutory working-day calendar)", no_args_is_help=True)
    cal.command("due", help="第 N 个工作日 (the N-th working day after a date)")(due)
    cal.command("is-workday", help="是否工作日 (is this date a working day)")(is_workday)
    cal.command("recompute", help="按新日历重算临时时限 (recount provisional deadlines)")(recompute)
    cal.command("check", help="核对录入的节假日通知与法定节假日 (check an entered notice)")(check)
    app.add_typer(cal, name="calendar")


def due(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="收件日期 YYYY-MM-DD (day of receipt)")],
    days: Annotated[int, typer.Option("--days", help="工作日数 (working days)")],
    json: JsonOpt = False,
) -> None:
    if not 1 <= days <= MAX_DUE_DAYS:
        bad_input(f"--days: 须为 1 到 {MAX_DUE_DAYS} 之间的整数 (got {days})")
    rt = runtime(ctx)
    result = rt.calendar.add_workdays(parse_date(start, "--from"), days)
    if json:
        emit_json({"due": result.due, "provisional": result.provisional})
    else:
        note = (
            "  (临时: 该年度节假日安排未发布，已按法定节假日推算，调休待通知)"
            if result.provisional
            else ""
        )
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
        note = "  (临时: 按法定节假日和周末推算，调休待通知)" if provisional else ""
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


def check(
    ctx: typer.Context,
    year: Annotated[int, typer.Argument(help="年度，如 2027 (year)")],
    json: JsonOpt = False,
) -> None:
    """Compare the notice entered in calendar.yaml with the statutory days off of the year."""
    from ledger.calendar import STATUTORY_SINCE, check_notice, parse_overrides

    path = runtime(ctx).settings.calendar_file
    if year < STATUTORY_SINCE:
        bad_input(f"{year}: 按 {STATUTORY_SINCE} 年起施行的放假办法核对，更早的年度无法核对")
    override = parse_overrides(path).get(year) if path.exists() else None
    if override is None:
        bad_input(f"{path}: 没有 {year} 年的节假日安排 (years.{year})，请先录入国务院通知")
    result = check_notice(override)
    if json:
        emit_json(
            {
                "year": year,
                "published": result.published,
                "ok": result.ok,
                "missing": [{"date": d, "festival": name} for d, name in result.missing],
                "statutory_on_workdays": [
                    {"date": d, "festival": name} for d, name in result.worked
                ],
                "extra_days_off": list(result.extra_days_off),
                "make_up_workdays": list(result.make_up_workdays),
            }
        )
    else:
        for day, name in result.missing:
            say(f"警告: {day.isoformat()}（{name}）是法定节假日，通知中未列为休息日 (holidays)")
        for day, name in result.worked:
            say(f"警告: {day.isoformat()}（{name}）是法定节假日，通知中却列为调休上班日 (workdays)")
        if not result.published:
            say(f"提示: {year} 年尚未标记 published: true，时限仍为临时")
        extra = "、".join(d.isoformat() for d in result.extra_days_off) or "无"
        make_up = "、".join(d.isoformat() for d in result.make_up_workdays) or "无"
        say(f"通知另行放假的工作日: {extra}；调休上班日: {make_up}")
        say(
            f"{year} 年通知与法定节假日一致"
            if result.ok
            else f"{year} 年通知与法定节假日不一致，请核对 {path}"
        )
    if not result.ok:
        raise typer.Exit(EXIT_FAILURE)
