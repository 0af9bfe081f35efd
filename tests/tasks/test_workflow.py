"""The task workflow: every legal move, and every illegal one refused changing nothing."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import func, select

from desk import task_queries as TQ
from desk import tasks as D
from desk.errors import DutyConflict, StaleVersion
from desk.permissions import Viewer
from ledger.errors import BadInput, IllegalTransition, LedgerError, PermissionDenied, user_text
from ledger.models import Audience, Notification, Task, TaskEvent
from routing.context import RoutingContext
from tasks import workflow as W
from tests.helpers import local
from tests.tasks.conftest import actor, spec


def snapshot(ctx: RoutingContext, number: str) -> tuple[str, int, int, int]:
    with ctx.session() as session:
        task = session.exec(select(Task).where(Task.number == number)).one()
        events = session.exec(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.task_id == task.id)
        ).one()
        notes = session.exec(select(func.count()).select_from(Notification)).one()
        return task.state, task.version, events, notes


def new_task(ctx: RoutingContext, **kw) -> str:
    return D.create(ctx, spec(ctx, **kw), actor=actor(ctx, "luru1")).number


def test_numbers_are_per_year_and_padded(ctx: RoutingContext) -> None:
    first, second = new_task(ctx), new_task(ctx)
    assert (first, second) == ("RW-2026-0001", "RW-2026-0002")
    assert W.normalise_number("rw-2026-2") == "RW-2026-0002"
    assert W.normalise_number("ＲＷ－２０２６－２") == "RW-2026-0002"
    assert W.normalise_number("DB-2026-000002") is None


def test_the_whole_road_from_assignment_to_archive(ctx: RoutingContext, clock) -> None:
    number = new_task(ctx, milestones=(("完成方案", date(2026, 11, 30)),))
    unit, supervisor = actor(ctx, "zjj-1"), actor(ctx, "ducha1")
    assert snapshot(ctx, number)[0] == "assigned"
    with ctx.session() as session:  # 交办: the lead unit's and the 配合单位's cards
        cards = session.exec(select(Notification).where(Notification.kind == "task_assigned")).all()
        assert len(cards) == 2 and all(c.audience == Audience.UNIT for c in cards)
        assert (
            "【绿】" in cards[0].text and "剩" in cards[0].text and "RW-2026-0001" in cards[0].text
        )
    assert D.acknowledge(ctx, number, actor=unit).state == "acknowledged"
    clock.advance(days=1)
    result = D.progress(ctx, number, "方案已完成", actor=unit, milestone=1)
    assert result.state == "progressing" and "节点1" in result.text
    # a 配合单位 adds its report: the state stays
    before = snapshot(ctx, number)
    D.progress(ctx, number, "配合完成占道审批", actor=actor(ctx, "cgj-2"))
    assert snapshot(ctx, number)[0] == before[0] == "progressing"
    assert D.finish(ctx, number, "改造完成并验收", actor=unit).state == "finished"
    failed = D.verify(ctx, number, passed=False, score=2, note="缺验收材料", actor=supervisor)
    assert failed.state == "reopened" and "续办" in failed.text
    D.finish(ctx, number, "已补充验收材料", actor=unit)
    assert D.verify(ctx, number, passed=True, score=5, actor=supervisor).state == "verified"
    assert D.close(ctx, number, actor=actor(ctx, "qld-1")).state == "closed"  # 牵头领导
    assert D.archive(ctx, number, actor=supervisor).state == "archived"
    with ctx.session() as session:
        task = W.get_task(session, number)
        detail = TQ.task_detail(
            session, task, rules=ctx.rules, policy=ctx.policy.tasks, now=clock()
        )
    actions = [e.action for e in detail.events]
    assert actions == [
        "register", "assign", "acknowledge", "progress", "support_progress", "finish",
        "verify_fail", "finish", "verify_pass", "close", "archive",
    ]  # fmt: skip
    assert detail.row.colour == "已销号" and detail.quality_score == 5
    assert [r.kind for r in detail.reports] == ["progress", "progress", "finish", "finish"]
    assert detail.milestones[0].done_at is not None


def test_reminders_escalations_and_comments_keep_the_state(ctx: RoutingContext) -> None:
    number = new_task(ctx)
    supervisor = actor(ctx, "ducha1")
    result = D.remind(ctx, number, "请本周内报送进展", actor=supervisor)
    assert result.state == "assigned" and "第 1 次" in result.text
    D.escalate(ctx, number, "进度滞后", actor=supervisor)
    D.comment(ctx, number, "已电话督促", actor=supervisor)
    with ctx.session() as session:
        kinds = sorted(n.kind for n in session.exec(select(Notification)))
        assert kinds.count("task_remind") == 2  # lead and 配合单位
        assert "task_escalated" in kinds
        assert [e.action for e in W.events_of(session, W.get_task(session, number))][-3:] == [
            "remind", "escalate", "comment",
        ]  # fmt: skip


def test_extension_requested_and_approved_moves_the_deadline_on_working_days(
    ctx: RoutingContext,
) -> None:
    number = new_task(ctx, due=date(2026, 9, 30))
    unit, supervisor = actor(ctx, "zjj-1"), actor(ctx, "ducha1")
    D.request_extension(ctx, number, 3, "需协调供电部门", actor=unit)
    with pytest.raises(IllegalTransition):  # one pending request at a time
        D.request_extension(ctx, number, 2, "再申请", actor=unit)
    with pytest.raises(BadInput):  # more than asked
        D.decide_extension(ctx, number, approve=True, days=5, actor=supervisor)
    result = D.decide_extension(ctx, number, approve=True, actor=supervisor)
    # 3 working days after Wed 30 Sep across the National Day holiday: 8, 9, Sat 10 Oct
    assert result.row.due_date == date(2026, 10, 10)
    with pytest.raises(IllegalTransition):  # nothing pending any more
        D.decide_extension(ctx, number, approve=False, actor=supervisor, note="不同意")
    D.request_extension(ctx, number, 2, "还需两天", actor=unit)
    denied = D.decide_extension(ctx, number, approve=False, note="理由不充分", actor=supervisor)
    assert denied.row.due_date == date(2026, 10, 10) and "未批准" in denied.text


def test_an_ongoing_task_has_no_deadline_to_extend(ctx: RoutingContext) -> None:
    number = new_task(ctx, due=None, ongoing=True)
    with pytest.raises(BadInput) as refused:
        D.request_extension(ctx, number, 3, "理由", actor=actor(ctx, "zjj-1"))
    assert "长期" in user_text(refused.value)


def test_n_working_days_count_from_assignment(ctx: RoutingContext, clock) -> None:
    clock.now = local(2026, 9, 29, 10)  # Tuesday before the National Day holiday
    number = D.create(
        ctx, spec(ctx, due=None, limit_days=5), actor=actor(ctx, "luru1"), assign_now=False
    ).number
    with ctx.session() as session:
        assert W.get_task(session, number).due_date is None
    clock.now = local(2026, 9, 30, 10)
    row = D.assign(ctx, number, actor=actor(ctx, "ducha1")).row
    assert row.due_date == date(2026, 10, 13)  # 8, 9, 10 (调休 Saturday), 12, 13


# -- illegal moves -------------------------------------------------------------------------------

STEPS = {
    "assign": lambda ctx, n: D.assign(ctx, n, actor=actor(ctx, "ducha1")),
    "acknowledge": lambda ctx, n: D.acknowledge(ctx, n, actor=actor(ctx, "zjj-1")),
    "progress": lambda ctx, n: D.progress(ctx, n, "进展", actor=actor(ctx, "zjj-1")),
    "finish": lambda ctx, n: D.finish(ctx, n, "办结", actor=actor(ctx, "zjj-1")),
    "verify_pass": lambda ctx, n: D.verify(
        ctx, n, passed=True, score=4, actor=actor(ctx, "ducha1")
    ),
    "verify_fail": lambda ctx, n: D.verify(
        ctx, n, passed=False, score=2, note="不足", actor=actor(ctx, "ducha1")
    ),
    "close": lambda ctx, n: D.close(ctx, n, actor=actor(ctx, "ducha1")),
    "archive": lambda ctx, n: D.archive(ctx, n, actor=actor(ctx, "ducha1")),
    "request_extension": lambda ctx, n: D.request_extension(
        ctx, n, 2, "理由", actor=actor(ctx, "zjj-1")
    ),
    "remind": lambda ctx, n: D.remind(ctx, n, "请抓紧", actor=actor(ctx, "ducha1")),
    "escalate": lambda ctx, n: D.escalate(ctx, n, "通报", actor=actor(ctx, "ducha1")),
}

# how to bring a fresh (assigned) task to each state
ROADS = {
    "registered": [],
    "assigned": ["assign"],
    "acknowledged": ["assign", "acknowledge"],
    "progressing": ["assign", "progress"],
    "finished": ["assign", "finish"],
    "reopened": ["assign", "finish", "verify_fail"],
    "verified": ["assign", "finish", "verify_pass"],
    "closed": ["assign", "finish", "verify_pass", "close"],
    "archived": ["assign", "finish", "verify_pass", "close", "archive"],
}


def _at(ctx: RoutingContext, state: str) -> str:
    number = D.create(ctx, spec(ctx), actor=actor(ctx, "luru1"), assign_now=False).number
    for step in ROADS[state]:
        STEPS[step](ctx, number)
    assert snapshot(ctx, number)[0] == state
    return number


ILLEGAL = [
    (state, action)
    for state in ROADS
    for action in STEPS
    if W.TaskState(state) not in W.TRANSITIONS[action][0]
]


@pytest.mark.parametrize(("state", "action"), ILLEGAL, ids=lambda v: v)
def test_an_illegal_move_is_refused_and_changes_nothing(
    ctx: RoutingContext, state: str, action: str
) -> None:
    number = _at(ctx, state)
    before = snapshot(ctx, number)
    with pytest.raises(IllegalTransition) as refused:
        STEPS[action](ctx, number)
    assert "不能" in user_text(refused.value) and W.TaskState(state).label in user_text(
        refused.value
    )
    assert snapshot(ctx, number) == before


LEGAL = [
    (state, action)
    for state in ROADS
    for action in STEPS
    if W.TaskState(state) in W.TRANSITIONS[action][0]
]


@pytest.mark.parametrize(("state", "action"), LEGAL, ids=lambda v: v)
def test_a_legal_move_writes_one_event(ctx: RoutingContext, state: str, action: str) -> None:
    number = _at(ctx, state)
    before = snapshot(ctx, number)
    STEPS[action](ctx, number)
    after = snapshot(ctx, number)
    assert after[2] == before[2] + 1 and after[1] == before[1] + 1
    target = W.TRANSITIONS[action][1]
    assert after[0] == (target.value if target else state)


# -- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "step", "why"),
    [
        ("cgj-1", "acknowledge", "牵头的事项"),  # a 配合单位 may not 签收 for the lead unit
        ("jtj-1", "progress", "牵头或配合"),  # an unrelated unit may not report
        ("cgj-1", "finish", "牵头的事项"),
        ("zjj-1", "verify_pass", "督查人员"),  # a unit may not check its own work
        ("zjj-1", "remind", "督查人员"),
        ("qld-2", "close", "牵头领导"),  # another 区领导 is not this task's 牵头领导
        ("zjj-ld", "close", "牵头领导"),
        ("zjj-1", "assign", "录入员或督查人员"),
    ],
)
def test_who_may_not(ctx: RoutingContext, code: str, step: str, why: str) -> None:
    state = {"verify_pass": "finished", "close": "verified", "assign": "registered"}.get(
        step, "assigned"
    )
    number = _at(ctx, state)
    before = snapshot(ctx, number)
    person = actor(ctx, code)
    calls = {
        "acknowledge": lambda: D.acknowledge(ctx, number, actor=person),
        "progress": lambda: D.progress(ctx, number, "进展", actor=person),
        "finish": lambda: D.finish(ctx, number, "办结", actor=person),
        "verify_pass": lambda: D.verify(ctx, number, passed=True, score=4, actor=person),
        "remind": lambda: D.remind(ctx, number, "催", actor=person),
        "close": lambda: D.close(ctx, number, actor=person),
        "assign": lambda: D.assign(ctx, number, actor=person),
    }
    with pytest.raises(PermissionDenied) as refused:
        calls[step]()
    assert why in user_text(refused.value)
    assert snapshot(ctx, number) == before


def test_a_supervisor_of_the_lead_unit_may_not_judge_its_work(ctx: RoutingContext) -> None:
    number = _at(ctx, "finished")
    with ctx.session() as session:
        from ledger.directory import find_unit, get_person

        person = get_person(session, "ducha1")
        person.unit_id = find_unit(session, "住建局").id
        session.add(person)
    before = snapshot(ctx, number)
    with pytest.raises(DutyConflict) as refused:
        D.verify(ctx, number, passed=True, score=5, actor=actor(ctx, "ducha1"))
    assert "职责分离" in user_text(refused.value)
    assert snapshot(ctx, number) == before


def test_a_stale_view_is_refused(ctx: RoutingContext) -> None:
    number = new_task(ctx)
    seen = D.acknowledge(ctx, number, actor=actor(ctx, "zjj-1")).version
    D.progress(ctx, number, "第一次进展", actor=actor(ctx, "zjj-1"), expected_version=seen)
    before = snapshot(ctx, number)
    with pytest.raises(StaleVersion):
        D.remind(ctx, number, "请加快", actor=actor(ctx, "ducha1"), expected_version=seen)
    assert snapshot(ctx, number) == before


def test_bad_input_is_refused(ctx: RoutingContext) -> None:
    number = _at(ctx, "finished")
    for call in (
        lambda: D.verify(ctx, number, passed=True, score=6, actor=actor(ctx, "ducha1")),
        lambda: D.verify(ctx, number, passed=False, score=2, actor=actor(ctx, "ducha1")),
    ):
        with pytest.raises(BadInput):
            call()
    with pytest.raises(LedgerError):
        D.progress(ctx, "RW-2026-9999", "进展", actor=actor(ctx, "zjj-1"))
    with pytest.raises(BadInput):  # a 牵头领导 must hold the 区领导 role
        D.create(ctx, spec(ctx, leader="zjj-ld"), actor=actor(ctx, "luru1"))
    with pytest.raises(BadInput):  # a date and 长期 at once
        D.create(ctx, spec(ctx, ongoing=True), actor=actor(ctx, "luru1"))


def test_units_see_only_the_tasks_they_lead_or_support(ctx: RoutingContext, clock) -> None:
    number = new_task(ctx)  # 住建局 leads, 城管局 supports
    other = new_task(ctx, lead="交通运输局", support=())
    with ctx.session() as session:

        def seen(code: str) -> list[str]:
            from ledger.directory import get_person

            rows = TQ.task_rows(
                session,
                rules=ctx.rules,
                policy=ctx.policy.tasks,
                now=clock(),
                viewer=Viewer(person=get_person(session, code)),
            )
            return [r.number for r in rows]

        assert seen("zjj-1") == [number]
        assert seen("cgj-2") == [number]
        assert seen("jtj-1") == [other]
        assert seen("ducha1") == seen("qld-2") == [number, other]


def test_a_tasks_history_is_append_only(ctx: RoutingContext) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    new_task(ctx)
    for statement in ("UPDATE task_event SET note = 'x'", "DELETE FROM task_event"):
        with pytest.raises(DatabaseError), ctx.engine.begin() as conn:
            conn.execute(text(statement))


def test_colour_reminders_on_working_days_in_office_hours_once_a_day(
    ctx: RoutingContext, clock
) -> None:
    clock.now = local(2026, 9, 1, 10)
    red = new_task(ctx, due=date(2026, 9, 15), support=())
    blue = new_task(ctx, due=date(2026, 10, 9), support=())
    green = new_task(ctx, due=date(2026, 12, 31), support=())
    for number in (red, blue, green):  # reporting on time: only the deadlines speak
        clock.now = local(2026, 9, 30, 8)
        D.progress(ctx, number, "进展", actor=actor(ctx, "zjj-1"))
    clock.now = local(2026, 10, 3, 10)  # a holiday: no reminder
    assert D.remind_by_colour(ctx) == {"红": 0, "黄": 0, "蓝": 0}
    clock.now = local(2026, 10, 8, 8)  # a working day, before office hours
    assert D.remind_by_colour(ctx) == {"红": 0, "黄": 0, "蓝": 0}
    clock.now = local(2026, 10, 8, 9, 30)
    assert D.remind_by_colour(ctx) == {"红": 1, "黄": 0, "蓝": 1}
    assert D.remind_by_colour(ctx) == {"红": 0, "黄": 0, "蓝": 0}  # once a day
    with ctx.session() as session:
        texts = [n.text for n in session.exec(select(Notification)) if n.kind == "task_reminder"]
    assert len(texts) == 2 and any(t.startswith(f"【督办事项·超期提醒】{red}【红】") for t in texts)
    clock.now = local(2026, 10, 10, 9, 30)  # the 调休 Saturday is a working day
    assert D.remind_by_colour(ctx) == {"红": 2, "黄": 0, "蓝": 0}  # the blue one is late now
