"""A period's 督办事项 at a glance, for the weekly 督查周报: what came in, what was finished
and signed off, and what is red or yellow at the report's cut-off.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import Task, TaskMilestone, Unit
from ledger.policy import TaskPolicy
from tasks.colours import Colour, status_of
from tasks.workflow import TaskState

# States in which a task still owes work (its colour says how it goes).
_OPEN = tuple(
    s.value for s in TaskState if s.value not in ("finished", "verified", "closed", "archived")
)


@dataclass(frozen=True, slots=True)
class TaskItem:
    number: str
    title: str
    lead_unit: str  # short name
    colour: str  # 红 | 黄
    reason: str  # why, in Chinese
    workdays_left: int | None


@dataclass(frozen=True, slots=True)
class TaskWeek:
    new: int  # 立项 in the period
    finished: int  # 办结 reported in the period
    closed: int  # 销号 in the period
    open: int  # not finished at the cut-off
    red: tuple[TaskItem, ...]
    yellow: tuple[TaskItem, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def period_summary(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    cutoff: datetime,
    rules: DeadlineRules,
    policy: TaskPolicy,
) -> TaskWeek:
    """Counts for ``start <= t < end`` and the red and yellow lists as of ``cutoff``."""

    def count(column: Any) -> int:
        query = select(Task.id).where(column >= start).where(column < min(end, cutoff))
        return len(session.exec(query).all())

    open_tasks = list(
        session.exec(
            select(Task)
            .where(col(Task.state).in_(_OPEN))
            .where(col(Task.created_at) < cutoff)
            .order_by(col(Task.id))
        )
    )
    milestones: dict[int, list[TaskMilestone]] = defaultdict(list)
    ids = [t.id for t in open_tasks if t.id is not None]
    if ids:
        for m in session.exec(select(TaskMilestone).where(col(TaskMilestone.task_id).in_(ids))):
            milestones[m.task_id].append(m)
    units = {u.id: u.short_name for u in session.exec(select(Unit))}
    red: list[TaskItem] = []
    yellow: list[TaskItem] = []
    for task in open_tasks:
        status = status_of(
            task, milestones.get(task.id or 0, []), rules=rules, policy=policy, now=cutoff
        )
        if status.colour not in (Colour.RED, Colour.YELLOW):
            continue
        item = TaskItem(
            number=task.number,
            title=task.title,
            lead_unit=units.get(task.lead_unit_id, "-"),
            colour=status.colour.value,
            reason=status.text,
            workdays_left=status.workdays_left,
        )
        (red if status.colour == Colour.RED else yellow).append(item)
    return TaskWeek(
        new=count(col(Task.created_at)),
        finished=count(col(Task.finished_at)),
        closed=count(col(Task.closed_at)),
        open=len(open_tasks),
        red=tuple(red),
        yellow=tuple(yellow),
    )
