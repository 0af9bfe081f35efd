"""Binding chats, linking accounts, one-time invite codes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bots import identity
from bots.errors import BadBinding
from bots.messages import Outcome
from ledger.directory import find_unit, get_person
from routing.context import RoutingContext
from tests.bots.conftest import Desk


def invite(ctx: RoutingContext, code: str = "zjj-ld", hours: int = 72) -> str:
    with ctx.session() as session:
        return identity.create_invite(
            session, get_person(session, code), created_by="test", now=ctx.now(), hours=hours
        ).code


def test_an_invite_links_the_sender_once(desk: Desk, ctx: RoutingContext) -> None:
    code = invite(ctx, "jjdd-1")
    assert desk.say("zjj", "u-new", "/帮助") == Outcome.ANSWERED  # strangers may ask for help
    assert desk.say("zjj", "u-new", f"/绑定 {code[:4]}-{code[4:].lower()}") == Outcome.DONE
    assert desk.last("zjj").startswith("绑定成功：蒋卫东（交警大队）")
    assert desk.say("zjj", "u-other", f"/绑定 {code}") == Outcome.REFUSED
    assert "无效或已过期" in desk.last("zjj")
    with ctx.session() as session:
        account = identity.account_of(session, platform="memory", account_id="u-new")
        assert account is not None and account.linked_via == "invite"
        assert account.private_chat_id is None  # bound in a group


def test_an_expired_invite_is_refused(desk: Desk, ctx: RoutingContext, clock) -> None:
    code = invite(ctx, hours=1)
    clock.advance(hours=1, seconds=1)
    assert desk.say("u-new", "u-new", f"/绑定 {code}", private=True) == Outcome.REFUSED


def test_an_account_linked_to_someone_else_is_not_taken_over(
    desk: Desk, ctx: RoutingContext
) -> None:
    code = invite(ctx, "cgj-2")
    assert desk.say("cgj", "zjj-1", f"/绑定 {code}") == Outcome.REFUSED
    assert "已绑定到「刘洋」" in desk.last("cgj")


def test_a_private_invite_remembers_the_private_chat(desk: Desk, ctx: RoutingContext) -> None:
    code = invite(ctx, "cgj-2")
    assert desk.say("dm-9", "u-9", f"/start {code}", private=True) == Outcome.DONE
    with ctx.session() as session:
        account = identity.account_of(session, platform="memory", account_id="u-9")
    assert account.private_chat_id == "dm-9"


def test_bind_chat_checks_its_arguments(ctx: RoutingContext) -> None:
    with ctx.session() as session:
        zjj = find_unit(session, "zjj")
        with pytest.raises(BadBinding):
            identity.bind_chat(
                session,
                platform="telegram",
                chat_id="-1",
                role="unit",
                unit=None,
                bound_by="t",
                now=ctx.now(),
            )
        with pytest.raises(BadBinding):
            identity.bind_chat(
                session,
                platform="telegram",
                chat_id="-1",
                role="intake",
                unit=zjj,
                bound_by="t",
                now=ctx.now(),
            )
        with pytest.raises(BadBinding):
            identity.bind_chat(
                session,
                platform="telegram",
                chat_id=" ",
                role="intake",
                unit=None,
                bound_by="t",
                now=ctx.now(),
            )
        binding, replaced = identity.bind_chat(
            session,
            platform="telegram",
            chat_id="-1",
            role="unit",
            unit=zjj,
            bound_by="t",
            now=ctx.now(),
        )
        assert not replaced and binding.unit_id == zjj.id


def test_invite_hours_are_bounded(ctx: RoutingContext) -> None:
    with pytest.raises(BadBinding):
        invite(ctx, hours=0)
    with ctx.session() as session:
        made = identity.create_invite(
            session, get_person(session, "zjj-1"), created_by="t", now=ctx.now(), hours=24
        )
    assert made.expires_at - made.created_at == timedelta(hours=24)
    assert set(made.code) <= set(identity.CODE_ALPHABET)
