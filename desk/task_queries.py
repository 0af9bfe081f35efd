"""Typed read models of 督办事项: a task's row (with its colour), a task in full, lists.

Who may see a task: desk staff, supervisors and 区领导 see every task; a unit's people see
the tasks their unit leads or supports (配合). A task a person may not see is answered like
one that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from desk.permissions import Viewer, is_staff
from ledger.deadlines import DeadlineRules
from ledger.directory import list_units
from ledger.errors import BadInput, NotFound
from ledger.models import Person, Role, Task, TaskMilestone, Unit
from ledger.policy import TaskPolicy
from tasks import workflow as W
from tasks.colours import Colour, Status, status_of


@dataclass(frozen=True, slots=True)
class TaskRow:
    """The one-line summary of a task: what ``duban tasks list`` and cards show."""

    number: str
    title: str
    source: str
    source_label: str
    state: str
    state_label: str
    lead_unit: str  # unit code
    lead_unit_name: str
    support_units: tuple[str, ...]  # short names
    leader: str | None
    ongoing: bool
    due_date: date | None
    colour: str
    workdays_left: int | None
    reasons: tuple[str, ...]
    milestones: int
    version: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def clock(self) -> str:
        """``长期`` / ``剩3个工作日`` / ``超期2个工作日``."""
        if self.ongoing:
            return "长期"
        left = self.workdays_left
        if left is None:
            return "交办后起算"
        return f"超期{max(-left, 1)}个工作日" if self.colour == Colour.RED else f"剩{left}个工作日"

    @property
    def deadline_text(self) -> str:
        if self.ongoing:
            return "长期（按月报送进展）"
        if self.due_date is None:
            return "交办后起算"
        return f"{self.due_date.isoformat()}（{self.clock}）"


def row_of(
    task: Task,
    milestones: Sequence[TaskMilestone],
    *,
    units: dict[int, Unit],
    rules: DeadlineRules,
    policy: TaskPolicy,
    now: datetime,
) -> TaskRow:
    status: Status = status_of(task, milestones, rules=rules, policy=policy, now=now)
    lead = units.get(task.lead_unit_id)
    return TaskRow(
        number=task.number,
        title=task.title,
        source=task.source_kind,
        source_label=W.TaskSource(task.source_kind).label,
        state=task.state,
        state_label=W.TaskState(task.state).label,
        lead_unit=lead.code if lead else "",
        lead_unit_name=lead.short_name if lead else "",
        support_units=tuple(units[u].short_name for u in task.support_unit_ids if u in units),
        leader=task.leader_name,
        ongoing=task.ongoing,
        due_date=task.due_date,
        colour=status.colour.value,
        workdays_left=status.workdays_left,
        reasons=status.reasons,
        milestones=len(milestones),
        version=task.version,
    )


def sees_all(person: Person | None) -> bool:
    return person is None or is_staff(person) or person.has_role(Role.DISTRICT_LEADER)


def can_see(viewer: Viewer, task: Task) -> bool:
    units = {task.lead_unit_id, *task.support_unit_ids}
    if viewer.in_unit_chat:
        return viewer.unit_scope is not None and viewer.unit_scope in units
    if sees_all(viewer.person):
        return True
    assert viewer.person is not None
    return viewer.person.unit_id is not None and viewer.person.unit_id in units


def visible_task(session: Session, viewer: Viewer, number: str | None) -> Task | None:
    """The task if ``viewer`` may see it, else None (never say why)."""
    if not number or (viewer.person is not None and not viewer.person.active):
        return None
    try:
        task = W.get_task(session, number)
    except (NotFound, BadInput):
        return None
    return task if can_see(viewer, task) else None


def milestones_by_task(session: Session, task_ids: Sequence[int]) -> dict[int, list[TaskMilestone]]:
    found: dict[int, list[TaskMilestone]] = defaultdict(list)
    for start in range(0, len(task_ids), 900):
        chunk = list(task_ids[start : start + 900])
        for stone in session.exec(
            select(TaskMilestone)
            .where(col(TaskMilestone.task_id).in_(chunk))
            .order_by(col(TaskMilestone.seq))
        ):
            found[stone.task_id].append(stone)
    return found


def task_rows(
    session: Session,
    *,
    rules: DeadlineRules,
    policy: TaskPolicy,
    now: datetime,
    viewer: Viewer | None = None,
    colour: str | None = None,
    unit: Unit | None = None,
    state: str | None = None,
) -> list[TaskRow]:
    """Every task the viewer may see, with its colour at ``now``; filters optional."""
    if colour is not None and colour not in {c.value for c in Colour}:
        choices = "、".join(c.value for c in Colour)
        raise BadInput(f"颜色「{colour}」无法识别，应为 {choices}", f"unknown colour {colour!r}")
    if state is not None and state not in {s.value for s in W.TaskState}:
        raise BadInput(f"状态「{state}」无法识别", f"unknown task state {state!r}")
    query = select(Task).order_by(col(Task.id))
    if state is not None:
        query = query.where(Task.state == state)
    tasks = list(session.exec(query))
    if unit is not None:
        tasks = [t for t in tasks if t.lead_unit_id == unit.id or unit.id in t.support_unit_ids]
    if viewer is not None:
        tasks = [t for t in tasks if can_see(viewer, t)]
    units = {u.id: u for u in list_units(session) if u.id is not None}
    stones = milestones_by_task(session, [t.id for t in tasks if t.id is not None])
    rows = [
        row_of(t, stones.get(t.id or 0, []), units=units, rules=rules, policy=policy, now=now)
        for t in tasks
    ]
    return [r for r in rows if colour is None or r.colour == colour]


@dataclass(frozen=True, slots=True)
class MilestoneView:
    seq: int
    title: str
    due_date: date
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class TaskReportView:
    kind: str  # progress | finish
    kind_label: str
    unit: str | None
    author: str | None
    text: str
    at: datetime
    round: int
    quality: int | None
    milestone: int | None


@dataclass(frozen=True, slots=True)
class TaskEventView:
    at: datetime
    action: str
    action_label: str
    from_state: str | None
    to_state: str
    actor: str
    note: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskExtensionView:
    days: int
    reason: str
    status: str
    requested_at: datetime
    decided_at: datetime | None
    granted_days: int | None
    old_due_date: date | None
    new_due_date: date | None
    note: str | None


@dataclass(frozen=True, slots=True)
class TaskDetail:
    row: TaskRow
    requirements: str | None
    source_ref: str | None
    created_at: datetime
    assigned_at: datetime | None
    finished_at: datetime | None
    closed_at: datetime | None
    quality_score: int | None
    reopen_count: int
    remind_count: int
    milestones: tuple[MilestoneView, ...]
    reports: tuple[TaskReportView, ...]
    extensions: tuple[TaskExtensionView, ...]
    events: tuple[TaskEventView, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_detail(
    session: Session, task: Task, *, rules: DeadlineRules, policy: TaskPolicy, now: datetime
) -> TaskDetail:
    units = {u.id: u for u in list_units(session) if u.id is not None}
    people = {p.id: p.name for p in session.exec(select(Person)) if p.id is not None}
    stones = W.milestones_of(session, task)
    return TaskDetail(
        row=row_of(task, stones, units=units, rules=rules, policy=policy, now=now),
        requirements=task.requirements,
        source_ref=task.source_ref,
        created_at=task.created_at,
        assigned_at=task.assigned_at,
        finished_at=task.finished_at,
        closed_at=task.closed_at,
        quality_score=task.quality_score,
        reopen_count=task.reopen_count,
        remind_count=task.remind_count,
        milestones=tuple(MilestoneView(m.seq, m.title, m.due_date, m.done_at) for m in stones),
        reports=tuple(
            TaskReportView(
                kind=r.kind,
                kind_label="办结" if r.kind == "finish" else "进展",
                unit=units[r.unit_id].short_name if r.unit_id in units else None,
                author=people.get(r.author_id) if r.author_id is not None else None,
                text=r.text,
                at=r.created_at,
                round=r.round,
                quality=r.quality,
                milestone=r.milestone_seq,
            )
            for r in W.reports_of(session, task)
        ),
        extensions=tuple(
            TaskExtensionView(
                days=e.days,
                reason=e.reason,
                status=e.status,
                requested_at=e.requested_at,
                decided_at=e.decided_at,
                granted_days=e.granted_days,
                old_due_date=e.old_due_date,
                new_due_date=e.new_due_date,
                note=e.decision_note,
            )
            for e in W.extensions_of(session, task)
        ),
        events=tuple(
            TaskEventView(
                at=e.at,
                action=e.action,
                action_label=W.ACTION_LABELS.get(e.action, e.action),
                from_state=e.from_state,
                to_state=e.to_state,
                actor=e.actor,
                note=e.note,
                data=e.data,
            )
            for e in W.events_of(session, task)
        ),
    )
