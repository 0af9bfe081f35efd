"""``duban init`` and ``duban db``: create and upgrade the ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from duban.cli.common import JsonOpt, bad_input, emit_json, runtime, say
from ledger import schema
from ledger.directory import load_directory, read_directory
from ledger.errors import BadInput, LedgerError
from ledger.models import Unit


def register(app: typer.Typer) -> None:
    app.command("init", help="建库并导入单位和人员 (create/upgrade the ledger, load units.yaml)")(
        init
    )
    db = typer.Typer(help="数据库结构 (schema migrations)", no_args_is_help=True)
    db.command("upgrade", help="升级到最新结构 (upgrade to the latest schema)")(upgrade)
    db.command("current", help="当前结构版本 (current schema revision)")(current)
    app.add_typer(db, name="db")


def init(
    ctx: typer.Context,
    units: Annotated[
        Path | None, typer.Option("--units", help="单位名册 YAML (default DATA_DIR/units.yaml)")
    ] = None,
    json: JsonOpt = False,
) -> None:
    rt = runtime(ctx)
    path = units or rt.settings.data_dir / "units.yaml"
    warnings = check_data_folder(rt.settings.data_dir, path)
    revision = schema.upgrade(rt.engine)
    with rt.session() as session:
        loaded = load_directory(session, path)
    result = {
        "database": rt.engine.url.render_as_string(hide_password=True),
        "revision": revision,
        "units_created": loaded.units_created,
        "units_updated": loaded.units_updated,
        "people_created": loaded.people_created,
        "people_updated": loaded.people_updated,
        "units_deactivated": loaded.units_deactivated,
        "people_deactivated": loaded.people_deactivated,
        "open_at_inactive_units": loaded.open_at_inactive,
        "data_dir": rt.settings.data_dir,
        "warnings": warnings,
    }
    if json:
        emit_json(result)
        return
    say(f"台账已就绪: {result['database']} (结构版本 {revision})")
    say(f"数据目录: {rt.settings.data_dir}（名册、分办规则、办理规则、日历已核对）")
    say(
        f"单位: 新增 {loaded.units_created}, 更新 {loaded.units_updated}; "
        f"人员: 新增 {loaded.people_created}, 更新 {loaded.people_updated}"
    )
    if loaded.units_deactivated or loaded.people_deactivated:
        say(
            f"名册中已没有的: 停用单位 {loaded.units_deactivated}, "
            f"停用人员 {loaded.people_deactivated} (记录保留)"
        )
    for code, count in loaded.open_at_inactive.items():
        say(
            f"注意: 已停用的单位 {code} 仍有 {count} 件未办结，请改派 "
            f"(duban tickets list --unit {code} --open)"
        )
    for warning in warnings:
        say(f"注意: {warning}")


def check_data_folder(data_dir: Path, units_path: Path) -> list[str]:
    """Check the office's files against its units before the ledger is touched.

    The units file, the routing rules (every unit they name must be one of the units in the
    file, active), the policy and the calendar; the first bad entry is refused (exit 2) with
    the file and the entry named. Returns warnings that do not stop ``init``: a published
    calendar year that leaves out a statutory day off.
    """
    from ledger import yamlfile
    from ledger.calendar import STATUTORY_SINCE, check_notice, parse_overrides
    from ledger.policy import load_policy
    from routing.errors import BadRules
    from routing.rules import load_rules

    refused = "，台账未改动"
    if not units_path.exists():
        raise BadInput(f"{units_path}: 找不到单位名册{refused}（duban office new 可生成模板）")
    try:
        document = read_directory(units_path)
    except BadInput as exc:
        raise BadInput(f"单位名册有误{refused}: {exc}") from None
    units = [
        Unit(
            code=entry["code"],
            name=entry["name"],
            short_name=entry["short"],
            aliases=[str(alias) for alias in entry.get("aliases") or []],
            kind=entry.get("kind", "department"),
        )
        for entry in document.get("units") or []
        if entry.get("active", True) is not False
    ]
    rules_path = data_dir / "routing_rules.yaml"
    try:
        if rules_path.exists():  # another encoding was a UnicodeDecodeError (a traceback)
            yamlfile.read_text(rules_path, error=BadInput)
    except BadInput as exc:
        raise BadInput(f"分办规则有误{refused}: {exc}") from None
    try:
        load_rules(rules_path, units)
    except BadRules as exc:
        hint = (
            "（unit 须为 units.yaml 中在用单位的代码、全称、简称或别名）"
            if "unknown unit" in str(exc)
            else ""
        )
        raise BadInput(f"分办规则有误{refused}: {exc}{hint}") from None
    try:
        load_policy(data_dir / "policy.yaml")
    except BadInput as exc:
        raise BadInput(f"办理规则有误{refused}: {exc}") from None
    calendar_path = data_dir / "calendar.yaml"
    try:
        overrides = parse_overrides(calendar_path) if calendar_path.exists() else {}
    except LedgerError as exc:
        raise BadInput(f"节假日安排有误{refused}: {exc}") from None
    warnings = []
    for year, override in sorted(overrides.items()):
        if year < STATUTORY_SINCE or not override.published:
            continue
        missing = check_notice(override).missing
        if missing:
            days = "、".join(f"{day.isoformat()}（{festival}）" for day, festival in missing)
            warnings.append(
                f"{calendar_path}: {year} 年的安排中缺少法定节假日 {days}，"
                f"请核对通知 (duban calendar check {year})"
            )
    return warnings


def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="目标版本 (target revision)")] = "head",
    json: JsonOpt = False,
) -> None:
    if revision != "head" and revision not in schema.revisions():
        known = "、".join(["head", *schema.revisions()])
        bad_input(f"--revision: 未知版本「{revision}」，可选：{known}")
    rt = runtime(ctx)
    before = schema.current_revision(rt.engine)
    after = schema.upgrade(rt.engine, revision)
    if json:
        emit_json({"from": before, "to": after})
    else:
        say(f"数据库结构: {before or '(空)'} -> {after}")


def current(ctx: typer.Context, json: JsonOpt = False) -> None:
    rt = runtime(ctx)
    revision = schema.current_revision(rt.engine)
    head = schema.head_revision()
    if json:
        emit_json({"current": revision, "head": head, "up_to_date": revision == head})
    else:
        state = "已是最新" if revision == head else f"需升级到 {head} (run: duban db upgrade)"
        say(f"当前版本 {revision or '(空库)'}，{state}")
