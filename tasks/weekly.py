"""周交办: the Monday meeting's list pasted as text, one matter a line, and its answers.

    1. 住建局：东湖路积水点改造方案（本周五前）
    城管局、交警大队：学府路占道经营整治（11月30日前）
    民政局：养老服务设施摸底（5个工作日）

A line is ``单位：事项（时限）``: several units with 、 (the first leads, the others
support); the time limit in brackets is read like a list's 完成时限, plus 本周内 / 本周五
(this week's last working day) and 下周 (next week's); without one, the answer is due by the
next meeting (``DEFAULT_DAYS`` working days). A line that cannot be read is refused with
its number; the same line pasted again creates nothing new. The next Monday's list shows
each matter's answer (一周一答卷).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.directory import find_unit
from ledger.errors import LedgerError, user_text
from ledger.models import Task, TaskReport, Unit
from tasks.deadlines import ParsedDeadline, parse_deadline
from tasks.importer import SPLIT_UNITS, import_key
from tasks.workflow import TaskSource, TaskSpec, TaskState

DEFAULT_DAYS = 5
LINE = re.compile(
    r"^\s*(?:[\d一二三四五六七八九十]+\s*[.、)）．]\s*)?(?P<units>[^：:]{2,80}?)\s*[：:]\s*"
    r"(?P<what>.+?)\s*(?:[（(](?P<limit>[^（）()]{1,40})[）)])?\s*[。；;]?\s*$"
)


@dataclass(frozen=True, slots=True)
class WeeklyLine:
    number: int  # line number in the pasted text (1-based, blank lines counted)
    spec: TaskSpec | None
    reason: str | None = None  # why it was refused


def _this_week(rules: DeadlineRules, today: date, weeks: int) -> date:
    friday = today + timedelta(days=(4 - today.weekday()) + 7 * weeks)
    day = friday
    for _ in range(7):
        if rules.calendar.is_workday(day):
            return day
        day -= timedelta(days=1)
    return friday


def _deadline(text: str | None, *, rules: DeadlineRules, now: datetime) -> ParsedDeadline:
    today = rules.local_date(now)
    if not text:
        return ParsedDeadline(limit_days=DEFAULT_DAYS)
    if "本周" in text:
        return ParsedDeadline(due_date=_this_week(rules, today, 0))
    if "下周" in text:
        return ParsedDeadline(due_date=_this_week(rules, today, 1))
    return parse_deadline(text, year=today.year, rules=rules)


def parse_weekly(
    session: Session, text: str, *, rules: DeadlineRules, now: datetime, meeting: str
) -> list[WeeklyLine]:
    """Each non-blank line of a pasted 周交办 list, read or refused."""
    lines = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        match = LINE.match(raw)
        if match is None:
            lines.append(WeeklyLine(number, None, "应写成「单位：事项（时限）」"))
            continue
        try:
            names = [n for n in SPLIT_UNITS.split(match["units"].strip()) if n]
            units: list[Unit] = [find_unit(session, n) for n in names]
            deadline = _deadline(match["limit"], rules=rules, now=now)
        except LedgerError as exc:
            lines.append(WeeklyLine(number, None, user_text(exc)))
            continue
        title = match["what"].strip()
        lines.append(
            WeeklyLine(
                number,
                TaskSpec(
                    title=title,
                    lead_unit=units[0],
                    source=TaskSource.WEEKLY,
                    source_ref=meeting,
                    due_date=deadline.due_date,
                    limit_days=deadline.limit_days,
                    ongoing=deadline.ongoing,
                    report_monthly=deadline.monthly,
                    support_units=tuple(units[1:]),
                    import_key=import_key(TaskSource.WEEKLY, f"{meeting}|{title}", units[0]),
                ),
            )
        )
    return lines


@dataclass(frozen=True, slots=True)
class Answer:
    """One matter of a meeting and where it stands (一周一答卷)."""

    number: str
    title: str
    unit_id: int
    state: str
    state_label: str
    answer: str | None  # the last report (办结 or 进展), or None: no answer yet
    answered_at: datetime | None


def answers(session: Session, *, since: datetime, until: datetime) -> list[Answer]:
    """The 周交办 matters registered in ``[since, until)`` with their latest answers."""
    tasks = list(
        session.exec(
            select(Task)
            .where(Task.source_kind == TaskSource.WEEKLY.value)
            .where(Task.created_at >= since, Task.created_at < until)
            .order_by(col(Task.id))
        )
    )
    found = []
    for task in tasks:
        last = session.exec(
            select(TaskReport)
            .where(TaskReport.task_id == task.id, TaskReport.unit_id == task.lead_unit_id)
            .order_by(col(TaskReport.id).desc())
        ).first()
        state = TaskState(task.state)
        found.append(
            Answer(
                number=task.number,
                title=task.title,
                unit_id=task.lead_unit_id,
                state=state.value,
                state_label=state.label,
                answer=last.text if last is not None else None,
                answered_at=last.created_at if last is not None else None,
            )
        )
    return found
