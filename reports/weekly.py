"""督查周报: headline numbers, the per-unit table, the overdue list, what was returned or
reopened, and the weekly trend — for one ISO week, as the ledger stood at its end."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from ledger.deadlines import DeadlineRules
from ledger.models import SOURCE_LABELS, SourceKind, TicketState, Unit
from ledger.policy import OfficePolicy, Policy, RankingPolicy, TaskPolicy
from ledger.states import OPEN_STATES
from reports.figures import (
    BY_SOURCE,
    BY_UNIT,
    OVERALL,
    UNASSIGNED_LABEL,
    Figures,
    TicketHistory,
    cutoff_of,
    facts_at,
    figures_from,
    list_units,
    load_histories,
    overdue_workdays,
)
from reports.masthead import Masthead, masthead_for
from reports.periods import Period, last_complete_week, weeks_ending
from tasks.summary import TaskWeek, period_summary

DEFAULT_TREND_WEEKS = 8
CHANGE_LABELS = {"return": "退回", "verify_fail": "核查不通过(续办)", "reopen": "续办"}


@dataclass(frozen=True, slots=True)
class OverdueItem:
    number: str
    unit: str | None
    unit_label: str
    source_kind: str
    source_label: str
    title: str | None
    received_at: datetime
    due_date: date  # deadline in force at the cut-off
    original_due_date: date
    overdue_workdays: int
    state: str
    state_label: str


@dataclass(frozen=True, slots=True)
class ChangeItem:
    """A 退回 or a 续办 during the week."""

    number: str
    action: str  # return | verify_fail | reopen
    action_label: str
    unit: str | None  # the unit that sent it back / whose answer was reopened
    unit_label: str
    at: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class TrendPoint:
    week: str
    first: date
    received: int
    due: int
    replied: int
    reply_rate: float | None
    on_time_rate: float | None
    on_time_rate_original: float | None
    overdue_open: int


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    period: Period
    now: datetime
    as_of: datetime
    timezone: str
    extensions_count_on_time: bool
    total: Figures
    by_unit: tuple[Figures, ...]
    by_source: tuple[Figures, ...]
    overdue: tuple[OverdueItem, ...]
    changes: tuple[ChangeItem, ...]
    trend: tuple[TrendPoint, ...]
    masthead: Masthead
    kind: str = "weekly"
    tasks: TaskWeek | None = None  # the 督办事项 section (offices that supervise tasks)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_weekly(
    session: Session,
    *,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    week: Period | None = None,
    trend_weeks: int = DEFAULT_TREND_WEEKS,
    office: OfficePolicy | None = None,
    task_policy: TaskPolicy | None = None,
) -> WeeklyReport:
    """The 督查周报 for ``week`` (default: the last complete ISO week before ``now``).
    With ``task_policy``, a 督办事项 section (new, finished, signed off, red and yellow)
    when the office has any task."""
    week = week or last_complete_week(now, rules.tz)
    if week.kind != "week":
        raise ValueError("build_weekly needs a week")
    cutoff = cutoff_of(week, now=now, rules=rules)
    weeks = weeks_ending(week, max(1, trend_weeks))
    histories = load_histories(session, until=cutoff, since=weeks[0], tz=rules.tz)
    units = list_units(session)

    def table(period: Period, by: str):
        return figures_from(
            histories, units, period=period, now=now, rules=rules, policy=policy, by=by
        )

    by_unit = table(week, BY_UNIT)
    trend = []
    for past in weeks:
        figures = table(past, OVERALL).total
        trend.append(
            TrendPoint(
                week=past.key,
                first=past.first,
                received=figures.received,
                due=figures.due,
                replied=figures.replied,
                reply_rate=figures.reply_rate,
                on_time_rate=figures.on_time_rate,
                on_time_rate_original=figures.on_time_rate_original,
                overdue_open=figures.overdue_open,
            )
        )
    overdue, changes = _lists(histories, units, week=week, cutoff=cutoff, rules=rules)
    tasks = None
    if task_policy is not None:
        tasks = period_summary(
            session, start=week.start(rules.tz), end=week.end(rules.tz), cutoff=cutoff,
            rules=rules, policy=task_policy,
        )  # fmt: skip
        if not (tasks.new or tasks.open or tasks.finished or tasks.closed):
            tasks = None  # an office without tasks gets no empty section
    return WeeklyReport(
        period=week,
        now=now,
        as_of=cutoff,
        timezone=str(rules.tz),
        extensions_count_on_time=policy.extensions_count_on_time,
        total=by_unit.total,
        by_unit=by_unit.rows,
        by_source=table(week, BY_SOURCE).rows,
        overdue=tuple(overdue),
        changes=tuple(changes),
        trend=tuple(trend),
        masthead=masthead_for(office or OfficePolicy(), period=week, now=now, tz=rules.tz),
        tasks=tasks,
    )


def office_weekly(
    session: Session, *, now: datetime, rules: DeadlineRules, policy: Policy,
    week: Period | None = None,
) -> WeeklyReport:  # fmt: skip
    """The 督查周报 as the office's policy defines it (its masthead, its 督办事项): the one
    way every front end builds it."""
    return build_weekly(
        session, now=now, rules=rules, policy=policy.ranking, week=week, office=policy.office,
        task_policy=policy.tasks,
    )  # fmt: skip


def _lists(
    histories: list[TicketHistory],
    units: list[Unit],
    *,
    week: Period,
    cutoff: datetime,
    rules: DeadlineRules,
) -> tuple[list[OverdueItem], list[ChangeItem]]:
    """The overdue tickets at the cut-off, and the 退回 / 续办 steps of the week."""
    by_id = {unit.id: unit for unit in units}
    start = week.start(rules.tz)

    def unit_of(unit_id: int | None) -> tuple[str | None, str]:
        unit = by_id.get(unit_id) if unit_id is not None else None
        return (unit.code, unit.short_name) if unit else (None, UNASSIGNED_LABEL)

    overdue: list[OverdueItem] = []
    changes: list[ChangeItem] = []
    for history in histories:
        facts = facts_at(history, cutoff, rules)
        if facts.state in OPEN_STATES and facts.due_at < cutoff:
            code, label = unit_of(facts.unit_id)
            overdue.append(
                OverdueItem(
                    number=history.number,
                    unit=code,
                    unit_label=label,
                    source_kind=history.source_kind,
                    source_label=SOURCE_LABELS[SourceKind(history.source_kind)],
                    title=history.title,
                    received_at=history.received_at,
                    due_date=facts.due_date,
                    original_due_date=history.original_due_date,
                    overdue_workdays=overdue_workdays(facts, cutoff, rules),
                    state=facts.state.value,
                    state_label=TicketState(facts.state).label,
                )
            )
        for step in (*facts.returns, *facts.reopens):
            if start <= step.at < cutoff:
                code, label = unit_of(step.unit_id)
                changes.append(
                    ChangeItem(
                        number=history.number,
                        action=step.action,
                        action_label=CHANGE_LABELS[step.action],
                        unit=code,
                        unit_label=label,
                        at=step.at,
                        note=step.note,
                    )
                )
    overdue.sort(key=lambda item: (-item.overdue_workdays, item.number))
    changes.sort(key=lambda item: (item.at, item.number))
    return overdue, changes
