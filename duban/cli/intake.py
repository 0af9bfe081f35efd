"""``duban intake``: file pasted text, a 批示件, or a CSV/XLSX/JSONL export; ``duban triage``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duban.cli.common import JsonOpt, bad_input, emit_json, runtime, say
from intake.items import IntakeItem
from intake.outcome import outcome_text, summary_text
from intake.paste import parse_instruction, split_pasted
from intake.readers import Columns, ImportOptions, read_file, screen_junk
from ledger.models import SourceKind
from ledger.policy import MAX_TIME_LIMIT_DAYS
from routing.pipeline import IntakeSummary, file_items


def register(app: typer.Typer) -> None:
    app.command("intake", help="登记留言：导入文件或粘贴文字 (import a file or paste text)")(intake)
    triage = typer.Typer(help="待分办队列 (the triage queue)", no_args_is_help=True)
    triage.command("list", help="待分办列表")(triage_list)
    app.add_typer(triage, name="triage")


def _col(flag: str, default: str) -> object:
    return typer.Option(flag, help=f"列名 (default: recognise headers such as {default})")


Str = str | None


def intake(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="CSV / XLSX / JSONL 导出文件")] = None,
    text: Annotated[Str, typer.Option("--text", help="粘贴的文字，空行或 --- 分隔多条")] = None,
    source: Annotated[str, typer.Option(help="网民留言 / 群众来信 / 批示件 / 其他")] = "网民留言",
    title_col: Annotated[Str, _col("--title-col", "留言主题")] = None,
    text_col: Annotated[Str, _col("--text-col", "留言详情")] = None,
    id_col: Annotated[Str, _col("--id-col", "留言编号")] = None,
    time_col: Annotated[Str, _col("--time-col", "留言时间")] = None,
    user_col: Annotated[Str, _col("--user-col", "留言用户")] = None,
    channel: Annotated[str, typer.Option(help="渠道名（编号在渠道内唯一）")] = "import",
    limit_days: Annotated[int | None, typer.Option(help="批示件限办工作日")] = None,
    by: Annotated[Str, typer.Option("--by", help="录入人编号")] = None,
    json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="文件中不像留言的行（无中文、乱码）过多时仍然导入")
    ] = False,
) -> None:
    try:
        kind = SourceKind.parse(source)
    except ValueError:
        bad_input(f"--source: 未知来源「{source}」，可选：网民留言、群众来信、批示件、其他")
    if limit_days is not None and not 1 <= limit_days <= MAX_TIME_LIMIT_DAYS:
        bad_input(f"--limit-days: 限办工作日须在 1 到 {MAX_TIME_LIMIT_DAYS} 之间（{limit_days}）")
    if (file is None) == (text is None):
        bad_input("请给出一个文件，或用 --text 粘贴文字（二者选一）")
    if file is not None and file.is_dir():  # was an IsADirectoryError
        bad_input(f"{file}: 是目录，不是导出文件；请给出目录中的一个文件")
    channel = _channel(channel)
    rt = runtime(ctx)
    if by is not None:
        by = _submitter(rt, by)
    if file is not None:
        options = ImportOptions(
            source_kind=kind,
            channel=channel,
            tz=rt.tz,
            submitter=by,
            columns=Columns(
                id=id_col, user=user_col, title=title_col, time=time_col, text=text_col
            ),
            limits=rt.policy.intake,
        )
        if not force:  # a file of junk stops here, before anything is stored
            screen_junk(file, options)
        summary = file_items(
            rt.routing,
            read_file(file, options),
            keep_outcomes=False,
            keep_first=LISTED_ROWS,
            parallel=True,
        )
    else:
        items = [_pasted(part, kind, limit_days, by) for part in split_pasted(text or "")]
        if not items:
            bad_input("--text: 没有内容")
        summary = file_items(rt.routing, items)
    _report(summary, json)
    if summary.received and summary.rejected == summary.received:
        raise typer.Exit(2)


def _channel(channel: str) -> str:
    """``--channel``: a name the ids are unique within; an empty or over-long one was taken
    as is (PostgreSQL refused the over-long one mid-import)."""
    from ledger.models import Message, column_size

    name = channel.strip()
    limit = column_size(Message, "channel")
    if not name or len(name) > limit or any(ch.isspace() for ch in name):
        bad_input(
            f"--channel: 渠道名须为 1 到 {limit} 个字符、不含空格，如 import、12345热线"
            f"（现为「{channel[:20]}{'…' if len(channel) > 20 else ''}」）"
        )
    return name


def _submitter(rt, by: str) -> str:
    """``--by``: an active person who may file (录入员, 督查员, 管理员), as in the chat."""
    from ledger.directory import get_person
    from ledger.errors import PermissionDenied
    from ledger.models import Role

    if not by.strip():
        bad_input("--by: 录入人编号不能为空；不登记录入人请省略 --by")
    with rt.session() as session:
        person = get_person(session, by)
    if not person.active:
        raise PermissionDenied(f"{person.name} 的账号已停用 (person is inactive)")
    if not person.has_role(Role.INTAKE, Role.SUPERVISOR, Role.ADMIN):
        raise PermissionDenied(
            f"{person.name}({person.code}) 不是录入员或督查人员，不能登记留言"
            f" (only intake staff or supervisors may file)"
        )
    return person.code


def _pasted(text: str, kind: SourceKind, limit_days: int | None, by: str | None) -> IntakeItem:
    item = IntakeItem(text=text, source_kind=kind, channel="paste", submitter=by)
    if kind is SourceKind.INSTRUCTION:
        item.has_time_limit, item.time_limit_days = parse_instruction(text)
        if limit_days is not None:
            item.has_time_limit, item.time_limit_days = True, limit_days
    return item


LISTED_ROWS = 200  # a file's first rows are listed one by one; after them only problems


def _report(summary: IntakeSummary, json: bool) -> None:
    if json:
        emit_json(summary.to_dict())
        return
    say(summary_text(summary))
    for outcome in summary.outcomes:
        say(outcome_text(outcome, row_word="行")[0])
    unlisted = summary.received - len(summary.outcomes)
    if unlisted > 0:
        say(
            f"（其余 {unlisted} 行未逐行列出；待分办的见 duban triage list，"
            "全部督办件见 duban tickets list）"
        )


def triage_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    from desk.queries import triage_queue

    rt = runtime(ctx)
    with rt.session() as session:
        rows = triage_queue(session)
    if json:
        emit_json([row.as_dict() for row in rows])
        return
    if not rows:
        say("待分办队列为空")
    for row in rows:
        names = "、".join(f"{s['unit_name']}({s['confidence']:.0%})" for s in row.choices)
        returned = f"  （{'、'.join(row.returned_by)}退回）" if row.returned_by else ""
        say(f"{row.number}  {row.state_label}  建议：{names or '无'}{returned}  {row.preview}")
