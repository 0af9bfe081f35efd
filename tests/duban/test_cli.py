"""The CLI contract: output, --json, exit codes (0 ok, 1 failure, 2 bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from duban.cli import app
from duban.settings import Settings
from ledger.db import make_engine, session_scope
from ledger.directory import find_unit
from ledger.models import Complainant, Person, Ticket
from ledger.tickets import Actor, assign
from tests.helpers import make_ticket, rules_for

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_is_chinese() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "督办" in out and "calendar" in out


def test_calendar_due_prints_the_date() -> None:
    assert run("calendar", "due", "--from", "2026-09-30", "--days", "7")[:2] == (0, "2026-10-15\n")
    code, out, _ = run("calendar", "due", "--from", "2026-09-30", "--days", "7", "--json")
    assert code == 0
    assert json.loads(out) == {"due": "2026-10-15", "provisional": False}


def test_calendar_due_in_2027_is_provisional() -> None:
    code, out, _ = run("calendar", "due", "--from", "2027-03-01", "--days", "3", "--json")
    assert code == 0
    assert json.loads(out) == {"due": "2027-03-04", "provisional": True}


def test_is_workday() -> None:
    code, out, _ = run("calendar", "is-workday", "2026-10-10", "--json")
    assert code == 0
    assert json.loads(out) == {"date": "2026-10-10", "workday": True, "provisional": False}
    assert run("calendar", "is-workday", "2026-10-01")[1].startswith("休息日")


@pytest.mark.parametrize(
    "args",
    [
        ("calendar", "due", "--from", "2026-13-01", "--days", "7"),
        ("calendar", "due", "--from", "2026-09-30", "--days", "0"),
        ("calendar", "due", "--from", "2026-09-30", "--days", "x"),
        ("calendar", "due", "--days", "3"),
        ("calendar", "is-workday", "tomorrow"),
        ("no-such-command",),
    ],
)
def test_bad_input_exits_2(args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2, err


def test_calendar_at_the_end_of_the_date_range() -> None:
    # is-workday 9999-12-31 was an OverflowError traceback (exit 1).
    code, out, err = run("calendar", "is-workday", "9999-12-31", "--json")
    assert code == 0, err
    assert json.loads(out) == {"date": "9999-12-31", "workday": True, "provisional": True}
    code, out, err = run("calendar", "due", "--from", "9999-12-29", "--days", "3")
    assert (code, out) == (2, "")
    assert "超出日历范围" in err and "Traceback" not in err


def test_a_bad_calendar_file_names_the_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "calendar.yaml").write_text(
        "years:\n  2027:\n    published: true\n    workdays: [2027-02-30]\n", encoding="utf-8"
    )
    monkeypatch.setenv("DUBAN_DATA_DIR", str(data))
    for args in (("is-workday", "2026-10-10"), ("due", "--from", "2026-09-30", "--days", "7")):
        code, out, err = run("calendar", *args)
        assert (code, out) == (2, "")
        assert "years.2027.workdays[0]" in err and "2027-02-30" in err


def test_bad_timezone_setting_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_TIMEZONE", "Mars/Olympus")
    code, _, err = run("calendar", "due", "--from", "2026-09-30", "--days", "7")
    assert code == 2
    assert "DUBAN_TIMEZONE" in err


def _init() -> str:
    code, out, err = run("init", "--json")
    assert code == 0, err
    return out


def test_init_creates_the_ledger_and_is_repeatable() -> None:
    first = json.loads(_init())
    assert first["units_created"] == 16 and first["people_created"] >= 20
    second = json.loads(_init())
    assert second["units_created"] == 0 and second["units_updated"] == 0  # nothing changed
    code, out, _ = run("units", "list", "--json")
    assert code == 0
    assert {u["code"] for u in json.loads(out)} >= {"zjj", "sthj", "bjjd"}


def test_init_with_a_bad_units_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "units.yaml"
    bad.write_text("units:\n  - code: x\n    name: 甲\n", encoding="utf-8")
    code, _, err = run("init", "--units", str(bad))
    assert code == 2
    assert "units[0]" in err and "short" in err


def _ledger_with_assigned_ticket() -> str:
    _init()
    engine = make_engine(Settings().db_url)
    rules = rules_for()
    with session_scope(engine) as session:
        ticket = make_ticket(session, rules)
        assign(
            session,
            ticket,
            find_unit(session, "zjj"),
            actor=Actor.system("test"),
            now=ticket.opened_at,
            routed_by="manual",
        )
        number = ticket.number
    engine.dispose()
    return number


def test_ticket_steps_through_the_cli() -> None:
    number = _ledger_with_assigned_ticket()
    code, out, err = run("ticket", "ack", number, "--by", "zjj-1", "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "acknowledged"
    # The same step again is illegal: failure, exit 1, a message naming the ticket.
    code, _, err = run("ticket", "ack", number, "--by", "zjj-1")
    assert code == 1 and number in err
    # Another unit's member may not reply.
    code, _, err = run("ticket", "reply", number, "已处理", "--by", "cgj-1")
    assert code == 1 and "无权" in err
    # An unknown person is bad input.
    assert run("ticket", "reply", number, "已处理", "--by", "nobody")[0] == 2
    assert run("ticket", "reply", number, "已于11月18日修复路灯", "--by", "zjj-1")[0] == 0
    assert run("ticket", "verify", number, "--score", "9", "--by", "ducha1")[0] == 2
    assert run("ticket", "verify", number, "--score", "5", "--by", "ducha1")[0] == 0
    assert run("ticket", "archive", number, "--by", "ducha1")[0] == 0
    code, out, _ = run("tickets", "events", number, "--json")
    assert [e["action"] for e in json.loads(out)] == [
        "register",
        "assign",
        "acknowledge",
        "reply",
        "verify_pass",
        "archive",
    ]
    code, out, _ = run("tickets", "show", number, "--json")
    detail = json.loads(out)
    assert detail["state"] == "archived" and detail["replies"][0]["author"] == "刘洋"


def test_extension_through_the_cli() -> None:
    number = _ledger_with_assigned_ticket()
    assert run("ticket", "extend", number, "--days", "3", "--by", "zjj-1")[0] == 2  # no reason
    assert (
        run(
            "ticket", "extend", number, "--days", "3", "--reason", "需协调供电公司", "--by", "zjj-1"
        )[0]
        == 0
    )
    code, out, _ = run("ticket", "approve-extension", number, "--by", "ducha1", "--json")
    assert code == 0
    assert json.loads(out)["due_date"] > "2026-12-07"


def test_unknown_ticket_exits_2() -> None:
    _init()
    code, _, err = run("tickets", "show", "DB-2026-999999")
    assert code == 2 and "DB-2026-999999" in err


def test_tickets_list_filters() -> None:
    number = _ledger_with_assigned_ticket()
    code, out, _ = run("tickets", "list", "--unit", "住建局", "--json")
    assert code == 0 and [r["number"] for r in json.loads(out)] == [number]
    assert json.loads(run("tickets", "list", "--state", "verified", "--json")[1]) == []
    assert run("tickets", "list", "--state", "nonsense")[0] == 2
    assert run("tickets", "list", "--unit", "火星局")[0] == 2


def test_db_current_and_upgrade() -> None:
    code, out, _ = run("db", "upgrade", "--json")
    assert code == 0 and json.loads(out)["to"] is not None
    code, out, _ = run("db", "current", "--json")
    assert json.loads(out)["up_to_date"] is True


def test_a_command_before_init_says_what_to_do() -> None:
    code, _, err = run("tickets", "list")
    assert code == 1 and "duban init" in err


def test_an_unreachable_database_is_a_clear_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUBAN_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, _, err = run("tickets", "list")
    assert code == 1 and "数据库不可用" in err


def _event_count(number: str) -> int:
    code, out, _ = run("tickets", "events", number, "--json")
    assert code == 0
    return len(json.loads(out))


def test_an_empty_by_is_refused_not_taken_as_the_operator() -> None:
    # `--by "$WHO"` with WHO unset acted as the console operator, who has admin rights.
    number = _ledger_with_assigned_ticket()
    before = _event_count(number)
    for step in (("ack", number), ("return", number, "--reason", "不属于本单位")):
        code, _, err = run("ticket", *step, "--by", "")
        assert code == 2 and "--by" in err
    assert _event_count(number) == before
    assert run("ticket", "ack", number, "--by", " zjj-1 ")[0] == 0


def test_list_filters_refuse_bad_values_and_take_labels() -> None:
    number = _ledger_with_assigned_ticket()
    for state in ("assigned", "ASSIGNED", "已交办"):
        code, out, err = run("tickets", "list", "--state", state, "--json")
        assert code == 0, err
        assert [r["number"] for r in json.loads(out)] == [number]
    assert run("tickets", "list", "--state", "")[0] == 2
    code, _, err = run("tickets", "list", "--limit", "-1")  # all rows on SQLite, error on PG
    assert code == 2 and "--limit" in err
    code, _, err = run("tickets", "list", "--unit", "住健局")
    assert code == 2 and "住建局" in err


def test_show_and_events_print_office_time() -> None:
    number = _ledger_with_assigned_ticket()  # received 2026-11-16 09:00 Shanghai
    code, out, _ = run("tickets", "show", number)
    assert code == 0 and "收件: 2026-11-16 09:00" in out and "+00:00" not in out
    code, out, _ = run("tickets", "events", number)
    assert code == 0 and out.startswith("2026-11-16 09:00")


def test_db_upgrade_to_an_unknown_revision_exits_2() -> None:
    _init()
    code, _, err = run("db", "upgrade", "--revision", "nonsense")
    assert code == 2 and "nonsense" in err and "Traceback" not in err


def test_intake_by_must_be_a_person_who_may_file() -> None:
    _init()
    text = ("--text", "解放路有井盖缺失，晚上很危险")
    assert run("intake", *text, "--by", "nobody")[0] == 2
    assert run("intake", *text, "--by", "")[0] == 2
    code, _, err = run("intake", *text, "--by", "zjj-1")
    assert code == 1 and "录入员" in err
    assert json.loads(run("tickets", "list", "--json")[1]) == []


def test_init_reports_what_left_the_file(tmp_path: Path) -> None:
    import yaml

    from duban.settings import REPO_ROOT

    _init()
    document = yaml.safe_load((REPO_ROOT / "data" / "units.yaml").read_text(encoding="utf-8"))
    document["people"] = [p for p in document["people"] if p["code"] != "zjj-1"]
    edited = tmp_path / "units.yaml"
    edited.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    code, out, err = run("init", "--units", str(edited), "--json")
    assert code == 0, err
    assert json.loads(out)["people_deactivated"] == 1
    people = {p["code"]: p for p in json.loads(run("people", "list", "--json")[1])}
    assert people["zjj-1"]["active"] is False


def test_duties_and_stale_versions_through_the_cli() -> None:
    number = _ledger_with_assigned_ticket()
    engine = make_engine(Settings().db_url)
    with session_scope(engine) as session:
        ducha = session.exec(select(Person).where(Person.code == "ducha1")).one()
        ducha.unit_id, ducha.roles = find_unit(session, "zjj").id, ["supervisor", "member"]
        session.add(ducha)
    engine.dispose()
    run("ticket", "extend", number, "--days", "3", "--reason", "需协调供电公司", "--by", "zjj-1")
    code, _, err = run("ticket", "approve-extension", number, "--by", "ducha1")
    assert code == 1 and "职责分离" in err
    code, out, _ = run("tickets", "show", number, "--json")
    seen = json.loads(out)["version"]
    assert run("ticket", "comment", number, "先记一笔", "--if-version", str(seen))[0] == 0
    code, _, err = run("ticket", "comment", number, "再记一笔", "--if-version", str(seen))
    assert code == 1 and "刷新" in err
    assert run("ticket", "approve-extension", number, "--by", "admin")[0] == 0


def test_tickets_show_gives_staff_the_complainant_and_logs_it() -> None:
    number = _ledger_with_assigned_ticket()
    engine = make_engine(Settings().db_url)
    with session_scope(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.number == number)).one()
        session.add(Complainant(message_id=ticket.message_id, name="张三", contact="13812345678"))
    engine.dispose()
    code, out, _ = run("tickets", "show", number.lower().replace("-000", "-"), "--json")
    assert code == 0 and json.loads(out)["complainant"]["contact"] == "13812345678"
    code, out, _ = run("tickets", "show", number, "--by", "zjj-1", "--json")
    assert code == 0 and "complainant" not in json.loads(out)
    assert run("tickets", "show", number, "--by", "cgj-1")[0] == 2  # as if it did not exist
    actions = [e["action"] for e in json.loads(run("tickets", "events", number, "--json")[1])]
    assert actions.count("view_complainant") == 1


def test_tickets_list_by_keyword_source_and_dates_with_titles_aligned() -> None:
    number = _ledger_with_assigned_ticket()
    code, out, _ = run("tickets", "list", "--keyword", "路灯", "--source", "网民留言", "--json")
    assert code == 0 and [r["number"] for r in json.loads(out)] == [number]
    assert json.loads(run("tickets", "list", "--keyword", "电梯", "--json")[1]) == []
    assert run("tickets", "list", "--source", "传真")[0] == 2
    assert run("tickets", "list", "--received-from", "2026-02-30")[0] == 2
    code, out, _ = run("tickets", "list", "--received-from", "2026-11-16", "--escalated")
    assert code == 0 and "没有符合条件" in out
    lines = run("tickets", "list")[1].splitlines()
    assert lines and "住建局" in lines[0] and "东湖路路灯不亮" in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("tickets", "list", "--frob"), "没有选项 --frob"),
        (("ticket", "verify", "DB-2026-1", "--score", "x"), "'--score' 的取值无效：须为整数"),
        (("ticket", "ack"), "缺少参数"),
        (("tickets", "list", "--limit"), "选项 --limit 需要取值"),
        (("calendar", "due", "--from", "2026-01-01", "--days", "3", "x"), "多余的参数（x）"),
        (("ticket", "ack", "DB-2026-1", "--if-version", "0"), "须不小于 1"),
    ],
)
def test_usage_errors_are_told_in_chinese(args: tuple[str, ...], expected: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert expected in err and "错误：" in err
    assert "Usage:" not in err and "Error:" not in err and "Try '" not in err
