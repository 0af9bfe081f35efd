"""Pasted text, 批示件 limits, timestamps, limits on content, personal data masking."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from intake.clean import raw_rejection, rejection
from intake.display import for_reading
from intake.paste import parse_instruction, split_pasted
from intake.redact import redact
from intake.timeparse import chinese_number, parse_timestamp

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_split_pasted_on_blank_lines_and_rules() -> None:
    text = "东湖路路灯不亮\n已经三天了\n\n金色家园电梯坏了\n---\n学府路占道经营\n  \n\n"
    assert split_pasted(text) == [
        "东湖路路灯不亮\n已经三天了",
        "金色家园电梯坏了",
        "学府路占道经营",
    ]
    assert split_pasted("  \n\n ") == []
    assert split_pasted("一条\r\n\r\n两条") == ["一条", "两条"]


def test_split_pasted_rule_between_blank_lines_is_not_kept() -> None:
    text = "柳岸路垃圾桶没人清运\n\n---\n南湖公园路灯不亮\n\n———\n\n东湖路积水"
    assert split_pasted(text) == ["柳岸路垃圾桶没人清运", "南湖公园路灯不亮", "东湖路积水"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请区城管局牵头，限5个工作日内办结并反馈。", (True, 5)),
        ("请于七个工作日内反馈办理结果", (True, 7)),
        ("请住建局十五个工作日内办结", (True, 15)),
        ("请限期办理", (True, None)),
        ("请阅处", (False, None)),
        ("限３个工作日", (True, 3)),
    ],
)
def test_instruction_limits(text: str, expected: tuple[bool, int | None]) -> None:
    assert parse_instruction(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2019/4/25 9:32:09", datetime(2019, 4, 25, 1, 32, 9, tzinfo=UTC)),
        ("2019-04-25 09:32:09", datetime(2019, 4, 25, 1, 32, 9, tzinfo=UTC)),
        ("2026-9-25 9:32", datetime(2026, 9, 25, 1, 32, tzinfo=UTC)),
        ("2019年4月25日 9时32分", datetime(2019, 4, 25, 1, 32, tzinfo=UTC)),
        ("２０１９／４／２５　９：３２", datetime(2019, 4, 25, 1, 32, tzinfo=UTC)),
        ("2020-01-02T03:04:05Z", datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2020-01-02T11:04:05+08:00", datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2019-04-25", datetime(2019, 4, 24, 16, 0, tzinfo=UTC)),
        (datetime(2019, 4, 25, 9, 32), datetime(2019, 4, 25, 1, 32, tzinfo=UTC)),
        ("昨天下午", None),
        ("2019/2/30 10:00", None),
        ("", None),
        (None, None),
    ],
)
def test_messy_timestamps_are_read_in_office_time(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value, SHANGHAI) == expected


def test_chinese_numbers() -> None:
    assert [chinese_number(v) for v in ("7", "七", "十", "十五", "二十", "两", "x")] == [
        7,
        7,
        10,
        15,
        20,
        2,
        None,
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "为空"),
        ("   \n ", "为空"),
        ("字" * 20_001, "过长"),
        ("abc\x00\x01\x02def", "二进制"),
        ("坏\udcff的", "无法识别"),
    ],
)
def test_rejections_have_clear_reasons(raw: str, reason: str) -> None:
    from classifier.normalise import normalise_text

    message = raw_rejection(raw) or rejection(raw, normalise_text(raw), max_chars=20_000)
    assert message is not None and reason in message


def test_control_and_zero_width_characters_are_removed_not_rejected() -> None:
    from classifier.normalise import normalise_text

    raw = "东湖路\u200b路灯\u200d不亮\x07了"
    assert rejection(raw, normalise_text(raw), max_chars=20_000) is None
    assert normalise_text(raw) == "东湖路路灯不亮了"


def test_redaction_masks_personal_data() -> None:
    text = (
        "我叫张伟，电话13800001234，也可打0571-88001234，身份证990101199003071234，"
        "邮箱zhangwei@example.com，工资卡6222020000000000000，微信 zw_2026abc"
    )
    masked = redact(text, names=["张伟"], contacts=["13800001234"])
    for secret in (
        "张伟",
        "13800001234",
        "88001234",
        "990101199003071234",
        "zhangwei@example.com",
        "6222020000000000000",
        "zw_2026abc",
    ):
        assert secret not in masked, secret
    assert "张*" in masked and "**** **** **** 0000" in masked


def test_redaction_leaves_ordinary_numbers_alone() -> None:
    text = "金色家园7栋2单元电梯停了4天，物业费每平方米2.5元，2026年11月16日"
    assert redact(text) == text


def test_handles_are_not_taken_for_names() -> None:
    assert redact("网友A3f9反映", names=["网友A3f9"]) == "网友A3f9反映"


@pytest.mark.parametrize(
    ("normalised", "shown"),
    [
        ("楼上天天往下扔东西,差点砸人??", "楼上天天往下扔东西，差点砸人？？"),
        ("请回电(电话138****1234)谢谢", "请回电（电话138****1234）谢谢"),
        ("已登记（编号91059)", "已登记（编号91059）"),
        ("菜价3.5元,见http://a.b/c?x=1", "菜价3.5元，见http://a.b/c?x=1"),
        ("see f(x) here", "see f(x) here"),
    ],
)
def test_text_for_reading_gives_back_chinese_punctuation(normalised: str, shown: str) -> None:
    assert for_reading(normalised) == shown
