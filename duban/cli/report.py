"""``duban report weekly|monthly|annual|export|overdue`` and ``duban replay``: thin CLI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time
from pathlib import Path
from typing import Annotated

import typer

from duban.cli.common import (
    EXIT_BAD_INPUT,
    JsonOpt,
    bad_input,
    emit_json,
    fail,
    parse_moment,
    runtime,
    say,
)
from duban.runtime import Runtime

FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format", "-f", help="md | html | xlsx | json | docx（默认取 --out 的扩展名，否则 md）"
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="写入文件，图表 PNG 写在同一目录 (write to FILE)"),
]
ForceOpt = Annotated[
    bool,
    typer.Option("--force", help="覆盖已存在的文件（台账、模型库、数据目录任何情况下都不写）"),
]
WeekOpt = Annotated[
    str | None, typer.Option("--week", "-w", help="ISO 周，如 2026-W47（默认上一个完整周）")
]
MonthOpt = Annotated[
    str | None, typer.Option("--month", "-m", help="月份，如 2026-11（默认上一个完整月）")
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="按此时刻出表，如 2026-11-23T09:00（默认现在，办公地时间）"),
]


def register(app: typer.Typer) -> None:
    report = typer.Typer(help="统计报表：督查周报、月讲评、导出 (reports)", no_args_is_help=True)
    report.command("weekly", help="督查周报 (weekly report, ISO week)")(weekly)
    report.command("monthly", help="月讲评：排名、红旗黄旗、问责提示 (monthly ranking)")(monthly)
    report.command("export", help="导出全部督办件及各环节时间 CSV/XLSX (every ticket, every time)")(
        export
    )
    report.command(
        "overdue", help="超期督办件完整清单，超期最久的在前 CSV/XLSX (every overdue ticket)"
    )(overdue)
    report.command(
        "annual", help="单位年度督查督办情况：全年督办件、事项、晒报、名次、通报 (year)"
    )(annual)
    app.add_typer(report, name="report")
    app.command("replay", help="把真实留言答复 CSV 作为历史重放进台账并出报表 (replay history)")(
        replay
    )


@contextmanager
def _report_errors() -> Iterator[None]:
    from reports.errors import ReportError

    try:
        yield
    except ReportError as exc:
        fail(str(exc), exc.exit_code)


def _now(rt: Runtime, as_of: str | None) -> datetime:
    if not as_of:
        return rt.now()
    return parse_moment(
        as_of, "--as-of", rt.tz, date_only=lambda day: datetime.combine(day, time())
    )


def _format(fmt: str | None, out: Path | None) -> str:
    from reports.render import FORMATS

    chosen = (fmt or (out.suffix.lstrip(".") if out is not None and out.suffix else "md")).lower()
    if chosen not in FORMATS:
        bad_input(f"--format: 不支持「{chosen}」，可选 {' | '.join(FORMATS)}")
    return chosen


def _emit(rt: Runtime, report, fmt: str, out: Path | None, json: bool, force: bool) -> None:
    """Print the report, or write it (and its charts) and print the paths. ``--out`` never
    overwrites a file without ``--force``; the default file in the reports folder is the
    command's own and is replaced."""
    from duban.outputs import output_guard
    from reports.render import render_html, render_json, render_markdown, write_report

    if out is None and fmt not in ("xlsx", "docx"):  # files, not text
        if json or fmt == "json":
            sys.stdout.write(render_json(report))
        else:
            say({"md": render_markdown, "html": render_html}[fmt](report).rstrip("\n"))
        return
    target = out or rt.settings.reports_path / f"{report.kind}-{report.period.key}.{fmt}"
    guard = output_guard(rt.settings, force=force or out is None)
    written = write_report(report, target, fmt, guard=guard)
    if json:
        emit_json({"period": report.period.key, **written.as_dict()})
        return
    for path in [*written.files.values(), *written.charts]:
        say(str(path))


def weekly(
    ctx: typer.Context,
    week: WeekOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    trend_weeks: Annotated[int, typer.Option("--trend-weeks", min=1, max=104, help="趋势周数")] = 8,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    from reports.periods import last_complete_week, parse_week
    from reports.weekly import build_weekly

    rt = runtime(ctx)
    now = _now(rt, as_of)
    with _report_errors():
        period = parse_week(week) if week else last_complete_week(now, rt.tz)
        chosen = _format(fmt, out)
        with rt.session() as session:
            report = build_weekly(
                session,
                now=now,
                rules=rt.rules,
                policy=rt.policy.ranking,
                week=period,
                trend_weeks=trend_weeks,
                office=rt.policy.office,
                task_policy=rt.policy.tasks,
            )
        _emit(rt, report, chosen, out, json, force)


def monthly(
    ctx: typer.Context,
    month: MonthOpt = None,
    fmt: FormatOpt = None,
    out: OutOpt = None,
    as_of: AsOfOpt = None,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    from reports.monthly import office_monthly
    from reports.periods import last_complete_month, parse_month

    rt = runtime(ctx)
    now = _now(rt, as_of)
    with _report_errors():
        period = parse_month(month) if month else last_complete_month(now, rt.tz)
        chosen = _format(fmt, out)
        with rt.session() as session:
            report = office_monthly(
                session, now=now, rules=rt.rules, policy=rt.policy, month=period
            )
        _emit(rt, report, chosen, out, json, force)


def annual(
    ctx: typer.Context,
    year: Annotated[int, typer.Option("--year", "-y", help="年度，如 2026")],
    unit: Annotated[
        list[str] | None, typer.Option("--unit", "-u", help="只出这些单位（代码或名称，可重复）")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="docx（每单位一份）| xlsx（全部单位）| json")
    ] = "json",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="json/xlsx 写入此文件；docx 写入此目录（一个单位可给文件名）"
        ),
    ] = None,
    as_of: AsOfOpt = None,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    """The unit's year: tickets, tasks, check-ins, monthly ranks and flags, 通报."""
    from duban.outputs import output_guard
    from reports.annual import ANNUAL_FORMATS, build_annual, write_annual
    from reports.periods import MAX_YEAR, MIN_YEAR
    from reports.render import to_jsonable

    rt = runtime(ctx)
    now = _now(rt, as_of)
    chosen = fmt.lower()
    if chosen not in ANNUAL_FORMATS:
        bad_input(f"--format: 不支持「{fmt}」，可选 {' | '.join(ANNUAL_FORMATS)}")
    this_year = now.astimezone(rt.tz).year
    if MIN_YEAR <= year <= MAX_YEAR and year > this_year:  # as weekly and monthly: no future
        bad_input(f"--year: {year} 年尚未到来，年度报告只能出到 {this_year} 年 (future year)")
    with _report_errors():
        with rt.session() as session:
            report = build_annual(
                session,
                year=year,
                now=now,
                rules=rt.rules,
                policy=rt.policy.ranking,
                task_policy=rt.policy.tasks,
                checkin_policy=rt.policy.checkins,
                office=rt.policy.office,
                units=unit or (),
            )
        if out is None and chosen == "json":
            emit_json(to_jsonable(report.as_dict()))
            return
        suffix = "" if chosen == "docx" else f".{chosen}"
        target = out or rt.settings.reports_path / f"annual-{year}{suffix}"
        guard = output_guard(rt.settings, force=force or out is None)
        written = write_annual(report, target, chosen, guard=guard)
    if json:
        emit_json({"year": year, "files": [str(path) for path in written]})
        return
    for path in written:
        say(str(path))


SheetFormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", help="csv | xlsx（默认取 --out 的扩展名，否则 csv）"),
]


def _sheet_format(fmt: str | None, out: Path | None) -> str:
    from reports.export import EXPORT_FORMATS

    suffix = out.suffix.lstrip(".").lower() if out is not None else ""
    chosen = (fmt or (suffix if suffix in EXPORT_FORMATS else "csv")).lower()
    if chosen not in EXPORT_FORMATS:
        bad_input(f"--format: 不支持「{chosen}」，可选 {' | '.join(EXPORT_FORMATS)}")
    return chosen


def export(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="CSV (UTF-8 with BOM) 或 XLSX 文件，权限 0600")
    ],
    fmt: SheetFormatOpt = None,
    as_of: AsOfOpt = None,
    english_headers: Annotated[
        bool,
        typer.Option("--english-headers", help="英文列名、ISO 8601 时间、1/0（供脚本读取）"),
    ] = False,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    """Every ticket, every time (北京时间), title, text and replies; no complainant data."""
    from duban.outputs import output_guard
    from reports.export import export_tickets_csv

    rt = runtime(ctx)
    now = _now(rt, as_of)
    chosen = _sheet_format(fmt, out)
    guard = output_guard(rt.settings, force=force)
    with _report_errors(), rt.session() as session:
        count = export_tickets_csv(
            session, out, rules=rt.rules, now=now, english=english_headers, guard=guard, fmt=chosen
        )
    if json:
        emit_json({"tickets": count, "path": str(out)})
    else:
        say(f"已导出 {count} 件督办件 -> {out}")


def overdue(
    ctx: typer.Context,
    unit: Annotated[
        str | None, typer.Option("--unit", help="只列此单位的 (code, name or alias)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="写入文件（默认 报表目录/overdue-日期.csv），CSV 带 BOM 或 XLSX"
        ),
    ] = None,
    fmt: SheetFormatOpt = None,
    as_of: AsOfOpt = None,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    """Every overdue ticket now (or at --as-of, by its current state), the most working
    days overdue first: the full list behind the reports' summary."""
    from duban.outputs import output_guard
    from ledger.directory import find_unit
    from reports.overdue import write_overdue

    rt = runtime(ctx)
    now = _now(rt, as_of)
    chosen = _sheet_format(fmt, out)
    with _report_errors(), rt.session() as session:
        found = find_unit(session, unit) if unit else None
        day = rt.rules.local_date(now).isoformat()
        suffix = f"-{found.code}" if found is not None else ""
        target = out or rt.settings.reports_path / f"overdue-{day}{suffix}.{chosen}"
        guard = output_guard(rt.settings, force=force or out is None)
        count = write_overdue(
            session,
            target,
            rules=rt.rules,
            now=now,
            fmt=chosen,
            unit_id=found.id if found is not None else None,
            guard=guard,
        )
    if json:
        emit_json({"overdue": count, "path": str(target), "format": chosen})
    else:
        say(f"超期督办件 {count} 件 -> {target}")


def replay(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="replies.csv（留言编号, 留言时间, 答复时间 …）")],
    week: Annotated[
        str | None, typer.Option("--week", "-w", help="周报的 ISO 周（默认收件最多的一周）")
    ] = None,
    month: Annotated[
        str | None, typer.Option("--month", "-m", help="月讲评的月份（默认收件最多的一月）")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="报表目录（默认 DUBAN_HOME/reports/replay）")
    ] = None,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    from duban.outputs import output_guard
    from ledger import schema
    from ledger.directory import list_units, load_directory
    from reports.periods import parse_month, parse_week
    from reports.replay import run_replay, summary_lines

    rt = runtime(ctx)
    if not file.is_file():
        fail(f"{file}: 文件不存在 (no such file)", EXIT_BAD_INPUT)
    with _report_errors():
        week_period = parse_week(week) if week else None
        month_period = parse_month(month) if month else None
        out_dir = out or rt.settings.reports_path / "replay"
        guard = output_guard(rt.settings, force=force or out is None)
        guard.check_folder(out_dir)
        schema.upgrade(rt.engine)
        with rt.session() as session:
            if not list_units(session):
                load_directory(session, rt.settings.data_dir / "units.yaml")
        with rt.session() as session:
            summary = run_replay(
                session,
                file,
                rules=rt.rules,
                policy=rt.policy.ranking,
                week=week_period,
                month=month_period,
                out_dir=out_dir,
                guard=guard,
            )
    if json:
        from reports.render import to_jsonable

        emit_json(to_jsonable(summary.as_dict()))
        return
    for line in summary_lines(summary):
        say(line)
