"""Hostile files, made here and never committed: deep JSON, XLSX bombs, NUL bytes, mixed
encodings, junk. Each is read within the limits of ``policy.intake``: the bad row is
refused by number, the rest is read, and memory stays bounded."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from intake.errors import BadFile, JunkFile
from intake.items import IntakeItem
from intake.readers import GB18030_UNDER_BOM, ImportOptions, read_file, screen_junk
from ledger.errors import BadInput
from ledger.policy import IntakePolicy, load_policy
from tests.intake.workbooks import inline_row, sheet_xml, wide_row, write_xlsx

LAMP = "青石区柳岸路桥头的路灯坏了半个月，晚上很黑，老人孩子出行不安全。"
NOISE = "江州路菜市场早上五点就开始卸货，噪音很大，居民无法休息。"
DRAIN = "江州路12号门口的下水道堵了，污水漫到人行道上，气味很重，请尽快疏通。"
REPO = Path(__file__).resolve().parents[2]


def _read(path: Path, **limits: int | float) -> list[IntakeItem]:
    return list(read_file(path, ImportOptions(limits=IntakePolicy(**limits))))


# -- JSON nesting ---------------------------------------------------------------------------


def test_a_line_nested_200000_deep_is_refused_by_number_and_the_rest_read(tmp_path: Path) -> None:
    deep = "[" * 200_000 + "]" * 200_000
    path = tmp_path / "deep.jsonl"
    lines = [
        json.dumps({"留言编号": "J1", "留言详情": LAMP}, ensure_ascii=False),
        '{"留言编号": "J2", "留言详情": ' + deep + "}",
        json.dumps({"留言编号": "J3", "留言详情": NOISE}, ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = _read(path)
    assert [(i.row, i.external_id) for i in items] == [(1, "J1"), (2, None), (3, "J3")]
    assert "嵌套超过 32 层" in items[1].reject_reason
    assert (items[0].text, items[2].text) == (LAMP, NOISE)


def test_brackets_inside_strings_are_not_nesting(tmp_path: Path) -> None:
    text = "【投诉】" + "[" * 100 + '\\"]' + "{" * 50
    path = tmp_path / "brackets.jsonl"
    path.write_text(json.dumps({"留言编号": "B1", "留言详情": text}, ensure_ascii=False) + "\n")
    (item,) = _read(path, max_json_depth=4)
    assert item.reject_reason is None and item.text == text


def test_a_json_array_too_deep_is_a_clear_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('[{"留言详情": ' + "[" * 100_000 + "]" * 100_000 + "}]", encoding="utf-8")
    with pytest.raises(BadFile, match="嵌套超过 32 层"):
        _read(path)


def test_a_json_array_file_is_read_whole_only_when_small(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    records = [{"留言编号": f"A{n}", "留言详情": LAMP} for n in range(2_000)]
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(BadFile, match=r"超过 0.125 MB（intake.max_unzipped_mb 的八分之一）.*jsonl"):
        _read(path, max_unzipped_mb=1)
    assert len(_read(path)) == 2_000


# -- XLSX bombs -----------------------------------------------------------------------------

# The child's own peak (VmHWM of its address space). Not ru_maxrss: Linux carries the
# parent's high-water mark across fork and exec, so after a long test session the child
# would report pytest's size, not its own.
_PEAK = """
import sys
from pathlib import Path
from intake.readers import ImportOptions, read_file
items = [(i.row, i.reject_reason) for i in read_file(Path(sys.argv[1]), ImportOptions())]
print(repr(items))
status = Path("/proc/self/status").read_text()
print(next(int(l.split()[1]) for l in status.splitlines() if l.startswith("VmHWM:")) // 1024)
"""


def test_a_sheet_of_millions_of_cells_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A ~100 KB file whose one row unzips to 16 MB of cells (openpyxl held them all:
    over 500 MB). Measured in a fresh process: its peak resident memory."""
    rows = [inline_row(1, "留言编号", "留言详情"), inline_row(2, "1", LAMP), *wide_row(3, 16)]
    path = write_xlsx(tmp_path / "bomb.xlsx", sheet_xml(rows))
    assert path.stat().st_size < 200_000
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    listing, peak_mb = done.stdout.splitlines()
    items = eval(listing)  # our own repr of (row, reason) pairs
    assert items[0] == (2, None)
    assert items[1][0] == 3 and "列，超过 256 列的上限" in items[1][1]
    assert int(peak_mb) < 400, f"peak {peak_mb} MB"


def test_declared_unzipped_size_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    rows = [inline_row(1, "留言编号", "留言详情"), inline_row(2, "1", LAMP), *wide_row(3, 3)]
    path = write_xlsx(tmp_path / "big.xlsx", sheet_xml(rows))
    with pytest.raises(BadFile, match=r"解压后共 3 MB，超过 2 MB.*max_unzipped_mb"):
        _read(path, max_unzipped_mb=2)


def test_a_member_that_declares_less_than_it_holds_is_not_read_past_its_word(
    tmp_path: Path,
) -> None:
    """The declared size passes the check; the bytes beyond it are never unzipped."""
    import struct
    import zipfile

    rows = [inline_row(1, "留言编号", "留言详情"), inline_row(2, "1", LAMP), *wide_row(3, 3)]
    path = tmp_path / "liar.xlsx"
    honest = write_xlsx(tmp_path / "honest.xlsx", sheet_xml(rows))
    with zipfile.ZipFile(honest) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():  # rewritten without zip64 extras, sizes in place
            target.writestr(info.filename, source.read(info.filename), zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46 : entry + 46 + len(name)] != name:
        entry = data.index(b"PK\x01\x02", entry + 4)
    struct.pack_into("<I", data, entry + 24, 64 * 1024)  # claims 64 KB unzipped
    path.write_bytes(bytes(data))
    items = _read(path, max_unzipped_mb=1)
    assert (items[0].row, items[0].external_id) == (2, "1")
    assert items[1].row == 3 and "工作表已损坏" in items[1].reject_reason


def test_a_long_run_of_empty_rows_ends_the_sheet_with_a_note(tmp_path: Path) -> None:
    rows = [
        inline_row(1, "留言编号", "留言详情"),
        inline_row(2, "E1", LAMP),
        *(f'<row r="{n}"/>'.encode() for n in range(3, 30)),
        inline_row(31, "E2", NOISE),  # after 28 empty rows: still read
        inline_row(6_500_000, "E3", DRAIN),  # after millions: not
    ]
    path = write_xlsx(tmp_path / "sparse.xlsx", sheet_xml(rows))
    items = _read(path, max_empty_rows=100)
    assert [(i.row, i.external_id) for i in items] == [(2, "E1"), (31, "E2"), (32, None)]
    assert "从本行起连续 100 行以上为空" in items[2].reject_reason
    assert items[2].reject_reason.startswith("工作表 Sheet1 第 32 行：")


def test_empty_row_elements_count_too(tmp_path: Path) -> None:
    rows = [
        inline_row(1, "留言编号", "留言详情"),
        inline_row(2, "E1", LAMP),
        *(f'<row r="{n}"><c/></row>'.encode() for n in range(3, 300)),
        inline_row(300, "E2", NOISE),
    ]
    path = write_xlsx(tmp_path / "blank.xlsx", sheet_xml(rows))
    items = _read(path, max_empty_rows=100)
    assert [i.external_id for i in items] == ["E1", None]


def test_an_oversized_xlsx_cell_is_refused_by_row(tmp_path: Path) -> None:
    rows = [
        inline_row(1, "留言编号", "留言详情"),
        inline_row(2, "C1", "长" * 5_000),
        inline_row(3, "C2", NOISE),
    ]
    path = write_xlsx(tmp_path / "cell.xlsx", sheet_xml(rows))
    items = _read(path, max_cell_chars=1_000)
    assert [(i.row, i.external_id) for i in items] == [(2, None), (3, "C2")]
    assert "超过 1000 字的上限" in items[0].reject_reason


def test_shared_strings_are_read_compactly(tmp_path: Path) -> None:
    def strings():
        yield b'<?xml version="1.0" encoding="UTF-8"?>'
        yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        for text in ("留言编号", "留言详情", LAMP):
            yield f"<si><t>{text}</t></si>".encode()
        yield f"<si><r><t>江州路</t></r><r><t>{NOISE[3:]}</t></r><rPh><t>x</t></rPh></si>".encode()
        yield b"</sst>"

    rows = [
        b'<row r="1"><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row>',
        b'<row r="2"><c><v>7</v></c><c t="s"><v>2</v></c></row>',
        b'<row r="3"><c><v>8</v></c><c t="s"><v>3</v></c></row>',
        b'<row r="4"><c><v>9</v></c><c t="s"><v>99</v></c></row>',
    ]
    path = write_xlsx(tmp_path / "shared.xlsx", sheet_xml(rows), strings())
    items = _read(path)
    assert [(i.external_id, i.text) for i in items[:2]] == [("7", LAMP), ("8", NOISE)]
    assert items[2].row == 4 and "无法读取" in items[2].reject_reason


def test_xlsx_rows_name_their_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.title = "Sheet1"
    workbook.active.append(["留言编号", "留言时间", "留言详情"])
    workbook.active.append(["S1", "某天", LAMP])
    workbook.active.print_area = "A1:C2"  # a defined name on a sheet: no stray warning
    path = tmp_path / "one.xlsx"
    workbook.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (item,) = _read(path)
    assert item.sheet == "Sheet1"
    assert item.warnings == ["工作表 Sheet1 第 2 行：时间「某天」无法识别，按导入时间登记"]


# -- rows and cells in text files ---------------------------------------------------------


def test_rows_over_the_limit_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        "留言编号,留言详情\n" + "".join(f"R{n},{LAMP}{n}\n" for n in range(10)), encoding="utf-8"
    )
    items = _read(path, max_rows=3)
    assert [i.external_id for i in items] == ["R0", "R1", "R2", None]
    assert items[3].row == 5 and "超过 3 行的上限" in items[3].reject_reason


def test_a_csv_cell_over_the_limit_is_refused_and_does_not_spill(tmp_path: Path) -> None:
    long_cell = ("很长的一段话，" * 300 + "\n") * 3  # ~6,300 characters over 3 lines
    path = tmp_path / "long.csv"
    path.write_text(
        f'留言编号,留言详情\nL1,"{long_cell}"\nL2,{LAMP}\nL3,"{NOISE}"\n', encoding="utf-8"
    )
    items = _read(path, max_cell_chars=1_000)
    assert [(i.row, i.external_id) for i in items] == [(2, None), (3, "L2"), (4, "L3")]
    assert "超过单元格 1000 字的上限" in items[0].reject_reason
    unquoted = tmp_path / "line.csv"
    unquoted.write_text(f"留言编号,留言详情\nL1,{'长' * 9_000}\nL2,{LAMP}\n", encoding="utf-8")
    items = _read(unquoted, max_cell_chars=1_000)
    assert [(i.row, i.external_id) for i in items] == [(2, None), (3, "L2")]


def test_lines_ended_by_a_bare_cr_are_rows(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(f'留言编号,留言详情\rM1,{LAMP}\rM2,"{NOISE}\r第二段"\r'.encode("gb18030"))
    items = _read(path)
    assert [(i.row, i.external_id) for i in items] == [(2, "M1"), (3, "M2")]
    assert items[1].text == f"{NOISE}\r第二段"


def test_a_jsonl_line_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text(
        json.dumps({"留言详情": "长" * 9_000}, ensure_ascii=False)
        + "\n"
        + json.dumps({"留言编号": "J2", "留言详情": LAMP}, ensure_ascii=False)
        + "\n",
        encoding="utf-8",
    )
    items = _read(path, max_cell_chars=1_000)
    assert [(i.row, i.external_id) for i in items] == [(1, None), (2, "J2")]


# -- encodings --------------------------------------------------------------------------------


def test_a_nul_byte_is_dropped_from_its_row_not_the_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    data = f"留言编号,留言详情\nN1,{LAMP}\nN2,江州路\x00{NOISE}\nN3,{DRAIN}\n".encode()
    path.write_bytes(data)
    items = _read(path)
    assert [(i.row, i.external_id) for i in items] == [(2, "N1"), (3, "N2"), (4, "N3")]
    assert items[1].text == "江州路" + NOISE
    assert items[1].warnings == ["本行含 1 个空字符（NUL），已删除"]
    assert items[0].warnings == items[2].warnings == []


def test_gb18030_rows_inside_a_utf8_file_are_read_by_row(tmp_path: Path) -> None:
    lines = [("留言编号,留言详情\n", "utf-8")]
    for n in range(60):
        encoding = "gb18030" if n % 3 == 0 else "utf-8"  # 20 GB18030 rows
        lines.append((f"M{n},{LAMP}{n}\n", encoding))
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"".join(text.encode(encoding) for text, encoding in lines))
    items = _read(path)
    assert len(items) == 60 and all(i.reject_reason is None for i in items)
    assert [i.text for i in items] == [f"{LAMP}{n}" for n in range(60)]
    flagged = [i.row for i in items if i.warnings]
    assert flagged == [n + 2 for n in range(0, 60, 3)]
    assert items[0].warnings == ["本行按 GB18030 编码读取（文件其余各行为 UTF-8）"]


def test_utf8_rows_inside_a_gb18030_file_are_read_by_row(tmp_path: Path) -> None:
    path = tmp_path / "mixed-gb.csv"
    path.write_bytes(
        "留言编号,留言详情\n".encode("gb18030")
        + "".join(f"G{n},{LAMP}\n" for n in range(5)).encode("gb18030")
        + f"U1,{NOISE}\n".encode()
    )
    items = _read(path)
    assert [i.text for i in items] == [LAMP] * 5 + [NOISE]
    assert items[5].warnings == ["本行按 UTF-8 编码读取（文件其余各行为 GB18030）"]


def test_a_row_in_neither_encoding_is_refused_by_number(tmp_path: Path) -> None:
    from intake.store import prepare

    path = tmp_path / "broken.csv"
    path.write_bytes(
        f"留言编号,留言详情\nB1,{LAMP}\n".encode() + b"B2,\xff\xfe\xfd\xfc\n" + b"B3,ok\n"
    )
    items = _read(path)
    batch = prepare(items, policy=load_policy(None), now=__import__("datetime").datetime.now())
    refused = {items[i].row: a.reason for i, a in batch.done.items()}
    assert list(refused) == [3] and "无法识别的字符" in refused[3]


def test_a_utf8_bom_over_gb18030_content_is_read_as_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "bom-gb.csv"
    body = f"留言编号,留言主题,留言详情\nK1,路灯,{LAMP}\nK2,噪音,{NOISE}\n"
    path.write_bytes(b"\xef\xbb\xbf" + body.encode("gb18030"))
    items = _read(path)
    assert [(i.external_id, i.title, i.text) for i in items] == [
        ("K1", "路灯", LAMP),
        ("K2", "噪音", NOISE),
    ]
    assert items[0].warnings == [GB18030_UNDER_BOM] and items[1].warnings == []


def test_binary_files_are_still_refused_as_a_whole(tmp_path: Path) -> None:
    path = tmp_path / "utf16-no-bom.csv"
    path.write_bytes("留言编号,留言详情\n1,abc\n".encode("utf-16-le") * 50)
    with pytest.raises(BadFile, match="不是文本文件"):
        _read(path)


# -- junk ------------------------------------------------------------------------------------


def _junk_lines(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*"
    rows = []
    for n in range(count):
        if n % 2:
            rows.append("".join(rng.choice(letters) for _ in range(rng.randint(10, 80))))
        else:  # random bytes read as GB18030: rare characters and symbols
            raw = bytes(rng.randrange(0x81, 0xFF) for _ in range(60))
            rows.append(raw.decode("gb18030", errors="ignore").replace(",", "").replace('"', ""))
    return rows


def test_a_file_of_junk_stops_with_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "junk.csv"
    junk = _junk_lines(200)
    rows = [f"X{n},{text}" for n, text in enumerate(junk)] + [f"R1,{LAMP}", f"R2,{NOISE}"]
    path.write_text("留言编号,留言详情\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(JunkFile) as refused:
        screen_junk(path, ImportOptions())
    message = str(refused.value)
    assert "共 202 行，其中 200 行（99%）不像留言" in message
    assert "第 2 行" in message and "--force" in message


def test_a_file_with_some_junk_goes_through(tmp_path: Path) -> None:
    path = tmp_path / "some-junk.csv"
    rows = [f"R{n},{LAMP}{n}" for n in range(30)] + [
        f"X{n},{t}" for n, t in enumerate(_junk_lines(10))
    ]
    path.write_text("留言编号,留言详情\n" + "\n".join(rows) + "\n", encoding="utf-8")
    screen = screen_junk(path, ImportOptions())
    assert (screen.rows, screen.junk) == (40, 10)


@pytest.mark.parametrize(
    ("text", "junk"),
    [
        (LAMP, False),
        ("路灯坏了 http://example.com/a?b=1 请处理", False),
        ("我叫张三丰，电话13800001234，小区电梯坏了😀", False),
        ("asdkjh qweqwe 1234", True),
        ("东", True),
        ("".join(chr(0x3400 + n * 7) for n in range(40)), True),  # rare characters only
    ],
)
def test_junk_heuristic(text: str, junk: bool) -> None:
    from intake.clean import is_junk

    assert is_junk(text) is junk


# -- policy ----------------------------------------------------------------------------------


def test_every_intake_limit_is_documented_in_the_policy_file() -> None:
    path = REPO / "data" / "policy.yaml"
    policy = load_policy(path)
    text = path.read_text(encoding="utf-8")
    for key in IntakePolicy.model_fields:
        assert f"  {key}:" in text, key
    assert policy.intake == IntakePolicy()  # the file states the defaults


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_json_depth", 0), ("max_unzipped_mb", 0), ("junk_share", 1.5), ("max_rows", -1)],
)
def test_a_bad_intake_limit_is_refused_by_name(tmp_path: Path, key: str, value: object) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"intake:\n  {key}: {value}\n", encoding="utf-8")
    with pytest.raises(BadInput, match=f"intake.{key}"):
        load_policy(path)
