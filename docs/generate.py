"""Generated parts of the docs, written into them by cog (`make docs`; checked by tests).

Each function returns Markdown; a cog block calls it, e.g. in ``docs/cli-reference.md``::

    <!-- [[[cog
    from docs import generate
    cog.out(generate.cli_reference())
    ]]] -->
    <!-- [[[end]]] -->

Run ``make docs`` after changing a command, a chat command or a setting, and commit the
rewritten files with the change. ``tests/test_docs.py`` fails while they are out of date.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
HELP_WIDTH = (
    100  # columns click wraps --help at, fixed so the output does not depend on the terminal
)


def cli_commands() -> list[tuple[str, ...]]:
    """Every command path of the ``duban`` CLI, depth first in the CLI's own order.

    ``()`` is ``duban`` itself, ``("ticket", "assign")`` is ``duban ticket assign``. Hidden
    commands are left out.
    """
    import typer

    from duban.cli import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="duban")
    return [path for path, _ in _walk(root, (), ctx)]


def _walk(command: Any, path: tuple[str, ...], ctx: Any) -> Iterator[tuple[tuple[str, ...], Any]]:
    if getattr(command, "hidden", False):
        return
    yield path, command
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            yield from _walk(sub, (*path, name), sub.context_class(sub, parent=ctx, info_name=name))


def cli_help(path: tuple[str, ...]) -> str:
    """``duban <path> --help`` as the user sees it."""
    from typer.testing import CliRunner

    from duban.cli import app

    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="duban", terminal_width=HELP_WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"duban {' '.join(path)} --help failed: {result.output}")
    return result.output.rstrip() + "\n"


def cli_reference() -> str:
    """A section per command: its ``--help`` in a text block."""
    parts = []
    for path in cli_commands():
        title = " ".join(("duban", *path))
        level = "#" * min(2 + len(path), 4)
        parts.append(f"{level} `{title}`\n\n```text\n{cli_help(path)}```\n")
    return "\n".join(parts)


def settings_rows() -> list[tuple[str, str, str]]:
    """(environment variable, default, description) for every field of ``Settings``."""
    from duban.settings import Settings

    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = []
    for name, field in Settings.model_fields.items():
        default = "" if field.default is None else _show_default(field.default)
        rows.append((f"{prefix}{name}".upper(), default, field.description or ""))
    return rows


def _show_default(value: object) -> str:
    if isinstance(value, Path):
        try:
            return f"`<checkout>/{value.relative_to(REPO_ROOT)}`"
        except ValueError:
            return f"`{value}`"
    return f"`{value}`"


def settings_reference() -> str:
    """A table of every setting: variable, default, description."""
    lines = ["| variable | default | description |", "|---|---|---|"]
    for variable, default, description in settings_rows():
        lines.append(
            f"| `{variable}` | {default or '—'} | {_cell(description) or '(no description)'} |"
        )
    return "\n".join(lines) + "\n"


def chat_command_rows() -> list[dict[str, Any]]:
    """Every chat command as declared in ``bots.registry``, in help order."""
    from bots.registry import all_commands

    return [
        {
            "name": cmd.name,
            "usage": getattr(cmd, "usage", f"/{cmd.name}"),
            "aliases": tuple(cmd.aliases),
            "roles": tuple(cmd.roles),
            "needs_ticket": bool(cmd.needs_ticket),
            "summary": cmd.summary,
        }
        for cmd in all_commands()
    ]


def chat_commands() -> str:
    """The chat command table of the operator manual (Simplified Chinese)."""
    lines = [
        "| 命令 | 别名 | 适用角色 | 督办件编号 | 作用 |",
        "|---|---|---|---|---|",
    ]
    for row in chat_command_rows():
        aliases = "、".join(f"`/{alias}`" for alias in row["aliases"]) or "—"
        ticket = "须写明（或回复卡片）" if row["needs_ticket"] else "—"
        lines.append(
            f"| `{_cell(row['usage'])}` | {aliases} | {'、'.join(row['roles'])} "
            f"| {ticket} | {_cell(row['summary'])} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")
