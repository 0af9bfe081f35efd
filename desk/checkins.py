"""The desk's verbs for 一日三晒, as ``desk.tickets`` is for tickets: post a 晒, mark a
post for spot check (抽查) and record what was found, compile and publish the 要情快讯.

Each function runs one transaction with its checks inside; outbox rows go with it; the
bots are nudged after the commit. A refused step raises and writes nothing.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session

from checkins import digest as G
from checkins import photos as P
from checkins.posting import record
from checkins.record import CHECK_LABELS, FALSE, MARKED, TRUE
from ledger.errors import BadInput, NotFound, PermissionDenied
from ledger.models import CheckinPost, Person, Role
from ledger.tickets import Actor
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

CHECKERS = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class PostResult:
    post_id: int
    created: bool
    text: str  # for the person who posted


@dataclass(frozen=True, slots=True)
class CheckResult:
    post_id: int
    state: str  # marked | true | false
    text: str


def photo_dir(ctx: RoutingContext) -> Path:
    home = ctx.home or Path(tempfile.gettempdir()) / "duban-home"
    return P.photo_folder(home)


def post(
    ctx: RoutingContext,
    *,
    actor: Actor,
    platform: str,
    chat_id: str,
    message_id: str,
    text: str,
    photos: Sequence[bytes] = (),
    location: dict[str, Any] | None = None,
) -> PostResult:
    """One 晒 from a chat message; photos are checked and stored before anything is written
    (a bad photo refuses the post)."""
    person = _person(actor)
    policy = ctx.policy.checkins
    for index, data in enumerate(photos, start=1):  # refused before anything is written
        P.check(data, max_bytes=policy.max_photo_bytes, index=index)
    now = ctx.now()
    with ctx.session() as session:
        fresh = session.get(Person, person.id)
        if fresh is None:
            raise NotFound("您的人员信息已不存在，请联系督查室", "person gone")
        stored = [
            P.store(photo_dir(ctx), data, max_bytes=policy.max_photo_bytes, index=i)
            for i, data in enumerate(photos, start=1)
        ]
        done = record(
            session,
            person=fresh,
            platform=platform,
            chat_id=chat_id,
            message_id=message_id,
            text=text,
            photos=stored,
            location=location,
            now=now,
            policy=policy,
            rules=ctx.rules,
        )
        row = done.post
        assert row.id is not None
        late = "（迟晒，计入最近的时段）" if row.late else ""
        named = "，".join(n for n in (done.task_number, done.ticket_number) if n)
        text_out = (
            f"已记录{row.day.month}月{row.day.day}日{row.window}{late}，编号 晒{row.id}"
            + (f"，照片{len(row.photos)}张" if row.photos else "")
            + (f"，已记入 {named}" if named else "")
        )
        result = PostResult(post_id=row.id, created=done.created, text=text_out)
    return result


def mark(ctx: RoutingContext, post_id: int, *, actor: Actor) -> CheckResult:
    """抽查: a supervisor marks a post to be checked on the spot."""
    _checker(actor)
    now = ctx.now()
    with ctx.session() as session:
        row = _post(session, post_id)
        if row.check_state in (TRUE, FALSE):
            raise BadInput(
                f"晒{post_id} 已核实为「{CHECK_LABELS[row.check_state]}」，不能再标记抽查",
                "already checked",
            )
        row.check_state, row.checked_by_id, row.checked_at = MARKED, actor.person_id, now
        session.add(row)
    return CheckResult(
        post_id, MARKED, f"晒{post_id} 已列入抽查，核实后请发送：/抽查 {post_id} 属实|不实 说明"
    )


def check(
    ctx: RoutingContext, post_id: int, *, truthful: bool, note: str | None, actor: Actor
) -> CheckResult:
    """The spot check's result: 属实, or 不实 with a note (it counts against the unit)."""
    _checker(actor)
    if not truthful and not (note or "").strip():
        raise BadInput(f"核实不实须写明情况，例如：/抽查 {post_id} 不实 现场无施工", "no note")
    now = ctx.now()
    state = TRUE if truthful else FALSE
    with ctx.session() as session:
        row = _post(session, post_id)
        if row.check_state in (TRUE, FALSE):
            raise BadInput(
                f"晒{post_id} 已核实为「{CHECK_LABELS[row.check_state]}」", "already checked"
            )
        row.check_state, row.check_note = state, (note or "").strip() or None
        row.checked_by_id, row.checked_at = actor.person_id, now
        session.add(row)
    logger.info("check-in %s checked: %s", post_id, state)
    return CheckResult(post_id, state, f"晒{post_id} 抽查结果已记录：{CHECK_LABELS[state]}")


def compile_digest(ctx: RoutingContext, day: date) -> G.DigestView:
    """The day's draft (made if there is none; new posts added at its end)."""
    _workday(ctx, day)
    with ctx.session() as session:
        row = G.compile_draft(session, day, now=ctx.now())
        return G.view(session, row, policy=ctx.policy.checkins, tz=ctx.rules.tz)


def order_digest(
    ctx: RoutingContext, day: date, post_ids: Sequence[int], *, actor: Actor
) -> G.DigestView:
    """The office picks and orders the draft's posts."""
    _checker(actor)
    with ctx.session() as session:
        row = G.set_posts(session, day, list(post_ids))
        return G.view(session, row, policy=ctx.policy.checkins, tz=ctx.rules.tz)


def publish_digest(ctx: RoutingContext, day: date, *, actor: Actor) -> G.DigestView:
    """第N期 to the groups named in policy, exactly once; a second call refuses, and so
    does a day off or a digest with no post."""
    _checker(actor)
    _workday(ctx, day)
    with ctx.session() as session:
        draft = G.compile_draft(session, day, now=ctx.now())
        if draft.state == G.DRAFT and not draft.post_ids:
            raise BadInput(f"{day.isoformat()} 的快讯没有内容，不予发布", "empty digest")
        row = G.publish(
            session,
            day,
            now=ctx.now(),
            by=actor.person_id,
            policy=ctx.policy.checkins,
            tz=ctx.rules.tz,
        )
        result = G.view(session, row, policy=ctx.policy.checkins, tz=ctx.rules.tz)
    ctx.nudge()
    return result


def _workday(ctx: RoutingContext, day: date) -> None:
    if not ctx.rules.calendar.is_workday(day):
        raise BadInput(f"{day.isoformat()} 不是工作日，没有要情快讯", "not a working day")


def _person(actor: Actor) -> Person:
    if actor.person is None or actor.person.id is None:
        raise PermissionDenied("只有登记的人员可以晒工作", "no person")
    return actor.person


def _checker(actor: Actor) -> None:
    """Supervisors (and the console operator, a system actor) check and edit."""
    if actor.person is not None and not actor.person.has_role(*CHECKERS):
        raise PermissionDenied("只有督查人员可以抽查和编发快讯", "not a supervisor")


def _post(session: Session, post_id: int) -> CheckinPost:
    row = session.get(CheckinPost, post_id, with_for_update=True)
    if row is None:
        raise NotFound(f"没有找到 晒{post_id}，请核对编号", f"no check-in {post_id}")
    return row
