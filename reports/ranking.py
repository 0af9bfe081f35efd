"""月讲评: each unit's monthly score, rank, 红旗 / 黄旗 and 问责提示.

    score         = time_weight x time score + quality_weight x quality score
    time score    = 100 x (time_on_time_weight x 按期率 + time_reply_weight x 回复率)
                    - overdue_penalty x overdue_open, kept within 0..100
    quality score = (mean 核查 rating - 1) / 4 x 100      (rating 1 -> 0, 5 -> 100)

The rates, ``overdue_open`` and the ratings are the unit's :class:`~reports.figures.Figures`
for the month. Weights and the penalty come from ``RankingPolicy`` (``data/policy.yaml``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ledger.policy import RankingPolicy
from reports.figures import Figures, FigureTable
from reports.periods import Period

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
