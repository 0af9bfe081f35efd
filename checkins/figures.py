"""The month's check-in figures per unit, as the 月讲评 can use them: the check-in rate,
late and false posts, and the points they add to or take from a unit's score.

Wiring (``reports.ranking``): for the month's period, call :func:`month_points` once and
add ``points[unit_id]`` to the unit's combined score before ranking (kept within 0..100).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from checkins.record import UnitFigures, unit_figures
from ledger.deadlines import DeadlineRules
from ledger.policy import CheckinPolicy


def month_bounds(month: str) -> tuple[date, date]:
    """First and last day of ``2026-11``."""
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return first, following - timedelta(days=1)


def points(fig: UnitFigures, policy: CheckinPolicy) -> float:
    """加分 / 扣分 of one unit: a bonus when every owed window was posted, minus the
    penalties for windows missed, posted late and posts found false (不实)."""
    missed = fig.expected - fig.posted
    value = -(
        policy.penalty_per_missed * missed
        + policy.penalty_per_late * fig.late
        + policy.penalty_per_false * fig.false
    )
    if fig.expected and missed == 0:
        value += policy.bonus_full_rate
    return round(value, 2)


def month_figures(
    session: Session, month: str, *, policy: CheckinPolicy, rules: DeadlineRules, now: datetime
) -> dict[int, UnitFigures]:
    start, end = month_bounds(month)
    return unit_figures(session, start, end, policy=policy, rules=rules, now=now)


def month_points(
    session: Session, month: str, *, policy: CheckinPolicy, rules: DeadlineRules, now: datetime
) -> dict[int, float]:
    """Unit id -> the month's 加分 / 扣分 from check-ins (units with none are left out)."""
    figures = month_figures(session, month, policy=policy, rules=rules, now=now)
    return {unit: points(fig, policy) for unit, fig in figures.items()}
