"""Commands, splitting and escaping — pure functions."""

from __future__ import annotations

import pytest

from bots.commands import bad_number, first_number, parse, parse_int, unknown_command
from bots.text import escape_html, escape_markdown_v2, length, split_text
from ledger.errors import IllegalTransition, PermissionDenied, user_text


@pytest.mark.parametrize(
    ("text", "name", "number", "args"),
    [
        ("/签收 DB-2026-000123", "签收", "DB-2026-000123", ""),
        ("／签收 db-2026-123", "签收", "DB-2026-000123", ""),
        ("/ack@duban_bot DB-2026-7", "签收", "DB-2026-000007", ""),
        ("/回复 DB-2026-000001 已修复\n第二行", "回复", "DB-2026-000001", "已修复\n第二行"),
        ("/回复 已修复", "回复", None, "已修复"),
        ("/延期 DB-2026-000001 3 需协调", "延期", "DB-2026-000001", "3 需协调"),
        ("/核查 DB-2026-000001 不通过 2 未附照片", "核查", "DB-2026-000001", "不通过 2 未附照片"),
        ("/start ABCD2345", "帮助", None, "ABCD2345"),
        ("/交办 DB-2026-000002 住建局", "分办", "DB-2026-000002", "住建局"),
        # typed with a Chinese input method: full-width number, or no space after the name
        ("/签收 ＤＢ－２０２６－１２３", "签收", "DB-2026-000123", ""),
        ("/分办DB-2026-000002 住建局", "分办", "DB-2026-000002", "住建局"),
        ("/ackdb-2026-5", "签收", "DB-2026-000005", ""),
        ("/回复已修复", "回复", None, "已修复"),
    ],
)
def test_parse(text: str, name: str, number: str | None, args: str) -> None:
    cmd = parse(text)
    assert cmd is not None and (cmd.name, cmd.number, cmd.args) == (name, number, args)


@pytest.mark.parametrize("text", ["你好", "/unknown x", "", "DB-2026-000001 /签收", "/"])
def test_not_commands(text: str) -> None:
    assert parse(text) is None


def test_unknown_commands_and_mistyped_numbers() -> None:
    assert unknown_command("/fenban DB-2026-000001 住建局") == "fenban"
    assert unknown_command("/listing") == "listing"
    assert unknown_command("/start@other_bot") is None  # another bot's
    assert unknown_command("/签收 DB-2026-000001") is None
    assert unknown_command("东湖路路灯不亮") is None
    assert bad_number("DB-2026-0000001 已修复") == "DB-2026-0000001"
    assert bad_number("DB2026-1") == "DB2026-1"
    assert bad_number("已修复") is None and bad_number("") is None


def test_numbers() -> None:
    assert [
        parse_int(v) for v in ("3", "３", "3天", "5个工作日", "十", "十五", "二十三", "x", "")
    ] == [3, 3, 3, 5, 10, 15, 23, None, None]
    assert first_number("见 db-2026-42 和 DB-2026-000043") == "DB-2026-000042"


def test_split_keeps_lines_and_numbers_the_parts() -> None:
    text = "\n".join(f"第{i}行 " + "字" * 100 for i in range(100))
    parts = split_text(text, 4096)
    assert len(parts) == 3 and all(length(p) <= 4096 for p in parts)
    assert [p.rsplit("\n", 1)[1] for p in parts] == ["（1/3）", "（2/3）", "（3/3）"]
    bodies = [p.rsplit("\n", 1)[0] for p in parts]
    assert "\n".join(bodies) == text
    assert all(b.split("\n")[0].startswith("第") for b in bodies)  # cut between lines


def test_split_cuts_one_very_long_line_and_counts_utf16() -> None:
    assert split_text("短", 4096) == ["短"]
    emoji = "😀" * 3000  # 6000 UTF-16 units
    parts = split_text(emoji, 4096)
    assert len(parts) == 2 and all(length(p) <= 4096 for p in parts)
    assert "".join(p.rsplit("\n", 1)[0] for p in parts) == emoji
    with pytest.raises(ValueError):
        split_text("x" * 100, 10)


def test_escapes() -> None:
    assert escape_html("<b>a&b</b>\n下一行") == "&lt;b&gt;a&amp;b&lt;/b&gt;<br>下一行"
    assert escape_markdown_v2("价格*2_(含税)!") == r"价格\*2\_\(含税\)\!"


def test_errors_carry_the_users_text_apart_from_the_english_gloss() -> None:
    assert (
        user_text(PermissionDenied("只有督查人员可以核查通过 (only supervisors may verify_pass)"))
        == "只有督查人员可以核查通过"
    )
    assert (
        user_text(
            IllegalTransition(
                "DB-1: 当前状态为「已签收」，不能签收 (cannot acknowledge a ticket in "
                "state acknowledged)"
            )
        )
        == "DB-1: 当前状态为「已签收」，不能签收"
    )
    refused = PermissionDenied("不能归档", "cannot archive")
    assert (user_text(refused), refused.detail, str(refused)) == (
        "不能归档",
        "cannot archive",
        "不能归档 (cannot archive)",
    )
    assert user_text(Exception("plain")) == "plain"
