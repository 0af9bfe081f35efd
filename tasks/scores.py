"""月讲评 task scores: each lead unit's tasks in a month, timed and rated like tickets.

    time score    = 100 x (tasks 办结 on time / tasks that fell due in the month)
                    - missed_report_penalty x missed reports, kept within 0..100
                    (no task fell due: 100 - the penalty, when the unit had open tasks)
    quality score = (mean 核查 score of the month - 1) / 4 x 100
    score         = time_weight x time score + quality_weight x quality score (3:7)
                    (only the time score when nothing was rated)

A task falls due in the month when its deadline (with approved extensions) does; it is on
time when its first 办结 report came by then. A missed report is a cadence window
(``report_every_days`` working days, or a month for 长期 tasks) of the month in which the
lead unit sent no 进展 or 办结 report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import Task, TaskEvent, TaskReport
from ledger.policy import RankingPolicy, TaskPolicy
from tasks.workflow import TaskState


@dataclass
class TaskScore:
    unit_id: int
    tasks: int = 0  # tasks of the unit open at some time in the month
    due: int = 0
    on_time: int = 0
    missed_reports: int = 0
    ratings: list[int] = field(default_factory=list)
    time_score: float | None = None
    quality_score: float | None = None
    score: float | None = None

    @property
    def quality_mean(self) -> float | None:
        return sum(self.ratings) / len(self.ratings) if self.ratings else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "quality_mean": self.quality_mean}


def task_scores(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    cutoff: datetime,
    rules: DeadlineRules,
    policy: TaskPolicy,
    ranking: RankingPolicy,
) -> dict[int, TaskScore]:
    """Lead unit id -> its task score for the month ``[start, end)`` seen at ``cutoff``."""
    tasks = [
        t
        for t in session.exec(select(Task).where(col(Task.assigned_at).is_not(None)))
        if t.assigned_at is not None and t.assigned_at < cutoff
    ]
    ids = [t.id for t in tasks if t.id is not None]
    first_finish: dict[int, datetime] = {}
    ratings: dict[int, list[int]] = defaultdict(list)
    reports: dict[int, list[datetime]] = defaultdict(list)
    for start_at in range(0, len(ids), 900):
        chunk = ids[start_at : start_at + 900]
        for event in session.exec(
            select(TaskEvent)
            .where(col(TaskEvent.task_id).in_(chunk))
            .where(col(TaskEvent.action).in_(["finish", "verify_pass", "verify_fail"]))
            .where(TaskEvent.at < cutoff)
            .order_by(col(TaskEvent.id))
        ):
            if event.action == "finish":
                first_finish.setdefault(event.task_id, event.at)
            elif start <= event.at and "score" in event.data:
                ratings[event.task_id].append(int(event.data["score"]))
        for report in session.exec(
            select(TaskReport)
            .where(col(TaskReport.task_id).in_(chunk))
            .where(TaskReport.created_at < cutoff)
        ):
            reports[report.task_id].append(report.created_at)
    scores: dict[int, TaskScore] = {}
    for task in tasks:
        assert task.id is not None and task.assigned_at is not None
        finished = first_finish.get(task.id)
        closed_before = finished is not None and finished < start
        if closed_before and not ratings.get(task.id):
            continue
        score = scores.setdefault(task.lead_unit_id, TaskScore(unit_id=task.lead_unit_id))
        score.tasks += 1
        score.ratings.extend(ratings.get(task.id, []))
        if task.due_at is not None and start <= task.due_at < end and task.due_at < cutoff:
            score.due += 1
            score.on_time += int(finished is not None and finished <= task.due_at)
        if not closed_before and task.state != TaskState.REGISTERED:
            missed = _missed(task, reports[task.id], finished, start, cutoff, rules, policy)
            score.missed_reports += missed
    for score in scores.values():
        _combine(score, policy, ranking)
    return scores


def _missed(
    task: Task,
    sent: list[datetime],
    finished: datetime | None,
    start: datetime,
    cutoff: datetime,
    rules: DeadlineRules,
    policy: TaskPolicy,
) -> int:
    assert task.assigned_at is not None
    span_start = max(start, task.assigned_at)
    span_end = min(cutoff, finished) if finished is not None else cutoff
    if span_end <= span_start:
        return 0
    made = sum(1 for at in sent if span_start <= at <= span_end)
    if task.report_monthly:
        expected = 1 if rules.local_date(span_end) > rules.local_date(start) else 0
        return max(0, expected - made)
    every = task.report_every_days or policy.report_every_days
    workdays = rules.calendar.workdays_between(
        rules.local_date(span_start), rules.local_date(span_end)
    )
    return max(0, workdays // every - made)


def _combine(score: TaskScore, policy: TaskPolicy, ranking: RankingPolicy) -> None:
    penalty = policy.missed_report_penalty * score.missed_reports
    on_time = 100 * score.on_time / score.due if score.due else 100.0
    raw = on_time - penalty
    score.time_score = min(100.0, max(0.0, raw))
    mean = score.quality_mean
    score.quality_score = None if mean is None else (mean - 1) / 4 * 100
    if score.quality_score is None:
        score.score = score.time_score
    else:
        score.score = (
            ranking.time_weight * score.time_score + ranking.quality_weight * score.quality_score
        )
