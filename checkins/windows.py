"""The check-in windows of a day (早晒, 午晒, 晚晒), on working days only, and which
window a post counts for: the one it falls in, else the nearest one (marked late)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ledger.deadlines import DeadlineRules
from ledger.policy import CheckinPolicy


@dataclass(frozen=True, slots=True)
class Window:
    day: date  # the working day, office time
    name: str  # 早晒
    opens: datetime  # UTC
    closes: datetime  # UTC

    def holds(self, moment: datetime) -> bool:
        return self.opens <= moment <= self.closes

    def distance(self, moment: datetime) -> timedelta:
        if moment < self.opens:
            return self.opens - moment
        if moment > self.closes:
            return moment - self.closes
        return timedelta(0)


@dataclass(frozen=True, slots=True)
class Slot:
    """What a post counts for."""

    window: Window
    late: bool


def windows_on(day: date, policy: CheckinPolicy, rules: DeadlineRules) -> list[Window]:
    """The day's windows in time order; none on a day off (weekends, holidays; a 调休
    Saturday is a working day and has them)."""
    if not rules.calendar.is_workday(day):
        return []
    return sorted(
        (
            Window(
                day=day,
                name=w.name,
                opens=datetime.combine(day, w.opens, tzinfo=rules.tz).astimezone(UTC),
                closes=datetime.combine(day, w.closes, tzinfo=rules.tz).astimezone(UTC),
            )
            for w in policy.windows
        ),
        key=lambda w: w.opens,
    )


def slot_for(moment: datetime, policy: CheckinPolicy, rules: DeadlineRules) -> Slot:
    """The window a post made at ``moment`` counts for: the one holding it (on time), else
    the nearest one on this or the neighbouring working days (late)."""
    local = rules.local_date(moment)
    days = {local}
    back, ahead = local, local
    for _ in range(1):  # the previous and next working day (weekends, holidays between)
        back = _workday_before(back, rules)
        ahead = rules.calendar.next_workday(ahead + timedelta(days=1))
        days |= {back, ahead}
    candidates = [w for day in sorted(days) for w in windows_on(day, policy, rules)]
    nearest = min(candidates, key=lambda w: (w.distance(moment), w.opens))
    return Slot(window=nearest, late=not nearest.holds(moment))


def current(moment: datetime, policy: CheckinPolicy, rules: DeadlineRules) -> Window | None:
    """The window open at ``moment``, if any."""
    for window in windows_on(rules.local_date(moment), policy, rules):
        if window.holds(moment):
            return window
    return None


def _workday_before(day: date, rules: DeadlineRules) -> date:
    day -= timedelta(days=1)
    for _ in range(60):
        if rules.calendar.is_workday(day):
            return day
        day -= timedelta(days=1)
    return day
