"""Task lists as offices keep them: headers, date forms, merged cells, sheets, re-import."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from desk import tasks as D
from duban.cli import app
from duban.settings import REPO_ROOT
from ledger.errors import BadInput
from ledger.models import Notification, Task
from routing.context import RoutingContext
from tasks import workflow as W
from tasks.deadlines import parse_deadline
from tasks.errors import TaskImportError
from tests.helpers import rules_for
from tests.tasks.conftest import actor

RULES = rules_for()


@pytest.mark.parametrize(
    ("text", "due", "days", "ongoing", "monthly"),
    [
        ("2026-12-31", date(2026, 12, 31), None, False, False),
        ("2026/6/30", date(2026, 6, 30), None, False, False),
        ("２０２６年１２月３１日前", date(2026, 12, 31), None, False, False),
        ("2026年12月31日", date(2026, 12, 31), None, False, False),
        ("11月30日前", date(2026, 11, 30), None, False, False),
        ("12月底", date(2026, 12, 31), None, False, False),
        ("10月底前", date(2026, 10, 30), None, False, False),  # 31 Oct is a Saturday
        ("9月", date(2026, 9, 30), None, False, False),  # the day before the holiday
        ("年底前", date(2026, 12, 31), None, False, False),
        ("上半年", date(2026, 6, 30), None, False, False),
        ("2027年底前", date(2027, 12, 31), None, False, False),
        ("三季度末", date(2026, 9, 30), None, False, False),
        ("第4季度", date(2026, 12, 31), None, False, False),
        ("2027年上半年", date(2027, 6, 30), None, False, False),
        ("十月底", date(2026, 10, 30), None, False, False),
        ("15个工作日", None, 15, False, False),
        ("5个工作日内", None, 5, False, False),
        ("长期", None, None, True, True),
        ("持续推进", None, None, True, True),
        ("每月", None, None, True, True),
        ("每月报送，12月底前完成", date(2026, 12, 31), None, False, True),
        (46387, date(2026, 12, 31), None, False, False),  # an Excel date serial
        (datetime(2026, 12, 31), date(2026, 12, 31), None, False, False),
    ],
)
def test_deadlines_as_offices_write_them(text, due, days, ongoing, monthly) -> None:
    parsed = parse_deadline(text, year=2026, rules=RULES)
    assert (parsed.due_date, parsed.limit_days, parsed.ongoing, parsed.monthly) == (
        due,
        days,
        ongoing,
        monthly,
    )


@pytest.mark.parametrize("text", ["", "尽快", "2026年2月30日", "13月底", "立即整改"])
def test_unreadable_deadlines_are_refused_naming_the_text(text: str) -> None:
    with pytest.raises(BadInput):
        parse_deadline(text, year=2026, rules=RULES)


def _csv(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("\r\n".join(lines).encode(encoding) + b"\r\n")
    return path


MESSY = [
    "滨河区2026年责任清单",  # a title row above the header, naming the list's year
    "",
    "序号,工作任务,具体内容,分管领导,责任单位,配合单位,时限要求,来源",
    "一、城乡建设,,,,,,,",  # a heading row
    "1,老旧小区改造,两个小区,王区长,住建局,城管局、水务局,12月底,重点工作",
    "2,背街小巷提升,20条,,城管局,,,",  # merged cells: leader and deadline from above
    ",,,,,,,",
    "3,不存在单位的任务,内容,王区长,宇宙管理局,,12月底,",
    "4,时限看不懂的任务,内容,王区长,住建局,,尽快,",
    "5,配合单位不明,内容,王区长,住建局,火星办,12月底,",
    "6,长期任务,内容,李副区长,民政局,,持续推进,会议议定",
]


def test_a_messy_gb18030_list_goes_in_row_by_row(ctx: RoutingContext, tmp_path: Path) -> None:
    path = _csv(tmp_path / "list.csv", MESSY, "gb18030")
    summary = D.import_list(ctx, path, source=W.TaskSource.LIST, actor=actor(ctx, "luru1"))
    assert summary.as_dict()["received"] == 6
    assert (summary.created, summary.known, summary.rejected) == (3, 0, 3)
    reasons = {r["row"]: r["reason"] for r in summary.rejected_rows}
    assert set(reasons) == {8, 9, 10}  # spreadsheet rows
    assert "宇宙管理局" in reasons[8] and "尽快" in reasons[9] and "火星办" in reasons[10]
    with ctx.session() as session:
        tasks = {t.title: t for t in session.exec(select(Task))}
        first, second, ongoing = tasks["老旧小区改造"], tasks["背街小巷提升"], tasks["长期任务"]
        assert first.due_date == second.due_date == date(2026, 12, 31)
        assert first.leader_id is not None and first.leader_name == "王区长"
        assert len(first.support_unit_ids) == 2 and first.state == "assigned"
        assert second.leader_name == "王区长"  # filled down from the merged cell
        assert ongoing.ongoing and ongoing.report_monthly and ongoing.source_kind == "meeting"
        assert first.source_ref is None  # 重点工作 names the kind, not a meeting
        assert second.source_kind == "key"  # 来源 filled down too
        # the units were told: lead and 配合单位 cards
        assert len(session.exec(select(Notification)).all()) == 3 + 1 + 1
    again = D.import_list(ctx, path, source=W.TaskSource.KEY, actor=actor(ctx, "luru1"))
    assert (again.created, again.known, again.rejected) == (0, 3, 3)  # another --source too


def test_an_xlsx_with_several_sheets_merged_cells_and_date_cells(
    ctx: RoutingContext, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "说明"
    book.active.append(["本清单由督查室整理"])
    sheet = book.create_sheet("区直部门")
    sheet.append(["2026年度重点工作任务分解表"])
    sheet.merge_cells("A1:F1")
    sheet.append(["序号", "任务名称", "牵头领导", "牵头单位", "配合单位", "完成时限"])
    sheet.append([1, "内涝点位整改", "王区长", "水务局", "住建局,城管局", datetime(2026, 6, 30)])
    sheet.append([2, "排水管网普查", None, "水务局", None, "2026年9月30日"])
    sheet.merge_cells("C3:C4")
    streets = book.create_sheet("街道")
    streets.append(["序号", "督办事项", "责任领导", "责任单位", "时限"])
    streets.append([1, "背街小巷改造", "李副区长", "滨江街道", "15个工作日"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    summary = D.import_list(ctx, path, source=W.TaskSource.KEY, actor=actor(ctx, "ducha1"))
    assert (summary.received, summary.created, summary.rejected) == (3, 3, 0), summary
    with ctx.session() as session:
        tasks = {t.title: t for t in session.exec(select(Task))}
    assert tasks["内涝点位整改"].due_date == date(2026, 6, 30)
    assert tasks["排水管网普查"].leader_name == "王区长"
    assert tasks["背街小巷改造"].limit_days == 15 and tasks["背街小巷改造"].due_date is not None


def test_a_file_without_a_task_header_is_refused(ctx: RoutingContext, tmp_path: Path) -> None:
    path = _csv(tmp_path / "other.csv", ["留言编号,留言详情", "1,路灯不亮"])
    with pytest.raises(TaskImportError) as refused:
        D.import_list(ctx, path, source=W.TaskSource.LIST, actor=actor(ctx, "luru1"))
    assert "表头" in refused.value.user


def test_units_may_not_import(ctx: RoutingContext, tmp_path: Path) -> None:
    from ledger.errors import PermissionDenied

    path = _csv(tmp_path / "list.csv", MESSY)
    with pytest.raises(PermissionDenied):
        D.import_list(ctx, path, source=W.TaskSource.LIST, actor=actor(ctx, "zjj-1"))


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_imports_lists_shows_and_steps(tmp_path: Path) -> None:
    assert run("init")[0] == 0
    sample = REPO_ROOT / "data" / "task_list.csv"
    code, out, err = run("tasks", "import", str(sample), "--year", "2026", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary == {
        "received": 8,
        "created": 8,
        "known": 0,
        "rejected": 0,
        "rejected_rows": [],
    }
    code, out, _ = run("tasks", "import", str(sample), "--year", "2026", "--json")
    assert json.loads(out)["known"] == 8 and json.loads(out)["created"] == 0
    code, out, _ = run("tasks", "list", "--as-of", "2026-07-01", "--json")
    rows = {r["title"]: r for r in json.loads(out)}
    assert rows["城市内涝点位排查整改"]["colour"] == "红"  # due 30 Jun
    assert rows["为民办实事项目推进"]["workdays_left"] is None
    code, out, _ = run("tasks", "list", "--as-of", "2026-07-01", "--colour", "红", "--json")
    assert [r["title"] for r in json.loads(out)] == ["城市内涝点位排查整改"]
    code, out, _ = run("tasks", "list", "--unit", "城管局", "--json")
    assert len(json.loads(out)) == 4  # lead or 配合
    number = rows["东湖路老旧小区改造"]["number"]
    assert run("tasks", "ack", number, "--by", "zjj-1")[0] == 0
    code, out, err = run("tasks", "progress", number, "已完成设计", "--by", "zjj-1", "--json")
    assert code == 0 and json.loads(out)["state"] == "progressing"
    code, _, err = run("tasks", "verify", number, "--score", "5", "--by", "ducha1")
    assert code == 1 and "不能核查通过" in err
    code, _, err = run("tasks", "finish", number, "已完成", "--by", "cgj-1")
    assert code == 1 and "无权" in err
    code, _, err = run("tasks", "show", "XX-1")
    assert code == 2
    code, out, _ = run("tasks", "show", number)
    assert "东湖路老旧小区改造" in out and "签收" in out and "报送进展" in out
    code, _, err = run("tasks", "list", "--colour", "紫")
    assert code == 2 and "颜色" in err
    code, out, err = run(
        "report", "monthly", "--month", "2026-11", "--as-of", "2026-12-02T09:00", "--json"
    )
    assert code == 0, err
    groups = json.loads(out)["groups"]
    assert [(g["group"], g["label"], g["red_flags"]) for g in groups] == [
        ("department", "区直部门", 3),
        ("street", "乡镇（街道）", 2),
    ]
    assert {e["label"] for e in groups[1]["entries"]} == {"滨江街道", "城东街道"}
    code, out, err = run("tasks", "flags", "--quarter", "2026-q4", "--json")
    assert code == 0, err
    assert {e["label"] for e in json.loads(out)} >= {"滨江街道", "住建局"}  # November recorded
    assert run("tasks", "flags", "--quarter", "2026-Q5")[0] == 2
    paper = tmp_path / "通报.docx"
    code, out, err = run(
        "tasks", "bulletin", "--month", "2026-11", "--as-of", "2026-12-02T09:00", "--out",
        str(paper), "--json",
    )  # fmt: skip
    assert code == 0, err
    late = [rows[t]["number"] for t in ("城市内涝点位排查整改", "青山水库周边垃圾清理")]
    assert json.loads(out)["late"] == late  # due 30 Jun and 30 Nov, not done at the month's end
    from docx import Document

    text = "\n".join(p.text for p in Document(str(paper)).paragraphs)
    for expected in (
        "督查通报",
        "2026年11月",
        "通报表扬（红旗单位）",
        "通报批评",
        "水务局：城市内涝点位排查整改",
    ):
        assert expected in text, expected
    assert run("tasks", "bulletin", "--month", "2026-13", "--out", str(paper))[0] == 2


def test_a_formula_without_a_saved_value_refuses_its_row(tmp_path: Path) -> None:
    """An uncomputed =TODAY() read as empty, so the deadline above was filled down."""
    from openpyxl import Workbook

    from ledger.policy import IntakePolicy
    from tasks.importer import read_rows

    book = Workbook()
    book.active.append(["序号", "任务名称", "牵头单位", "完成时限"])
    book.active.append([1, "内涝点位整改", "水务局", "2026年6月30日"])
    book.active.append([2, "排水管网普查", "水务局", "=TODAY()+30"])
    path = tmp_path / "list.xlsx"
    book.save(path)
    first, second = list(read_rows(path, IntakePolicy()))
    assert not isinstance(first, tuple)
    assert isinstance(second, tuple) and second[1] == 3
    assert "单元格 D3" in second[2] and "公式未计算" in second[2]


def test_a_deadline_past_ten_years_is_a_row_error(ctx: RoutingContext, tmp_path: Path) -> None:
    """9999年12月31日 went in: workdays_left 2,079,395 and a warning a year on each list."""
    path = _csv(
        tmp_path / "list.csv",
        [
            "序号,任务名称,牵头单位,完成时限",
            "1,内涝点位整改,水务局,9999年12月31日",
            "2,排水管网普查,水务局,1899年12月31日",
            "3,背街小巷改造,城管局,2027年底前",
        ],
    )
    summary = D.import_list(ctx, path, source=W.TaskSource.LIST, actor=actor(ctx, "luru1"))
    assert (summary.created, summary.rejected) == (1, 2), summary
    reasons = {r["row"]: r["reason"] for r in summary.rejected_rows}
    assert set(reasons) == {2, 3}
    assert reasons[2].startswith("完成时限: 「9999年12月31日」须在 1900 年之后")
    assert "1899年12月31日" in reasons[3]
