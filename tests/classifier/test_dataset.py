"""Reading CSV exports: encodings, real CSV quoting, skipped rows, missing columns."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from classifier.dataset import compose_text, read_labelled, read_texts
from classifier.errors import BadInput, NotFound

ROWS = [
    ["留言主题", "留言详情", "单位代码"],
    ["路灯不亮", "东湖路的路灯,\n坏了三天", "cgj"],
    ["", "望江社区停水,什么时候来水?", "swj"],
    ["学校", "", "jyj"],
    ["噪音", "工地夜间施工", ""],
    ["繁體", "滨河區的路燈壞了", "cgj"],
]


def write(path: Path, rows: list[list[str]], encoding: str) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_encodings_read_the_same(tmp_path: Path, encoding: str) -> None:
    data = read_labelled(write(tmp_path / "m.csv", ROWS, encoding), label_col="单位代码")
    assert data.texts == [
        "路灯不亮\n东湖路的路灯,\n坏了三天",
        "望江社区停水,什么时候来水?",
        "学校",
        "繁體\n滨河區的路燈壞了",
    ]
    assert data.labels == ["cgj", "swj", "jyj", "cgj"]
    assert data.rows == [2, 3, 4, 6]
    assert [(s.row, s.reason) for s in data.skipped] == [(5, "empty label")]
    assert data.sources[0]["encoding"] == encoding


def test_rows_without_text_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = [["留言详情", "标签"], ["", "a"], ["_x000D_ ", "a"], ["有内容", "b"]]
    data = read_labelled(write(tmp_path / "m.csv", rows, "utf-8"), label_col="标签")
    assert data.texts == ["有内容"]
    assert data.skipped_summary() == {"count": 2, "by_reason": {"empty text": 2}, "rows": [2, 3]}


def test_without_a_title_column_the_text_alone_is_used(tmp_path: Path) -> None:
    rows = [["留言详情"], ["只有正文"], [""]]
    texts = read_texts(write(tmp_path / "m.csv", rows, "utf-8"))
    assert texts.texts == ["只有正文", ""]
    assert texts.rows == [2, 3]


def test_missing_column_names_it_and_lists_the_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "m.csv", ROWS, "utf-8")
    with pytest.raises(BadInput) as caught:
        read_labelled(path, label_col="一级标签")
    assert caught.value.exit_code == 2
    assert "一级标签" in str(caught.value) and "留言详情、单位代码" in str(caught.value)
    with pytest.raises(BadInput, match="正文"):
        read_texts(path, text_col="正文")


def test_missing_file_and_undecodable_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_texts(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xef\xbb\xbf\xff\xfe\xfd")
    with pytest.raises(BadInput):
        read_texts(bad)


def test_compose_text() -> None:
    assert compose_text("标题", "正文") == "标题\n正文"
    assert compose_text("", "正文") == "正文"
    assert compose_text(None, "正文") == "正文"
    assert compose_text("标题", "  ") == "标题"


def test_a_repeated_column_name_uses_the_first_column(tmp_path: Path) -> None:
    rows = [["留言详情", "单位代码", "留言详情"], ["滨河路井盖丢了", "cgj", ""]]
    data = read_labelled(write(tmp_path / "m.csv", rows, "utf-8"), label_col="单位代码")
    assert data.texts == ["滨河路井盖丢了"] and not data.skipped


def test_a_very_long_message_is_read(tmp_path: Path) -> None:
    long = "东湖新城工地夜间施工噪音扰民。" * 20000  # longer than csv's default field limit
    rows = [["留言详情"], [long], ["望江社区停水"]]
    assert read_texts(write(tmp_path / "m.csv", rows, "utf-8")).texts == [long, "望江社区停水"]


def test_a_spreadsheet_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["留言详情", "单位代码"])
    book.active.append(["滨河路井盖丢了", "cgj"])
    book.save(tmp_path / "m.xlsx")
    with pytest.raises(BadInput, match=r"m\.xlsx.*Excel.*CSV") as caught:
        read_texts(tmp_path / "m.xlsx")
    assert caught.value.exit_code == 2


def test_a_tab_separated_export_reads_like_csv(tmp_path: Path) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t").writerows(ROWS)
    path = tmp_path / "m.tsv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    data = read_labelled(path, label_col="单位代码")
    assert data.labels == ["cgj", "swj", "jyj", "cgj"]
    assert data.texts[1] == "望江社区停水,什么时候来水?"


def test_an_unclosed_quote_is_refused_not_merged_into_one_row(tmp_path: Path) -> None:
    """Otherwise classify would print fewer lines than the file has rows."""
    path = tmp_path / "m.csv"
    path.write_text(
        '留言详情\n东湖路路灯不亮\n"望江社区停水\n学府路噪音\n工地夜间施工\n', encoding="utf-8"
    )
    with pytest.raises(BadInput, match="第 3 条记录的引号未闭合"):
        read_texts(path)
    fine = tmp_path / "ok.csv"
    fine.write_text('留言详情\n"东湖路的路灯,\n坏了三天"\n学府路噪音\n', encoding="utf-8")
    assert read_texts(fine).texts == ["东湖路的路灯,\n坏了三天", "学府路噪音"]
