"""``duban review``: the annual review (年度考评) — 评议 rounds, ratings, 书面点评, the tally."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Annotated

import typer

from desk import review as D
from duban.cli.common import ByOpt, JsonOpt, bad_input, emit_json, fail, runtime, say
from duban.cli.tickets import actor_for
from review import rounds as R

YearOpt = Annotated[int, typer.Option("--year", "-y", help="年度，如 2026")]


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="年度考评：评议、书面点评、一问 (the annual review)", no_args_is_help=True
    )
    group.command("open", help="建立年度评议：单位与评议人（组别、权重）(open a round)")(open_cmd)
    group.command("rate", help="录入一位评议人对全部单位的评定 (one rater's grades)")(rate)
    group.command("remark", help="分管领导书面点评 (written remark on a unit)")(remark)
    group.command("close", help="结束评议，结果不再更改 (close the round)")(close)
    group.command("ask", help="一问：记录提问，转为代表提问督办件交单位答复 (a question)")(ask)
    group.command("questions", help="一问的办理情况：提问、答复、时限 (questions and answers)")(
        questions
    )
    group.command("result", help="年度考评结果：得分、等次，XLSX 与 DOCX，可发督查群 (result)")(
        result
    )
    group.command("status", help="评议情况：各单位汇总（不显示评议人）与提交情况 (tally)")(status)
    app.add_typer(group, name="review")


def _read(path: Path, what: str) -> str:
    if not path.is_file():
        bad_input(f"{path}: 文件不存在 (no such file)")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        bad_input(f"{path}: {what}须为 UTF-8 编码的 CSV")


def open_cmd(
    ctx: typer.Context,
    year: YearOpt,
    raters: Annotated[
        Path, typer.Option("--raters", help="评议人名单 CSV：代码,姓名,组别,权重[,人员]")
    ],
    unit: Annotated[
        list[str] | None, typer.Option("--unit", "-u", help="参评单位（默认全部单位，可重复）")
    ] = None,
    by: ByOpt = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    specs = R.parse_raters(_read(raters, "评议人名单"), source=str(raters))
    with rt.session() as session:
        label = actor_for(session, by).label
    result = D.open_round(rt.routing, year=year, raters=specs, by=label, units=unit or ())
    _done(result, json)


def _entries_file(path: Path) -> list[R.Entry]:
    """单位,等次(或分数)[,评语] per row; a header row naming 单位 is skipped."""
    rows = [r for r in csv.reader(io.StringIO(_read(path, "评议表"))) if any(c.strip() for c in r)]
    if rows and rows[0] and rows[0][0].strip() == "单位":
        rows = rows[1:]
    entries = []
    for number, row in enumerate(rows, start=1):
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            bad_input(f"{path} 第{number}条：须有 单位 和 等次（或分数）两列")
        comment = row[2].strip() if len(row) > 2 and row[2].strip() else None
        entries.append(R.Entry(row[0].strip(), row[1].strip(), comment))
    return entries


def rate(
    ctx: typer.Context,
    year: YearOpt,
    rater: Annotated[str, typer.Option("--rater", help="评议人代码（评议人名单中的代码）")],
    grades: Annotated[
        list[str] | None,
        typer.Argument(help="单位=等次（或分数），如 住建局=优秀 城管局=称职（评语可写在括号里）"),
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="评议表 CSV：单位,等次(或分数)[,评语]")
    ] = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    entries = R.parse_entries(" ".join(grades or ()))
    if file is not None:
        entries += _entries_file(file)
    if not entries:
        bad_input("请给出评定：单位=等次，如 住建局=优秀；或 --file 评议表.csv")
    _done(D.rate(rt.routing, year=year, rater=rater, entries=entries), json)


def remark(
    ctx: typer.Context,
    year: YearOpt,
    unit: Annotated[str, typer.Argument(help="单位（代码或名称）")],
    text: Annotated[str, typer.Argument(help="书面点评内容")],
    leader: Annotated[str, typer.Option("--leader", help="点评的分管领导姓名")],
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    _done(D.remark(rt.routing, year=year, unit=unit, text=text, by=leader), json)


def close(ctx: typer.Context, year: YearOpt, by: ByOpt = None, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        label = actor_for(session, by).label
    _done(D.close_round(rt.routing, year=year, by=label), json)


def ask(
    ctx: typer.Context,
    unit: Annotated[str, typer.Argument(help="被提问的单位（代码或名称）")],
    question: Annotated[str, typer.Argument(help="问题")],
    by: Annotated[str, typer.Option("--by", help="提问人，如 人大代表张三")],
    year: Annotated[int | None, typer.Option("--year", "-y", help="年度（默认今年）")] = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    chosen = year if year is not None else rt.rules.local_date(rt.now()).year
    _done(D.ask(rt.routing, year=chosen, unit=unit, question=question, by=by), json)


def questions(ctx: typer.Context, year: YearOpt, json: JsonOpt = False) -> None:
    from review.questions import questions as list_questions

    rt = runtime(ctx)
    with rt.session() as session:
        rows = list_questions(session, year=year, now=rt.now())
    if json:
        emit_json({"year": year, "questions": [r.as_dict() for r in rows]})
        return
    if not rows:
        say(f"{year}年度没有记录提问")
        return
    for r in rows:
        late = "，已超期" if r.overdue else ""
        say(f"{r.number}  {r.asked_by} → {r.unit_label}：{r.question}")
        say(f"    {r.state_label}，时限 {r.due_date.isoformat()}{late}")
        if r.answer:
            say(f"    答复：{r.answer}")


def result(
    ctx: typer.Context,
    year: YearOpt,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="写入此目录（默认 DUBAN_HOME/reports/）")
    ] = None,
    post: Annotated[bool, typer.Option("--post", help="同时发送到督查群")] = False,
    force: Annotated[bool, typer.Option("--force", help="覆盖已存在的文件")] = False,
    json: JsonOpt = False,
) -> None:
    from duban.outputs import output_guard
    from reports.errors import ReportError
    from reports.render import to_jsonable

    rt = runtime(ctx)
    folder = out or rt.settings.reports_path
    guard = output_guard(rt.settings, force=force)
    try:
        done = D.result(rt.routing, year=year, folder=folder, guard=guard, post=post)
    except ReportError as exc:
        fail(str(exc), exc.exit_code)
    if json:
        data = to_jsonable(done.result.as_dict())  # type: ignore[attr-defined]
        emit_json(
            {**data, "files": {k: str(v) for k, v in done.files.items()}, "posted": done.posted}
        )
        return
    say(done.text)
    for path in done.files.values():
        say(str(path))


def status(ctx: typer.Context, year: YearOpt, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    result = D.tally(rt.routing, year=year)
    if json:
        emit_json(result.as_dict())
        return
    say(f"{year}年度评议（{R.STATE_LABELS[result.state]}）")
    for row in result.units:
        score = "—" if row.score is None else f"{row.score:.2f}"
        grades = "，".join(f"{g}{n}" for g, n in row.grades.items() if n)
        say(f"{row.label}  评议得分 {score}  共{row.rated}份" + (f"（{grades}）" if grades else ""))
    done = len(result.raters) - len(result.pending)
    say(f"评议人已提交 {done}/{len(result.raters)}")
    for rater in result.pending:
        say(f"  未提交：{rater.name}（{rater.group}）")


def _done(result: D.ReviewResult, json: bool) -> None:
    if json:
        emit_json({"year": result.year, "count": result.count, "text": result.text})
    else:
        say(result.text)
