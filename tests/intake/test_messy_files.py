"""Exports as they arrive from real offices: Excel's CSV in GB18030, title rows, joined
files, float ids, several sheets, broken quotes, loose JSON, placeholder dates.

All text is about the fictional 青石区."""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from intake.errors import BadFile
from intake.items import IntakeItem
from intake.readers import UNCLOSED_QUOTE, ImportOptions, detect_encoding, read_file
from intake.store import prepare
from intake.timeparse import parse_timestamp
from ledger.policy import load_policy

LAMP = "青石区柳岸路桥头的路灯坏了半个月，晚上很黑，老人孩子出行不安全。"
DRAIN = "江州路12号门口的下水道堵了，\r\n污水漫到人行道上, 气味很重，请尽快疏通。"
NOISE = "江州路菜市场早上五点就开始卸货，噪音很大，居民无法休息。"


def _read(path: Path) -> list[IntakeItem]:
    return list(read_file(path, ImportOptions()))


def test_excel_gb18030_csv_with_a_repeated_header_in_another_order(tmp_path: Path) -> None:
    lines = [
        " 留言详情 , 留言编号 ,备注, 留言主题 ,留言时间,,",  # spaces, an unknown column, trailing
        f'"{DRAIN}",QS1,,下水道堵塞,2019/4/25 9:32:09,,',
        ",,,,,,",
        "",
        f'"{LAMP}",QS2,已回访,路灯不亮,2019-04-25 09:32,,',
        "留言编号,留言主题,留言时间,留言详情",  # a second export joined on, columns reordered
        f'QS3,菜市场噪音,2019年4月25日,"{NOISE}"',
    ]
    path = tmp_path / "export.csv"
    path.write_bytes("\r\n".join(lines).encode("gb18030") + b"\r\n")
    items = _read(path)
    assert [(i.row, i.external_id, i.title) for i in items] == [
        (2, "QS1", "下水道堵塞"),
        (5, "QS2", "路灯不亮"),
        (7, "QS3", "菜市场噪音"),
    ]
    assert items[0].text == DRAIN
    assert items[2].text == NOISE
    assert items[2].received_at == datetime(2019, 4, 24, 16, 0, tzinfo=UTC)


def test_gb18030_detected_when_the_sample_ends_inside_a_character(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    data = ("留言编号,留言详情\n" + f"1,{LAMP}\n" * 20).encode("gb18030")
    path.write_bytes(data)
    cut = len("留言编号,".encode("gb18030")) + 1  # half of 留
    assert detect_encoding(path, sample_bytes=cut) == "gb18030"
    assert detect_encoding(path, sample_bytes=cut + 1) == "gb18030"


def test_title_line_above_a_csv_header(tmp_path: Path) -> None:
    path = tmp_path / "titled.tsv"
    path.write_text(f"2019年留言汇总\n\n留言编号\t留言详情\nT1\t{LAMP}\n", encoding="utf-8")
    assert [(i.row, i.external_id, i.text) for i in _read(path)] == [(4, "T1", LAMP)]


def test_an_unclosed_quote_is_refused_on_its_row(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text(f'留言编号,留言详情\nU1,{LAMP}\nU2,"{NOISE}\nU3,{LAMP}\n', encoding="utf-8")
    items = _read(path)
    assert [(i.row, i.external_id) for i in items] == [(2, "U1"), (3, None)]
    assert items[1].reject_reason == UNCLOSED_QUOTE


def test_a_cell_over_the_csv_field_limit_does_not_spill_into_rows(tmp_path: Path) -> None:
    long_text = (NOISE * 40 + "\n") * 120  # ~140,000 characters over 120 lines
    path = tmp_path / "long.csv"
    path.write_text(
        f'留言编号,留言详情\nL1,"{long_text}"\nL2,"{LAMP}"\nL3,{NOISE}\n', encoding="utf-8"
    )
    items = _read(path)
    assert [(i.row, i.external_id) for i in items] == [(2, "L1"), (3, "L2"), (4, "L3")]
    assert items[0].text == long_text.strip() and items[1].text == LAMP


def test_xlsx_title_row_float_ids_and_several_sheets(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "说明"  # empty
    summary = workbook.create_sheet("统计")
    summary.append(["类别", "件数"])
    summary.append(["城乡建设", 3])
    april = workbook.create_sheet("四月")
    april.append(["2019年留言汇总"])
    april.merge_cells("A1:D1")
    april.append(["留言编号", "留言用户", "留言时间", "留言详情"])
    april.append([188006.0, "网友甲", datetime(2019, 4, 25, 9, 32, 9), LAMP])
    april.append([188007.0, 13800001021.0, "2019/4/25 9:32:09", NOISE])
    april.append([188008, None, "昨天下午", DRAIN])
    may = workbook.create_sheet("五月")
    may.append(["留言编号", "留言详情"])
    may.append([188100.0, "   "])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    items = _read(path)
    assert [(i.row, i.external_id) for i in items] == [
        (3, "188006"),
        (4, "188007"),
        (5, "188008"),
        (2, "188100"),
    ]
    assert items[0].received_at == datetime(2019, 4, 25, 1, 32, 9, tzinfo=UTC)
    assert items[1].complainant_name == "13800001021"
    assert items[2].warnings == ["工作表 四月 第 5 行：时间「昨天下午」无法识别，按导入时间登记"]
    assert [i.sheet for i in items] == ["四月", "四月", "四月", "五月"]


def test_workbooks_that_cannot_be_read(tmp_path: Path) -> None:
    from openpyxl import Workbook

    renamed = tmp_path / "renamed.xlsx"
    renamed.write_text(f"留言编号,留言详情\n1,{LAMP}\n", encoding="utf-8")
    with pytest.raises(BadFile, match="不是有效的 xlsx"):
        _read(renamed)
    workbook = Workbook()
    workbook.active.append(["2019年留言汇总"])
    workbook.active.append(["类别", "件数"])
    workbook.create_sheet("空")
    path = tmp_path / "summary.xlsx"
    workbook.save(path)
    with pytest.raises(BadFile, match=r"找不到留言内容列.*类别、件数"):
        _read(path)


def test_jsonl_columns_are_recognised_per_object(tmp_path: Path) -> None:
    lines = [
        json.dumps({"留言编号": "J1", "留言主题": "路灯"}, ensure_ascii=False),  # no text field
        json.dumps({"留言编号": "J2", "留言详情": LAMP}, ensure_ascii=False),
        '{"留言编号": "J3", "留言详情": "没写完',
        "\ufeff" + json.dumps({" 留言编号 ": "J4", "内容": NOISE}, ensure_ascii=False),
        json.dumps({"留言编号": 188005.0, "留言详情": {"正文": NOISE}}, ensure_ascii=False),
        json.dumps({"编号": "J6", "备注": "无"}, ensure_ascii=False),
    ]
    path = tmp_path / "export.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode("utf-8"))
    items = _read(path)
    assert [(i.row, i.external_id, i.text) for i in items[:4]] == [
        (1, "J1", ""),
        (2, "J2", LAMP),
        (3, None, ""),
        (4, "J4", NOISE),
    ]
    assert "JSON" in items[2].reject_reason
    assert items[4].external_id == "188005" and "不是文字" in items[4].reject_reason
    assert items[5].row == 6 and "本行的字段: 编号、备注" in items[5].reject_reason


def test_a_json_array_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    records = [
        {"留言编号": "A1", "留言详情": LAMP},
        "不是对象",
        {"留言编号": "A3", "留言详情": NOISE},
    ]
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    items = _read(path)
    assert [(i.row, i.external_id, i.reject_reason) for i in items] == [
        (1, "A1", None),
        (2, None, "每条须为一个 JSON 对象"),
        (3, "A3", None),
    ]


@pytest.mark.parametrize(("name", "content"), [("e.jsonl", "\n \n"), ("e.json", " [ ]")])
def test_an_empty_json_file_is_a_bad_file(tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(BadFile, match="空"):
        _read(tmp_path / name)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01 00:00:00",
        "0001-01-01T00:00:00+08:00",
        "9999-12-31 23:59:59",
        "9999-12-31T23:59:59-05:00",
        "1900-01-01",
        "2019-04-25T09:32:09+99:99",
    ],
)
def test_placeholder_dates_and_impossible_offsets_are_not_times(value: str) -> None:
    assert parse_timestamp(value, ZoneInfo("Asia/Shanghai")) is None


def test_a_time_in_the_future_is_registered_at_import_time() -> None:
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    items = [
        IntakeItem(text=LAMP, received_at=datetime(2091, 4, 25, tzinfo=UTC)),
        IntakeItem(text=NOISE, received_at=now + timedelta(hours=12)),
    ]
    batch = prepare(items, policy=load_policy(None), now=now)
    assert [p.received_at for p in batch.prepared] == [now, now + timedelta(hours=12)]
    assert items[0].warnings == ["留言时间晚于导入时间，按导入时间登记"]
    assert items[1].warnings == []
