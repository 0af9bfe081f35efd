"""月讲评: each unit's monthly score, rank, 红旗 / 黄旗 and 问责提示.

    score         = time_weight x time score + quality_weight x quality score
    time score    = 100 x (time_on_time_weight x 按期率 + time_reply_weight x 回复率)
                    - overdue_penalty x overdue_open, kept within 0..100
    quality score = (mean 核查 rating - 1) / 4 x 100      (rating 1 -> 0, 5 -> 100)

The rates, ``overdue_open`` and the ratings are the unit's :class:`~reports.figures.Figures`
for the month. Weights and the penalty come from ``RankingPolicy`` (``data/policy.yaml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from checkins.figures import month_points
from ledger.deadlines import DeadlineRules
from ledger.models import Unit, UnitFlag
from ledger.policy import CheckinPolicy, RankingPolicy, TaskPolicy
from reports.figures import Figures, FigureTable
from reports.periods import Period
from tasks.scores import task_scores

RED, YELLOW = "红旗", "黄旗"
# Scores are compared at this many decimals: equal scores reached by different sums
# (0.3 x 76.67 + 3.5 and 9 + 17.5, both 26.5) differ in a float's last bits; they tie.
SCORE_PLACES = 9


@dataclass(frozen=True, slots=True)
class RankEntry:
    unit: str  # unit code
    label: str  # short name
    due: int
    reply_rate: float | None
    on_time_rate: float | None
    overdue_open: int
    rated: int
    quality_mean: float | None
    time_score: float | None
    quality_score: float | None
    score: float | None
    rank: int | None  # None: listed, not ranked (see ``reason``)
    flag: str | None  # 红旗 | 黄旗
    reason: str | None
    accountability: bool  # 问责提示: last place this month and the month before

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Ranking:
    period: Period
    as_of: datetime
    entries: tuple[RankEntry, ...]  # ranked units in rank order, then the unranked ones
    previous_last: str | None  # unit code in last place the month before

    @property
    def ranked(self) -> list[RankEntry]:
        return [entry for entry in self.entries if entry.rank is not None]

    @property
    def accountability(self) -> list[RankEntry]:
        return [entry for entry in self.entries if entry.accountability]

    def entry(self, unit: str) -> RankEntry:
        for entry in self.entries:
            if entry.unit == unit:
                return entry
        raise KeyError(unit)


def time_score(figures: Figures, policy: RankingPolicy) -> float | None:
    """The documented time score; None when nothing fell due in the month."""
    if figures.on_time_rate is None or figures.reply_rate is None:
        return None
    raw = 100 * (
        policy.time_on_time_weight * figures.on_time_rate
        + policy.time_reply_weight * figures.reply_rate
    )
    return min(100.0, max(0.0, raw - policy.overdue_penalty * figures.overdue_open))


def rank_units(
    table: FigureTable, policy: RankingPolicy, *, previous: Ranking | None = None
) -> Ranking:
    """Rank the units of a by-unit figure table (tickets at no unit are left out)."""
    candidates = []
    for figures in table.rows:
        if figures.key is None:
            continue
        t_score = time_score(figures, policy)
        q_score = figures.quality_score
        reason = _not_ranked_because(figures, policy, t_score, q_score)
        score = None
        if reason is None:
            score = policy.time_weight * (t_score or 0.0) + policy.quality_weight * (q_score or 0.0)
        candidates.append((figures, t_score, q_score, score, reason))

    ranked = sorted(
        (c for c in candidates if c[4] is None),
        key=lambda c: (
            -round(c[3], SCORE_PLACES),
            -(c[0].on_time_rate or 0.0),
            c[0].overdue_open,
            c[0].key,
        ),
    )
    red = min(policy.red_flags, len(ranked))
    yellow = min(policy.yellow_flags, len(ranked) - red)
    last = ranked[-1][0].key if ranked else None
    previous_last = previous.ranked[-1].unit if previous and previous.ranked else None
    entries = []
    for position, (figures, t_score, q_score, score, _) in enumerate(ranked, start=1):
        flag = RED if position <= red else YELLOW if position > len(ranked) - yellow else None
        entries.append(
            _entry(
                figures,
                t_score,
                q_score,
                score,
                rank=position,
                flag=flag,
                reason=None,
                accountability=figures.key == last == previous_last,
            )
        )
    for figures, t_score, q_score, score, reason in candidates:
        if reason is not None:
            entries.append(
                _entry(
                    figures,
                    t_score,
                    q_score,
                    score,
                    rank=None,
                    flag=None,
                    reason=reason,
                    accountability=False,
                )
            )
    return Ranking(
        period=table.period, as_of=table.as_of, entries=tuple(entries), previous_last=previous_last
    )


def _not_ranked_because(
    figures: Figures, policy: RankingPolicy, t_score: float | None, q_score: float | None
) -> str | None:
    if figures.due < max(policy.min_tickets, 1):
        if figures.due == 0:
            return "本月无到期件"
        return f"本月到期件 {figures.due} 件，少于 {policy.min_tickets} 件"
    if policy.time_weight > 0 and t_score is None:
        return "本月无到期件"
    if policy.quality_weight > 0 and q_score is None:
        return "本月无核查评分"
    return None


def _entry(figures: Figures, t_score, q_score, score, *, rank, flag, reason, accountability):
    return RankEntry(
        unit=figures.key or "",
        label=figures.label,
        due=figures.due,
        reply_rate=figures.reply_rate,
        on_time_rate=figures.on_time_rate,
        overdue_open=figures.overdue_open,
        rated=figures.rated,
        quality_mean=figures.quality_mean,
        time_score=t_score,
        quality_score=q_score,
        score=score,
        rank=rank,
        flag=flag,
        reason=reason,
        accountability=accountability,
    )


# -- by unit group (kind in units.yaml), tickets and tasks together --------------------------------

GROUP_LABELS = {"department": "区直部门", "street": "乡镇（街道）"}


@dataclass(frozen=True, slots=True)
class GroupEntry:
    unit: str  # unit code
    label: str
    ticket_score: float | None  # the unit's 月讲评 score on tickets (None: not ranked)
    task_score: float | None  # on 督办事项 (None: no task in the month)
    score: float | None  # ticket_weight x ticket score + task_weight x task score
    rank: int | None  # within the group; equal scores share a rank
    flag: str | None  # 红旗 | 黄旗
    last: bool  # last in its group this month (ties: all of them)
    accountability: bool  # 问责提示: last in its group ``accountability_months`` running
    reason: str | None  # why not ranked
    checkin_points: float = 0.0  # 加分 / 扣分 from the month's check-ins, in ``score``

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GroupRanking:
    group: str  # department | street
    label: str  # 区直部门
    red_flags: int
    yellow_flags: int
    entries: tuple[GroupEntry, ...]  # ranked in rank order, then the unranked

    @property
    def last(self) -> list[str]:
        return [e.unit for e in self.entries if e.last]


def combined_score(ticket: float | None, task: float | None, policy: RankingPolicy) -> float | None:
    """The month's unit score: both weighted when the unit has both, else the one it has."""
    if ticket is not None and task is not None:
        return policy.ticket_weight * ticket + policy.task_weight * task
    return ticket if ticket is not None else task


def rank_by_group(
    ranking: Ranking,
    task_scores: dict[str, float | None],
    units: Sequence[tuple[str, str, str]],
    policy: RankingPolicy,
    *,
    previous_last: Sequence[set[str]] = (),
    points: dict[str, float] | None = None,
) -> tuple[GroupRanking, ...]:
    """Rank each group of units (``units``: code, short name, kind; the desk left out).

    ``task_scores``: unit code -> task score. ``previous_last``: the units last in their
    group one month before, two months before, …; a unit last now and in each of the
    ``accountability_months - 1`` months before gets 问责提示. 红旗 go to the top
    ``red_flags`` ranks, 黄旗 to the bottom ``yellow_flags``; equal scores share a rank (and
    a flag); in a small group each kind of flag goes to at most half of its ranked units (a
    group of one is ranked, not flagged); a group all tied has no flags and nobody last.
    ``points``: unit code -> 加分 / 扣分 (check-ins) added to a ranked unit's score, which
    stays within 0–100.
    """
    points = points or {}
    tickets = {e.unit: e.score for e in ranking.entries}
    groups: dict[str, list[tuple[str, str]]] = {}
    for code, label, kind in units:
        if kind != "desk":
            groups.setdefault(kind, []).append((code, label))
    result = []
    need = policy.accountability_months - 1
    for kind in sorted(groups, key=lambda k: (k != "department", k != "street", k)):
        flags = policy.groups.get(kind)
        red_n = flags.red_flags if flags is not None else policy.red_flags
        yellow_n = flags.yellow_flags if flags is not None else policy.yellow_flags
        label = (flags.label if flags is not None else None) or GROUP_LABELS.get(kind, kind)
        scored = []
        unranked = []
        for code, name in groups[kind]:
            ticket, task = tickets.get(code), task_scores.get(code)
            score = combined_score(ticket, task, policy)
            if score is not None and points.get(code):
                score = min(100.0, max(0.0, score + points[code]))
            if score is None:
                unranked.append(
                    GroupEntry(
                        code,
                        name,
                        ticket,
                        task,
                        None,
                        None,
                        None,
                        False,
                        False,
                        "本月无可评分的督办件和督办事项",
                    )
                )
            else:
                scored.append((round(score, SCORE_PLACES), code, name, ticket, task, score))
        scored.sort(key=lambda s: (-s[0], s[1]))
        entries = []
        n = len(scored)
        red_cap, yellow_cap = min(red_n, n // 2), min(yellow_n, n // 2)  # small groups
        for key, code, name, ticket, task, score in scored:
            rank = 1 + sum(1 for other in scored if other[0] > key)
            from_bottom = 1 + sum(1 for other in scored if other[0] < key)
            flag = None
            level = rank == 1 and from_bottom == 1  # everyone tied: nobody above, nobody below
            if not level and rank <= red_cap:
                flag = RED
            elif not level and from_bottom <= yellow_cap:
                flag = YELLOW
            last = n >= 2 and from_bottom == 1 and not level
            accountable = (
                last and len(previous_last) >= need and all(code in p for p in previous_last[:need])
            )
            entries.append(
                GroupEntry(
                    code,
                    name,
                    ticket,
                    task,
                    score,
                    rank,
                    flag,
                    last,
                    accountable,
                    None,
                    points.get(code, 0.0),
                )
            )
        result.append(GroupRanking(kind, label, red_n, yellow_n, tuple(entries) + tuple(unranked)))
    return tuple(result)


def group_ranking_for(
    session: Session,
    *,
    month: Period,
    ranking: Ranking,
    previous: Ranking | None,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    task_policy: TaskPolicy,
    record: bool = False,
    checkin_policy: CheckinPolicy | None = None,
) -> tuple[GroupRanking, ...]:
    """The month's ranking by group, tickets (``ranking``) and tasks together.

    The month before is ranked the same way (``previous``: its ticket ranking) to find who
    was last; earlier months come from the flag history (``unit_flag``). With ``record``
    (a complete month) the month's flags are kept in that history, replacing any earlier
    record of the same month.
    """
    units = [u for u in session.exec(select(Unit).order_by(col(Unit.id))) if u.active]
    rows = [(u.code, u.short_name, u.kind) for u in units]
    by_id = {u.id: u.code for u in units}

    def tasks_of(period: Period) -> dict[str, float | None]:
        start, end = period.start(rules.tz), period.end(rules.tz)
        scores = task_scores(
            session, start=start, end=end, cutoff=min(now, end), rules=rules,
            policy=task_policy, ranking=policy,
        )  # fmt: skip
        return {by_id[uid]: s.score for uid, s in scores.items() if uid in by_id}

    history = _flag_history(session, month, policy.accountability_months)
    before: list[set[str]] = []
    if previous is not None and policy.accountability_months > 1:
        last_month = rank_by_group(previous, tasks_of(month.previous()), rows, policy)
        before.append({code for group in last_month for code in group.last})
        before.extend(history[1:])
    points: dict[str, float] = {}
    if checkin_policy is not None:
        points = {
            by_id[uid]: value
            for uid, value in month_points(
                session,
                month.key,
                policy=checkin_policy,
                rules=rules,
                now=min(now, month.end(rules.tz)),
            ).items()
            if uid in by_id
        }
    groups = rank_by_group(
        ranking, tasks_of(month), rows, policy, previous_last=before, points=points
    )
    if record:
        _record(session, month, groups, {u.code: u for u in units}, now)
    return groups


def _flag_history(session: Session, month: Period, months: int) -> list[set[str]]:
    """Units last in their group in each of the ``months`` months before ``month``."""
    found: list[set[str]] = []
    period = month
    for _ in range(max(months, 1)):
        period = period.previous()
        rows = session.exec(
            select(Unit.code)
            .join(UnitFlag, col(UnitFlag.unit_id) == col(Unit.id))
            .where(UnitFlag.month == period.key, UnitFlag.last == True)  # noqa: E712
        ).all()
        found.append(set(rows))
    return found


def _record(
    session: Session,
    month: Period,
    groups: tuple[GroupRanking, ...],
    units: dict[str, Unit],
    now: datetime,
) -> None:
    for old in session.exec(select(UnitFlag).where(UnitFlag.month == month.key)):
        session.delete(old)
    session.flush()
    for group in groups:
        for entry in group.entries:
            unit = units[entry.unit]
            assert unit.id is not None
            session.add(
                UnitFlag(
                    month=month.key,
                    unit_id=unit.id,
                    group=group.group,
                    rank=entry.rank,
                    score=entry.score,
                    flag=entry.flag,
                    last=entry.last,
                    accountability=entry.accountability,
                    recorded_at=now,
                )
            )
    session.flush()


def flag_history(session: Session, unit_code: str) -> list[tuple[str, str | None, int | None]]:
    """A unit's months in the 月讲评, oldest first: (month, flag, rank) — 红黄旗流动."""
    rows = session.exec(
        select(UnitFlag.month, UnitFlag.flag, UnitFlag.rank)
        .join(Unit, col(UnitFlag.unit_id) == col(Unit.id))
        .where(Unit.code == unit_code)
        .order_by(col(UnitFlag.month))
    ).all()
    return [(m, f, r) for m, f, r in rows]


@dataclass(frozen=True, slots=True)
class QuarterEntry:
    unit: str
    label: str
    group: str
    months: tuple[tuple[str, str | None, int | None, float | None], ...]  # month, flag, rank, score
    total: float  # the months' scores added up (a month without a score adds nothing)
    red: int
    yellow: int
    accountability: int  # months with 问责提示

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def quarter_view(session: Session, year: int, quarter: int) -> list[QuarterEntry]:
    """The quarter from the flag history: each unit's three months added up, by group and
    total (highest first); months not yet recorded are simply absent."""
    if not 1 <= quarter <= 4:
        raise ValueError("quarter must be 1..4")
    months = [f"{year}-{m:02d}" for m in range(quarter * 3 - 2, quarter * 3 + 1)]
    rows = session.exec(
        select(UnitFlag, Unit)
        .join(Unit, col(UnitFlag.unit_id) == col(Unit.id))
        .where(col(UnitFlag.month).in_(months))
        .order_by(col(UnitFlag.month))
    ).all()
    found: dict[str, dict[str, Any]] = {}
    for flag, unit in rows:
        entry = found.setdefault(
            unit.code, {"label": unit.short_name, "group": flag.group, "months": []}
        )
        entry["months"].append((flag.month, flag.flag, flag.rank, flag.score))
    result = [
        QuarterEntry(
            unit=code,
            label=e["label"],
            group=e["group"],
            months=tuple(e["months"]),
            total=sum(m[3] or 0.0 for m in e["months"]),
            red=sum(1 for m in e["months"] if m[1] == RED),
            yellow=sum(1 for m in e["months"] if m[1] == YELLOW),
            accountability=sum(
                1 for flag, unit in rows if unit.code == code and flag.accountability
            ),
        )
        for code, e in found.items()
    ]
    return sorted(result, key=lambda q: (q.group, -round(q.total, SCORE_PLACES), q.unit))
