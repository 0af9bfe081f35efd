"""月讲评: the month's figures and the ranking of units, with flags and 问责提示."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ledger.deadlines import DeadlineRules
from ledger.policy import CheckinPolicy, OfficePolicy, Policy, RankingPolicy, TaskPolicy
from reports.figures import (
    BY_SOURCE,
    BY_UNIT,
    Figures,
    cutoff_of,
    iter_histories,
    list_units,
    tables_from,
)
from reports.masthead import Masthead, masthead_for
from reports.periods import Period, last_complete_month
from reports.ranking import GroupRanking, Ranking, group_ranking_for, rank_units


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    period: Period
    now: datetime
    as_of: datetime
    timezone: str
    extensions_count_on_time: bool
    policy: dict[str, Any]  # the ranking policy the scores were made with
    total: Figures
    by_unit: tuple[Figures, ...]
    by_source: tuple[Figures, ...]
    ranking: Ranking
    masthead: Masthead
    kind: str = "monthly"
    # By unit group (kind), tickets and 督办事项 together, with each group's flags.
    groups: tuple[GroupRanking, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def office_monthly(
    session: Session, *, now: datetime, rules: DeadlineRules, policy: Policy,
    month: Period | None = None,
) -> MonthlyReport:  # fmt: skip
    """The 月讲评 as the office's policy defines it — tickets, tasks and check-ins, its
    masthead — the one way every front end (CLI, web, the bulletin) builds it."""
    return build_monthly(
        session, now=now, rules=rules, policy=policy.ranking, month=month,
        office=policy.office, task_policy=policy.tasks, checkin_policy=policy.checkins,
    )  # fmt: skip


def build_monthly(
    session: Session,
    *,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    month: Period | None = None,
    office: OfficePolicy | None = None,
    task_policy: TaskPolicy | None = None,
    checkin_policy: CheckinPolicy | None = None,
    replay_all: bool = False,
) -> MonthlyReport:
    """The 月讲评 for ``month`` (default: the last complete month before ``now``).

    A complete month's ranking by group is kept in the flag history (``unit_flag``).
    ``checkin_policy`` adds the month's check-in 加分 / 扣分 to each unit's score.
    ``replay_all`` replays every ticket from its events instead of reading the simple ones
    from their rows (the same report, slower: for tests)."""
    month = month or last_complete_month(now, rules.tz)
    if month.kind != "month":
        raise ValueError("build_monthly needs a month")
    cutoff = cutoff_of(month, now=now, rules=rules)
    cutoffs = None if replay_all else [cutoff_of(month.previous(), now=now, rules=rules), cutoff]
    histories = iter_histories(
        session, until=cutoff, since=month.previous(), tz=rules.tz, cutoffs=cutoffs
    )
    units = list_units(session)
    # The three tables in one pass, each ticket replayed once for both cut-offs.
    wanted = ((month.previous(), BY_UNIT), (month, BY_UNIT), (month, BY_SOURCE))
    before, by_unit, by_source = tables_from(
        histories, units, wanted=wanted, now=now, rules=rules, policy=policy
    )
    del histories
    previous = rank_units(before, policy)
    ranking = rank_units(by_unit, policy, previous=previous)
    groups = group_ranking_for(
        session, month=month, ranking=ranking, previous=previous, now=now, rules=rules,
        policy=policy, task_policy=task_policy or TaskPolicy(),
        record=cutoff >= month.end(rules.tz), checkin_policy=checkin_policy,
    )  # fmt: skip
    return MonthlyReport(
        period=month,
        now=now,
        as_of=cutoff,
        timezone=str(rules.tz),
        extensions_count_on_time=policy.extensions_count_on_time,
        policy=policy.model_dump(),
        total=by_unit.total,
        by_unit=by_unit.rows,
        by_source=by_source.rows,
        ranking=ranking,
        masthead=masthead_for(office or OfficePolicy(), period=month, now=now, tz=rules.tz),
        groups=groups,
    )


def monthly_ranking(
    session: Session,
    *,
    month: Period,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
) -> Ranking:
    """Just the ranking (with 问责提示 against the month before)."""
    return build_monthly(session, now=now, rules=rules, policy=policy, month=month).ranking
