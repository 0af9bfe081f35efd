"""Every chat command, collected from the declarations in ``bots.chatcommands``.

The dispatcher (``bots.handlers``), the parser's table of names (``bots.commands``), the
help text and the command reference in the manual all read this one list.
"""

from __future__ import annotations

from dataclasses import replace

from bots.chat import ChatCommand
from bots.chatcommands import checkins, common, desk, reading, review, supervision, tasks, unit

# help order: the unit's steps, the supervisors', the desk's, then everyone's
_MODULES = (unit, supervision, tasks, checkins, desk, reading, review, common)


def all_commands() -> tuple[ChatCommand, ...]:
    commands = tuple(_task_side(cmd) for module in _MODULES for cmd in module.COMMANDS)
    order = {"unit": 0, "supervisor": 1, "intake": 2, "common": 3}
    return tuple(sorted(commands, key=lambda c: order[c.section.value]))


def _task_side(cmd: ChatCommand) -> ChatCommand:
    """签收, 办结, 延期, 核查 take a task number (RW-…) too: their task callbacks joined."""
    callback = tasks.TASK_CALLBACKS.get(cmd.name)
    return replace(cmd, task_callback=callback) if callback is not None else cmd


def by_name() -> dict[str, ChatCommand]:
    """Canonical name -> declaration."""
    return {cmd.name: cmd for cmd in all_commands()}


def name_table() -> dict[str, str]:
    """Every name and alias (ASCII ones lower-cased) -> the canonical name."""
    table = {cmd.name: cmd.name for cmd in all_commands()}
    for cmd in all_commands():
        for alias in cmd.aliases:
            table.setdefault(alias.lower(), cmd.name)
    return table
