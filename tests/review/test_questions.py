"""一问: a question recorded with who asked, opened as a 代表提问 ticket at the unit with the
policy's answer deadline, tracked to the unit's answer (and overdue when none comes)."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from desk import review as D
from desk import tickets as DT
from duban.cli import app
from ledger.directory import get_person
from ledger.errors import BadInput, NotFound
from ledger.models import SOURCE_LABELS, Notification, SourceKind, Ticket
from ledger.tickets import Actor
from review.questions import questions
from tests.helpers import Clock, local


def test_a_question_is_tracked_to_its_answer(runtime, clock: Clock) -> None:
    runtime.clock = clock
    clock.now = local(2026, 12, 21, 15)  # Monday
    ctx = runtime.routing
    asked = D.ask(
        ctx, year=2026, unit="住建局", question="老旧小区改造何时完工？", by="人大代表张三"
    )
    number = asked.text.split("督办件 ")[1].split("（")[0]
    with ctx.session() as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        assert (ticket.source_kind, ticket.state) == ("question", "assigned")
        # 10 working days (policy review.answer_days) counted from the day after: 2027-01-05
        # (New Year's Day off), recomputed here from the calendar
        day, left = local(2026, 12, 21).date(), 10
        while left:
            day = day.fromordinal(day.toordinal() + 1)
            left -= ctx.rules.calendar.is_workday(day)
        assert ticket.due_date == day
        cards = session.exec(select(Notification).where(Notification.ticket_id == ticket.id)).all()
        assert [c.kind for c in cards] == ["assigned"]
        member = get_person(session, "zjj-1")
        session.expunge(member)
    assert f"答复时限 {day.isoformat()}" in asked.text
    assert SOURCE_LABELS[SourceKind.QUESTION] == "代表提问"
    assert SourceKind.parse("代表提问") is SourceKind.QUESTION

    with ctx.session() as session:
        [row] = questions(session, year=2026, now=clock.now)
    assert (row.asked_by, row.unit, row.answer, row.overdue) == ("人大代表张三", "zjj", None, False)
    with ctx.session() as session:
        late = questions(session, year=2026, now=local(2027, 1, 6, 9))[0]
    assert late.overdue  # unanswered after its deadline

    clock.now = local(2026, 12, 23, 10)
    DT.reply(ctx, number, "计划明年6月底前完工。", actor=Actor.of(member))
    with ctx.session() as session:
        [row] = questions(session, year=2026, now=local(2027, 1, 6, 9))
        assert questions(session, year=2025, now=clock.now) == []
    assert (row.answer, row.state_label, row.overdue) == ("计划明年6月底前完工。", "已反馈", False)
    assert row.answered_at == local(2026, 12, 23, 10)


def test_bad_questions_are_refused(runtime, clock: Clock) -> None:
    runtime.clock = clock
    ctx = runtime.routing
    with pytest.raises(BadInput, match="问题内容不能为空"):
        D.ask(ctx, year=2026, unit="zjj", question="  ", by="张三")
    with pytest.raises(BadInput, match="提问人"):
        D.ask(ctx, year=2026, unit="zjj", question="何时完工？", by="")
    with pytest.raises((BadInput, NotFound)):
        D.ask(ctx, year=2026, unit="没有这个局", question="何时完工？", by="张三")
    with ctx.session() as session:
        assert session.exec(select(Ticket)).all() == []


def test_cli_ask_and_questions() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(
        app,
        ["review", "ask", "cgj", "夜市噪音怎么治理？", "--by", "政协委员李四", "--year", "2026"],
    )
    assert result.exit_code == 0, result.stderr
    assert "转为督办件 DB-" in result.stdout and "（代表提问）" in result.stdout
    listed = runner.invoke(app, ["review", "questions", "--year", "2026", "--json"])
    [row] = json.loads(listed.stdout)["questions"]
    assert (row["asked_by"], row["unit"], row["state"]) == ("政协委员李四", "cgj", "assigned")
    text = runner.invoke(app, ["review", "questions", "--year", "2026"]).stdout
    assert "政协委员李四 → 城管局：夜市噪音怎么治理？" in text
    bad = runner.invoke(app, ["review", "ask", "cgj", "", "--by", "李四"])
    assert bad.exit_code == 2 and "问题内容不能为空" in bad.stderr
