"""The 督查周报's 督办事项 section, in every format it is written in."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from docx import Document
from openpyxl import load_workbook

from desk import tasks as D
from reports.periods import parse_week
from reports.render import WrittenReport, chat_text, render_json, render_markdown, write_report
from reports.weekly import build_weekly, office_weekly
from routing.context import RoutingContext
from tests.helpers import local
from tests.tasks.conftest import actor, spec


def written(result: WrittenReport) -> Path:
    (path,) = result.files.values()
    return path


def test_the_weekly_report_has_a_task_section_in_every_format(
    ctx: RoutingContext, clock, tmp_path: Path
) -> None:
    clock.now = local(2026, 11, 16, 9)
    late = D.create(ctx, spec(ctx, title="东湖路积水点改造", due=date(2026, 11, 18)),
                    actor=actor(ctx, "luru1")).number  # fmt: skip
    D.create(ctx, spec(ctx, title="背街小巷路灯补装", due=date(2026, 12, 31)),
             actor=actor(ctx, "luru1"))  # fmt: skip
    week = parse_week("2026-W47")
    now = local(2026, 11, 23, 9)
    with ctx.session() as session:
        report = office_weekly(session, now=now, rules=ctx.rules, policy=ctx.policy, week=week)
        plain = build_weekly(
            session, now=now, rules=ctx.rules, policy=ctx.policy.ranking, week=week
        )
    assert plain.tasks is None  # without the task policy: the wave-1 report, unchanged
    tasks = report.tasks
    assert tasks is not None
    assert (tasks.new, tasks.open, len(tasks.red)) == (2, 2, 1)
    assert tasks.red[0].number == late and tasks.red[0].lead_unit == "住建局"

    md = render_markdown(report)
    assert "## 七、督办事项" in md and late in md and "本期新立项 2 项" in md
    assert json.loads(render_json(report))["tasks"]["red"][0]["number"] == late
    assert "督办事项：本期新立项 2 项" in chat_text(report)
    html = written(write_report(report, tmp_path / "w.html")).read_text(encoding="utf-8")
    assert "七、督办事项" in html and "东湖路积水点改造" in html
    book = load_workbook(written(write_report(report, tmp_path / "w.xlsx")))
    assert book["督办事项"]["A2"].value == late
    doc = Document(str(written(write_report(report, tmp_path / "w.docx"))))
    text = "\n".join(p.text for p in doc.paragraphs)
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "督办事项" in text and late in cells


def test_an_office_without_tasks_gets_no_empty_section(ctx: RoutingContext) -> None:
    with ctx.session() as session:
        report = office_weekly(
            session, now=local(2026, 11, 23, 9), rules=ctx.rules, policy=ctx.policy,
            week=parse_week("2026-W47"),
        )  # fmt: skip
    assert report.tasks is None and "督办事项" not in render_markdown(report)
