"""The annual result: 台账得分 (the year's 月讲评 scores) and 评议得分 by the policy's weights,
grades by each group's thresholds, 不达标 two years running flagged; XLSX and DOCX read
back; posted once to the supervisors' chat."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from desk import review as D
from duban.cli import app
from ledger.directory import find_unit
from ledger.errors import IllegalTransition
from ledger.models import Notification, ReviewRound, UnitFlag
from reports.errors import OutputRefused
from reports.outputs import OutputGuard
from review import rounds as R
from tests.helpers import Clock, local

UNITS = ("zjj", "cgj", "jtj", "bjjd")
RATERS = "代码,姓名,组别,权重\nL1,王区长,区领导,3\nD1,张代表,党代表,1\n"
BALLOTS = {
    "L1": {"zjj": "优秀", "cgj": "称职", "jtj": "不称职", "bjjd": "称职"},
    "D1": {"zjj": "优秀", "cgj": "基本称职", "jtj": "不称职", "bjjd": "优秀"},
}
WEIGHTS = {"L1": 3, "D1": 1}
POINTS = {"优秀": 95, "称职": 80, "基本称职": 65, "不称职": 40}
MONTHLY = {  # the 月讲评 scores of 2026 (one month without a score)
    "zjj": [92.0, 96.0, 90.0],
    "cgj": [80.0, 70.0, None],
    "jtj": [50.0, 40.0],
    "bjjd": [85.0],
}
STREET_LINES = {"优秀": 84.0, "良好": 75.0, "达标": 60.0}


def expected(code: str) -> tuple[float, str]:
    months = [s for s in MONTHLY[code] if s is not None]
    ledger = statistics.fmean(months)
    rating = sum(WEIGHTS[r] * POINTS[b[code]] for r, b in BALLOTS.items()) / sum(WEIGHTS.values())
    score = 0.4 * ledger + 0.6 * rating
    lines = STREET_LINES if code == "bjjd" else {"优秀": 90, "良好": 80, "达标": 60}
    grade = next((g for g, line in lines.items() if score >= line), "不达标")
    return score, grade


@pytest.fixture
def ctx(runtime, clock: Clock):
    runtime.clock = clock
    clock.now = local(2027, 1, 10, 9)
    context = runtime.routing
    review = context.policy.review.model_copy(update={"group_grades": {"street": STREET_LINES}})
    context.policy = context.policy.model_copy(update={"review": review})
    with context.session() as session:
        for code, scores in MONTHLY.items():
            unit = find_unit(session, code)
            for month, score in enumerate(scores, start=1):
                session.add(UnitFlag(month=f"2026-{month:02d}", unit_id=unit.id, group=unit.kind,
                                     score=score, recorded_at=clock.now))  # fmt: skip
            session.add(UnitFlag(month="2025-12", unit_id=unit.id, group=unit.kind, score=0.0,
                                 recorded_at=clock.now))  # fmt: skip
        # last year's result: jtj 不达标 already
        session.add(
            ReviewRound(year=2025, state="closed", scale="grade", unit_ids=[], opened_at=clock.now,
                        opened_by="t", result={"jtj": {"score": 50.0, "grade": "不达标"},
                                               "cgj": {"score": 85.0, "grade": "良好"}})
        )  # fmt: skip
    D.open_round(context, year=2026, raters=R.parse_raters(RATERS), by="t", units=list(UNITS))
    for rater, ballot in BALLOTS.items():
        D.rate(context, year=2026, rater=rater, entries=[R.Entry(u, g) for u, g in ballot.items()])
    return context


def test_result_scores_grades_and_two_years(ctx, tmp_path: Path) -> None:
    guard = OutputGuard.build()
    with pytest.raises(IllegalTransition, match="尚未结束"):
        D.result(ctx, year=2026, folder=tmp_path, guard=guard, post=False)
    D.close_round(ctx, year=2026, by="t")
    done = D.result(ctx, year=2026, folder=tmp_path, guard=guard, post=True)
    result = done.result
    for code in UNITS:
        score, grade = expected(code)
        row = result.row(code)
        assert row.score == pytest.approx(score), code
        assert row.grade == grade, code
    assert [r.unit for r in result.fail_twice] == ["jtj"]
    assert result.row("cgj").previous_grade == "良好" and not result.row("cgj").fail_twice
    # the street's own lines: 0.4 x 85 + 0.6 x 83.75 = 84.25 is 优秀 there (良好 by default)
    assert result.row("bjjd").grade == "优秀"
    assert "连续两年不达标：交通运输局" in done.text and "已发送督查群" in done.text
    with ctx.session() as session:
        kept = session.exec(select(ReviewRound).where(ReviewRound.year == 2026)).one().result
        [post] = session.exec(select(Notification).where(Notification.kind == "report")).all()
    assert kept["jtj"]["grade"] == "不达标"
    assert post.audience == "supervisors" and "交通运输局" in post.text
    assert post.payload["files"]["docx"].endswith("review-2026.docx")

    from docx import Document
    from openpyxl import load_workbook

    sheet = load_workbook(done.files["xlsx"]).worksheets[0]
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["住建局"][4] == pytest.approx(round(expected("zjj")[0], 2))
    assert rows["交通运输局"][5:] == ("不达标", "不达标", "连续两年不达标")
    doc = Document(str(done.files["docx"]))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "2026年度督查督办考评结果" in text and "占40%" in text
    assert "连续两年不达标：交通运输局" in text
    table = doc.tables[0]
    assert [c.text for c in table.rows[0].cells][:6] == ["单位", "组别", "台账得分", "评议得分",
                                                          "年度得分", "等次"]  # fmt: skip
    # files are never overwritten without --force; the post is never sent twice
    with pytest.raises(OutputRefused):
        D.result(ctx, year=2026, folder=tmp_path, guard=guard, post=True)
    again = D.result(
        ctx, year=2026, folder=tmp_path, guard=OutputGuard.build(force=True), post=True
    )
    assert "此前已发送督查群" in again.text


def test_cli_result(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    raters = tmp_path / "r.csv"
    raters.write_text(RATERS, encoding="utf-8")
    args = ["--year", "2026"]
    units = [x for u in ("zjj", "cgj") for x in ("--unit", u)]
    assert (
        runner.invoke(app, ["review", "open", *args, "--raters", str(raters), *units]).exit_code
        == 0
    )
    for rater in ("L1", "D1"):
        ok = runner.invoke(
            app, ["review", "rate", *args, "--rater", rater, "zjj=优秀", "cgj=不称职"]
        )
        assert ok.exit_code == 0, ok.stderr
    early = runner.invoke(app, ["review", "result", *args])
    assert early.exit_code == 1 and "尚未结束" in early.stderr
    assert runner.invoke(app, ["review", "close", *args]).exit_code == 0
    out = tmp_path / "out"
    done = runner.invoke(app, ["review", "result", *args, "--out", str(out), "--json"])
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    zjj = next(r for r in data["rows"] if r["unit"] == "zjj")
    # no 月讲评 score in this ledger: the 评议 alone
    assert (zjj["ledger_score"], zjj["score"], zjj["grade"]) == (None, 95.0, "优秀")
    assert (out / "review-2026.xlsx").exists() and (out / "review-2026.docx").exists()
    again = runner.invoke(app, ["review", "result", *args, "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
