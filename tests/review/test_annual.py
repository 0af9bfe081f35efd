"""The unit's year (``reports.annual``, ``duban report annual``): a year built here, its
figures recomputed here from what was made, the XLSX and the DOCX read back."""

from __future__ import annotations

import json
import statistics
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from duban.cli import app
from duban.runtime import Runtime
from duban.settings import Settings
from ledger.db import make_engine, session_scope
from reports.annual import build_annual, write_annual
from reports.errors import BadPeriod, OutputRefused
from reports.outputs import OutputGuard
from tests.helpers import rules_for
from tests.review import year as Y

RULES = rules_for()


def expected_tickets(built: Y.Year, unit: str) -> dict:
    """The year's ticket figures of ``unit``, from the log of what was made."""
    within = [m for m in built.tickets if Y.YEAR_START <= m.received < Y.YEAR_END]
    held = [m for m in built.tickets if m.unit == unit]
    due = [m for m in held if m.due_date and m.due_date.year == 2026 and m.due_at < Y.YEAR_END]
    on_time = [m for m in due if m.replied is not None and m.replied <= m.due_at]
    # 核查 ratings and 续办 count in the year they were given (at the reply here)
    rated = [m for m in built.tickets if m.replied and Y.YEAR_START <= m.replied < Y.YEAR_END]
    scores = [s for m in rated for u, s in m.scores if u == unit]
    owing = [m for m in held if m.replied is None or m.reopened_by is not None]
    return {
        "received": sum(m.unit == unit for m in within),
        "due": len(due),
        "due_replied": sum(m.replied is not None for m in due),
        "on_time": len(on_time),
        "completed": sum(m.verified for m in due),
        "returned": sum(m.returned_by == unit for m in built.tickets),
        "reopened": sum(m.reopened_by == unit for m in rated),
        "rated": len(scores),
        "quality_mean": statistics.fmean(scores),
        "overdue_open": sum(m.due_at < Y.YEAR_END for m in owing),
    }


@pytest.fixture
def built(runtime: Runtime) -> Y.Year:
    with runtime.session() as session:
        return Y.build(session, RULES)


def annual(runtime: Runtime, **kw):
    with runtime.session() as session:
        return build_annual(
            session,
            year=2026,
            now=Y.REPORT_NOW,
            rules=RULES,
            policy=runtime.policy.ranking,
            task_policy=runtime.policy.tasks,
            checkin_policy=Y.CHECKIN_POLICY,
            office=runtime.policy.office,
            **kw,
        )


def test_ticket_figures_match_an_independent_count(runtime: Runtime, built: Y.Year) -> None:
    report = annual(runtime)
    assert report.as_of == Y.YEAR_END
    for code in ("zjj", "cgj"):
        t = report.unit(code).tickets
        want = expected_tickets(built, code)
        got = {name: getattr(t, name) for name in want}
        assert got == pytest.approx(want), code
        assert t.on_time_rate == pytest.approx(want["on_time"] / want["due"])
        assert t.reply_rate == pytest.approx(want["due_replied"] / want["due"])
        assert t.completion_rate == pytest.approx(want["completed"] / want["due"])
    # zjj's December 2025 ticket is due in January: due, not received
    # 33 of its own and cgj's 11 returned ones
    assert report.unit("zjj").tickets.received == 44
    assert report.unit("zjj").tickets.due == 45


def test_tasks_checkins_flags_and_notices(runtime: Runtime, built: Y.Year) -> None:
    report = annual(runtime)
    zjj, cgj = report.unit("zjj"), report.unit("cgj")
    assert (zjj.tasks.tasks, zjj.tasks.due, zjj.tasks.on_time) == (2, 2, 1)
    assert (zjj.tasks.closed, zjj.tasks.overdue_open) == (1, 1)
    assert zjj.tasks.colours["红"] == 1 and sum(zjj.tasks.colours.values()) == 1
    assert (cgj.tasks.tasks, cgj.tasks.due, cgj.tasks.overdue_open) == (1, 0, 0)
    assert sum(cgj.tasks.colours.values()) == 1 and cgj.tasks.colours["红"] == 0
    # check-ins: 2 people of zjj owe 3 windows on every working day of 2026
    first = date(2026, 1, 1)
    workdays = sum(RULES.calendar.is_workday(first + timedelta(days=n)) for n in range(365))
    assert zjj.checkins.expected == 2 * 3 * workdays
    assert (zjj.checkins.posted, zjj.checkins.late, zjj.checkins.false) == (12, 2, 1)
    assert zjj.checkins.rate == pytest.approx(12 / (6 * workdays))
    assert cgj.checkins.expected == 0 and cgj.checkins.rate is None
    # 加分 / 扣分 with reasons: policy default 2 points off per post found false, in March
    assert [(p.month, p.points) for p in zjj.points] == [("2026-03", -2.0)]
    assert zjj.points[0].reason == "抽查不实1条（每条扣2分）" and zjj.points_total == -2.0
    # the flag history of the year only
    months = [(code, m.month, m.rank, m.flag) for code in ("zjj", "cgj")
              for m in report.unit(code).months]  # fmt: skip
    assert months == built.flags
    assert (zjj.red_flags, zjj.yellow_flags, cgj.yellow_flags) == (1, 1, 1)
    # 通报: one ticket (May) and one task (October), in time order
    assert [(n.kind, n.note) for n in zjj.notices] == [
        ("督办件", "办理迟缓"),
        ("督办事项", "进度滞后"),
    ]
    assert cgj.notices == ()


def test_one_unit_by_name_and_an_unknown_one(runtime: Runtime, built: Y.Year) -> None:
    assert [u.unit for u in annual(runtime, units=["住建局"]).units] == ["zjj"]
    with pytest.raises(BadPeriod, match="没有单位「水利局X」"):
        annual(runtime, units=["水利局X"])


def test_xlsx_and_docx_read_back(runtime: Runtime, built: Y.Year, tmp_path: Path) -> None:
    from docx import Document
    from openpyxl import load_workbook

    report = annual(runtime)
    guard = OutputGuard.build()
    [xlsx] = write_annual(report, tmp_path / "year.xlsx", "xlsx", guard=guard)
    sheet = load_workbook(xlsx).worksheets[0]
    header = [c.value for c in sheet[1]]
    rows = {
        row[0]: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(2, values_only=True)
    }
    want = expected_tickets(built, "zjj")
    assert rows["住建局"]["收件"] == want["received"]
    assert rows["住建局"]["按期率"] == pytest.approx(want["on_time"] / want["due"])
    assert (rows["住建局"]["红旗"], rows["住建局"]["通报"], rows["住建局"]["事项销号"]) == (1, 2, 1)
    assert len(rows) == len(report.units)

    paths = write_annual(report, tmp_path / "packs", "docx", guard=guard)
    assert len(paths) == len(report.units)
    doc = Document(str(tmp_path / "packs" / "annual-2026-zjj.docx"))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "滨河区住房和城乡建设局2026年度" in text
    assert f"全年收件{want['received']}件" in text
    on_time = f"{want['on_time'] / want['due'] * 100:.1f}%"
    assert f"按期率{on_time}" in text
    assert "全年获红旗1次、黄旗1次" in text and "全年受到通报2次" in text
    assert "抽查不实1次" in text
    assert "2026-03：扣2分，抽查不实1条（每条扣2分）。" in text
    flag_table, notice_table = doc.tables
    assert [c.text for c in flag_table.rows[1].cells][:4] == ["2026-01", "1", "79.00", "红旗"]
    assert [c.text for c in notice_table.rows[2].cells][1:3] == ["督办事项", "RW-2026-0002"]
    # never overwritten without --force, and nothing written when refused
    with pytest.raises(OutputRefused):
        write_annual(report, tmp_path / "packs", "docx", guard=guard)


runner = CliRunner()


def test_cli_json_docx_and_bad_input(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    engine = make_engine(Settings().db_url)
    with session_scope(engine) as session:
        built = Y.build(session, RULES)
    engine.dispose()
    args = ["report", "annual", "--year", "2026", "--as-of", "2027-01-06T09:00"]
    result = runner.invoke(app, [*args, "--unit", "zjj"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    [zjj] = data["units"]
    assert zjj["tickets"]["received"] == expected_tickets(built, "zjj")["received"]
    assert zjj["red_flags"] == 1
    out = tmp_path / "zjj.docx"
    result = runner.invoke(app, [*args, "--unit", "zjj", "--format", "docx", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.exists()
    again = runner.invoke(app, [*args, "--unit", "zjj", "--format", "docx", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
    assert runner.invoke(app, [*args, "--format", "pdf"]).exit_code == 2
    assert runner.invoke(app, [*args, "--unit", "无此单位"]).exit_code == 2
    bad = runner.invoke(app, ["report", "annual", "--year", "12026"])
    assert bad.exit_code == 2 and "2999" in bad.stderr
