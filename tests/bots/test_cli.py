"""``duban bot``, ``duban bind``, ``duban people invite|link``, ``duban outbox``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from duban.cli import app

runner = CliRunner()


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def ledger() -> None:
    assert run("init")[0] == 0


def test_bind_list_and_remove() -> None:
    code, out, _ = run(
        "bind", "--platform", "telegram", "--chat", "-1001", "--unit", "住建局", "--json"
    )
    assert code == 0
    row = json.loads(out)
    assert (row["role"], row["unit"], row["replaced"]) == ("unit", "zjj", False)
    assert (
        run("bind", "--platform", "telegram", "--chat", "-1002", "--intake")[1]
        == "已绑定：telegram:-1002 → 录入台\n"
    )
    assert (
        run("bind", "--platform", "telegram", "--chat", "-1002", "--supervisors")[1]
        == "已改绑：telegram:-1002 → 督查群\n"
    )
    code, out, _ = run("bind", "--list", "--json")
    assert [(r["chat_id"], r["role"]) for r in json.loads(out)] == [
        ("-1002", "supervisors"),
        ("-1001", "unit"),
    ]
    assert run("bind", "--platform", "telegram", "--chat", "-1001", "--remove")[0] == 0
    assert len(json.loads(run("bind", "--list", "--json")[1])) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("bind", "--platform", "telegram", "--chat", "-1"),
        ("bind", "--platform", "telegram", "--chat", "-1", "--intake", "--supervisors"),
        ("bind", "--platform", "telegram", "--chat", "-1", "--unit", "不存在的局"),
        ("bind", "--chat", "-1", "--intake"),
        ("people", "invite", "nobody"),
        ("people", "invite", "zjj-1", "--hours", "0"),
        ("bot",),
        ("bot", "--telegram"),
    ],
)
def test_bad_input_exits_2(args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and err.startswith("错误")


def test_invite_and_link() -> None:
    code, out, _ = run("people", "invite", "zjj-1")
    assert code == 0 and "刘洋（zjj-1）的绑定码：" in out and "/绑定 " in out
    code, out, _ = run("people", "invite", "zjj-1", "--hours", "2", "--json")
    made = json.loads(out)
    assert made["person"] == "zjj-1" and len(made["code"]) == 8
    code, out, _ = run(
        "people",
        "link",
        "zjj-1",
        "--platform",
        "matrix",
        "--account",
        "@liuyang:example.org",
        "--json",
    )
    assert code == 0 and json.loads(out)["account_id"] == "@liuyang:example.org"
    code, _, err = run(
        "people", "link", "cgj-1", "--platform", "matrix", "--account", "@liuyang:example.org"
    )
    assert code == 2 and "已绑定到「刘洋」" in err
    assert (
        run("people", "unlink", "--platform", "matrix", "--account", "@liuyang:example.org")[1]
        == "已解除：matrix:@liuyang:example.org\n"
    )
    assert (
        run("people", "unlink", "--platform", "matrix", "--account", "@liuyang:example.org")[0] == 2
    )
    assert (
        run("people", "link", "cgj-1", "--platform", "matrix", "--account", "@liuyang:example.org")[
            0
        ]
        == 0
    )


def test_console_bot_finishes_when_input_ends_and_outbox_lists() -> None:
    script = (
        "@luru1 批示件：请住建局牵头，限5个工作日内办结东湖新城小区积水问题\n"
        "@zjj-1 ^/签收\n"
        "@zjj-1 /回复 {ticket} 已组织排水，积水已清除\n"
        "@ducha1 /核查 {ticket} 通过 5\n"
    )
    code, out, err = run("bot", "--console", input=script)
    assert code == 0, err
    assert "[住建局] 督办助手：【交办】DB-" in out
    assert "[住建局] 督办助手：DB-" in out and "已签收" in out
    assert "[督查群] 督办助手：【核查通过】" in out
    code, out, _ = run("outbox", "list", "--json")
    rows = json.loads(out)
    assert {r["kind"] for r in rows} >= {"assigned", "replied", "verified"}
    assert all(r["status"] == "sent" for r in rows)
    assert all(d["platform"] == "console" for r in rows for d in r["deliveries"])
    assert json.loads(run("outbox", "list", "--pending", "--json")[1]) == []
    assert run("outbox", "retry", "--json")[1] == '{"requeued": 0}\n'


def test_bot_needs_an_upgraded_ledger(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DUBAN_HOME", str(tmp_path / "empty"))
    code, _, err = run("bot", "--console", input="")
    assert code == 1 and "duban init" in err
