"""The reports replay each ticket once for all their cut-offs and pick the tickets through
indexes; on a varied ledger this gives exactly what the per-week replay (kept here as the
reference) and the single OR query gave, and the overdue list is summarised and capped."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit
from ledger.models import Event, Message, Ticket, TicketState
from ledger.policy import RankingPolicy
from ledger.states import OPEN_STATES
from reports import figures as F
from reports.monthly import build_monthly
from reports.periods import parse_month, parse_week, weeks_ending
from reports.weekly import OVERDUE_LISTED, build_weekly
from tests.helpers import local, make_ticket, rules_for

RULES = rules_for()
ACTOR = T.Actor.system("test")
NOW = local(2026, 11, 23, 9)
W47 = parse_week("2026-W47")
UNITS = ("zjj", "cgj", "jtj", "sthj")


def _walk(session: Session, rng: random.Random, name: str, received: datetime) -> None:
    """One ticket through a random but legal lifecycle, a few hours to days a step."""
    units = [find_unit(session, code) for code in UNITS]
    ticket = make_ticket(
        session, RULES, received_at=received, time_limit_days=rng.choice((2, 3, 5, 10)),
        text=f"{name} 路灯不亮", external_id=name, kind=rng.choice(("online", "letter")),
    )  # fmt: skip
    at = received
    for _ in range(rng.randrange(0, 9)):
        at += timedelta(hours=rng.choice((1, 5, 20, 30, 50, 80)))
        state = TicketState(ticket.state)
        moves = [a for a, (allowed, _) in T.TRANSITIONS.items() if state in allowed]
        moves = [m for m in moves if m not in ("comment", "link_duplicate", "deny_extension")]
        if not moves:  # archived
            break
        action = rng.choice(moves)
        if action in ("assign", "reassign"):
            unit = rng.choice([u for u in units if u.id != ticket.unit_id])
            T.assign(session, ticket, unit, actor=ACTOR, now=at, routed_by="manual")
        elif action == "acknowledge":
            T.acknowledge(session, ticket, actor=ACTOR, now=at)
        elif action == "reply":
            T.reply(session, ticket, "已处理", actor=ACTOR, now=at)
        elif action in ("request_extension", "approve_extension"):
            if T.pending_extension(session, ticket) is None:
                if state not in T.TRANSITIONS["request_extension"][0]:
                    continue
                T.request_extension(
                    session, ticket, rng.randrange(1, 6), "需要协调", actor=ACTOR, now=at,
                    max_days=15,
                )  # fmt: skip
            at += timedelta(hours=2)
            T.decide_extension(session, ticket, approve=True, actor=ACTOR, now=at, rules=RULES)
        elif action == "return":
            T.return_ticket(session, ticket, "不属于本单位职责", actor=ACTOR, now=at)
        elif action in ("verify_pass", "verify_fail"):
            T.verify(
                session, ticket, passed=action == "verify_pass", score=rng.randrange(1, 6),
                actor=ACTOR, now=at, note="核查意见",
            )  # fmt: skip
        elif action == "reopen":
            T.reopen(session, ticket, "群众仍不满意", actor=ACTOR, now=at)
        elif action == "escalate":
            T.escalate(session, ticket, "超期通报", actor=ACTOR, now=at)
        elif action == "archive":
            T.archive(session, ticket, actor=ACTOR, now=at)


@pytest.fixture
def varied(engine: Engine) -> Engine:
    rng = random.Random(14)
    first = local(2026, 8, 3, 9)
    with session_scope(engine) as session:
        for number in range(90):
            received = first + timedelta(hours=rng.randrange(0, 110 * 24))
            _walk(session, rng, f"V{number:03d}", received)
    return engine


def reference_facts_at(history: F.TicketHistory, cutoff: datetime) -> F.TicketFacts:
    """The replay as it was: one cut-off, from the first step."""
    state = TicketState.REGISTERED
    unit_id = assigned_at = acknowledged_at = replied_at = verified_at = None
    due_date, due_at = history.original_due_date, history.original_due_at
    returns, reopens, ratings = [], [], []
    for step in history.steps:
        if step.at >= cutoff:
            break
        action = step.action
        if action in ("assign", "reassign"):
            unit_id, assigned_at, acknowledged_at = step.unit_id, step.at, None
        elif action == "return":
            returns.append(step)
            unit_id = assigned_at = acknowledged_at = None
        elif action == "acknowledge":
            acknowledged_at = acknowledged_at or step.at
        elif action == "reply":
            replied_at = replied_at or step.at
            acknowledged_at = acknowledged_at or step.at
        elif action == "approve_extension":
            moved = RULES.extend(due_date, int(step.data["days"]))
            due_date, due_at = moved.due_date, moved.due_at
        if action in F.RATING_ACTIONS and step.data.get("score") is not None:
            ratings.append(step)
        if action in F.REOPEN_ACTIONS:
            reopens.append(step)
        if action == "verify_pass":
            verified_at = verified_at or step.at
        state = TicketState(step.to_state)
    return F.TicketFacts(
        history, state, unit_id, assigned_at, acknowledged_at, replied_at, verified_at,
        due_date, due_at, tuple(returns), tuple(reopens), tuple(ratings),
    )  # fmt: skip


def reference_table(histories, units, period, by: str) -> F.FigureTable:
    """One table, each ticket replayed for it alone (the per-week computation)."""
    cutoff = F.cutoff_of(period, now=NOW, rules=RULES)
    tallies: dict = {}
    total = F._Tally()

    def tallies_for(facts, unit_id):
        key = {F.BY_UNIT: unit_id, F.BY_SOURCE: facts.history.source_kind}.get(by, "all")
        return tallies.setdefault(key, F._Tally()), total

    for history in histories:
        if history.received_at < cutoff:
            F._count(
                reference_facts_at(history, cutoff), tallies_for, start=period.start(RULES.tz),
                cutoff=cutoff, period=period, rules=RULES, policy=RankingPolicy(),
            )  # fmt: skip
    codes = {unit.id: unit.code for unit in units}
    return F.FigureTable(
        period, by, NOW, cutoff, True, tuple(F._rows(tallies, units, codes, by)),
        total.figures("all", "合计"),
    )  # fmt: skip


def reference_ids(session: Session, since, until: datetime) -> list[int]:
    """The tickets the single OR query selected."""
    start = since.start(RULES.tz)
    touched = select(Event.ticket_id).where(Event.at >= start)
    query = (
        select(Ticket.id)
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(Message.received_at < until)
        .where(
            or_(
                Message.received_at >= start,
                col(Ticket.due_date) >= since.first,
                col(Ticket.state).in_([s.value for s in OPEN_STATES]),
                col(Ticket.id).in_(touched),
            )
        )
        .order_by(col(Ticket.id))
    )
    return list(session.exec(query))


def test_one_pass_equals_the_per_week_replay(varied: Engine) -> None:
    weeks = weeks_ending(W47, 9)
    with session_scope(varied) as session:
        cutoff = F.cutoff_of(W47, now=NOW, rules=RULES)
        histories = F.load_histories(session, until=cutoff, since=weeks[0], tz=RULES.tz)
        assert [h.id for h in histories] == reference_ids(session, weeks[0], cutoff)
        units = F.list_units(session)
    assert sum(len(h.steps) for h in histories) > 150  # the ledger is varied enough
    cutoffs = [F.cutoff_of(w, now=NOW, rules=RULES) for w in weeks]
    for history in histories:
        assert F.facts_at_each(history, cutoffs, RULES) == [
            reference_facts_at(history, c) for c in cutoffs
        ]
    wanted = [(w, by) for w in weeks for by in F.GROUPINGS]
    tables = F.tables_from(
        histories, units, wanted=wanted, now=NOW, rules=RULES, policy=RankingPolicy()
    )
    assert tables == [reference_table(histories, units, w, by) for w, by in wanted]
    assert any(t.total.due and t.total.rated and t.total.returned for t in tables)

    with session_scope(varied) as session:
        report = build_weekly(session, now=NOW, rules=RULES, policy=RankingPolicy(), week=W47)
    assert [point.week for point in report.trend] == [w.key for w in weeks[1:]]
    for point in report.trend:
        figures = reference_table(histories, units, parse_week(point.week), F.OVERALL).total
        assert (point.received, point.due, point.replied, point.overdue_open) == (
            figures.received, figures.due, figures.replied, figures.overdue_open,
        )  # fmt: skip
        assert (point.reply_rate, point.on_time_rate, point.on_time_rate_original) == (
            figures.reply_rate, figures.on_time_rate, figures.on_time_rate_original,
        )  # fmt: skip


def test_event_data_is_read_only_for_the_steps_that_use_it(varied: Engine) -> None:
    with session_scope(varied) as session:
        histories = F.load_histories(session, until=NOW)
    steps = [step for history in histories for step in history.steps]
    assert {s.action for s in steps if s.data} <= set(F.DATA_ACTIONS)
    assert all("days" in s.data for s in steps if s.action == "approve_extension")
    assert all("score" in s.data for s in steps if s.action in F.RATING_ACTIONS)


def test_monthly_tables_equal_the_per_month_replay(varied: Engine) -> None:
    month = parse_month("2026-10")
    with session_scope(varied) as session:
        report = build_monthly(session, now=NOW, rules=RULES, policy=RankingPolicy(), month=month)
        cutoff = F.cutoff_of(month, now=NOW, rules=RULES)
        histories = F.load_histories(session, until=cutoff, since=month.previous(), tz=RULES.tz)
        units = F.list_units(session)
    assert report.by_unit == reference_table(histories, units, month, F.BY_UNIT).rows
    assert report.by_source == reference_table(histories, units, month, F.BY_SOURCE).rows


def test_overdue_is_summarised_by_unit_and_capped(varied: Engine, monkeypatch) -> None:
    monkeypatch.setattr("reports.weekly.OVERDUE_LISTED", 1000)
    with session_scope(varied) as session:
        full = build_weekly(session, now=NOW, rules=RULES, policy=RankingPolicy(), week=W47)
    assert full.overdue_total == full.total.overdue_open == len(full.overdue) > OVERDUE_LISTED
    assert full.overdue_unlisted == 0
    ordered = sorted(full.overdue, key=lambda o: (-o.overdue_workdays, o.number))
    assert list(full.overdue) == ordered
    by_unit = {u.unit_label: (u.count, u.longest_workdays) for u in full.overdue_units}
    for label, (count, longest) in by_unit.items():
        mine = [o.overdue_workdays for o in full.overdue if o.unit_label == label]
        assert (count, longest) == (len(mine), max(mine))
    counts = [u.count for u in full.overdue_units]
    assert counts == sorted(counts, reverse=True)

    monkeypatch.setattr("reports.weekly.OVERDUE_LISTED", 4)
    with session_scope(varied) as session:
        capped = build_weekly(session, now=NOW, rules=RULES, policy=RankingPolicy(), week=W47)
    assert capped.overdue == full.overdue[:4]
    assert capped.overdue_total == full.overdue_total
    assert capped.overdue_unlisted == full.overdue_total - 4
    assert capped.overdue_units == full.overdue_units
    assert replace(capped, overdue=full.overdue) == full


def test_every_format_lists_the_longest_overdue_and_says_where_the_rest_are(
    varied: Engine, monkeypatch, tmp_path
) -> None:
    from docx import Document
    from openpyxl import load_workbook

    from reports.render import chat_text, render_html, render_markdown, write_report
    from reports.tables import OVERDUE_FULL_LIST

    monkeypatch.setattr("reports.weekly.OVERDUE_LISTED", 5)
    with session_scope(varied) as session:
        report = build_weekly(session, now=NOW, rules=RULES, policy=RankingPolicy(), week=W47)
    total, rest = report.overdue_total, report.overdue_total - 5
    assert len(report.overdue) == 5 and rest > 0
    assert OVERDUE_FULL_LIST == "完整清单请用 duban report overdue 导出"
    heading = f"超期未反馈情况（{total} 件）"
    line = f"以下列超期最久的 5 件（其余 {rest} 件从略）；{OVERDUE_FULL_LIST}。"
    summary = f"截至统计时点，超期未反馈共 {total} 件，涉及"
    top = report.overdue[0]

    md = render_markdown(report)
    assert heading in md and line in md and summary in md
    assert md.count(top.number) == 1 and report.overdue_units[0].unit_label in md
    page = render_html(report)
    assert heading in page and line in page and 'class="overdue-units"' in page

    book = load_workbook(write_report(report, tmp_path / "w.xlsx").files["xlsx"])
    listed = [row for row in book["超期清单"].iter_rows(values_only=True)]
    assert len([r for r in listed if r[0] and str(r[0]).startswith("DB-")]) == 5
    assert listed[-1][0].startswith(line)
    units = list(book["超期分单位"].iter_rows(min_row=2, values_only=True))
    assert sum(count for _, count, _ in units) == total

    doc = Document(str(write_report(report, tmp_path / "w.docx").files["docx"]))
    texts = [p.text for p in doc.paragraphs]
    assert any(heading.replace(" ", "").replace("情况", "督办件") in t for t in texts)
    assert any(t.startswith(line) for t in texts) and any(t.startswith(summary) for t in texts)

    chat = chat_text(report)
    assert f"超期未反馈共 {total} 件" in chat and f"…另有 {rest} 项" in chat
