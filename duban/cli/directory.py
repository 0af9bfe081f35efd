"""``duban units`` and ``duban people``."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import select

from duban.cli.common import JsonOpt, bad_input, emit_json, runtime, say
from ledger.directory import list_units
from ledger.models import ROLE_LABELS, Person, Role


def register(app: typer.Typer) -> None:
    units = typer.Typer(help="责任单位 (units)", no_args_is_help=True)
    units.command("list", help="单位列表")(units_list)
    app.add_typer(units, name="units")
    people = typer.Typer(help="人员 (people and roles)", no_args_is_help=True)
    people.command("list", help="人员列表")(people_list)
    people.command("set-password", help="设置网页登录密码 (set the web password)")(set_password)
    people.command("token", help="发放个人接口令牌 (issue an API token for /api/v1)")(token)
    app.add_typer(people, name="people")


def units_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        rows = [
            {
                "code": u.code,
                "name": u.name,
                "short_name": u.short_name,
                "aliases": u.aliases,
                "kind": u.kind,
                "active": u.active,
                "parent_id": u.parent_id,
            }
            for u in list_units(session)
        ]
    if json:
        emit_json(rows)
        return
    for row in rows:
        mark = "" if row["active"] else " (停用)"
        say(f"{row['code']:<6} {row['short_name']:<8} {row['name']}{mark}")


def people_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    with rt.session() as session:
        units = {u.id: u for u in list_units(session)}
        rows = [
            {
                "code": p.code,
                "name": p.name,
                "roles": p.roles,
                "active": p.active,
                "unit": units[p.unit_id].code if p.unit_id in units else None,
            }
            for p in session.exec(select(Person).order_by(Person.id))
        ]
    if json:
        emit_json(rows)
        return
    for row in rows:
        roles = "、".join(ROLE_LABELS[Role(r)] for r in row["roles"])
        mark = "" if row["active"] else " (停用)"
        say(f"{row['code']:<8} {row['name']:<4} {row['unit'] or '-':<6} {roles}{mark}")


def set_password(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="人员编号")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="从标准输入读取密码（一行）")
    ] = False,
) -> None:
    """Set a person's web password (argon2); their open web sessions end."""
    import getpass
    import sys

    from ledger.directory import get_person
    from web.auth import set_password as store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("新密码：")
        if getpass.getpass("再输入一次：") != password:
            bad_input("两次输入的密码不一致")
    rt = runtime(ctx)
    with rt.session() as session:
        person = get_person(session, code)
        if not person.active:
            bad_input(f"{person.name}({person.code}) 的账号已停用")
        store(session, person, password, by=_operator(), now=rt.now())
    say(f"已设置 {person.name}({person.code}) 的网页登录密码")


def token(
    ctx: typer.Context,
    code: Annotated[str, typer.Argument(help="人员编号")],
    label: Annotated[str | None, typer.Option(help="用途说明")] = None,
) -> None:
    """Print a new personal API token as the last line (only its hash is stored)."""
    from ledger.directory import get_person
    from ledger.models import ApiToken, column_size
    from web.auth import issue_token

    limit = column_size(ApiToken, "label")
    if label is not None and len(label) > limit:  # PostgreSQL refused it: an internal error
        bad_input(f"--label: 用途说明最多 {limit} 个字（现有 {len(label)} 个）")
    rt = runtime(ctx)
    with rt.session() as session:
        person = get_person(session, code)
        if not person.active:
            bad_input(f"{person.name}({person.code}) 的账号已停用")
        secret = issue_token(session, person, by=_operator(), now=rt.now(), label=label)
    say(f"{person.name}({person.code}) 的接口令牌（只显示这一次，请妥善保存）：")
    say(secret)


def _operator() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:console"
