"""Every figure on a hand-built ledger (tests/reports/scenario.py), SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from ledger import tickets as T
from ledger.db import session_scope
from ledger.policy import RankingPolicy
from reports.figures import BY_SOURCE, BY_UNIT, OVERALL, compute_figures, median, p90
from reports.periods import parse_week
from tests.helpers import local, make_ticket
from tests.reports import scenario

W47 = parse_week("2026-W47")
POLICY = RankingPolicy()


@pytest.fixture
def built(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        scenario.build(session)
    return engine


def figures(engine: Engine, *, week=W47, now=scenario.REPORT_NOW, policy=POLICY, by=BY_UNIT):
    with session_scope(engine) as session:
        return compute_figures(
            session, period=week, now=now, rules=scenario.RULES, policy=policy, by=by
        )


def test_totals_of_the_week(built: Engine) -> None:
    table = figures(built)
    t = table.total
    assert table.as_of == W47.end(scenario.RULES.tz)  # the report sees the week, not Monday
    assert (t.received, t.assigned, t.acknowledged, t.replied, t.verified) == (4, 3, 3, 5, 1)
    assert (t.returned, t.reopened, t.overdue_open) == (1, 1, 3)
    assert (t.due, t.due_replied, t.on_time, t.on_time_original, t.completed) == (4, 3, 3, 2, 1)
    assert (t.reply_rate, t.on_time_rate, t.on_time_rate_original, t.completion_rate) == (
        0.75,
        0.75,
        0.5,
        0.25,
    )
    assert (t.ack_days_median, t.ack_days_p90) == (2.0, 2)
    assert (t.reply_days_median, t.reply_days_p90) == (4.0, 5)
    assert (t.rated, t.quality_mean, t.quality_score) == (2, 3.5, 62.5)


def test_per_unit(built: Engine) -> None:
    table = figures(built)
    zjj, cgj, triage = table.row("zjj"), table.row("cgj"), table.row(None)
    assert (zjj.received, zjj.assigned, zjj.acknowledged, zjj.replied, zjj.verified) == (
        2,
        2,
        2,
        4,
        1,
    )
    assert (zjj.returned, zjj.reopened, zjj.overdue_open) == (0, 1, 2)
    assert (zjj.due, zjj.due_replied, zjj.on_time, zjj.on_time_original, zjj.completed) == (
        3,
        3,
        3,
        2,
        1,
    )
    assert (zjj.ack_days_median, zjj.ack_days_p90) == (1.0, 2)
    assert (zjj.reply_days_median, zjj.reply_days_p90) == (4.5, 5)
    assert (zjj.rated, zjj.quality_mean) == (2, 3.5)
    # cgj sent T6 back (退回 counts for it) and holds T3, due and unanswered.
    assert (cgj.received, cgj.assigned, cgj.acknowledged, cgj.replied) == (1, 1, 1, 1)
    assert (cgj.returned, cgj.overdue_open, cgj.due, cgj.due_replied) == (1, 1, 1, 0)
    assert (cgj.on_time_rate, cgj.rated, cgj.quality_mean) == (0.0, 0, None)
    assert (triage.label, triage.received, triage.due) == ("未分办", 1, 0)
    # Units with nothing are listed with zeros and no rates.
    quiet = table.row("jyj")
    assert (quiet.received, quiet.due, quiet.reply_rate, quiet.reply_days_median) == (
        0,
        0,
        None,
        None,
    )
    for field in ("received", "replied", "due", "on_time", "overdue_open", "returned"):
        assert sum(getattr(row, field) for row in table.rows) == getattr(table.total, field)


def test_per_source_and_overall(built: Engine) -> None:
    by_source = figures(built, by=BY_SOURCE)
    letter, online = by_source.row("letter"), by_source.row("online")
    assert (letter.label, letter.received, letter.replied, letter.due) == ("群众来信", 1, 1, 0)
    assert (online.received, online.replied, online.due, online.on_time) == (3, 4, 4, 3)
    assert by_source.row("instruction").received == 0
    overall = figures(built, by=OVERALL)
    assert [row.key for row in overall.rows] == ["all"]
    assert overall.rows[0] == overall.total == by_source.total


def test_extensions_not_counted_when_the_office_says_so(built: Engine) -> None:
    strict = RankingPolicy(extensions_count_on_time=False)
    t = figures(built, policy=strict).total
    assert (t.due, t.on_time, t.on_time_original) == (4, 2, 2)
    assert t.on_time_rate == t.on_time_rate_original == 0.5


def test_a_past_week_is_seen_as_it_stood_at_its_end(built: Engine) -> None:
    """T1 was answered on Monday 11-16: in its due week (W46) it is unanswered and overdue.
    T4's extension (approved 11-12) moved its deadline out of W46."""
    t = figures(built, week=parse_week("2026-W46")).total
    assert (t.received, t.due, t.due_replied, t.on_time, t.overdue_open) == (4, 2, 0, 0, 2)
    assert t.on_time_rate == 0.0


def test_items_not_yet_due_are_never_late(built: Engine) -> None:
    """Wednesday noon of W47: T2, T3, T4, T6 fall due tonight; only T8 is late."""
    table = figures(built, now=local(2026, 11, 18, 12))
    t = table.total
    assert table.as_of == local(2026, 11, 18, 12)
    assert (t.due, t.on_time_rate, t.reply_rate, t.overdue_open) == (0, None, None, 1)
    assert table.row("cgj").overdue_open == 0  # T3 is due tonight, not late
    # T5 (due in December), T7 and T9 are never in the due cohort or overdue.
    later = figures(built, now=local(2026, 11, 25, 12), week=parse_week("2026-W48")).total
    assert later.overdue_open == 2 and later.due == 0  # T3 was answered on 11-23


def test_working_days_across_the_national_day_holiday(engine: Engine) -> None:
    """1–7 October 2026 are holidays, Saturday 10-10 a make-up working day."""
    actor = T.Actor.system("test")
    cases = [  # (received, replied, working days)
        (local(2026, 9, 30), local(2026, 10, 8), 1),
        (local(2026, 9, 30), local(2026, 10, 9), 2),
        (local(2026, 9, 30), local(2026, 10, 10), 3),
        (local(2026, 9, 30), local(2026, 10, 11), 3),
        (local(2026, 9, 28), local(2026, 10, 10), 5),
    ]
    with session_scope(engine) as session:
        from ledger.directory import find_unit

        unit = find_unit(session, "swj")
        for index, (received, replied, _) in enumerate(cases):
            ticket = make_ticket(
                session,
                scenario.RULES,
                received_at=received,
                external_id=f"h{index}",
                text=f"第{index}件 积水",
            )
            T.assign(session, ticket, unit, actor=actor, now=received, routed_by="manual")
            T.acknowledge(session, ticket, actor=actor, now=replied - timedelta(hours=1))
            T.reply(session, ticket, "已疏通", actor=actor, now=replied)
    t = figures(engine, week=parse_week("2026-W41"), now=local(2026, 10, 20)).total
    assert t.replied == t.acknowledged == 5
    assert (t.reply_days_median, t.reply_days_p90) == (3.0, 5)
    assert (t.ack_days_median, t.ack_days_p90) == (3.0, 5)


def test_median_and_nearest_rank_p90() -> None:
    assert median([]) is None and p90([]) is None
    assert median([1, 2]) == 1.5
    assert p90(list(range(1, 11))) == 9  # ceil(9.0) = 9th
    assert p90(list(range(1, 12))) == 10  # ceil(9.9) = 10th
    assert p90([7]) == 7


def test_days_and_weeks_are_the_office_s_local_ones(engine: Engine) -> None:
    """Late Sunday night belongs to the week ending; Monday 07:30 in Shanghai is still
    Sunday in UTC, yet one working day after Friday."""
    actor = T.Actor.system("test")
    with session_scope(engine) as session:
        from ledger.directory import find_unit

        unit = find_unit(session, "swj")
        late = make_ticket(
            session,
            scenario.RULES,
            received_at=local(2026, 11, 20, 23, 30),
            external_id="late",
            text="周五深夜来信",
        )
        T.assign(
            session, late, unit, actor=actor, now=local(2026, 11, 22, 23, 30), routed_by="manual"
        )
        T.reply(session, late, "已办", actor=actor, now=local(2026, 11, 23, 7, 30))
        make_ticket(
            session,
            scenario.RULES,
            received_at=local(2026, 11, 23, 0, 30),
            external_id="monday",
            text="周一凌晨来信",
        )
    w47 = figures(engine, now=local(2026, 12, 1))
    assert (w47.total.received, w47.total.assigned, w47.total.replied) == (1, 1, 0)
    w48 = figures(engine, week=parse_week("2026-W48"), now=local(2026, 12, 1)).total
    assert (w48.received, w48.replied, w48.reply_days_median, w48.ack_days_median) == (
        1,
        1,
        1.0,
        1.0,
    )
