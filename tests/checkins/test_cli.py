"""``duban checkins``: status (--json), digest (draft, --order, --publish once; DOCX and
HTML written), check (抽查), exit codes 0 / 1 / 2; and the scheduler tick's part."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from desk import checkins as D
from duban.cli import app
from duban.cli.jobs import checkins_tick
from duban.runtime import Runtime
from duban.settings import REPO_ROOT, Settings
from tests.checkins.conftest import GROUP_CHAT
from tests.helpers import Clock, local

runner = CliRunner()
GROUPS = f"""
  groups:
    jianshe:
      label: 城建口
      units: [zjj, 城管局]
      chats: ["telegram:{GROUP_CHAT}"]
"""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    data = tmp_path / "data"
    shutil.copytree(REPO_ROOT / "data", data)
    policy = (data / "policy.yaml").read_text(encoding="utf-8")
    policy = policy.replace("  digest_groups: []", "  digest_groups: [jianshe]")
    policy = policy.replace("  groups: {}", GROUPS.strip("\n"))
    (data / "policy.yaml").write_text(policy, encoding="utf-8")
    monkeypatch.setenv("DUBAN_DATA_DIR", str(data))
    assert run("init")[0] == 0
    runtime = Runtime(settings=Settings())
    runtime.clock = Clock(local(2026, 11, 16, 8, 30))
    return runtime


def post(rt: Runtime, code: str, message_id: str, text: str) -> int:
    from tests.checkins.conftest import actor

    return D.post(
        rt.routing,
        actor=actor(rt.routing, code),
        platform="telegram",
        chat_id=GROUP_CHAT,
        message_id=message_id,
        text=text,
    ).post_id


def test_status_digest_and_check_from_the_command_line(rt: Runtime) -> None:
    first = post(rt, "zjj-1", "1", "东湖路工地督导")
    second = post(rt, "cgj-1", "2", "沿河西路巡查")
    code, out, err = run("checkins", "status", "--date", "2026-11-16", "--json")
    assert code == 0, err
    report = json.loads(out)
    states = {(r["person"], r["window"]): r["state"] for r in report["rows"]}
    assert states[("zjj-1", "早晒")] == "posted" and states[("zjj-ld", "早晒")] == "missed"
    code, out, _ = run("checkins", "status", "--date", "2026-11-16", "--unit", "城管局", "--json")
    assert {r["person"] for r in json.loads(out)["rows"]} == {"cgj-1", "cgj-2"}
    code, out, _ = run("checkins", "status", "--date", "2026-11-15")
    assert code == 0 and "不是工作日" in out
    assert run("checkins", "status", "--date", "2026-13-01")[0] == 2

    assert run("checkins", "check", str(second), "--by", "zjj-1")[0] == 1  # not a supervisor
    code, out, _ = run(
        "checkins", "check", str(second), "--result", "属实", "--by", "ducha1", "--json"
    )
    assert code == 0 and json.loads(out)["label"] == "属实"
    assert run("checkins", "check", str(first), "--result", "maybe")[0] == 2

    code, out, err = run(
        "checkins", "digest", "--date", "2026-11-16", "--order", f"{second},{first}", "--json"
    )
    assert code == 0, err
    draft = json.loads(out)
    assert draft["state"] == "draft" and draft["issue"] is None
    assert Path(draft["docx"]).exists() and Path(draft["html"]).exists()
    code, out, err = run("checkins", "digest", "--date", "2026-11-16", "--publish", "--json")
    assert code == 0, err
    assert json.loads(out)["issue"] == 1
    code, _, err = run("checkins", "digest", "--date", "2026-11-16", "--publish")
    assert code == 2 and "已发布" in err  # exactly once


def test_the_scheduler_tick_prompts_and_reminds_once(rt: Runtime) -> None:
    first = checkins_tick(rt)
    assert first["prompts"] == 1
    assert checkins_tick(rt)["prompts"] == 0
    rt.clock = Clock(local(2026, 11, 16, 9, 10))
    assert checkins_tick(rt)["reminders"] == 4  # zjj-1, zjj-ld, cgj-1, cgj-2
    assert checkins_tick(rt)["reminders"] == 0
    rt.clock = Clock(local(2026, 11, 16, 19, 0))
    assert checkins_tick(rt)["digest"] == "2026-11-16"
