"""Chat platforms come from one registry; the hub, not the adapter, decides on invitations."""

from __future__ import annotations

import asyncio
import io

import pytest

from bots import console, identity, platforms
from bots.adapter import Invitable
from bots.console import ConsoleAdapter
from bots.errors import NotConfigured
from bots.hub import ChatHub
from bots.matrix import MatrixAdapter
from bots.memory import MemoryAdapter
from ledger.directory import get_person
from routing.context import RoutingContext


def setup(ctx: RoutingContext, **kw) -> platforms.PlatformSetup:
    return platforms.PlatformSetup(
        settings=kw.pop("settings", None), engine=ctx.engine, now=ctx.now, **kw
    )


def test_each_platform_name_resolves_to_its_factory() -> None:
    assert set(platforms.PLATFORM_ALIASES) == {"console", "telegram", "matrix", "dingtalk"}
    assert platforms.resolve_platform("console") is console.make_adapter
    assert platforms.resolve_platform("bots.console.make_adapter") is console.make_adapter
    for wrong in ("feishu", "bots.nowhere.make_adapter", "bots.console.no_such_factory"):
        with pytest.raises(NotConfigured, match="聊天平台"):
            platforms.resolve_platform(wrong)


def test_the_console_is_built_from_the_registry(ctx: RoutingContext) -> None:
    out = io.StringIO()
    (adapter,) = platforms.build(
        ["console"], setup(ctx, stdin=io.StringIO("@luru1 /帮助\n"), stdout=out)
    )
    assert isinstance(adapter, ConsoleAdapter) and adapter.echo  # a script, not a terminal
    with pytest.raises(NotConfigured, match="同一平台"):
        platforms.build(["console", "console"], setup(ctx))


def test_an_unconfigured_platform_is_refused_before_anything_starts(
    ctx: RoutingContext,
) -> None:
    class Bare:
        telegram_token = None

    with pytest.raises(NotConfigured, match="DUBAN_TELEGRAM_TOKEN"):
        platforms.build(["telegram"], setup(ctx, settings=Bare()))


def test_only_an_administrators_invitation_is_accepted_by_the_hubs_rule(
    ctx: RoutingContext,
) -> None:
    with ctx.session() as session:
        for code, mxid in (("admin", "@admin:hs"), ("luru1", "@luru1:hs")):
            identity.link_account(
                session,
                platform="matrix",
                account_id=mxid,
                person=get_person(session, code),
                via="cli",
                now=ctx.now(),
            )
    adapter = MatrixAdapter(homeserver="http://hs", user="@bot:hs", password="x", engine=ctx.engine)
    assert adapter.on_invite is None  # alone, an adapter joins nothing
    hub = ChatHub(ctx)
    hub.add(adapter)
    hub.add(MemoryAdapter())  # no invitations on this platform: nothing to supply
    assert isinstance(adapter, Invitable) and adapter.on_invite == hub.may_join

    async def answers() -> list[bool]:
        assert adapter.on_invite is not None
        return [
            await adapter.on_invite("matrix", mxid)
            for mxid in ("@admin:hs", "@luru1:hs", "@stranger:hs")
        ]

    assert asyncio.run(answers()) == [True, False, False]
