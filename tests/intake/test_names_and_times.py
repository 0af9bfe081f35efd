"""A complainant's name written only in the text is masked for units (precision first);
a bare number read as an Excel serial date is flagged on its row."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.readers import ImportOptions, read_file
from intake.redact import names_in_text, redact


@pytest.mark.parametrize(
    ("text", "name", "masked"),
    [
        ("我叫张三丰，家住东湖路3号，小区路灯坏了", "张三丰", "我叫张**，家住东湖路3号"),
        ("姓名：张三 电话：13800001234", "张三", "姓名：张* 电话：138****1234"),
        ("联系人 李四，请尽快回复", "李四", "联系人 李*，"),
        ("联系人：李四先生", "李四", "联系人：李*先生"),
        ("本人王五反映，楼下烧烤店油烟很大", "王五", "本人王*反映"),
        ("本人王五，男，今年52岁", "王五", "本人王*，男"),
        ("姓名:欧阳娜娜。", "欧阳娜娜", "姓名:欧***。"),
        ("我叫李明是东湖路居民", "李明", "我叫李*是东湖路居民"),
    ],
)
def test_a_name_given_in_the_text_is_masked(text: str, name: str, masked: str) -> None:
    assert names_in_text(text) == [name]
    shown = redact(text)
    assert name not in shown and masked in shown


def test_every_mention_of_the_name_is_masked() -> None:
    shown = redact("我叫赵小兰。赵小兰的电话打不通，请联系赵小兰本人")
    assert "赵小兰" not in shown and shown.count("赵**") == 3


@pytest.mark.parametrize(
    "text",
    [
        "本人向社区反映多次，无人处理",
        "本人于2026年11月搬入",
        "本人家住东湖路，楼下噪音很大",
        "本人全家在东湖路住了二十年",
        "本人多次投诉未果",
        "本人要求尽快处理",
        "姓名：无",
        "联系人：物业",
        "联系人：江州路社区",
        "我叫外卖没人送",
        "我叫了三次外卖",
        "我叫高铁站的工作人员帮忙",
        "东湖路张家湾小区门口积水",
        "请王局长关注此事",
    ],
)
def test_places_and_ordinary_words_are_not_taken_for_names(text: str) -> None:
    assert names_in_text(text) == []
    assert redact(text) == text


def test_a_bare_number_read_as_an_excel_date_is_flagged_on_its_row(tmp_path: Path) -> None:
    path = tmp_path / "serial.csv"
    path.write_text(
        "留言编号,留言时间,留言详情\n"
        "T1,45995.4,东湖路路灯不亮\n"
        "T2,2025-12-04 09:36,东湖路路灯不亮了\n",
        encoding="utf-8",
    )
    first, second = read_file(path, ImportOptions())
    assert first.row == 2 and first.received_at == second.received_at
    assert first.warnings == [
        "时间「45995.4」是一个数字，已按 Excel 日期序号读作 2025-12-04 09:36，请核对"
    ]
    assert second.warnings == []
