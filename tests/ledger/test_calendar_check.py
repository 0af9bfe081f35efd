"""``duban calendar check`` and ``recompute``: a notice entered by hand, then counted again."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from duban.cli import app
from ledger.db import session_scope
from ledger.models import Ticket
from tests.helpers import local, make_ticket, rules_for

runner = CliRunner()

# A hypothetical 2027 notice (not the real one): 元旦 01-01..03; 春节 02-05..02-12 with
# Sun 01-31 and Sat 02-20 worked; 清明 04-03..05; 劳动节 05-01..05 with Sat 05-08 worked;
# 端午 06-09; 中秋 09-15; 国庆 10-01..07 with Sat 10-09 worked.
NOTICE = """\
years:
  2027:
    published: true
    notice: 国办发明电〔2026〕假设
    holidays:
      - [2027-01-01, 2027-01-03]
      - [2027-02-05, 2027-02-12]
      - [2027-04-03, 2027-04-05]
      - [2027-05-01, 2027-05-05]
      - 2027-06-09
      - 2027-09-15
      - [2027-10-01, 2027-10-07]
    workdays: [2027-01-31, 2027-02-20, 2027-05-08, 2027-10-09]
"""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DUBAN_DATA_DIR", str(folder))
    return folder


def test_calendar_due_from_mid_december_skips_new_year(data: Path) -> None:
    code, out, _ = run("calendar", "due", "--from", "2026-12-20", "--days", "10", "--json")
    assert code == 0
    assert json.loads(out) == {"due": "2027-01-04", "provisional": True}
    code, out, _ = run("calendar", "due", "--from", "2026-12-20", "--days", "10")
    assert out.startswith("2027-01-04") and "法定节假日" in out and "调休" in out
    code, out, _ = run("calendar", "is-workday", "2027-10-01")
    assert out.startswith("休息日") and "临时" in out


def test_check_a_complete_notice(data: Path) -> None:
    (data / "calendar.yaml").write_text(NOTICE, encoding="utf-8")
    code, out, err = run("calendar", "check", "2027", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] and result["missing"] == [] and result["published"]
    assert result["make_up_workdays"] == ["2027-01-31", "2027-02-20", "2027-05-08", "2027-10-09"]
    code, out, _ = run("calendar", "check", "2027")
    assert code == 0 and "一致" in out


def test_check_warns_about_a_statutory_day_missing(data: Path) -> None:
    # 中秋 left out, 除夕 typed as 02-06
    broken = NOTICE.replace("      - 2027-09-15\n", "").replace(
        "[2027-02-05, 2027-02-12]", "[2027-02-06, 2027-02-12]"
    )
    (data / "calendar.yaml").write_text(broken, encoding="utf-8")
    code, out, _ = run("calendar", "check", "2027")
    assert code == 1
    assert "2027-02-05（春节）" in out and "2027-09-15（中秋节）" in out and "警告" in out
    code, out, _ = run("calendar", "check", "2027", "--json")
    assert code == 1
    assert json.loads(out)["missing"] == [
        {"date": "2027-02-05", "festival": "春节"},
        {"date": "2027-09-15", "festival": "中秋节"},
    ]


@pytest.mark.parametrize(
    ("year", "needle"), [("2028", "没有 2028 年"), ("2024", "2025"), ("next", "")]
)
def test_check_without_a_notice_is_bad_input(data: Path, year: str, needle: str) -> None:
    (data / "calendar.yaml").write_text(NOTICE, encoding="utf-8")
    code, _, err = run("calendar", "check", year)
    assert code == 2
    assert needle in err


def test_recompute_when_the_notice_is_entered(
    engine: Engine, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket opened before 春节 2027 is counted on the statutory days, then on the notice."""
    monkeypatch.setenv("DUBAN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    (data / "calendar.yaml").write_text("years: {}\n", encoding="utf-8")
    rules = rules_for(data)
    with session_scope(engine) as session:
        ticket = make_ticket(session, rules, received_at=local(2027, 1, 25), text="春节前的留言")
        number, provisional_due = ticket.number, ticket.due_date
        assert ticket.deadline_provisional
    # 15 working days after Mon 01-25 less 除夕 Fri 02-05 and 初三 Mon 02-08
    assert provisional_due == date(2027, 2, 17)
    (data / "calendar.yaml").write_text(NOTICE, encoding="utf-8")
    code, out, err = run("calendar", "recompute", "--json")
    assert code == 0, err
    # the notice: Sun 01-31 worked, 02-05..02-12 off, Sat 02-20 worked (the 15th day)
    assert json.loads(out)["recomputed"] == [
        {"number": number, "old_due": "2027-02-17", "new_due": "2027-02-20", "provisional": False}
    ]
    with session_scope(engine) as session:
        stored = session.exec(select(Ticket).where(Ticket.number == number)).one()
        assert (stored.due_date, stored.deadline_provisional) == (date(2027, 2, 20), False)
