"""Odd command-line arguments: a clear Chinese error and exit 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from duban.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def ledger() -> None:
    code, _, err = run("init")
    assert code == 0, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        # OverflowError: date value out of range (a traceback)
        (("report", "weekly", "--as-of", "0001-01-01T00:00"), "--as-of"),
        # OverflowError in the SQL parameters (a traceback)
        (("report", "overdue", "--as-of", "0001-01-01T00:00"), "1900–2999"),
        (("tasks", "list", "--as-of", "0001-01-01"), "1900–2999"),
        # Python int too large to convert to SQLite INTEGER (a traceback)
        (("tickets", "list", "--limit", "99999999999999999999"), "--limit"),
        (("outbox", "list", "--limit", "99999999999999999999"), "--limit"),
        # walked 8,000 years of calendar for ten seconds, a warning line for each
        (("calendar", "due", "--from", "2026-09-30", "--days", "999999999"), "--days"),
    ],
)
def test_out_of_range_arguments_are_bad_input(
    ledger: None, args: tuple[str, ...], needle: str
) -> None:
    code, out, err = run(*args)
    assert (code, out) == (2, ""), err
    assert needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    "written", ["2026-09-30", "２０２６-０９-３０", "2026年9月30日", "2026/9/30", " 2026-09-30 "]
)
def test_a_date_as_offices_write_it(written: str) -> None:
    # full-width digits (a Chinese input method) and 2026年9月30日 were "not a date"
    code, out, err = run("calendar", "due", "--from", written, "--days", "7", "--json")
    assert code == 0, err
    assert json.loads(out)["due"] == "2026-10-15"


def test_an_as_of_in_chinese_is_read(ledger: None) -> None:
    a = run("report", "weekly", "--as-of", "2026年11月23日", "--json")
    b = run("report", "weekly", "--as-of", "2026-11-23", "--json")
    assert a[0] == b[0] == 0, a[2]
    assert json.loads(a[1])["period"] == json.loads(b[1])["period"]


def test_an_unexpected_error_is_one_chinese_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # a defect anywhere used to print a Python traceback as the whole answer
    from ledger import calendar

    def broken(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(calendar.WorkCalendar, "add_workdays", broken)
    code, out, err = run("calendar", "due", "--from", "2026-09-30", "--days", "7")
    assert (code, out) == (1, "")
    assert "程序内部错误" in err and "RuntimeError" in err


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        # UnicodeDecodeError from the place names read at intake (a traceback)
        ("units:\n  - {code: dcs, name: 青溪县督查室, short: 督查室}\n".encode("gbk"), "UTF-8"),
        # AttributeError: 'str' object has no attribute 'values'
        ("district:\n  places: 东湖路\nunits: []\n".encode(), "district.places"),
    ],
)
def test_intake_after_units_yaml_was_spoilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: bytes, needle: str
) -> None:
    _spoil_after_init(tmp_path, monkeypatch, "units.yaml", body, needle)


def test_intake_after_the_rules_were_saved_as_gbk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a UnicodeDecodeError from routing.rules (a traceback)
    body = "rules:\n  - name: 拖欠工资\n    keywords: [拖欠工资]\n    unit: dcs\n".encode("gbk")
    _spoil_after_init(tmp_path, monkeypatch, "routing_rules.yaml", body, "GBK")


def _spoil_after_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file: str, body: bytes, needle: str
) -> None:
    folder = tmp_path / "office"
    assert run("office", "new", str(folder))[0] == 0
    monkeypatch.setenv("DUBAN_DATA_DIR", str(folder))
    assert run("init")[0] == 0
    (folder / file).write_bytes(body)  # edited after duban init
    code, out, err = run("intake", "--text", "东湖路路灯不亮很久了，请尽快处理")
    assert (code, out) == (2, ""), err
    assert needle in err


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ((), "是目录"),  # the folder itself given: was an IsADirectoryError traceback
        (("--channel", ""), "--channel"),  # an empty channel was taken as is
        (("--channel", "x" * 65), "--channel"),  # too long for the column (PostgreSQL refused)
    ],
)
def test_intake_refuses_a_folder_and_a_bad_channel(
    ledger: None, tmp_path: Path, extra: tuple[str, ...], needle: str
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    export = folder / "a.csv"
    export.write_text("留言编号,留言详情\nA1,东湖路路灯不亮很久了请处理\n", encoding="utf-8")
    target = folder if not extra else export
    code, out, err = run("intake", str(target), *extra)
    assert (code, out) == (2, ""), err
    assert needle in err


def test_a_platform_in_capitals_is_the_platform(ledger: None) -> None:
    # `--platform Telegram` was stored as typed; messages come from "telegram": never matched
    code, out, err = run(
        "people", "link", "admin", "--platform", " Telegram ", "--account", "42", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["platform"] == "telegram" and "注意" not in err
    code, _, err = run("people", "link", "admin", "--platform", "icq", "--account", "43")
    assert code == 0 and "不是内置的聊天平台" in err


def test_a_token_label_too_long_for_the_ledger(ledger: None) -> None:
    # stored on SQLite, refused by PostgreSQL's varchar(128) mid-command
    code, out, err = run("people", "token", "admin", "--label", "标" * 200)
    assert (code, out) == (2, "") and "--label" in err


@pytest.mark.parametrize("option", [("--due", "9999-12-31"), ("--milestone", "验收@9999-12-31")])
def test_a_task_due_in_the_year_9999_is_a_typo(ledger: None, option: tuple[str, str]) -> None:
    # accepted: every `tasks list` then walked 8,000 years, a warning line for each
    code, out, err = run("tasks", "add", "--title", "东湖路改造", "--lead", "住建局", *option)
    assert (code, out) == (2, ""), err
    assert option[0] in err and "之前" in err


@pytest.mark.parametrize("url", ["notaurl", "postgresql+nope://duban:s3cret@db/duban"])
def test_a_database_url_that_is_none_is_bad_settings(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    # ArgumentError / NoSuchModuleError tracebacks from SQLAlchemy
    monkeypatch.setenv("DUBAN_DATABASE_URL", url)
    code, out, err = run("units", "list")
    assert (code, out) == (2, ""), err
    assert "DUBAN_DATABASE_URL" in err and "不是数据库地址" in err
    assert "s3cret" not in err  # the URL may hold a password: never echoed
