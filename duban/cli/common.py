"""Helpers shared by the CLI commands: the runtime, output, exit codes."""

from __future__ import annotations

import json
import sys
from datetime import date
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


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        bad_input(f"{field}: 「{value}」不是日期，请用 YYYY-MM-DD (not a date)")
