"""The report files: XLSX types, the CSV of every ticket, charts, chat text, the outbox."""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from ledger.db import session_scope
from ledger.models import Notification, Ticket
from ledger.policy import RankingPolicy
from reports import charts
from reports.export import CSV_COLUMNS, export_tickets_csv
from reports.monthly import build_monthly
from reports.periods import parse_month, parse_week
from reports.post import weekly_notification
from reports.render import (
    CHAT_LIMIT,
    chat_text,
    render_html,
    render_json,
    render_markdown,
    write_all,
    write_xlsx,
)
from reports.weekly import WeeklyReport, build_weekly
from tests.reports import scenario

W47 = parse_week("2026-W47")


@pytest.fixture
def built(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        scenario.build(session)
    return engine


def weekly(engine: Engine) -> WeeklyReport:
    with session_scope(engine) as session:
        return build_weekly(
            session, now=scenario.REPORT_NOW, rules=scenario.RULES, policy=RankingPolicy(), week=W47
        )


def test_weekly_lists_and_trend(built: Engine) -> None:
    report = weekly(built)
    assert [(o.number[-2:], o.unit, o.overdue_workdays, o.state) for o in report.overdue] == [
        ("08", "zjj", 10, "assigned"),
        ("03", "cgj", 3, "acknowledged"),
        ("06", "zjj", 3, "reopened"),
    ]
    assert [(c.action, c.unit) for c in report.changes] == [
        ("return", "cgj"),
        ("verify_fail", "zjj"),
    ]
    assert [p.week for p in report.trend][-2:] == ["2026-W46", "2026-W47"]
    assert len(report.trend) == 8
    w46, w47 = report.trend[-2:]
    assert (w46.received, w46.due, w46.on_time_rate) == (4, 2, 0.0)
    assert (w47.received, w47.due, w47.on_time_rate, w47.reply_rate) == (4, 4, 0.75, 0.75)
    assert report.trend[0].due == 0 and report.trend[0].on_time_rate is None


def test_markdown_html_json_say_the_same(built: Engine) -> None:
    report = weekly(built)
    md = render_markdown(report, charts_rel=["a-rates.png"])
    assert "# 督查周报 2026年第47周（11.16–11.22）" in md
    assert "回复率 75.0%" in md and "按原时限 50.0%" in md and "![a-rates](a-rates.png)" in md
    page = render_html(report, charts_rel=["a-rates.png"])
    assert "<table>" in page and "回复率 75.0%" in page and 'src="a-rates.png"' in page
    data = json.loads(render_json(report))
    assert data["period"]["key"] == "2026-W47" and data["total"]["on_time_rate"] == 0.75
    assert data["as_of"].startswith("2026-11-22T16:00:00")  # Monday 00:00 in Shanghai


def test_xlsx_has_real_numbers_dates_and_percentages(built: Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    path = write_xlsx(weekly(built), tmp_path / "w.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["概览", "分单位", "分来源", "超期清单", "退回续办", "趋势"]
    units = book["分单位"]
    header = [cell.value for cell in units[1]]
    zjj = next(row for row in units.iter_rows(min_row=2) if row[0].value == "住建局")
    cell = dict(zip(header, zjj, strict=True))
    assert cell["收件"].value == 2 and isinstance(cell["收件"].value, int)
    assert cell["按原时限按期率"].value == pytest.approx(2 / 3)
    assert cell["按原时限按期率"].number_format == "0.0%"
    assert cell["反馈用时中位数"].value == 4.5
    empty = next(row for row in units.iter_rows(min_row=2) if row[0].value == "教育局")
    assert dict(zip(header, empty, strict=True))["回复率"].value is None  # not 0, not "—"
    overdue = book["超期清单"]
    header = [cell.value for cell in overdue[1]]
    first = dict(zip(header, overdue[2], strict=True))
    assert first["时限"].is_date and first["时限"].value == datetime(2026, 11, 9)
    assert first["时限"].number_format == "yyyy-mm-dd"
    assert first["收件时间"].value == datetime(2026, 11, 2, 10, 0)  # local time
    assert first["超期工作日"].value == 10
    trend = book["趋势"]
    assert trend["B2"].is_date and trend["F9"].number_format == "0.0%"
    assert book["概览"]["B5"].is_date  # 统计截至


def test_monthly_xlsx_has_the_ranking(built: Engine, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    with session_scope(built) as session:
        report = build_monthly(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            month=parse_month("2026-10"),
        )
    book = load_workbook(write_xlsx(report, tmp_path / "m.xlsx"))
    assert book.sheetnames == ["概览", "排名", "分单位", "分来源"]
    assert book["排名"]["A1"].value == "名次"


def test_csv_export_has_every_timestamp(built: Engine, tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    with session_scope(built) as session:
        count = export_tickets_csv(
            session, path, rules=scenario.RULES, now=scenario.REPORT_NOW, english=True
        )
        tickets = {t.number: t for t in session.exec(select(Ticket))}
    assert count == len(tickets) == 10
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read it as UTF-8
    rows = {row["number"]: row for row in csv.DictReader(path.open(encoding="utf-8-sig"))}
    timestamp_fields = [name for name in Ticket.model_fields if name.endswith("_at")]
    assert {
        "opened_at",
        "assigned_at",
        "acknowledged_at",
        "replied_at",
        "verified_at",
        "closed_at",
        "escalated_at",
        "due_at",
        "original_due_at",
    } <= set(timestamp_fields)
    assert set(timestamp_fields) <= set(CSV_COLUMNS)
    for number, ticket in tickets.items():
        for name in timestamp_fields:
            value = getattr(ticket, name)
            expected = value.astimezone(scenario.RULES.tz).isoformat() if value else ""
            assert rows[number][name] == expected, (number, name)
    t6 = rows[next(n for n, t in tickets.items() if t.return_count)]
    assert t6["first_assigned_at"] == "2026-11-16T10:00:00+08:00"
    assert t6["last_returned_at"] == "2026-11-17T09:00:00+08:00"
    assert t6["last_reopened_at"] == "2026-11-19T11:00:00+08:00"
    assert t6["received_at"] == "2026-11-16T09:00:00+08:00"
    assert (t6["reply_workdays"], t6["replied_on_time"], t6["overdue_now"]) == ("2", "1", "1")
    t4 = rows[next(n for n, t in tickets.items() if t.extension_days)]
    assert (t4["extensions_requested"], t4["extensions_approved"]) == ("1", "1")
    assert (t4["replied_on_time"], t4["replied_on_time_original"]) == ("1", "0")
    assert t4["original_due_date"] == "2026-11-13" and t4["due_date"] == "2026-11-18"


def test_the_chart_font_is_a_cjk_font() -> None:
    from matplotlib.ft2font import FT2Font

    font = charts.find_cjk_font()
    charmap = FT2Font(font.path).get_charmap()
    assert all(ord(ch) in charmap for ch in "督查周报回复率按期率月讲评红旗黄旗住建局")


def test_no_cjk_font_is_a_clear_error() -> None:
    from reports.errors import FontMissing

    with pytest.raises(FontMissing, match="apt install fonts-wqy-microhei"):
        charts.locate_font(("No Such Font",), ("no-such-font-file",))


def test_charts_are_png_with_every_glyph(built: Engine, tmp_path: Path) -> None:
    from matplotlib.image import imread

    report = weekly(built)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph … missing from font" would fail here
        written = write_all(report, tmp_path, "weekly-2026-W47")
    assert [p.name for p in written.charts] == [
        "weekly-2026-W47-rates.png",
        "weekly-2026-W47-trend.png",
    ]
    for path in written.charts:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(path)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600
        assert pixels.std() > 0.05  # something is drawn
    assert set(written.files) == {"md", "html", "json", "xlsx"}
    assert all(p.stat().st_size > 0 for p in written.files.values())
    page = written.files["html"].read_text(encoding="utf-8")
    # the page carries its charts (mailed on its own, it keeps them)
    import base64

    inline = [base64.b64encode(p.read_bytes()).decode() for p in written.charts]
    assert all(f'src="data:image/png;base64,{data}"' in page for data in inline)
    assert 'alt="weekly-2026-W47-rates"' in page and 'alt="weekly-2026-W47-trend"' in page
    assert "](weekly-2026-W47-trend.png)" in written.files["md"].read_text(encoding="utf-8")


def test_chat_text_is_short(built: Engine) -> None:
    report = weekly(built)
    text = chat_text(report)
    assert text.startswith("【督查周报】2026年第47周")
    assert "超期10个工作日" in text and len(text) < CHAT_LIMIT
    assert "按期率较低：城管局 0.0%（到期1）" in text and "住建局 100" not in text
    # A long overdue list is cut, with the rest counted.
    long = chat_text(replace(report, overdue=report.overdue * 400))
    assert len(long) < CHAT_LIMIT and "…另有" in long


def test_weekly_notification_is_written_once(built: Engine, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    with session_scope(built) as session:
        first = weekly_notification(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            out_dir=out,
        )
    with session_scope(built) as session:
        again = weekly_notification(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            out_dir=out,
        )
        asked = weekly_notification(
            session,
            now=scenario.REPORT_NOW,
            rules=scenario.RULES,
            policy=RankingPolicy(),
            out_dir=out,
            request_key="console:1:42",
        )
        rows = list(session.exec(select(Notification).where(Notification.kind == "report")))
    assert again.id == first.id
    assert first.dedupe_key == "report:weekly:2026-W47"  # the last complete week on 11-23
    assert (first.audience, first.status) == ("supervisors", "pending")
    assert first.text.startswith("【督查周报】2026年第47周")
    assert [Path(p).name for p in first.payload["charts"]] == [
        "weekly-2026-W47-rates.png",
        "weekly-2026-W47-trend.png",
    ]
    assert all(Path(p).exists() for p in first.payload["charts"])
    assert set(first.payload["files"]) == {"md", "html", "json", "xlsx"}
    assert asked.dedupe_key == "report:weekly:2026-W47:console:1:42"
    assert sorted(r.dedupe_key for r in rows) == [first.dedupe_key, asked.dedupe_key]


def test_periods() -> None:
    from reports.errors import BadPeriod
    from reports.periods import last_complete_month, last_complete_week
    from tests.helpers import local

    tz = scenario.RULES.tz
    assert parse_week("2026-W47").first == date(2026, 11, 16)
    assert parse_week("2026w01").first == date(2025, 12, 29)  # ISO year
    assert parse_week("2026-W53").key == "2026-W53"  # 2026 has 53 ISO weeks
    for bad in ("2026-47", "2025-W53", "2026-W00", "next week"):
        with pytest.raises(BadPeriod):
            parse_week(bad)
    assert parse_month("2026-11").last == date(2026, 11, 30)
    with pytest.raises(BadPeriod):
        parse_month("2026-13")
    # Sunday 23:30 in Shanghai is still inside W47; Monday 00:30 is not.
    assert last_complete_week(local(2026, 11, 22, 23, 30), tz).key == "2026-W46"
    assert last_complete_week(local(2026, 11, 23, 0, 30), tz).key == "2026-W47"
    assert last_complete_month(local(2026, 12, 1, 0, 30), tz).key == "2026-11"
    assert last_complete_month(local(2026, 1, 15), tz).key == "2025-12"
