"""Helpers shared by the CLI commands: the runtime, output, exit codes."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, NoReturn

import typer

from duban.runtime import Runtime
from duban.settings import Settings
from reports.render import to_jsonable

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

JsonOpt = Annotated[bool, typer.Option("--json", help="输出 JSON (machine-readable output)")]
ByOpt = Annotated[
    str | None,
    typer.Option("--by", help="操作人编号 (person code acting); 省略则记为控制台操作员"),
]


def runtime(ctx: typer.Context) -> Runtime:
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Runtime(settings=Settings())
    return root.obj


def emit_json(data: Any) -> None:
    """One JSON document on stdout (UTF-8, Chinese kept readable)."""
    sys.stdout.write(json.dumps(to_jsonable(data), ensure_ascii=False) + "\n")


def say(text: str) -> None:
    typer.echo(text)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    typer.echo(f"错误: {message}", err=True)
    raise typer.Exit(code)


def bad_input(message: str) -> NoReturn:
    fail(message, EXIT_BAD_INPUT)


# The years a date typed on the command line may fall in (as --week / --month / --year)
YEARS = (1900, 2999)
_CHINESE_DATE = re.compile(r"(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?")


def _normalised(value: str) -> str:
    """Full-width digits and punctuation (typed with a Chinese input method) made half-width."""
    return unicodedata.normalize("NFKC", value).strip()


def parse_date(value: str, field: str) -> date:
    """A date as offices write it: 2026-12-06, 2026/12/6, 2026年12月6日, full-width too."""
    text = _normalised(value)
    match = _CHINESE_DATE.fullmatch(text)
    try:
        if match is not None:
            return date(*(int(part) for part in match.groups()))
        return date.fromisoformat(text)
    except ValueError:
        bad_input(f"{field}: 「{value}」不是日期，请用 YYYY-MM-DD (not a date)")


def parse_moment(
    value: str, field: str, tz: tzinfo, *, date_only: Callable[[date], datetime]
) -> datetime:
    """A moment given on the command line (``--as-of``): a date (``date_only`` says which
    moment of it), or a date and time, in the office's zone unless an offset is given; the
    year within :data:`YEARS` (``0001-01-01`` overflowed the reports' date arithmetic)."""
    text = _normalised(value)
    match = _CHINESE_DATE.fullmatch(text)
    try:
        if match is not None or len(text) == 10:
            moment = date_only(parse_date(text, field))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        bad_input(
            f"{field}: 「{value}」不是日期或时间，请写成 2026-11-23 或 2026-11-23T09:00"
            " (not a time)"
        )
    if not YEARS[0] <= moment.year <= YEARS[1]:
        bad_input(f"{field}: 「{value}」的年份须在 {YEARS[0]}–{YEARS[1]} 之间 (year out of range)")
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment
