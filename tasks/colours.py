"""A task's status colour at a moment, on the working-day calendar.

- **红** the final deadline has passed without a 办结 report;
- **黄** a milestone (节点) has passed without being reported done, or the last 进展 (or
  the 交办, before any) is older than the cadence: ``report_every_days`` working days
  (default ``tasks.report_every_days``), or, for 长期 / 每月 tasks, no report in the
  month after the last one by that month's last working day;
- **蓝** the deadline is within ``tasks.warn_days`` working days;
- **绿** otherwise; finished tasks are 已办结 (办结 reported or 核查通过) / 已销号.

The first colour that applies wins, in that order. ``now`` is always passed in.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from ledger.deadlines import DeadlineRules
from ledger.models import Task, TaskMilestone
from ledger.policy import TaskPolicy
from tasks.workflow import CLOSED_STATES, DONE_STATES, TaskState


class Colour(StrEnum):
    RED = "红"
    YELLOW = "黄"
    BLUE = "蓝"
    GREEN = "绿"
    DONE = "已办结"
    CLOSED = "已销号"


OPEN_COLOURS = (Colour.RED, Colour.YELLOW, Colour.BLUE, Colour.GREEN)


@dataclass(frozen=True, slots=True)
class Status:
    colour: Colour
    workdays_left: int | None  # to the final deadline (0 on the day, negative when late)
    reasons: tuple[str, ...]  # why, in Chinese (for cards and lists)

    @property
    def text(self) -> str:
        return "；".join(self.reasons)


def status_of(
    task: Task,
    milestones: Sequence[TaskMilestone],
    *,
    rules: DeadlineRules,
    policy: TaskPolicy,
    now: datetime,
) -> Status:
    state = TaskState(task.state)
    left = rules.workdays_left(task.due_date, now) if task.due_date is not None else None
    if state in CLOSED_STATES:
        return Status(Colour.CLOSED, left, ("已销号",))
    if state in DONE_STATES:
        return Status(Colour.DONE, left, ("已报办结",))
    if task.due_at is not None and now > task.due_at:
        late = max(-(left or 0), 1)
        return Status(Colour.RED, left, (f"已超过完成时限 {late} 个工作日未办结",))
    today = rules.local_date(now)
    reasons = [
        f"节点{m.seq}「{m.title}」已过期未报完成（{m.due_date.isoformat()}）"
        for m in milestones
        if m.done_at is None and now > m.due_at
    ]
    late_report = _report_overdue(task, today, rules=rules, policy=policy)
    if late_report:
        reasons.append(late_report)
    if reasons:
        return Status(Colour.YELLOW, left, tuple(reasons))
    if left is not None and left <= policy.warn_days:
        return Status(Colour.BLUE, left, (f"距完成时限剩 {left} 个工作日",))
    return Status(Colour.GREEN, left, ("正常推进",))


def _report_overdue(
    task: Task, today: date, *, rules: DeadlineRules, policy: TaskPolicy
) -> str | None:
    anchor_at = task.last_report_at or task.assigned_at
    if anchor_at is None:
        return None  # not yet handed over: nobody owes a report
    anchor = rules.local_date(anchor_at)
    if task.report_monthly:
        due = last_workday_of_month(rules, *_next_month(anchor.year, anchor.month))
        if today > due:
            return f"上次报送进展为 {anchor.isoformat()}，未按月报送（应于 {due.isoformat()} 前）"
        return None
    every = task.report_every_days or policy.report_every_days
    gone = rules.calendar.workdays_between(anchor, today)
    if gone > every:
        return f"已 {gone} 个工作日未报送进展（应每 {every} 个工作日报送）"
    return None


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def last_workday_of_month(rules: DeadlineRules, year: int, month: int) -> date:
    """The last working day of a month (调休 Saturdays count, holidays do not)."""
    day = date(year, month, _calendar.monthrange(year, month)[1])
    for _ in range(31):
        if rules.calendar.is_workday(day):
            return day
        day = date.fromordinal(day.toordinal() - 1)
    return day
