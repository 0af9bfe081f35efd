"""Reading exports: CSV in three encodings, XLSX, JSONL; bad rows and bad files."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from duban.settings import REPO_ROOT
from intake.errors import BadFile, DuplicateColumn
from intake.readers import Columns, ImportOptions, read_file

INBOX = REPO_ROOT / "data" / "inbox.csv"


def _rows() -> list[dict[str, str]]:
    with INBOX.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path: Path, rows: list[dict[str, str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_in_each_encoding_reads_the_same(tmp_path: Path, encoding: str) -> None:
    path = _write_csv(tmp_path / f"inbox-{encoding}.csv", _rows(), encoding)
    items = list(read_file(path, ImportOptions()))
    assert len(items) == 40
    first = items[0]
    assert first.external_id == "BH2026-01001"
    assert first.title == "东湖路夜间渣土车"
    assert "渣土车" in first.text
    assert first.complainant_name == "网友7c2A"
    assert first.complainant_contact == "13800001021"
    assert first.received_at == datetime(2026, 11, 16, 0, 12, 33, tzinfo=UTC)
    assert first.row == 2  # the header is row 1
    garbled = next(i for i in items if i.external_id == "BH2026-01025")
    assert garbled.received_at is None
    assert any("昨天下午" in w for w in garbled.warnings)


def test_texts_with_newlines_and_commas_survive(tmp_path: Path) -> None:
    rows = [
        {
            "留言编号": "1",
            "留言主题": "",
            "留言时间": "2026/11/16 9:00",
            "留言详情": '第一段，有逗号,\n第二段\r\n第三段"引号"',
        }
    ]
    items = list(read_file(_write_csv(tmp_path / "x.csv", rows, "utf-8"), ImportOptions()))
    assert items[0].text == '第一段，有逗号,\n第二段\r\n第三段"引号"'
    assert items[0].title is None


def test_named_columns_and_missing_column_error(tmp_path: Path) -> None:
    rows = [{"编号X": "A1", "内容Y": "东湖路路灯不亮", "时间Z": "2026-11-16 08:00"}]
    path = _write_csv(tmp_path / "custom.csv", rows, "utf-8")
    items = list(
        read_file(path, ImportOptions(columns=Columns(id="编号X", text="内容Y", time="时间Z")))
    )
    assert (items[0].external_id, items[0].text) == ("A1", "东湖路路灯不亮")
    with pytest.raises(BadFile, match=r"找不到列「正文」.*编号X、内容Y、时间Z"):
        list(read_file(path, ImportOptions(columns=Columns(text="正文"))))


def test_no_text_column_is_a_clear_error(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "bad.csv", [{"a": "1", "b": "2"}], "utf-8")
    with pytest.raises(BadFile, match=r"找不到留言内容列.*a、b"):
        list(read_file(path, ImportOptions()))


def test_a_broken_row_is_reported_and_the_others_are_read(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    good = "留言编号,留言详情\n1,东湖路路灯不亮\n".encode()
    broken = b"2,\xff\xfe\xfa broken bytes\n"
    path.write_bytes(good + broken + "3,金色家园电梯停运\n".encode())
    items = list(read_file(path, ImportOptions()))
    assert [i.external_id for i in items] == ["1", "2", "3"]
    assert "\udcff" in items[1].text  # kept for the rejection check, which names the row
    assert items[1].row == 3


def test_too_many_cells_in_a_row(tmp_path: Path) -> None:
    path = tmp_path / "extra.csv"
    path.write_text("留言编号,留言详情\n1,正常\n2,多了,一列\n", encoding="utf-8")
    items = list(read_file(path, ImportOptions()))
    assert items[1].reject_reason and "列数" in items[1].reject_reason and items[1].row == 3


def test_binary_and_unknown_files(tmp_path: Path) -> None:
    png = tmp_path / "photo.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(BadFile, match="不是文本文件"):
        list(read_file(png, ImportOptions()))
    with pytest.raises(BadFile, match="不支持"):
        list(
            read_file(tmp_path / "x.pdf", ImportOptions())
            if (tmp_path / "x.pdf").write_text("x")
            else []
        )
    with pytest.raises(BadFile, match="不存在"):
        read_file(tmp_path / "missing.csv", ImportOptions())
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(BadFile, match="空"):
        list(read_file(empty, ImportOptions()))


def test_xlsx_with_typed_cells(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["留言编号", "留言用户", "留言主题", "留言时间", "留言详情"])
    sheet.append([1001, "网友甲", "路灯", datetime(2026, 11, 16, 9, 30), "东湖路路灯不亮"])
    sheet.append([None, None, None, None, None])  # blank rows are skipped
    sheet.append(["1002", "网友乙", None, "2026/11/17 10:00:00", "金色家园电梯停运"])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    items = list(read_file(path, ImportOptions()))
    assert [(i.external_id, i.row) for i in items] == [("1001", 2), ("1002", 4)]
    assert items[0].received_at == datetime(2026, 11, 16, 1, 30, tzinfo=UTC)
    assert items[1].received_at == datetime(2026, 11, 17, 2, 0, tzinfo=UTC)


def test_jsonl_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps(
            {"留言编号": "J1", "留言详情": "东湖路路灯不亮", "留言时间": "2026-11-16 09:00"},
            ensure_ascii=False,
        ),
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"留言编号": "J2", "留言详情": "金色家园电梯停运"}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read_file(path, ImportOptions()))
    assert [i.external_id for i in items] == ["J1", None, None, "J2"]
    assert "JSON" in items[1].reject_reason and items[1].row == 2
    assert items[2].reject_reason and items[2].row == 3


def test_rows_without_ids_get_a_stable_key(tmp_path: Path) -> None:
    rows = [{"留言时间": "2026/11/16 9:00", "留言详情": "东湖路路灯不亮"}]
    path = _write_csv(tmp_path / "noid.csv", rows, "utf-8")
    first = next(iter(read_file(path, ImportOptions()))).external_id
    again = next(iter(read_file(path, ImportOptions()))).external_id
    assert first and first == again and first.startswith("h:")


def test_source_column_and_instruction_limits(tmp_path: Path) -> None:
    rows = [
        {"留言编号": "P1", "来源": "批示件", "留言详情": "请区城管局牵头，限5个工作日内办结"},
        {"留言编号": "P2", "来源": "群众来信", "留言详情": "尊敬的领导：……"},
        {"留言编号": "P3", "来源": "传真", "留言详情": "东湖路路灯不亮"},
    ]
    items = list(read_file(_write_csv(tmp_path / "s.csv", rows, "utf-8"), ImportOptions()))
    assert items[0].source_kind.value == "instruction" and items[0].time_limit_days == 5
    assert items[1].source_kind.value == "letter"
    assert items[2].source_kind.value == "online" and "传真" in items[2].warnings[0]


def test_a_column_given_twice_refuses_the_file(tmp_path: Path) -> None:
    """The second 留言详情 silently replaced the first: 甲's text was lost, and rows that
    shared the second column were merged as 重复件."""
    from openpyxl import Workbook

    path = tmp_path / "twice.csv"
    path.write_text(
        "留言编号,留言详情,留言详情\nF1,甲路灯坏了很久没人修,乙内容\n", encoding="utf-8"
    )
    with pytest.raises(DuplicateColumn, match=r"「留言详情」出现了 2 次（第2列和第3列）"):
        list(read_file(path, ImportOptions()))
    workbook = Workbook()
    workbook.active.append(["留言编号", "留言详情", "留言详情"])
    workbook.active.append(["F1", "甲路灯坏了很久没人修", "乙内容"])
    book = tmp_path / "twice.xlsx"
    workbook.save(book)
    with pytest.raises(DuplicateColumn, match=r"第2列和第3列"):
        list(read_file(book, ImportOptions()))
    assert DuplicateColumn.exit_code == 2


def test_two_names_for_one_field_take_the_preferred_one(tmp_path: Path) -> None:
    """Real exports carry a 序号 beside the 留言编号, or a 内容 beside the 留言详情: the
    preferred name is read, and --text-col chooses another."""
    path = tmp_path / "aliases.csv"
    path.write_text(
        "序号,留言编号,留言详情,内容\n1,F1,甲路灯坏了很久没人修,乙内容\n", encoding="utf-8"
    )
    (item,) = list(read_file(path, ImportOptions()))
    assert (item.external_id, item.text) == ("F1", "甲路灯坏了很久没人修")
    items = list(read_file(path, ImportOptions(columns=Columns(text="内容"))))
    assert items[0].text == "乙内容"  # the column the user chose


def test_a_title_without_a_text_column_is_the_message(tmp_path: Path) -> None:
    """Title-only exports are read (a title of 8 characters or more is the text); a short
    title is refused saying so, not "留言内容为空"."""
    path = tmp_path / "titles.csv"
    path.write_text(
        "留言编号,留言用户,留言主题,留言时间\n"
        "F1,张三,路灯坏了,2026-01-02\n"
        "F2,李四,东湖路的路灯坏了很久没人修,2026-01-02\n",
        encoding="utf-8",
    )
    short, long = list(read_file(path, ImportOptions()))
    assert short.reject_reason is not None
    assert (
        "没有留言内容列" in short.reject_reason and "「路灯坏了」不足 8 字" in short.reject_reason
    )
    assert long.reject_reason is None and long.title == "东湖路的路灯坏了很久没人修"


def test_a_formula_without_a_saved_value_is_a_row_error(tmp_path: Path) -> None:
    """openpyxl writes formulas without their value: the text read as empty (留言内容为空)
    and =TODAY() as no time at all (the import time)."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["留言编号", "留言时间", "留言详情", "备注"])
    sheet.append(["F1", "=TODAY()", "东湖路的路灯坏了很久没人修", None])
    sheet.append(["F2", "2026-01-02", '=A2&"路灯坏了很久没人修"', None])
    sheet.append(["F3", "2026-01-02", "金色家园电梯停运三天了", "=ROW()"])  # unused column
    path = tmp_path / "formulas.xlsx"
    workbook.save(path)
    time, text, plain = list(read_file(path, ImportOptions()))
    assert time.reject_reason is not None and text.reject_reason is not None
    assert "第 2 行" in time.reject_reason and "「留言时间」列的单元格 B2" in time.reject_reason
    assert "=TODAY()" in time.reject_reason and "公式未计算" in time.reject_reason
    assert "第 3 行" in text.reject_reason and "单元格 C3" in text.reject_reason
    assert "Excel 或 WPS" in text.reject_reason and "留言内容为空" not in text.reject_reason
    assert plain.reject_reason is None and plain.text == "金色家园电梯停运三天了"


@pytest.mark.parametrize("shared", [False, True])
def test_a_cell_over_ten_megabytes_is_refused_and_the_rows_after_it_read(
    tmp_path: Path, shared: bool
) -> None:
    """lxml stops at a 10 MB text node: the sheet ended there with "Resource limit
    exceeded: Text node too long…" in a Chinese message, the rows after it unread."""
    from tests.intake.workbooks import MAIN, inline_row, sheet_xml, write_xlsx

    big = "路" * 4_000_000 + "&#36335;" * 100_000  # 12 MB of text, one character reference
    if shared:
        strings = [f'<sst xmlns="{MAIN}"><si><t>'.encode(), big.encode(), b"</t></si></sst>"]
        row = b'<row r="3"><c r="A3" t="inlineStr"><is><t>E2</t></is></c>'
        row += b'<c r="B3" t="s"><v>0</v></c></row>'
    else:
        strings, row = None, inline_row(3, "E2", big)
    rows = [
        inline_row(1, "留言编号", "留言详情"),
        inline_row(2, "E1", "东湖路路灯坏了很久没人修"),
        row,
        inline_row(4, "E3", "金色家园电梯停运三天了"),
    ]
    path = write_xlsx(tmp_path / "long.xlsx", sheet_xml(rows), strings)
    items = list(read_file(path, ImportOptions()))
    assert [(i.row, i.external_id) for i in items] == [(2, "E1"), (3, None), (4, "E3")]
    reason = items[1].reject_reason
    assert reason is not None and "第 3 行" in reason and "超过 1000000 字的上限" in reason
    assert "Resource" not in reason and items[2].reject_reason is None
