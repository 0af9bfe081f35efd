"""``duban report overdue`` (every overdue ticket, the longest-overdue first, streamed) and
``duban report export --format xlsx``."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from duban.cli import app
from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit
from reports.overdue import OVERDUE_HEADER, overdue_rows, write_overdue
from tests.helpers import local, make_ticket
from tests.reports import scenario

runner = CliRunner()
AS_OF = "2026-11-23T09:00"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def read_xlsx(path: Path) -> list[list[str]]:
    sheet = load_workbook(path, read_only=True).worksheets[0]
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


def test_overdue_lists_every_overdue_ticket_longest_first(ledger, tmp_path: Path) -> None:
    out = tmp_path / "超期.csv"
    code, printed, err = run("report", "overdue", "--as-of", AS_OF, "--out", str(out), "--json")
    assert code == 0, err
    assert json.loads(printed) == {"overdue": 2, "path": str(out), "format": "csv"}
    rows = read_csv(out)
    assert rows[0] == list(OVERDUE_HEADER)
    got = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    # T8 (due 11-09, never answered) then T6 (due 11-18, reopened after a failed check);
    # T3 was answered at 08:30 this morning, so it owes nothing now
    assert [(r["序号"], r["责任单位"], r["超期工作日"], r["时限"], r["状态"]) for r in got] == [
        ("1", "住建局", "10", "2026-11-09", "已交办"),
        ("2", "住建局", "3", "2026-11-18", "续办中"),
    ]
    assert got[0]["标题"] == "T8 路灯不亮" and got[0]["收到时间"] == "2026-11-02 10:00"


def test_overdue_of_one_unit_and_as_xlsx(ledger, tmp_path: Path) -> None:
    code, printed, err = run("report", "overdue", "--as-of", AS_OF, "--unit", "cgj", "--json")
    assert code == 0, err
    data = json.loads(printed)
    assert data["overdue"] == 0  # cgj's T3 answered, T6 went to zjj
    assert Path(data["path"]).name == "overdue-2026-11-23-cgj.csv"
    out = tmp_path / "超期.xlsx"
    code, _, err = run("report", "overdue", "--as-of", AS_OF, "--unit", "住建局", "-o", str(out))
    assert code == 0, err
    rows = read_xlsx(out)
    assert rows[0] == list(OVERDUE_HEADER)
    assert [(r[0], r[4]) for r in rows[1:]] == [("1", "10"), ("2", "3")]
    code, _, err = run("report", "overdue", "--as-of", AS_OF, "-o", str(out), "-f", "csv")
    assert code == 2 and "--force" in err  # never over an existing file unforced


@pytest.mark.parametrize(
    "args",
    [
        ("report", "overdue", "--format", "pdf"),
        ("report", "overdue", "--unit", "没有这个单位"),
        ("report", "overdue", "--as-of", "yesterday"),
        ("report", "export", "--out", "x.csv", "--format", "docx"),
    ],
)
def test_overdue_bad_input_exits_2(ledger, args) -> None:
    code, _, err = run(*args)
    assert code == 2, err
    assert err.strip()


def test_overdue_pages_through_equal_deadlines(engine: Engine, tmp_path: Path) -> None:
    """Keyset pages on (deadline, id): tickets sharing a deadline are neither lost nor
    repeated at a page boundary, whatever the page size."""
    rules = scenario.RULES
    with session_scope(engine) as session:
        zjj = find_unit(session, "zjj")
        for n in range(7):
            received = local(2026, 11, 2 + n % 3, 9)
            ticket = make_ticket(
                session, rules, received_at=received, text=f"第{n}件 路灯", time_limit_days=2
            )
            T.assign(
                session, ticket, zjj, actor=T.Actor.system("test"), now=received, routed_by="manual"
            )
        make_ticket(session, rules, received_at=scenario.REPORT_NOW - timedelta(hours=1))
    now = scenario.REPORT_NOW
    with session_scope(engine) as session:
        whole = [r.number for r in overdue_rows(session, rules=rules, now=now)]
        paged = [r.number for r in overdue_rows(session, rules=rules, now=now, chunk=2)]
        days = [r.overdue_workdays for r in overdue_rows(session, rules=rules, now=now, chunk=1)]
    assert len(whole) == 7 and paged == whole
    assert days == sorted(days, reverse=True) and days[0] > days[-1]
    with session_scope(engine) as session:
        write_overdue(session, tmp_path / "a.csv", rules=rules, now=now, chunk=3)
        write_overdue(session, tmp_path / "b.csv", rules=rules, now=now)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_export_as_xlsx_has_the_csv_cells(ledger, tmp_path: Path) -> None:
    code, _, err = run("report", "export", "--as-of", AS_OF, "--out", str(tmp_path / "t.csv"))
    assert code == 0, err
    code, printed, err = run(
        "report", "export", "--as-of", AS_OF, "--out", str(tmp_path / "t.xlsx"), "--json"
    )
    assert code == 0, err
    assert json.loads(printed)["tickets"] == 10
    assert (tmp_path / "t.xlsx").stat().st_mode & 0o777 == 0o600
    assert read_xlsx(tmp_path / "t.xlsx") == read_csv(tmp_path / "t.csv")


def test_too_many_rows_for_xlsx_leave_no_file(
    ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reports import export

    monkeypatch.setattr(export, "XLSX_MAX_ROWS", 5)  # a header and four rows
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "t.xlsx"
    code, _, err = run("report", "export", "--as-of", AS_OF, "--out", str(out))
    assert code == 2 and "--format csv" in err
    assert list(folder.iterdir()) == []
    code, printed, err = run("report", "overdue", "--as-of", AS_OF, "-o", str(out), "--json")
    assert code == 0 and json.loads(printed)["overdue"] == 2  # two rows fit
