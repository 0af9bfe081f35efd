"""The docs keep up with the code (after datasette's ``tests/test_docs.py``).

- The generated references (CLI, settings, chat commands) are what ``make docs`` would
  write today: ``cog --check``.
- Every CLI command, chat command and setting is explained in the operator manual
  (``docs/manual/``) in words a person wrote — the generated tables do not count.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cogapp import Cog

from docs import generate

ROOT = Path(__file__).resolve().parent.parent
MANUAL = ROOT / "docs" / "manual"
COGGED = [
    ROOT / "docs" / "cli-reference.md",
    ROOT / "docs" / "settings-reference.md",
    *sorted(MANUAL.glob("*.md")),
]
_GENERATED = re.compile(r"\[\[\[cog.*?\[\[\[end\]\]\]", re.DOTALL)


def _manual_by_hand() -> str:
    """The operator manual without the blocks cog writes."""
    return "\n".join(_GENERATED.sub("", path.read_text("utf-8")) for path in MANUAL.glob("*.md"))


MANUAL_TEXT = _manual_by_hand()


def test_generated_references_are_up_to_date(capsys):
    status = Cog().main(["cog", "--check", "--verbosity=0", "-I", str(ROOT), *map(str, COGGED)])
    assert status == 0, (
        "docs out of date: run `make docs` and commit the result\n" + capsys.readouterr().out
    )


def test_the_check_catches_a_stale_reference(tmp_path):
    stale = tmp_path / "stale.md"
    stale.write_text(
        "<!-- [[[cog\nfrom docs import generate\ncog.out(generate.settings_reference())\n"
        "]]] -->\n| old | table |\n<!-- [[[end]]] -->\n",
        encoding="utf-8",
    )
    assert Cog().main(["cog", "--check", "--verbosity=0", "-I", str(ROOT), str(stale)]) != 0


@pytest.mark.parametrize("path", generate.cli_commands(), ids=lambda p: " ".join(p) or "duban")
def test_cli_command_is_in_the_manual(path):
    command = " ".join(("duban", *path))
    assert command in MANUAL_TEXT, f"`{command}` is not explained in docs/manual/"


@pytest.mark.parametrize("variable", [row[0] for row in generate.settings_rows()])
def test_setting_is_in_the_manual(variable):
    assert variable in MANUAL_TEXT, f"`{variable}` is not explained in docs/manual/"


@pytest.mark.parametrize("name", [row["name"] for row in generate.chat_command_rows()])
def test_chat_command_is_in_the_manual(name):
    assert re.search(rf"/{re.escape(name)}(?![\u4e00-\u9fff])", MANUAL_TEXT), (
        f"chat command /{name} is not explained in docs/manual/"
    )


def test_manual_without_generated_blocks_still_reads():
    # the stripping above must not swallow the manual: chapters stay, tables go
    assert "安装" in MANUAL_TEXT and "统计口径" in MANUAL_TEXT
    assert "| `/签收 编号` |" not in MANUAL_TEXT
