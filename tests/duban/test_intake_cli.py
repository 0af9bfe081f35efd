"""``duban intake``: the JSON summary, rejected rows by number, re-import, pasted text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from duban.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def ledger() -> None:
    assert run("init")[0] == 0


def _export(path: Path) -> Path:
    """A 留言板 export in GB18030 with CRLF, one good row spanning lines, an empty one, a
    row wider than the header and a row with an unreadable time."""
    rows = [
        "留言编号,留言用户,留言主题,留言时间,留言详情",
        'Q-1,网友甲,东湖路积水,2026/11/16 8:12:33,"东湖路与学府路交叉口一下雨就积水，\r\n'
        '车辆熄火，行人只能蹚水，希望尽快疏通排水管。"',
        "Q-2,网友乙,,2026/11/16 9:01:00,",
        "Q-3,网友丙,噪音,2026/11/16 9:30:00,滨江花园旁工地夜间施工,多出来的一列",
        "Q-4,网友丁,路灯,某天,柳岸路北段路灯连续一周不亮，晚上散步很不安全。",
    ]
    path.write_bytes("\r\n".join(rows).encode("gb18030") + b"\r\n")
    return path


def test_import_summary_names_rejected_rows_and_a_second_import_opens_nothing(
    tmp_path: Path,
) -> None:
    export = _export(tmp_path / "export.csv")
    code, out, err = run("intake", str(export), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["received"], summary["rejected"]) == (4, 2)
    assert summary["opened"] + summary["triage"] == 2
    rejected = {r["row"]: r["reason"] for r in summary["rejected_rows"]}
    assert set(rejected) == {3, 4}  # spreadsheet rows: the header is row 1
    assert "空" in rejected[3] and "列数" in rejected[4]
    code, out, err = run("intake", str(export), "--json")
    assert code == 0, err
    again = json.loads(out)
    assert code == 0
    assert (again["opened"], again["triage"], again["known"]) == (0, 0, 2)
    code, out, _ = run("tickets", "list", "--json")
    numbers = sorted(t["number"] for t in json.loads(out))
    assert len(numbers) == 2
    code, out, _ = run("intake", str(export))  # each row names the ticket it already is
    assert code == 0
    assert [line.split("：")[-1] for line in out.splitlines() if "此前已登记" in line] == numbers


def test_pasted_text_splits_on_a_separator_line_and_reports_each() -> None:
    code, out, err = run(
        "intake",
        "--text",
        "学府路菜市场门口占道经营严重\n---\n金色家园小区电梯三天没修好",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["received"] == 2
    assert [o["ticket"] is not None for o in summary["outcomes"]] == [True, True]
    code, out, _ = run("intake", "--text", "学府路菜市场门口占道经营严重", "--json")
    assert json.loads(out)["duplicates"] == 1


def test_an_instruction_keeps_its_stated_limit() -> None:
    code, out, err = run(
        "intake",
        "--text",
        "请区住建局限3个工作日内解决东湖新城积水问题",
        "--source",
        "批示件",
        "--json",
    )
    assert code == 0, err
    outcome = json.loads(out)["outcomes"][0]
    code, out, _ = run("tickets", "show", outcome["ticket"], "--json")
    assert json.loads(out)["limit_days"] == 3


@pytest.mark.parametrize(
    "args",
    [
        ("intake",),
        ("intake", "--text", "   "),
        ("intake", "no-such-file.csv"),
        ("intake", "--text", "某事", "--source", "传真"),
        ("intake", "--text", "请住建局办理某事", "--source", "批示件", "--limit-days", "0"),
        ("intake", "--text", "请住建局办理某事", "--source", "批示件", "--limit-days", "400"),
    ],
)
def test_bad_input_exits_2_and_stores_nothing(args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and err.startswith("错误"), err
    assert json.loads(run("tickets", "list", "--json")[1]) == []


def test_a_file_where_every_row_is_refused_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "empty-rows.csv"
    path.write_text("留言主题,留言详情\n,\n 无 ,\n,   \n", encoding="utf-8")
    code, out, _ = run("intake", str(path), "--json")
    summary = json.loads(out)  # blank rows are passed over; the title alone is no message
    assert code == 2 and summary["rejected"] == summary["received"] == 1
    assert summary["rejected_rows"] == [{"row": 3, "reason": "留言内容为空"}]


def test_an_id_reused_for_other_content_is_refused_by_row_not_dropped(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    first.write_text(
        "留言编号,留言详情\n"
        "1001,东湖路与学府路交叉口一下雨就积水，希望疏通排水管\n"
        "1002,柳岸路北段路灯连续一周不亮\n"
        "1002,柳岸路北段路灯连续一周不亮\n"
        "1002,金色家园7栋电梯停运三天无人维修\n",
        encoding="utf-8",
    )
    summary = json.loads(run("intake", str(first), "--json")[1])
    assert summary["received"] == 4 and summary["known"] == 1  # row 4 repeats row 3
    assert summary["rejected_rows"] == [{"row": 5, "reason": summary["rejected_rows"][0]["reason"]}]
    assert "编号「1002」第 3 行已登记过，但内容不同" in summary["rejected_rows"][0]["reason"]
    # Another platform's export numbering alike: refused by row, and with --channel it goes in.
    other = tmp_path / "b.csv"
    other.write_text("留言编号,留言详情\n1001,滨江花园旁工地夜间施工噪音扰民\n", encoding="utf-8")
    code, out, _ = run("intake", str(other), "--json")
    summary = json.loads(out)
    assert code == 2 and summary["rejected_rows"][0]["row"] == 2
    assert "台账中已登记过，但内容不同" in summary["rejected_rows"][0]["reason"]
    assert "--channel" in summary["rejected_rows"][0]["reason"]
    code, out, _ = run("intake", str(other), "--channel", "12345热线", "--json")
    assert code == 0 and json.loads(out)["rejected"] == 0
    assert len(json.loads(run("tickets", "list", "--json")[1])) == 3


def test_a_file_of_junk_stops_before_anything_is_stored_unless_forced(tmp_path: Path) -> None:
    import random

    rng = random.Random(3)
    junk = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(30))
        for _ in range(40)
    ]
    path = tmp_path / "junk.csv"
    path.write_text(
        "留言编号,留言详情\n"
        + "".join(f"J{n},{text}\n" for n, text in enumerate(junk))
        + "R1,柳岸路北段路灯连续一周不亮，晚上散步很不安全\n",
        encoding="utf-8",
    )
    code, _, err = run("intake", str(path), "--json")
    assert code == 2 and "共 41 行，其中 40 行（98%）不像留言" in err and "--force" in err
    assert json.loads(run("tickets", "list", "--json")[1]) == []
    code, out, err = run("intake", str(path), "--force", "--json")
    assert code == 0, err
    assert json.loads(out)["received"] == 41


def test_rows_of_a_workbook_name_their_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    april = workbook.active
    april.title = "四月"
    april.append(["留言编号", "留言详情"])
    april.append(["S1", "柳岸路北段路灯连续一周不亮，晚上散步很不安全"])
    may = workbook.create_sheet("五月")
    may.append(["留言编号", "留言详情"])
    may.append(["S2", "  "])
    path = tmp_path / "two-sheets.xlsx"
    workbook.save(path)
    code, out, err = run("intake", str(path), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["rejected_rows"] == [{"row": 2, "reason": "留言内容为空", "sheet": "五月"}]
    assert [(o["sheet"], o["row"]) for o in summary["outcomes"]] == [("四月", 2), ("五月", 2)]


def test_a_second_import_names_each_rows_ticket_a_repost_its_originals(tmp_path: Path) -> None:
    path = tmp_path / "reposts.csv"
    body = "柳岸路北段路灯连续一周不亮，晚上散步很不安全，请尽快派人维修。"
    path.write_text(
        "留言编号,留言主题,留言时间,留言详情\n"
        f"R-1,路灯,2026-11-16 08:00,{body}\n"
        f"R-2,路灯,2026-11-16 09:00,{body}\n",
        encoding="utf-8",
    )
    code, out, err = run("intake", str(path), "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["opened"] + first["triage"] == 1 and first["duplicates"] == 1
    code, out, _ = run("tickets", "list", "--json")
    (number,) = [t["number"] for t in json.loads(out)]
    code, out, err = run("intake", str(path))
    assert code == 0, err
    assert [line.split("：")[-1] for line in out.splitlines() if "此前已登记" in line] == [
        number,
        number,
    ]
