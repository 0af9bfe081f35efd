"""Posting, the record, reminders, spot checks and the digest on the real ledger
(SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from docx import Document
from sqlmodel import select

from checkins import schedule
from checkins.record import status as day_status
from checkins.record import unit_figures
from desk import checkins as D
from ledger.directory import find_unit
from ledger.errors import BadInput, PermissionDenied
from ledger.models import (
    ChatDelivery,
    CheckinPost,
    Notification,
    NotificationStatus,
    Task,
    TaskEvent,
)
from routing.context import RoutingContext
from tests.checkins.conftest import GROUP_CHAT, actor, png
from tests.helpers import Clock, local

MONDAY = date(2026, 11, 16)
_ids = iter(range(1, 10_000))


def post(ctx: RoutingContext, code: str, text: str, **kw: object) -> D.PostResult:
    return D.post(
        ctx,
        actor=actor(ctx, code),
        platform="telegram",
        chat_id=GROUP_CHAT,
        message_id=str(next(_ids)),
        text=text,
        **kw,
    )  # type: ignore[arg-type]


def states(ctx: RoutingContext, day: date = MONDAY) -> dict[tuple[str, str], str]:
    with ctx.session() as session:
        rows = day_status(session, day, policy=ctx.policy.checkins, rules=ctx.rules, now=ctx.now())
    return {(r.person, r.window): r.state for r in rows}


def test_posts_count_on_time_or_late_and_the_rest_are_missed(
    ctx: RoutingContext, clock: Clock
) -> None:
    clock.now = local(2026, 11, 16, 8, 30)
    first = post(ctx, "zjj-1", "上午到东湖路工地督导安全生产")
    assert first.created and "早晒" in first.text and "迟晒" not in first.text
    clock.now = local(2026, 11, 16, 10, 5)
    late = post(ctx, "zjj-ld", "召开项目推进会")
    assert "迟晒" in late.text
    seen = states(ctx)
    assert seen[("zjj-1", "早晒")] == "posted"
    assert seen[("zjj-ld", "早晒")] == "late"
    assert seen[("cgj-1", "早晒")] == "missed"
    assert seen[("cgj-1", "午晒")] == "open"
    assert ("ducha1", "早晒") not in seen  # not in the group


def test_the_same_chat_message_is_recorded_once(ctx: RoutingContext, clock: Clock) -> None:
    clock.now = local(2026, 11, 16, 8, 30)
    args = dict(
        actor=actor(ctx, "zjj-1"),
        platform="telegram",
        chat_id=GROUP_CHAT,
        message_id="77",
        text="计划",
    )
    assert D.post(ctx, **args).created  # type: ignore[arg-type]
    assert not D.post(ctx, **args).created  # type: ignore[arg-type]
    with ctx.session() as session:
        assert len(session.exec(select(CheckinPost)).all()) == 1


def test_people_outside_the_groups_are_refused(ctx: RoutingContext, clock: Clock) -> None:
    clock.now = local(2026, 11, 16, 8, 30)
    with pytest.raises(PermissionDenied):
        post(ctx, "jtj-1", "计划")


def test_photos_are_stored_by_hash_and_checked(ctx: RoutingContext, clock: Clock) -> None:
    clock.now = local(2026, 11, 16, 12, 30)
    done = post(ctx, "zjj-1", "现场照片", photos=[png(1), png(1)])
    assert "照片2张" in done.text
    with ctx.session() as session:
        row = session.get(CheckinPost, done.post_id)
        assert row is not None
        stored = {p["sha256"] for p in row.photos}
        assert len(stored) == 1 and row.photos[0]["mime"] == "image/png"
    folder = D.photo_dir(ctx)
    assert [p.name for p in folder.rglob("*.png")] == [f"{stored.pop()}.png"]
    with pytest.raises(BadInput, match="不是照片"):
        post(ctx, "zjj-1", "附件", photos=[b"%PDF-1.7 not a photo"])
    with pytest.raises(BadInput, match="过大"):
        post(ctx, "zjj-1", "附件", photos=[b"\xff\xd8\xff\xe0" + bytes(70 * 1024)])
    with ctx.session() as session:
        assert len(session.exec(select(CheckinPost)).all()) == 1


def test_a_post_naming_a_task_appears_in_its_file(ctx: RoutingContext, clock: Clock) -> None:
    clock.now = local(2026, 11, 16, 17, 30)
    with ctx.session() as session:
        unit = find_unit(session, "zjj")
        session.add(
            Task(
                number="RW-2026-0001",
                title="东湖路改造",
                source_kind="key",
                lead_unit_id=unit.id,
                state="working",
                created_at=clock.now,
            )
        )
    done = post(ctx, "zjj-1", "RW-2026-1 今日完成管网铺设200米")
    assert "RW-2026-0001" in done.text
    with ctx.session() as session:
        events = session.exec(select(TaskEvent)).all()
        assert len(events) == 1 and events[0].note is not None and "管网铺设" in events[0].note
        assert session.get(CheckinPost, done.post_id).task_id is not None  # type: ignore[union-attr]
    with pytest.raises(BadInput, match="RW-2026-0009"):
        post(ctx, "zjj-1", "RW-2026-0009 不存在的事项")


def _rows(ctx: RoutingContext, kind: str) -> list[Notification]:
    with ctx.session() as session:
        return list(session.exec(select(Notification).where(Notification.kind == kind)).all())


def tick(ctx: RoutingContext) -> schedule.TickResult:
    with ctx.session() as session:
        return schedule.tick(session, now=ctx.now(), policy=ctx.policy.checkins, rules=ctx.rules)


def test_prompts_once_per_window_and_reminders_only_to_those_missing(
    ctx: RoutingContext, clock: Clock
) -> None:
    clock.now = local(2026, 11, 16, 7, 59)
    assert tick(ctx).prompts == 0
    clock.now = local(2026, 11, 16, 8, 0)
    assert tick(ctx).prompts == 1
    clock.now = local(2026, 11, 16, 8, 1)
    assert tick(ctx).prompts == 0  # the same window: already prompted
    prompts = _rows(ctx, "checkin-prompt")
    assert len(prompts) == 1 and "早晒" in prompts[0].text
    assert prompts[0].status == NotificationStatus.QUEUED
    with ctx.session() as session:
        chats = session.exec(select(ChatDelivery.platform, ChatDelivery.chat_id)).all()
    assert chats == [("telegram", GROUP_CHAT)]
    post(ctx, "zjj-1", "计划")
    clock.now = local(2026, 11, 16, 9, 5)  # within 30 minutes of the close
    tick(ctx)
    tick(ctx)
    with ctx.session() as session:
        reminded = {
            n.person_id
            for n in session.exec(
                select(Notification).where(Notification.kind == "checkin-remind")
            ).all()
        }
        from ledger.directory import get_person

        expected = {get_person(session, c).id for c in ("zjj-ld", "cgj-1", "cgj-2")}
    assert reminded == expected  # zjj-1 posted: not reminded; each reminded once


@pytest.mark.parametrize(
    ("moment", "prompts"),
    [
        (local(2026, 11, 14, 8, 0), 0),  # Saturday
        (local(2026, 10, 3, 8, 0), 0),  # National Day holiday
        (local(2026, 10, 10, 8, 0), 1),  # 调休 Saturday: a working day
    ],
)
def test_nothing_on_days_off(ctx: RoutingContext, clock: Clock, moment, prompts: int) -> None:
    clock.now = moment
    assert tick(ctx).prompts == prompts
    clock.now = moment.replace(minute=0) + (local(2026, 1, 1, 9, 10) - local(2026, 1, 1, 8, 0))
    assert bool(tick(ctx).reminders) == bool(prompts)


def test_spot_checks_and_false_posts_count_against_the_unit(
    ctx: RoutingContext, clock: Clock
) -> None:
    clock.now = local(2026, 11, 16, 8, 30)
    good = post(ctx, "zjj-1", "东湖路工地督导")
    bad = post(ctx, "cgj-1", "沿河西路巡查")
    with pytest.raises(PermissionDenied):
        D.mark(ctx, bad.post_id, actor=actor(ctx, "zjj-ld"))
    assert D.mark(ctx, bad.post_id, actor=actor(ctx, "ducha1")).state == "marked"
    with pytest.raises(BadInput, match="写明"):
        D.check(ctx, bad.post_id, truthful=False, note=None, actor=actor(ctx, "ducha1"))
    D.check(ctx, bad.post_id, truthful=False, note="现场无人", actor=actor(ctx, "ducha1"))
    D.check(ctx, good.post_id, truthful=True, note=None, actor=actor(ctx, "ducha1"))
    with pytest.raises(BadInput, match="已核实"):
        D.check(ctx, good.post_id, truthful=False, note="x", actor=actor(ctx, "ducha1"))
    clock.now = local(2026, 11, 16, 19, 0)
    with ctx.session() as session:
        figures = unit_figures(
            session, MONDAY, MONDAY, policy=ctx.policy.checkins, rules=ctx.rules, now=ctx.now()
        )
        zjj, cgj = find_unit(session, "zjj").id, find_unit(session, "cgj").id
    assert (figures[zjj].expected, figures[zjj].posted, figures[zjj].false) == (6, 1, 0)
    assert (figures[cgj].expected, figures[cgj].posted, figures[cgj].false) == (6, 1, 1)
    assert figures[zjj].rate == pytest.approx(1 / 6)


def test_digest_compiled_reordered_and_published_exactly_once(
    ctx: RoutingContext, clock: Clock, tmp_path
) -> None:
    clock.now = local(2026, 11, 16, 8, 30)
    a = post(ctx, "zjj-1", "东湖路工地督导", photos=[png(3)])
    b = post(ctx, "cgj-1", "沿河西路巡查")
    c = post(ctx, "zjj-ld", "虚报的内容")
    D.check(ctx, c.post_id, truthful=False, note="不实", actor=actor(ctx, "ducha1"))
    clock.now = local(2026, 11, 16, 19, 0)
    draft = D.compile_digest(ctx, MONDAY)
    assert draft.state == "draft" and draft.issue is None
    assert draft.post_ids == [a.post_id, b.post_id]  # the false one is left out
    ordered = D.order_digest(ctx, MONDAY, [b.post_id, a.post_id], actor=actor(ctx, "ducha1"))
    assert ordered.post_ids == [b.post_id, a.post_id]
    done = D.publish_digest(ctx, MONDAY, actor=actor(ctx, "ducha1"))
    assert done.issue == 1 and "第1期" in done.text()
    with pytest.raises(BadInput, match="已发布"):
        D.publish_digest(ctx, MONDAY, actor=actor(ctx, "ducha1"))
    rows = _rows(ctx, "checkin-digest")
    assert len(rows) == 2  # the group's chat and the office
    assert all("沿河西路巡查" in r.text for r in rows)
    clock.now = local(2026, 11, 17, 19, 0)
    post(ctx, "zjj-1", "次日内容")
    assert D.publish_digest(ctx, date(2026, 11, 17), actor=actor(ctx, "ducha1")).issue == 2

    from desk.checkin_documents import write_files

    docx_path, html_path = write_files(
        done,
        tmp_path,
        office=ctx.policy.office,
        tz=ctx.rules.tz,
        photo_dir=D.photo_dir(ctx),
        now=ctx.now(),
    )
    text = "\n".join(p.text for p in Document(str(docx_path)).paragraphs)
    assert "第1期" in text and "要情快讯" in text and "东湖路工地督导" in text
    assert len(Document(str(docx_path)).inline_shapes) == 1  # the photo
    assert "沿河西路巡查" in html_path.read_text(encoding="utf-8")


def test_month_points_for_the_monthly_ranking(ctx: RoutingContext, clock: Clock) -> None:
    from checkins.figures import month_bounds, month_points

    assert month_bounds("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))
    ctx.policy.checkins.penalty_per_missed = 0.5
    ctx.policy.checkins.penalty_per_late = 0.25
    ctx.policy.checkins.bonus_full_rate = 3
    clock.now = local(2026, 11, 16, 10, 0)
    lie = post(ctx, "cgj-1", "迟到的晒")  # late for 早晒
    D.check(ctx, lie.post_id, truthful=False, note="现场无人", actor=actor(ctx, "ducha1"))
    clock.now = local(2026, 11, 16, 19, 0)
    with ctx.session() as session:
        got = month_points(
            session, "2026-11", policy=ctx.policy.checkins, rules=ctx.rules, now=ctx.now()
        )
        zjj, cgj = find_unit(session, "zjj").id, find_unit(session, "cgj").id
    # 11-16 only (the clock's day; earlier days of the month owed too: 10 working days before)
    assert got[cgj] < got[zjj] < 0
    assert got[cgj] - got[zjj] == pytest.approx(0.5 - 0.25 - 2)  # one posted late, then false


def test_no_digest_on_a_day_off_and_none_published_empty(ctx: RoutingContext, clock: Clock) -> None:
    clock.now = local(2026, 11, 16, 19, 0)
    with pytest.raises(BadInput, match="不是工作日"):
        D.compile_digest(ctx, date(2026, 11, 15))
    with pytest.raises(BadInput, match="没有内容"):
        D.publish_digest(ctx, MONDAY, actor=actor(ctx, "ducha1"))
    assert _rows(ctx, "checkin-digest") == []


def test_a_post_naming_a_ticket_appears_in_its_file(ctx: RoutingContext, clock: Clock) -> None:
    from ledger.models import Event
    from tests.helpers import make_ticket

    clock.now = local(2026, 11, 16, 12, 10)
    with ctx.session() as session:
        number = make_ticket(session, ctx.rules).number
    done = post(ctx, "zjj-1", f"{number.lower()} 已到现场更换路灯")
    assert number in done.text
    with ctx.session() as session:
        notes = session.exec(select(Event).where(Event.action == "comment")).all()
    assert [n.data["checkin_post"] for n in notes] == [done.post_id]
    assert notes[0].note is not None and notes[0].note.startswith("【午晒】")


def test_a_group_naming_no_chat_is_prompted_in_its_units_chats(
    ctx: RoutingContext, clock: Clock
) -> None:
    from ledger.models import Audience
    from tests.checkins.conftest import checkin_policy

    ctx.policy = ctx.policy.model_copy(
        update={
            "checkins": checkin_policy(
                groups={"jianshe": {"label": "城建口", "units": ["zjj", "cgj"]}}, digest_groups=[]
            )
        }
    )
    clock.now = local(2026, 11, 16, 12, 0)
    assert tick(ctx).prompts == 1
    rows = _rows(ctx, "checkin-prompt")
    assert len(rows) == 2 and {r.audience for r in rows} == {Audience.UNIT}
    assert all(r.status == NotificationStatus.PENDING and "午晒" in r.text for r in rows)
    tick(ctx)
    assert len(_rows(ctx, "checkin-prompt")) == 2
