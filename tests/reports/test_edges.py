"""Edge cases found by hand: odd periods, odd paths, float ties, text that looks like a
formula, and charts of a quiet ledger."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from duban.cli import app
from ledger.db import session_scope
from ledger.policy import RankingPolicy
from reports import charts
from reports.errors import BadPeriod
from reports.figures import Figures, FigureTable
from reports.monthly import build_monthly
from reports.periods import parse_month, parse_week
from reports.ranking import rank_units
from reports.render import write_report, write_xlsx
from reports.weekly import build_weekly
from tests.reports import scenario

W47 = parse_week("2026-W47")
runner = CliRunner()


@pytest.fixture
def built(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        scenario.build(session)
    return engine


def weekly(engine: Engine, week=W47):
    with session_scope(engine) as session:
        return build_weekly(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            week=week,
        )


@pytest.mark.parametrize("text", ["0000-W01", "9999-W52", "0001-W01"])
def test_weeks_out_of_range_are_bad_input(text: str) -> None:
    with pytest.raises(BadPeriod, match="年份"):
        parse_week(text)


@pytest.mark.parametrize("text", ["0000-01", "9999-12", "0001-01"])
def test_months_out_of_range_are_bad_input(text: str) -> None:
    with pytest.raises(BadPeriod, match="年份"):
        parse_month(text)


def test_a_period_that_has_not_started_is_refused(built: Engine) -> None:
    # Asked on Monday 2026-11-23 for the week after: no figures, only today's stock.
    with pytest.raises(BadPeriod, match="尚未开始"):
        weekly(built, parse_week("2026-W49"))
    with session_scope(built) as session, pytest.raises(BadPeriod, match="尚未开始"):
        build_monthly(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            month=parse_month("2026-12"),
        )
    # The running week is fine: it shows the week so far.
    assert weekly(built, parse_week("2026-W48")).period.key == "2026-W48"


def test_cli_exit_codes_for_future_periods_and_bad_paths(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    now = ["--as-of", "2026-11-23T09:00"]
    for args in (
        ["weekly", "--week", "2026-W50"],
        ["monthly", "--month", "2027-01"],
        ["monthly", "--month", "0000-01"],
    ):
        result = runner.invoke(app, ["report", *args, *now])
        assert result.exit_code == 2 and result.stderr.strip(), result.output
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    result = runner.invoke(app, ["report", "export", "--out", str(a_file / "t.csv")])
    assert result.exit_code == 2 and "无法写入" in result.stderr
    folder = tmp_path / "folder"
    folder.mkdir()
    result = runner.invoke(app, ["report", "weekly", *now, "--out", str(folder)])
    assert result.exit_code == 2 and "目录" in result.stderr
    assert list(tmp_path.glob("*.png")) == []  # refused before any chart was drawn


def test_out_being_a_folder_writes_nothing(built: Engine, tmp_path: Path) -> None:
    from reports.errors import RenderError

    with pytest.raises(RenderError):
        write_report(weekly(built), tmp_path, "md")
    assert list(tmp_path.parent.glob(f"{tmp_path.name}-*.png")) == []


def _figures(key: str, *, due: int, on_time: int, replied: int, ratings: list[int]) -> Figures:
    quality = sum(ratings) / len(ratings)
    return Figures(
        key=key,
        label=key,
        received=due,
        assigned=due,
        acknowledged=due,
        replied=replied,
        verified=len(ratings),
        returned=0,
        reopened=0,
        overdue_open=0,
        due=due,
        due_replied=replied,
        on_time=on_time,
        on_time_original=on_time,
        completed=0,
        reply_rate=replied / due,
        on_time_rate=on_time / due,
        on_time_rate_original=on_time / due,
        completion_rate=0.0,
        ack_days_median=None,
        ack_days_p90=None,
        reply_days_median=None,
        reply_days_p90=None,
        rated=len(ratings),
        quality_mean=quality,
        quality_score=(quality - 1) / 4 * 100,
    )


def test_equal_scores_tie_even_when_the_floats_differ_in_the_last_bit() -> None:
    # "a": time 0.3 x (100 x (0.7 x 2/3 + 0.3)) = 23.0, quality 0.7 x 5 = 3.5 -> 26.5
    # "b": time 0.3 x 30 = 9, quality 0.7 x 25 = 17.5 -> 26.5; floats give a 26.499999…
    a = _figures("a", due=3, on_time=2, replied=3, ratings=[2, 1, 1, 1, 1])
    b = _figures("b", due=3, on_time=0, replied=3, ratings=[2])
    table = FigureTable(
        period=parse_month("2026-11"),
        by="unit",
        now=scenario.REPORT_NOW,
        as_of=scenario.REPORT_NOW,
        extensions_count_on_time=True,
        rows=(b, a),
        total=a,
    )
    ranking = rank_units(table, RankingPolicy(red_flags=0, yellow_flags=1))
    assert [e.score for e in ranking.ranked] == [pytest.approx(26.5)] * 2
    # A tie goes to the higher 按期率: "a" first, "b" last with the yellow flag.
    assert [(e.unit, e.flag) for e in ranking.ranked] == [("a", None), ("b", "黄旗")]


def test_text_that_looks_like_a_formula_stays_text_in_xlsx(built: Engine, tmp_path: Path) -> None:
    report = weekly(built)
    overdue = (
        replace(report.overdue[0], title="=== 紧急 === 路灯不亮"),
        replace(report.overdue[1], title='=HYPERLINK("http://x","点我")'),
        *report.overdue[2:],
    )
    path = write_xlsx(replace(report, overdue=overdue), tmp_path / "w.xlsx")
    sheet = load_workbook(path)["超期清单"]
    titles = {row[3].value: row[3].data_type for row in sheet.iter_rows(min_row=2)}
    assert titles["=== 紧急 === 路灯不亮"] == "s"
    assert titles['=HYPERLINK("http://x","点我")'] == "s"


def test_monthly_xlsx_states_flags_and_accountability(engine: Engine, tmp_path: Path) -> None:
    from tests.helpers import local
    from tests.reports.test_ranking import NOVEMBER, OCTOBER, _month

    with session_scope(engine) as session:
        _month(session, OCTOBER, local(2026, 10, 20), local(2026, 10, 20, 15), local(2026, 10, 23))
        _month(session, NOVEMBER, local(2026, 11, 10), local(2026, 11, 10, 15), local(2026, 11, 13))
    with session_scope(engine) as session:
        report = build_monthly(
            session,
            now=local(2026, 12, 1, 9),
            rules=scenario.RULES,
            policy=RankingPolicy(),
            month=parse_month("2026-11"),
        )
    overview = load_workbook(write_xlsx(report, tmp_path / "m.xlsx"))["概览"]
    notes = [b.value for a, b in overview.iter_rows() if a.value == "排名说明"]
    assert any("问责提示" in note and "卫健局" in note for note in notes), notes
    assert any(note.startswith("红旗：") for note in notes)


def test_trend_chart_of_a_quiet_ledger_has_no_negative_counts(tmp_path: Path, monkeypatch) -> None:
    drawn = []
    monkeypatch.setattr(charts, "_save", lambda figure, path: drawn.append(figure) or path)
    charts.weekly_trend(
        ["2026-W46", "2026-W47"], [0, 0], [None, None], [None, None], tmp_path / "t.png", title="空"
    )
    bottom, top = drawn[0].axes[0].get_ylim()
    assert bottom == 0 and top >= 1
