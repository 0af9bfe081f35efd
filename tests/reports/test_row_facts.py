"""A simple ticket's facts read off its own row (``reports.figures.column_facts``) are the
facts the replay of its events gives, at every cut-off it is read for; and the weekly,
monthly and annual reports are the same whether the simple tickets are read from their rows
or every ticket is replayed. The ledger is written by the ledger's own steps with an
advancing ``now=``: reassignments after a cut-off, answers in several parts, 退回, 续办,
extensions approved and denied, 核查 pass and fail, 归档, 通报, recounted deadlines."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit
from ledger.models import Ticket, TicketState
from ledger.policy import RankingPolicy
from reports import figures as F
from reports.annual import build_annual
from reports.monthly import build_monthly
from reports.periods import Period, month_of, parse_month, parse_week, week_of, weeks_ending
from reports.weekly import build_weekly
from tests.helpers import local, make_ticket, rules_for

RULES = rules_for()
ACTOR = T.Actor.system("test")
UNITS = ("zjj", "cgj", "jtj", "sthj")
FIRST = local(2026, 8, 3, 9)
HOURS = (1, 3, 8, 20, 30, 50, 80, 150)


class Walk:
    """One ticket's life through the ledger's steps, mostly the simple way."""

    def __init__(self, session: Session, rng: random.Random, name: str, received: datetime):
        self.session, self.rng = session, rng
        self.units = [find_unit(session, code) for code in UNITS]
        self.ticket = make_ticket(
            session, RULES, received_at=received, time_limit_days=rng.choice((2, 3, 5, 10)),
            text=f"{name} 路灯不亮", external_id=name, kind=rng.choice(("online", "letter")),
        )  # fmt: skip
        self.at = received

    def later(self) -> datetime:
        self.at += timedelta(hours=self.rng.choice(HOURS), minutes=self.rng.randrange(60))
        return self.at

    def chance(self, share: float) -> bool:
        return self.rng.random() < share

    def assign(self) -> None:
        other = [u for u in self.units if u.id != self.ticket.unit_id]
        T.assign(
            self.session, self.ticket, self.rng.choice(other), actor=ACTOR, now=self.later(),
            routed_by="manual",
        )  # fmt: skip

    def live(self) -> None:
        session, ticket, chance = self.session, self.ticket, self.chance
        if chance(0.08):
            return  # still in triage
        self.assign()
        for _ in range(self.rng.choice((0, 0, 0, 1, 2))):
            if chance(0.5):
                T.acknowledge(session, ticket, actor=ACTOR, now=self.later())
            self.assign()  # 改派, often after a week's end
        if chance(0.06):
            T.return_ticket(session, ticket, "不属于本单位职责", actor=ACTOR, now=self.later())
            if chance(0.2):
                return
            self.assign()
        if chance(0.1):
            T.escalate(session, ticket, "超期通报", actor=ACTOR, now=self.later())
        if chance(0.7):
            T.acknowledge(session, ticket, actor=ACTOR, now=self.later())
        if chance(0.12):
            T.request_extension(
                session, ticket, self.rng.randrange(1, 6), "需要协调", actor=ACTOR,
                now=self.later(), max_days=15,
            )  # fmt: skip
            T.decide_extension(
                session, ticket, approve=chance(0.6), actor=ACTOR, now=self.later(), rules=RULES
            )
        if chance(0.1):
            T.recompute_deadline(session, ticket, rules=RULES, now=self.later(), actor=ACTOR)
        if chance(0.12):
            return  # never answered: overdue
        rounds = 0
        while True:
            T.reply(session, ticket, "已处理", actor=ACTOR, now=self.later())
            for _ in range(self.rng.choice((0, 0, 1, 2))):  # more parts of the same answer
                T.reply(session, ticket, "补充说明", actor=ACTOR, now=self.later())
            if chance(0.15):
                T.comment(session, ticket, "已电话回访", actor=ACTOR, now=self.later())
            if chance(0.2):
                return  # not checked yet
            passed = rounds > 0 or not chance(0.1)
            T.verify(
                session, ticket, passed=passed, score=self.rng.randrange(1, 6), actor=ACTOR,
                now=self.later(), note=None if passed else "答复不完整",
            )  # fmt: skip
            if not passed or (rounds == 0 and chance(0.05)):
                if passed:
                    T.reopen(session, ticket, "群众仍不满意", actor=ACTOR, now=self.later())
                rounds += 1
                continue
            break
        if chance(0.7):
            T.archive(session, ticket, actor=ACTOR, now=self.later())


@pytest.fixture
def lives(engine: Engine) -> Engine:
    rng = random.Random(2026)
    with session_scope(engine) as session:
        for number in range(160):
            received = FIRST + timedelta(hours=rng.randrange(0, 120 * 24))
            Walk(session, rng, f"R{number:03d}", received).live()
    return engine


def week_ends(first: datetime, count: int) -> list[datetime]:
    weeks = weeks_ending(week_of(RULES.local_date(first)), count)
    return [w.end(RULES.tz) for w in weeks]


def cutoff_sets() -> list[list[datetime]]:
    """A weekly's nine cut-offs at several dates, a monthly's two, and a dense set."""
    sets = [week_ends(local(2026, m, d), 9) for m, d in ((9, 14), (10, 12), (11, 9), (12, 14))]
    sets += [[parse_month(m).previous().end(RULES.tz), parse_month(m).end(RULES.tz)] for m in
             ("2026-09", "2026-10", "2026-11")]  # fmt: skip
    sets.append([FIRST + timedelta(hours=13 * n) for n in range(1, 260)])
    sets.append([local(2026, 10, 20, 15, 7)])  # mid-week, mid-day
    return sets


def comparable(facts: F.TicketFacts) -> tuple:
    """Every fact but the history (read one way or the other) and the 核查 step's id (not
    known from the row; nothing reads it)."""
    return (
        facts.state, facts.unit_id, facts.assigned_at, facts.acknowledged_at,
        facts.replied_at, facts.verified_at, facts.due_date, facts.due_at, facts.returns,
        facts.reopens, tuple(step._replace(id=0) for step in facts.ratings),
    )  # fmt: skip


def test_row_facts_equal_the_replay_at_every_cutoff(lives: Engine) -> None:
    seen = {"simple": 0, "replayed": 0, "reassigned": 0, "parts": 0, "verified": 0}
    with session_scope(lives) as session:
        for cutoffs in cutoff_sets():
            until = cutoffs[-1]
            rows = F.load_histories(session, until=until, cutoffs=cutoffs)
            replayed = {h.id: h for h in F.load_histories(session, until=until)}
            assert [h.id for h in rows] == list(replayed)
            for history in rows:
                full = replayed[history.id]
                if history.columns is None:
                    seen["replayed"] += 1
                    assert history.steps == full.steps
                    continue
                seen["simple"] += 1
                assert history.steps == ()
                expected = F.facts_at_each(full, cutoffs, RULES)
                got = F.column_facts(history, cutoffs)
                for cutoff, mine, theirs in zip(cutoffs, got, expected, strict=True):
                    if history.received_at < cutoff:
                        assert comparable(mine) == comparable(theirs), (history.number, cutoff)
                actions = [step.action for step in full.steps]
                seen["reassigned"] += "reassign" in actions
                seen["parts"] += actions.count("reply") > 1
                seen["verified"] += "verify_pass" in actions
    assert seen["simple"] > 300 and seen["replayed"] > 100
    assert min(seen.values()) > 10, seen


def test_a_ticket_reassigned_after_a_cutoff_is_replayed(engine: Engine) -> None:
    """Its row knows only the latest 交办: at a cut-off between the two the ticket was at the
    first unit, which only its events tell."""
    received = local(2026, 11, 12, 9)
    with session_scope(engine) as session:
        zjj, cgj = find_unit(session, "zjj"), find_unit(session, "cgj")
        ticket = make_ticket(session, RULES, received_at=received)
        T.assign(session, ticket, zjj, actor=ACTOR, now=received, routed_by="manual")
        T.assign(session, ticket, cgj, actor=ACTOR, now=local(2026, 11, 17, 9), routed_by="m")
        T.reply(session, ticket, "已处理", actor=ACTOR, now=local(2026, 11, 18, 9))
        ticket_id = ticket.id
    cutoffs = week_ends(local(2026, 11, 20), 2)  # the ends of W46 and W47
    with session_scope(engine) as session:
        (history,) = F.load_histories(session, until=cutoffs[-1], cutoffs=cutoffs)
        assert history.id == ticket_id and history.columns is None
        before, after = F.facts_at_each(history, cutoffs, RULES)
        assert (before.unit_id, before.state) == (zjj.id, TicketState.ASSIGNED)
        assert (after.unit_id, after.state) == (cgj.id, TicketState.REPLIED)
        # Read for the later cut-off alone it is simple; asked for the earlier one, refused.
        (simple,) = F.load_histories(session, until=cutoffs[-1], cutoffs=cutoffs[-1:])
        assert simple.columns is not None
        assert comparable(F.column_facts(simple, cutoffs[-1:])[0]) == comparable(after)
        with pytest.raises(ValueError, match="need its steps"):
            F.column_facts(simple, cutoffs[:1])


@pytest.mark.parametrize(
    "as_of",
    [local(2026, 9, 16, 15), local(2026, 10, 12, 10), local(2026, 11, 23, 10),
     local(2026, 12, 9, 9)],
)  # fmt: skip
def test_reports_read_from_rows_equal_the_full_replay(lives: Engine, as_of: datetime) -> None:
    policy = RankingPolicy()
    week = weeks_ending(week_of(RULES.local_date(as_of)), 2)[0]  # the last complete week
    month = month_of(RULES.local_date(as_of))
    with Session(lives) as session:
        for current in (week, week_of(RULES.local_date(as_of))):
            fast = build_weekly(session, now=as_of, rules=RULES, policy=policy, week=current)
            slow = build_weekly(
                session, now=as_of, rules=RULES, policy=policy, week=current, replay_all=True
            )
            assert fast == slow
            if current == week:  # the last complete week: a full report
                assert sum(p.received for p in fast.trend) > 20 and fast.overdue
        for current in (month.previous(), month):
            fast_m = build_monthly(session, now=as_of, rules=RULES, policy=policy, month=current)
            session.rollback()  # the flag history a complete month writes
            slow_m = build_monthly(
                session, now=as_of, rules=RULES, policy=policy, month=current, replay_all=True
            )
            session.rollback()
            assert fast_m == slow_m
        fast_y = build_annual(session, year=2026, now=as_of, rules=RULES, policy=policy)
        slow_y = build_annual(
            session, year=2026, now=as_of, rules=RULES, policy=policy, replay_all=True
        )
        assert fast_y == slow_y
        session.rollback()


def test_the_reports_read_simple_tickets_from_their_rows(lives: Engine, monkeypatch) -> None:
    """Guard: the reports do take the quick way (and it is the same as the full replay),
    and count each history as it is made (a 1M ledger's are never all held at once)."""
    asked: list[bool] = []
    load = F.load_histories

    def spy(session, **kw):
        histories = load(session, **kw)
        asked.append(any(h.columns is not None for h in histories))
        return histories

    def spy_iter(session, **kw):  # the reports take them one at a time
        return iter(spy(session, **kw))

    for module in ("reports.weekly", "reports.monthly", "reports.annual"):
        monkeypatch.setattr(f"{module}.iter_histories", spy_iter)
    given: list[bool] = []  # whether the counting was handed them all at once
    tables = F.tables_from

    def spy_tables(histories, *args, **kw):
        given.append(isinstance(histories, list | tuple))
        return tables(histories, *args, **kw)

    for module in ("reports.weekly", "reports.monthly"):
        monkeypatch.setattr(f"{module}.tables_from", spy_tables)
    monkeypatch.setattr("reports.annual.figures_from", lambda h, *a, **kw: (
        given.append(isinstance(h, list | tuple)) or F.figures_from(h, *a, **kw)
    ))  # fmt: skip
    as_of = local(2026, 11, 23, 10)
    with Session(lives) as session:
        build_weekly(session, now=as_of, rules=RULES, policy=RankingPolicy(),
                     week=parse_week("2026-W47"))  # fmt: skip
        build_monthly(session, now=as_of, rules=RULES, policy=RankingPolicy(),
                      month=parse_month("2026-10"))  # fmt: skip
        session.rollback()
        build_annual(session, year=2026, now=as_of, rules=RULES, policy=RankingPolicy())
        session.rollback()
        assert session.get(Ticket, 1) is not None
    assert asked == [True, True, True]
    assert given == [False, False, False]


def reference_tables(histories, units, wanted, now: datetime) -> list[tuple]:
    """Each table counted ticket by ticket from the full replay's facts into plain dicts (the
    per-table computation): no cells shared by a period's tables, no count from the row, no
    trend point written out. A trend point as (its total's trend figures)."""
    codes = {unit.id: unit.code for unit in units}
    found = []
    for period, by in wanted:
        cutoff = F.cutoff_of(period, now=now, rules=RULES)
        tallies: dict = {}
        total = F._Tally()
        grouping = F.OVERALL if by == F.TREND else by

        def tallies_for(facts, unit_id, grouping=grouping, tallies=tallies, total=total):
            keys = {F.BY_UNIT: unit_id, F.BY_SOURCE: facts.history.source_kind}
            key = keys.get(grouping, "all")
            return tallies.setdefault(key, F._Tally()), total

        for history in histories:
            if history.received_at < cutoff:
                F._count(
                    F.facts_at(history, cutoff, RULES), tallies_for,
                    start=period.start(RULES.tz), cutoff=cutoff, period=period, rules=RULES,
                    policy=RankingPolicy(),
                )  # fmt: skip
        figures = total.figures("all", "合计")
        if by == F.TREND:
            found.append(trend_figures(figures))
        else:
            found.append((tuple(F._rows(tallies, units, codes, by)), figures))
    return found


def trend_figures(figures: F.Figures) -> tuple:
    return (
        figures.received, figures.replied, figures.overdue_open, figures.due,
        figures.due_replied, figures.on_time, figures.on_time_original,
    )  # fmt: skip


@pytest.mark.parametrize(
    "as_of", [local(2026, 9, 16, 15), local(2026, 11, 23, 10), local(2026, 12, 9, 9)]
)
def test_tables_from_rows_equal_the_tables_counted_one_by_one(lives: Engine, as_of) -> None:
    """The tables of a weekly (its week by unit, source and overall, the trend points) and of
    a monthly (the month before by unit, the month by unit and source), counted from the
    rows with a period's tables sharing cells, equal each table counted alone from the
    replay, ticket by ticket."""
    week = week_of(RULES.local_date(as_of))
    month = month_of(RULES.local_date(as_of))
    weekly = [(week, F.BY_UNIT), (week, F.BY_SOURCE), (week, F.OVERALL)] + [
        (past, F.TREND) for past in weeks_ending(week, 9)[:-1]
    ]
    monthly = [(month.previous(), F.BY_UNIT), (month, F.BY_UNIT), (month, F.BY_SOURCE)]
    counted: list[F.FigureTable] = []
    with session_scope(lives) as session:
        units = F.list_units(session)
        for wanted in (weekly, monthly):
            cutoffs = sorted({F.cutoff_of(p, now=as_of, rules=RULES) for p, _ in wanted})
            rows = F.load_histories(session, until=cutoffs[-1], cutoffs=cutoffs)
            assert sum(h.columns is not None for h in rows) > 20
            tables = F.tables_from(
                rows, units, wanted=wanted, now=as_of, rules=RULES, policy=RankingPolicy()
            )
            got = [
                trend_figures(t.total) if by == F.TREND else (t.rows, t.total)
                for t, (_, by) in zip(tables, wanted, strict=True)
            ]
            replayed = F.load_histories(session, until=cutoffs[-1])
            assert got == reference_tables(replayed, units, wanted, as_of)
            counted += tables
    assert any(t.total.ack_days_median is not None and t.total.rated for t in counted)
    assert any(t.total.due_replied and t.total.overdue_open for t in counted)


def test_the_cycle_collector_is_paused_while_counting_and_resumed(lives: Engine) -> None:
    """Reading and counting pause the cycle collector (it walked every row again and again
    for nothing) and resume it afterwards, also when counting fails."""
    import gc

    as_of = local(2026, 11, 23, 10)
    week = week_of(RULES.local_date(as_of))
    paused: list[bool] = []

    def visit(by_cutoff) -> None:
        paused.append(not gc.isenabled())
        if len(paused) == 3:
            raise RuntimeError("stop")

    with session_scope(lives) as session:
        histories = F.load_histories(session, until=as_of)
        units = F.list_units(session)
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="stop"):
        F.tables_from(
            histories, units, wanted=[(week, F.BY_UNIT)], now=as_of, rules=RULES,
            policy=RankingPolicy(), visit=visit,
        )  # fmt: skip
    assert paused == [True, True, True] and gc.isenabled()
    gc.disable()  # paused by the caller: left so
    try:
        F.tables_from(histories, units, wanted=[(week, F.BY_UNIT)], now=as_of, rules=RULES,
                      policy=RankingPolicy())  # fmt: skip
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_histories_made_one_at_a_time_are_the_ones_the_list_holds(lives, monkeypatch) -> None:
    """What the reports count as it is made (each report hands the counting an iterator:
    see the test above) is what the list holds; read a few tickets at a time (their steps
    by id, or beside them in ticket order when every ticket is replayed), the same."""
    cutoffs = week_ends(local(2026, 11, 9), 9)
    year = Period("year", "2026", date(2026, 1, 1), date(2026, 12, 31))
    with session_scope(lives) as session:
        listed = F.load_histories(session, until=cutoffs[-1], cutoffs=cutoffs)
        streamed = F.iter_histories(session, until=cutoffs[-1], cutoffs=cutoffs)
        assert not isinstance(streamed, list | tuple)
        assert list(streamed) == listed and len(listed) > 100
        replayed = F.load_histories(session, until=cutoffs[-1])
        since = F.load_histories(session, until=cutoffs[-1], since=year, tz=RULES.tz)
        assert sum(bool(h.steps) for h in replayed) > 100
        for chunk in (1, 7, 64):
            monkeypatch.setattr(F, "HISTORY_CHUNK", chunk)
            assert F.load_histories(session, until=cutoffs[-1], cutoffs=cutoffs) == listed
            assert F.load_histories(session, until=cutoffs[-1]) == replayed
            assert F.load_histories(session, until=cutoffs[-1], since=year, tz=RULES.tz) == since
