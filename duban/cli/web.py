"""``duban web``: the web desk (uvicorn), loopback by default; ``--demo`` on the demo ledger."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from duban.cli.common import fail, runtime, say
from duban.runtime import Runtime
from duban.settings import REPO_ROOT

DEMO_HOME = REPO_ROOT / "var" / "demo"
# Demo people given a password on start (code, what they do in the demo).
DEMO_LOGINS = (
    ("ducha1", "督查员：审批延期、核查评分"),
    ("luru1", "录入员：分办、导入"),
    ("zjj-ld", "住建局负责人：签收、反馈、申请延期"),
    ("cgj-1", "城管局负责人"),
    ("admin", "管理员"),
)


def register(app: typer.Typer) -> None:
    app.command("web", help="督查工作台网页 (serve the web desk)")(web)


def web(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="监听地址（默认仅本机）")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="端口")] = 8000,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="使用演示台账 var/demo（先运行 make demo），并打印演示账号"),
    ] = False,
    secure_cookies: Annotated[
        bool,
        typer.Option("--secure-cookies", help="Cookie 仅经 HTTPS 发送（反向代理提供 HTTPS 时）"),
    ] = False,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers", help="信任反向代理的 X-Forwarded-For（登录限流按真实地址）"
        ),
    ] = False,
) -> None:
    import uvicorn

    from web.app import create_app

    rt = demo_runtime() if demo else runtime(ctx)
    rt.check_schema()
    if demo:
        for line in demo_logins(rt):
            say(line)
    from web.render import STATIC

    if not (STATIC / "vendor" / "htmx.min.js").exists():
        say(
            "注意：缺少 web/static/vendor/htmx.min.js（运行 make web-assets）；"
            "页面可用，但不能局部刷新"
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"注意：监听 {host}，其他机器可访问；请在反向代理后提供 HTTPS（见 deploy/）")
    say(f"督查工作台：http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/  （Ctrl+C 停止）")
    uvicorn.run(
        create_app(rt, secure_cookies=secure_cookies),
        host=host,
        port=port,
        proxy_headers=proxy_headers,
        log_level="warning",
    )


def demo_runtime(home: Path | None = None) -> Runtime:
    from duban.demo import DEMO_DATA, DemoSettings

    home = home or DEMO_HOME
    if not (home / "duban.db").exists():
        fail(f"没有演示台账 {home}：请先运行 make demo（或 duban demo）")
    return Runtime(settings=DemoSettings(home=home, data_dir=DEMO_DATA))


def demo_logins(rt: Runtime) -> list[str]:
    """Give a few demo people a fresh random password and say them (the demo ledger only)."""
    from ledger.directory import get_person
    from web.auth import set_password

    lines = ["演示账号（仅演示台账；每次启动重新生成密码）："]
    with rt.session() as session:
        for code, what in DEMO_LOGINS:
            person = get_person(session, code)
            password = secrets.token_urlsafe(9)
            set_password(session, person, password, by="duban web --demo", now=rt.now())
            lines.append(f"  {code:<8} 密码 {password}   {person.name}，{what}")
    return lines
