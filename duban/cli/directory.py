"""``duban units`` and ``duban people``."""

from __future__ import annotations

import typer
from sqlmodel import select

from duban.cli.common import JsonOpt, emit_json, runtime, say
from ledger.directory import list_units
from ledger.models import ROLE_LABELS, Person, Role


def register(app: typer.Typer) -> None:
    units = typer.Typer(help="责任单位 (units)", no_args_is_help=True)
    units.command("list", help="单位列表")(units_list)
    app.add_typer(units, name="units")
    people = typer.Typer(help="人员 (people and roles)", no_args_is_help=True)
    people.command("list", help="人员列表")(people_list)
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
