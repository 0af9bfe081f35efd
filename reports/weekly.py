"""督查周报: headline numbers, the per-unit table, the overdue tickets (by unit, and the
longest-overdue ones), what was returned or reopened, and the weekly trend — for one ISO
week, as the ledger stood at its end."""

from __future__ import annotations

import heapq
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
    TREND,
    UNASSIGNED_LABEL,
    Figures,
    TicketFacts,
    cutoff_of,
    iter_histories,
    list_units,
    overdue_workdays,
    tables_from,
)
from reports.masthead import Masthead, masthead_for
from reports.periods import Period, last_complete_week, weeks_ending
from tasks.summary import TaskWeek, period_summary

DEFAULT_TREND_WEEKS = 8
# The overdue tickets a report lists, the longest-overdue first; the rest are counted (and
# by unit), the full list is the ticket export's.
OVERDUE_LISTED = 50
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
class OverdueUnit:
    """One unit's overdue tickets at the cut-off."""

    unit: str | None
    unit_label: str
    count: int
    longest_workdays: int  # the longest overdue of them, in working days


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
    overdue: tuple[OverdueItem, ...]  # the OVERDUE_LISTED longest-overdue, longest first
    changes: tuple[ChangeItem, ...]
    trend: tuple[TrendPoint, ...]
    masthead: Masthead
    kind: str = "weekly"
    tasks: TaskWeek | None = None  # the 督办事项 section (offices that supervise tasks)
    overdue_total: int = 0  # every overdue ticket at the cut-off (total.overdue_open)
    overdue_units: tuple[OverdueUnit, ...] = ()  # by unit, the most overdue tickets first

    @property
    def overdue_unlisted(self) -> int:
        """Overdue tickets beyond the listed ones."""
        return self.overdue_total - len(self.overdue)

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
    replay_all: bool = False,
) -> WeeklyReport:
    """The 督查周报 for ``week`` (default: the last complete ISO week before ``now``).
    With ``task_policy``, a 督办事项 section (new, finished, signed off, red and yellow)
    when the office has any task. ``replay_all`` replays every ticket from its events
    instead of reading the simple ones from their rows (the same report, slower: for tests)."""
    week = week or last_complete_week(now, rules.tz)
    if week.kind != "week":
        raise ValueError("build_weekly needs a week")
    cutoff = cutoff_of(week, now=now, rules=rules)
    weeks = weeks_ending(week, max(1, trend_weeks))
    cutoffs = None if replay_all else [cutoff_of(past, now=now, rules=rules) for past in weeks]
    histories = iter_histories(session, until=cutoff, since=weeks[0], tz=rules.tz, cutoffs=cutoffs)
    units = list_units(session)
    lists = _Lists(units, week=week, cutoff=cutoff, rules=rules)
    # Every table in one pass over the histories, each ticket replayed once for all the
    # trend's cut-offs; the week's own totals are the trend's last point.
    by_unit, by_source, *past_totals = tables_from(
        histories, units, wanted=[(week, BY_UNIT), (week, BY_SOURCE)]
        + [(past, TREND) for past in weeks[:-1]],
        now=now, rules=rules, policy=policy, visit=lists.visit,
    )  # fmt: skip
    del histories
    trend = []
    for past, figures in zip(
        weeks, [*(table.total for table in past_totals), by_unit.total], strict=True
    ):
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
    overdue, overdue_units, changes = lists.result()
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
        by_source=by_source.rows,
        overdue=tuple(overdue),
        changes=tuple(changes),
        trend=tuple(trend),
        masthead=masthead_for(office or OfficePolicy(), period=week, now=now, tz=rules.tz),
        tasks=tasks,
        overdue_total=by_unit.total.overdue_open,
        overdue_units=tuple(overdue_units),
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


class _Lists:
    """The overdue tickets at the cut-off (counted by unit, the longest-overdue kept) and
    the 退回 / 续办 steps of the week, gathered as the tables are counted."""

    def __init__(
        self, units: list[Unit], *, week: Period, cutoff: datetime, rules: DeadlineRules
    ) -> None:
        self.by_id = {unit.id: unit for unit in units}
        self.start, self.cutoff, self.rules = week.start(rules.tz), cutoff, rules
        self.overdue: list[tuple[int, _Descending, TicketFacts, int]] = []  # a heap: the kept
        self.units: dict[int | None, list[int]] = {}  # unit -> [count, longest]
        self.changes: list[ChangeItem] = []
        self.overdue_days: dict[date, int] = {}  # by due day: working days overdue at cutoff

    def unit_of(self, unit_id: int | None) -> tuple[str | None, str]:
        unit = self.by_id.get(unit_id) if unit_id is not None else None
        return (unit.code, unit.short_name) if unit else (None, UNASSIGNED_LABEL)

    def visit(self, by_cutoff: dict[datetime, TicketFacts]) -> None:
        facts = by_cutoff[self.cutoff]
        cutoff, history = self.cutoff, facts.history
        if facts.state in OPEN_STATES and facts.due_at < cutoff:
            days = self.overdue_days.get(facts.due_date)
            if days is None:  # many overdue tickets share a due day
                days = self.overdue_days[facts.due_date] = overdue_workdays(
                    facts, cutoff, self.rules
                )
            seen = self.units.setdefault(facts.unit_id, [0, 0])
            seen[0] += 1
            seen[1] = max(seen[1], days)
            # Kept: the OVERDUE_LISTED first by (most days, number); the heap's top is the
            # one to drop (fewest days, then the greatest number).
            entry = (days, _Descending(history.number), facts, days)
            if len(self.overdue) < OVERDUE_LISTED:
                heapq.heappush(self.overdue, entry)
            elif entry[:2] > self.overdue[0][:2]:
                heapq.heapreplace(self.overdue, entry)
        for step in (*facts.returns, *facts.reopens):
            if self.start <= step.at < cutoff:
                code, label = self.unit_of(step.unit_id)
                self.changes.append(
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

    def result(self) -> tuple[list[OverdueItem], list[OverdueUnit], list[ChangeItem]]:
        overdue = [self.item(facts, days) for _, _, facts, days in self.overdue]
        overdue.sort(key=lambda item: (-item.overdue_workdays, item.number))
        units = []
        for unit_id, (count, longest) in self.units.items():
            code, label = self.unit_of(unit_id)
            units.append(OverdueUnit(unit=code, unit_label=label, count=count,
                                     longest_workdays=longest))  # fmt: skip
        units.sort(key=lambda u: (-u.count, -u.longest_workdays, u.unit is None, u.unit or ""))
        changes = sorted(self.changes, key=lambda item: (item.at, item.number))
        return overdue, units, changes

    def item(self, facts: TicketFacts, days: int) -> OverdueItem:
        history = facts.history
        code, label = self.unit_of(facts.unit_id)
        return OverdueItem(
            number=history.number,
            unit=code,
            unit_label=label,
            source_kind=history.source_kind,
            source_label=SOURCE_LABELS[SourceKind(history.source_kind)],
            title=history.title,
            received_at=history.received_at,
            due_date=facts.due_date,
            original_due_date=history.original_due_date,
            overdue_workdays=days,
            state=facts.state.value,
            state_label=TicketState(facts.state).label,
        )


class _Descending:
    """A string that orders backwards (a heap keeps the smallest number of equal days)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __lt__(self, other: _Descending) -> bool:
        return self.text > other.text

    def __gt__(self, other: _Descending) -> bool:
        return self.text < other.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)
