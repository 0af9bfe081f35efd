"""``duban demo`` tells the whole week non-interactively (standard input closed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from openpyxl import load_workbook


def test_the_demo_runs_to_the_weekly_report(tmp_path: Path) -> None:
    from duban import demo

    home = tmp_path / "demo"
    env = {**os.environ, "DUBAN_HOME": str(tmp_path / "unused")}
    code = (
        f"from pathlib import Path; from duban.demo import run_demo; run_demo(Path({str(home)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for sign in (
        "训练完成",
        "自动交办",
        "待人工分办",
        "/分办",
        "/签收",
        "/回复",
        "/延期",
        "【延期已批准】",
        "【延期未批准】",
        "/退回",
        "不通过",
        "【续办】",
        "/归档",
        "【超期催办】",
        "【通报】",
        "【督查周报】2026年第47周",
    ):
        assert sign in out, sign
    folder = home / "reports" / "weekly-2026-W47"
    for name in ("weekly-2026-W47.md", "weekly-2026-W47.xlsx", "weekly-2026-W47-rates.png"):
        assert (folder / name).stat().st_size > 0, name
    load_workbook(folder / "weekly-2026-W47.xlsx")  # a real spreadsheet
    assert demo.WEEK[0].isoformat() == "2026-11-16"
