"""``duban bot``, ``duban bind``, ``duban people invite|link`` and ``duban outbox``."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import signal
import sys
from typing import Annotated, Any

import typer

from duban.cli.common import JsonOpt, bad_input, emit_json, fail, runtime, say
from duban.runtime import Runtime


def register(app: typer.Typer) -> None:
    app.command(
        "bot", help="聊天机器人 (run the chat bot: --console, --telegram, --matrix, --dingtalk)"
    )(bot)
    app.command("bind", help="绑定群聊 (bind a chat to a unit, the intake desk or supervisors)")(
        bind
    )
    people = _subgroup(app, "people", "人员 (people and roles)")
    people.command("invite", help="生成绑定码 (a one-time code that links a chat account)")(invite)
    people.command("link", help="直接绑定聊天账号 (link a chat account to a person)")(link)
    people.command("unlink", help="解除聊天账号绑定 (forget a chat account's link)")(unlink)
    outbox = typer.Typer(
        help="发送队列 (the outbox: notifications and their deliveries)", no_args_is_help=True
    )
    outbox.command("list", help="列表 (notifications with their deliveries)")(outbox_list)
    outbox.command("retry", help="重发失败的投递 (queue failed deliveries again)")(outbox_retry)
    app.add_typer(outbox, name="outbox")


def _subgroup(app: typer.Typer, name: str, help_text: str) -> typer.Typer:
    """An existing command group (``people`` lives in directory.py), or a new one."""
    for group in app.registered_groups:
        if group.name == name and group.typer_instance is not None:
            return group.typer_instance
    created = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(created, name=name)
    return created


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:operator"


# -- duban bot ---------------------------------------------------------------------------------


def bot(
    ctx: typer.Context,
    console: Annotated[bool, typer.Option("--console", help="控制台 (play every role)")] = False,
    telegram: Annotated[
        bool, typer.Option("--telegram", help="Telegram (DUBAN_TELEGRAM_*)")
    ] = False,
    matrix: Annotated[bool, typer.Option("--matrix", help="Matrix (DUBAN_MATRIX_*)")] = False,
    dingtalk: Annotated[
        bool, typer.Option("--dingtalk", help="钉钉 DingTalk (DUBAN_DINGTALK_*)")
    ] = False,
) -> None:
    """Run the chat bot on the chosen platforms, in one process, until stopped (Ctrl-C,
    SIGTERM) — or, with ``--console``, until standard input ends."""
    names = [
        name
        for name, chosen in (
            ("telegram", telegram),
            ("matrix", matrix),
            ("dingtalk", dingtalk),
            ("console", console),
        )
        if chosen
    ]
    if not names:
        bad_input("请选择平台：--console、--telegram、--matrix、--dingtalk（可同时选择多个）")
    rt = runtime(ctx)
    _check_schema(rt)
    from bots import platforms  # the chat stack loads only for ``duban bot``
    from bots.console import ConsoleAdapter
    from bots.handlers import Handlers
    from bots.runner import BotRunner

    # httpx logs every request URL at INFO, and a Telegram URL carries the bot token
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.root.level))
    # matrix-nio logs a line per event at INFO and whole sync bodies (citizens' text) at
    # DEBUG: keep it at WARNING whatever the level asked for.
    logging.getLogger("nio").setLevel(logging.WARNING)

    setup = platforms.PlatformSetup(
        settings=rt.settings, engine=rt.engine, now=rt.now, stdin=sys.stdin, stdout=sys.stdout
    )
    adapters = platforms.build(names, setup)
    handlers = Handlers(
        rt.routing, report_dir=rt.settings.reports_path, web_url=rt.settings.web_url
    )
    runner = BotRunner(
        rt.routing,
        adapters,
        handlers=handlers,
        outbox_interval=rt.settings.bot_outbox_interval,
        redis_url=rt.settings.redis_url,
    )
    until = None
    for adapter in adapters:
        if isinstance(adapter, ConsoleAdapter):  # ends with its input, each line settled
            adapter.settle = runner.outbox.drain
            until = adapter.closed
            if sys.stdin.isatty():
                say(CONSOLE_BANNER)
    asyncio.run(_serve(runner, until))


CONSOLE_BANNER = """督办助手·控制台：每行一条消息，以 @人员编号 开头，例如
  @luru1 东湖路路灯不亮，晚上很黑        （录入员在录入台粘贴留言）
  @zjj-1 /签收 DB-2026-000001            （住建局经办人在本单位群签收）
  @zjj-1 ^/回复 已修复                    （^ 表示回复本群最近一条机器人消息）
  @ducha1 #私聊 /待办                     （#群名 指定聊天：intake、supervisors、单位代码、私聊）
人员见 duban people list；Ctrl-D 退出。"""


async def _serve(runner: Any, until: asyncio.Event | None) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # not possible outside the main thread (tests): Ctrl-C then stops the process
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, runner.request_stop)
    await runner.run(until=until)


def _check_schema(rt: Runtime) -> None:
    from ledger import schema

    current = schema.current_revision(rt.engine)
    if current != schema.head_revision():
        fail(f"台账结构版本为 {current or '空'}，请先运行 duban init 或 duban db upgrade")


# -- duban bind --------------------------------------------------------------------------------


def bind(
    ctx: typer.Context,
    platform: Annotated[str | None, typer.Option(help="平台：telegram、matrix")] = None,
    chat: Annotated[
        str | None, typer.Option(help="群 ID（Telegram 群号 / Matrix 房间 ID）")
    ] = None,
    unit: Annotated[str | None, typer.Option(help="单位群：单位名称、简称或代码")] = None,
    intake: Annotated[bool, typer.Option("--intake", help="录入台")] = False,
    supervisors: Annotated[bool, typer.Option("--supervisors", help="督查群")] = False,
    title: Annotated[str | None, typer.Option(help="备注名")] = None,
    remove: Annotated[bool, typer.Option("--remove", help="解除绑定")] = False,
    list_: Annotated[bool, typer.Option("--list", help="列出全部绑定")] = False,
    json: JsonOpt = False,
) -> None:
    """Bind a chat: ``duban bind --platform telegram --chat -1001234 --unit 住建局``."""
    from bots import identity
    from ledger.directory import find_unit

    rt = runtime(ctx)
    if list_:
        with rt.session() as session:
            units = {u.id: u for u in _units(session)}
            rows = [_binding_row(b, units) for b in identity.bindings(session)]
        if json:
            emit_json(rows)
        else:
            for row in rows or []:
                say(
                    f"{row['platform']:<9} {row['chat_id']:<28} {row['role_label']}"
                    f"{'（' + row['unit_name'] + '）' if row['unit_name'] else ''}"
                )
            if not rows:
                say("尚未绑定任何群")
        return
    if not platform or not chat:
        bad_input("请指定 --platform 和 --chat（或 --list）")
    platform = _platform(platform)
    if remove:
        with rt.session() as session:
            removed = identity.unbind_chat(session, platform=platform, chat_id=chat)
        if json:
            emit_json({"platform": platform, "chat_id": chat, "removed": removed})
        else:
            say(f"已解除绑定：{platform}:{chat}" if removed else f"{platform}:{chat} 未绑定")
        return
    roles = [
        r
        for r, on in (("unit", unit is not None), ("intake", intake), ("supervisors", supervisors))
        if on
    ]
    if len(roles) != 1:
        bad_input("请指定一种用途：--unit 单位名称、--intake 或 --supervisors")
    with rt.session() as session:
        unit_row = find_unit(session, unit) if unit else None
        binding, replaced = identity.bind_chat(
            session,
            platform=platform,
            chat_id=chat,
            role=roles[0],
            unit=unit_row,
            bound_by=operator(),
            now=rt.now(),
            title=title,
        )
        row = _binding_row(binding, {unit_row.id: unit_row} if unit_row else {})
    row["replaced"] = replaced
    if json:
        emit_json(row)
        return
    where = f"（{row['unit_name']}）" if row["unit_name"] else ""
    say(f"{'已改绑' if replaced else '已绑定'}：{platform}:{chat} → {row['role_label']}{where}")


def _units(session: Any) -> list[Any]:
    from ledger.directory import list_units

    return list_units(session)


def _binding_row(binding: Any, units: dict[int, Any]) -> dict[str, Any]:
    from bots.identity import ROLE_LABELS

    unit = units.get(binding.unit_id) if binding.unit_id is not None else None
    return {
        "platform": binding.platform,
        "chat_id": binding.chat_id,
        "role": binding.role,
        "role_label": ROLE_LABELS.get(binding.role, binding.role),
        "unit": unit.code if unit else None,
        "unit_name": unit.short_name if unit else None,
        "title": binding.title,
        "bound_by": binding.bound_by,
        "bound_at": binding.bound_at,
    }


# -- duban people invite / link ------------------------------------------------------------------


def invite(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="人员编号 (person code)")],
    hours: Annotated[
        int | None, typer.Option(help="有效小时数 (default DUBAN_INVITE_HOURS)")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Print a one-time code; the person sends ``/绑定 CODE`` to the bot on any platform."""
    from bots import identity
    from ledger.directory import get_person

    rt = runtime(ctx)
    with rt.session() as session:
        who = get_person(session, person)
        made = identity.create_invite(
            session,
            who,
            created_by=operator(),
            now=rt.now(),
            hours=rt.settings.invite_hours if hours is None else hours,
        )
        row = {
            "person": who.code,
            "name": who.name,
            "code": made.code,
            "expires_at": made.expires_at,
        }
    if json:
        emit_json(row)
        return
    local = row["expires_at"].astimezone(rt.tz)
    say(
        f"{row['name']}（{row['person']}）的绑定码：{row['code']}，"
        f"{local:%Y-%m-%d %H:%M} 前有效，仅可使用一次。"
    )
    say(f"请本人在 Telegram 或 Matrix 中向督办助手发送：/绑定 {row['code']}")


def _platform(name: str) -> str:
    """``--platform`` as the adapters name themselves: ``Telegram`` was stored as typed and
    never matched a message (the binding silently did nothing)."""
    from bots.platforms import PLATFORM_ALIASES

    text = name.strip()
    if text.lower() in PLATFORM_ALIASES:
        return text.lower()
    typer.echo(
        f"注意: 「{text}」不是内置的聊天平台（{'、'.join(PLATFORM_ALIASES)}）；"
        f"只有自建适配器使用这个名称时，绑定才会生效",
        err=True,
    )
    return text


def link(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="人员编号 (person code)")],
    platform: Annotated[str, typer.Option(help="平台：telegram、matrix")],
    account: Annotated[str, typer.Option(help="账号：Telegram 用户 ID / Matrix ID")],
    private_chat: Annotated[
        str | None, typer.Option(help="与机器人的私聊 ID（Telegram 即用户 ID）")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Link a chat account to a person without an invite (the administrator vouches)."""
    from bots import identity
    from ledger.directory import get_person

    platform = _platform(platform)
    rt = runtime(ctx)
    with rt.session() as session:
        who = get_person(session, person)
        made = identity.link_account(
            session,
            platform=platform,
            account_id=account,
            person=who,
            via="cli",
            now=rt.now(),
            private_chat_id=private_chat,
        )
        row = {
            "person": who.code,
            "name": who.name,
            "platform": made.platform,
            "account_id": made.account_id,
            "private_chat_id": made.private_chat_id,
        }
    if json:
        emit_json(row)
    else:
        say(f"已绑定：{platform}:{account} → {row['name']}（{row['person']}）")


def unlink(
    ctx: typer.Context,
    platform: Annotated[str, typer.Option(help="平台：telegram、matrix")],
    account: Annotated[str, typer.Option(help="账号：Telegram 用户 ID / Matrix ID")],
    json: JsonOpt = False,
) -> None:
    from bots import identity

    platform = _platform(platform)
    rt = runtime(ctx)
    with rt.session() as session:
        removed = identity.unlink_account(session, platform=platform, account_id=account)
    if json:
        emit_json({"platform": platform, "account_id": account, "removed": removed})
    elif removed:
        say(f"已解除：{platform}:{account}")
    else:
        fail(f"{platform}:{account} 未绑定", 2)


# -- duban outbox -------------------------------------------------------------------------------


def outbox_list(
    ctx: typer.Context,
    pending: Annotated[
        bool, typer.Option("--pending", help="只看未发完的 (pending, queued, unbound, failed)")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="最多条数")] = 200,
    json: JsonOpt = False,
) -> None:
    from bots.outbox import outbox_rows

    rt = runtime(ctx)
    with rt.session() as session:
        rows = outbox_rows(session, pending_only=pending, limit=limit)
    if json:
        emit_json(rows)
        return
    if not rows:
        say("发送队列为空" if not pending else "没有待发送的通知")
    from ledger.models import DeliveryStatus, NotificationStatus

    labels = {
        NotificationStatus.PENDING: "待发",
        NotificationStatus.QUEUED: "发送中",
        NotificationStatus.UNBOUND: "无群可发",
        NotificationStatus.SENT: "已发",
        NotificationStatus.FAILED: "失败",
        NotificationStatus.OUTDATED: "已过时",
        DeliveryStatus.SENDING: "发送中",
    }
    for row in rows:
        say(
            f"#{row['id']:<5} {labels.get(row['status'], row['status']):<4} {row['kind']:<10} "
            f"→{row['audience']:<11} {row['ticket'] or '':<15} "
            f"{row['created_at'].astimezone(rt.tz):%m-%d %H:%M}"
        )
        for d in row["deliveries"]:
            sent = d["status"] == DeliveryStatus.SENT
            error = f"  {d['last_error']}" if d["last_error"] and not sent else ""
            say(
                f"        {d['platform']}:{d['chat_id']} {labels.get(d['status'], d['status'])}"
                f" 尝试{d['attempts']}次{error}"
            )


def outbox_retry(
    ctx: typer.Context,
    delivery: Annotated[int | None, typer.Argument(help="投递编号；省略则重发全部失败的")] = None,
    json: JsonOpt = False,
) -> None:
    from bots.outbox import requeue_failed

    rt = runtime(ctx)
    with rt.session() as session:
        count = requeue_failed(session, delivery_id=delivery, now=rt.now())
    if json:
        emit_json({"requeued": count})
    else:
        say(f"已重新排队 {count} 条投递，运行中的 duban bot 将重发")
