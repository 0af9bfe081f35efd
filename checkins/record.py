"""The record: per person and window of a day, posted (on time), late, missed or still
open; and per unit over a period, the figures the monthly 月讲评 can use."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from checkins.groups import Member, members
from checkins.windows import windows_on
from ledger.deadlines import DeadlineRules
from ledger.models import CheckinPost
from ledger.policy import CheckinPolicy

POSTED, LATE, MISSED, OPEN = "posted", "late", "missed", "open"
STATE_LABELS = {POSTED: "已晒", LATE: "迟晒", MISSED: "未晒", OPEN: "待晒"}
TRUE, FALSE, MARKED = "true", "false", "marked"
CHECK_LABELS = {MARKED: "待核实", TRUE: "属实", FALSE: "不实"}


@dataclass(frozen=True, slots=True)
class StatusRow:
    day: date
    window: str
    group: str
    person: str  # code
    name: str
    unit: str | None
    unit_id: int | None
    state: str  # posted | late | missed | open
    post_id: int | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]


def roster(session: Session, policy: CheckinPolicy) -> list[tuple[str, Member]]:
    """(group key, member) for everyone who checks in; a person in two groups once (the
    first group names them)."""
    seen: set[int] = set()
    rows = []
    for key, group in policy.groups.items():
        for member in members(session, key, group):
            if member.person_id not in seen:
                seen.add(member.person_id)
                rows.append((key, member))
    return rows


def posts_on(session: Session, day: date) -> list[CheckinPost]:
    return list(
        session.exec(
            select(CheckinPost).where(CheckinPost.day == day).order_by(col(CheckinPost.id))
        ).all()
    )


def status(
    session: Session,
    day: date,
    *,
    policy: CheckinPolicy,
    rules: DeadlineRules,
    now: datetime,
    unit_id: int | None = None,
) -> list[StatusRow]:
    """Every person and window of ``day`` (none on a day off)."""
    windows = windows_on(day, policy, rules)
    best: dict[tuple[int, str], CheckinPost] = {}
    for post in posts_on(session, day):
        key = (post.person_id, post.window)
        if key not in best or (best[key].late and not post.late):
            best[key] = post
    rows = []
    for group, member in roster(session, policy):
        if unit_id is not None and member.unit_id != unit_id:
            continue
        for window in windows:
            found = best.get((member.person_id, window.name))
            if found is not None:
                state = LATE if found.late else POSTED
            else:
                state = OPEN if now <= window.closes else MISSED
            rows.append(
                StatusRow(
                    day=day,
                    window=window.name,
                    group=group,
                    person=member.code,
                    name=member.name,
                    unit=member.unit_name,
                    unit_id=member.unit_id,
                    state=state,
                    post_id=found.id if found is not None else None,
                )
            )
    return rows


@dataclass
class UnitFigures:
    """A unit's check-ins over a period: windows owed, posted (on time or late), late,
    posts found false (不实) in a spot check."""

    unit_id: int
    expected: int = 0
    posted: int = 0
    late: int = 0
    false: int = 0

    @property
    def rate(self) -> float | None:
        """Check-in rate: windows posted (late ones too) / windows owed."""
        return self.posted / self.expected if self.expected else None


def unit_figures(
    session: Session,
    start: date,
    end: date,
    *,
    policy: CheckinPolicy,
    rules: DeadlineRules,
    now: datetime,
) -> dict[int, UnitFigures]:
    """Per unit, the days ``start`` .. ``end`` (inclusive): for the 月讲评's 加分 / 扣分
    and a unit's annual record. Windows still open at ``now`` are not owed yet."""
    figures: dict[int, UnitFigures] = {}
    day = start
    while day <= end:
        for row in status(session, day, policy=policy, rules=rules, now=now):
            if row.state == OPEN:
                continue
            unit = row.unit_id
            if unit is None:
                continue
            fig = figures.setdefault(unit, UnitFigures(unit_id=unit))
            fig.expected += 1
            if row.state in (POSTED, LATE):
                fig.posted += 1
            if row.state == LATE:
                fig.late += 1
        day += timedelta(days=1)
    false_posts: dict[int, int] = defaultdict(int)
    for post in session.exec(
        select(CheckinPost)
        .where(col(CheckinPost.day) >= start)
        .where(col(CheckinPost.day) <= end)
        .where(CheckinPost.check_state == FALSE)
    ).all():
        if post.unit_id is not None:
            false_posts[post.unit_id] += 1
    for unit, count in false_posts.items():
        figures.setdefault(unit, UnitFigures(unit_id=unit)).false = count
    return figures
