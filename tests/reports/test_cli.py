"""``duban report`` and ``duban replay``: output, --json, files, exit codes (0 / 1 / 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from duban.cli import app
from duban.settings import Settings
from ledger.db import make_engine, session_scope
from ledger.models import Ticket

runner = CliRunner()
AS_OF = "2026-11-23T09:00"


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_weekly_json_defaults_to_the_last_complete_week(ledger) -> None:
    code, out, err = run("report", "weekly", "--as-of", AS_OF, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["period"]["key"] == "2026-W47"
    assert (data["total"]["due"], data["total"]["on_time_rate"]) == (4, 0.75)
    assert len(data["overdue"]) == 3


def test_weekly_markdown_to_stdout(ledger) -> None:
    code, out, _ = run("report", "weekly", "--week", "2026-W47", "--as-of", AS_OF)
    assert code == 0
    assert out.startswith("# 督查周报 2026年第47周") and "按期率 75.0%" in out


@pytest.mark.parametrize("fmt", ["md", "html", "xlsx", "json"])
def test_weekly_to_a_file_writes_the_charts_next_to_it(ledger, tmp_path: Path, fmt) -> None:
    out = tmp_path / f"zhoubao.{fmt}"
    code, printed, err = run(
        "report", "weekly", "--week", "2026-W47", "--as-of", AS_OF, "--out", str(out), "--json"
    )
    assert code == 0, err
    data = json.loads(printed)
    assert data["files"] == {fmt: str(out)} and out.stat().st_size > 0
    assert data["charts"] == [
        str(tmp_path / "zhoubao-rates.png"),
        str(tmp_path / "zhoubao-trend.png"),
    ]
    code, printed, _ = run(
        "report", "weekly", "--week", "2026-W47", "--as-of", AS_OF, "--out", str(out), "--force"
    )
    assert printed.split() == [str(out), *data["charts"]]


def test_monthly(ledger, tmp_path: Path) -> None:
    code, out, err = run(
        "report", "monthly", "--month", "2026-11", "--as-of", "2026-12-01T09:00", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["period"]["key"] == "2026-11" and data["kind"] == "monthly"
    assert data["ranking"]["entries"][0]["unit"] == "zjj"
    code, out, _ = run(
        "report", "monthly", "--as-of", "2026-12-01T09:00", "-o", str(tmp_path / "m.xlsx")
    )
    assert code == 0 and (tmp_path / "m-scores.png").exists()


def test_export_csv(ledger, tmp_path: Path) -> None:
    out = tmp_path / "tickets.csv"
    code, printed, err = run("report", "export", "--out", str(out), "--english-headers", "--json")
    assert code == 0, err
    assert json.loads(printed) == {"tickets": 10, "path": str(out)}
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(rows) == 10 and all(row["received_at"] for row in rows)


@pytest.mark.parametrize(
    "args",
    [
        ("report", "weekly", "--week", "2026-47"),
        ("report", "weekly", "--week", "2025-W53"),
        ("report", "weekly", "--format", "pdf"),
        ("report", "weekly", "--as-of", "yesterday"),
        ("report", "monthly", "--month", "2026-13"),
        ("report", "monthly", "--month", "November"),
        ("report", "export"),
        ("replay", "/no/such/replies.csv"),
    ],
)
def test_bad_input_exits_2(ledger, args) -> None:
    code, _, err = run(*args)
    assert code == 2, err
    assert err.strip()


def test_bad_week_message_names_the_option(ledger) -> None:
    code, _, err = run("report", "weekly", "--week", "2026-47")
    assert code == 2 and "--week" in err and "2026-W47" in err


SYNTHETIC = [  # self-written rows in the file's shape (two time formats, newlines, commas)
    (
        "9001",
        "U1",
        "东湖路路灯不亮",
        "2026/11/2 9:30:00",
        "东湖路\n路灯，不亮",
        "已修复" * 60,
        "2026/11/4 10:00:00",
    ),
    (
        "9002",
        "U2",
        "小区垃圾未清运",
        "2026-11-03 08:00:00",
        "垃圾, 三天没人收",
        "已清运",
        "2026/11/20 16:00:00",
    ),
    ("9003", "U3", "噪音扰民", "2026/11/5 20:00:00", "夜间施工", "已查处", "2026/11/5 19:00:00"),
]


def test_replay_a_small_file(ledger, tmp_path: Path) -> None:
    path = tmp_path / "replies.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "答复意见", "答复时间"]
        )
        writer.writerows(SYNTHETIC)
    code, out, err = run("replay", str(path), "--json", "--out", str(tmp_path / "out"))
    assert code == 0, err
    data = json.loads(out)
    assert data["replay"]["added"] == 2 and data["replay"]["skipped"] == 0
    assert data["replay"]["rejected"][0]["reason"].startswith("留言 9003")  # replied first
    assert data["weekly"]["period"] == "2026-W45" and data["monthly"]["period"] == "2026-11"
    assert Path(data["files"]["weekly"]["charts"][0]).exists()
    code, _, err = run("replay", str(path), "--json", "--out", str(tmp_path / "out"))
    assert code == 2 and "--force" in err  # the reports of the first run are kept
    code, out, _ = run("replay", str(path), "--json", "--out", str(tmp_path / "out"), "--force")
    assert json.loads(out)["replay"]["skipped"] == 2  # a second run adds nothing


# -- outputs never overwrite by accident ----------------------------------------------------


def _ledger_path() -> Path:
    return Path(Settings().home) / "duban.db"


def _ledger_intact() -> None:
    path = _ledger_path()
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    engine = make_engine(Settings().db_url)
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Ticket)).one() == 10
    engine.dispose()


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_export_never_writes_over_the_ledger(
    ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force
) -> None:
    db = _ledger_path()
    link = tmp_path / "tickets.csv"
    link.symlink_to(db)
    for target in (str(db), str(db) + "-wal", str(link)):
        code, _, err = run("report", "export", "--out", target, *force)
        assert code == 2, err
        assert target in err and "台账数据库文件" in err
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = f"../{db.parent.name}/./{db.name}"
    code, _, err = run("report", "export", "--out", relative, *force)
    assert code == 2 and "台账" in err
    _ledger_intact()
    assert link.is_symlink()


def test_reports_never_write_into_the_model_registry(ledger, tmp_path: Path) -> None:
    models = Path(Settings().models_path)
    models.mkdir(parents=True, exist_ok=True)
    for args in (
        ("report", "weekly", "--week", "2026-W47", "--as-of", AS_OF),
        ("report", "monthly", "--month", "2026-11", "--as-of", "2026-12-01T09:00"),
    ):
        code, _, err = run(*args, "--out", str(models / "current"), "--force")
        assert code == 2 and "模型库目录" in err, err
    code, _, err = run("report", "export", "--out", str(models / "t.csv"), "--force")
    assert code == 2 and "模型库目录" in err
    assert list(models.iterdir()) == []


def test_an_existing_file_needs_force(ledger, tmp_path: Path) -> None:
    out = tmp_path / "zhoubao.md"
    out.write_text("上周的周报，别覆盖", encoding="utf-8")
    args = ("report", "weekly", "--week", "2026-W47", "--as-of", AS_OF, "--out", str(out))
    code, _, err = run(*args)
    assert code == 2 and str(out) in err and "--force" in err
    assert out.read_text(encoding="utf-8") == "上周的周报，别覆盖"
    assert not (tmp_path / "zhoubao-rates.png").exists()  # nothing half-done
    code, _, err = run(*args, "--force")
    assert code == 0, err
    assert out.read_text(encoding="utf-8").startswith("# 督查周报")
    csv_out = tmp_path / "t.csv"
    csv_out.write_text("old", encoding="utf-8")
    code, _, err = run("report", "export", "--out", str(csv_out))
    assert code == 2 and "已存在" in err and csv_out.read_text(encoding="utf-8") == "old"
    code, _, err = run("report", "export", "--out", str(csv_out), "--force")
    assert code == 0 and csv_out.read_text(encoding="utf-8-sig").startswith("编号,状态,来源")


def test_export_is_chinese_by_default(ledger, tmp_path: Path) -> None:
    out = tmp_path / "督办件.csv"
    code, printed, err = run("report", "export", "--out", str(out))
    assert code == 0, err
    assert printed.strip() == f"已导出 10 件督办件 -> {out}"
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    assert len(rows) == 10
    assert all(row["收到时间"] and row["标题"] is not None for row in rows)
    assert {row["来源"] for row in rows} == {"网民留言", "群众来信"}


def test_annual_report_refuses_a_year_to_come() -> None:
    code, _, err = run("report", "annual", "--year", "2027", "--as-of", "2026-12-06")
    assert code == 2 and "--year" in err and "尚未到来" in err
