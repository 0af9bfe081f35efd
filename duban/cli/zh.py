"""Click's and typer's own messages in Simplified Chinese (usage errors, help headings).

Two routes, because typer carries its own copy of click whose messages are plain English:
``usage_error()`` rewrites a usage error (unknown option, missing argument, bad value)
before it is shown — ``DubanGroup.main`` calls it — and ``install()``, called once by the
``duban`` entry point (never at import), gives the modules that mark their messages for
``gettext`` (help headings) a translator backed by the table below. What neither knows
stays as it was written.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

# click's English templates (placeholders kept) -> Chinese templates (same placeholders)
MESSAGES: dict[str, str] = {
    "Error: {message}": "错误：{message}",
    "Error": "错误",
    "Try '{command} {option}' for help.": "输入 '{command} {option}' 查看帮助。",
    "Invalid value: {message}": "取值无效：{message}",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的取值无效：{message}",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing command.": "缺少子命令。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不接受取值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "Invalid start character for option ({option})": "选项的首字符无效（{option}）",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的数值（{number_type}）。",
    "{value} is not in the range {range}.": "{value} 不在允许的范围 {range} 内。",
    "{value!r} is not a valid UUID.": "{value!r} 不是有效的 UUID。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    "Value must be an iterable.": "取值须为多个值。",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件，不是文件夹。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹，不是文件。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 不可写。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 不可执行。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "file": "文件",
    "directory": "文件夹",
    "path": "路径",
    "Usage:": "用法：",
    "Options": "选项",
    "Arguments": "参数",
    "Positional arguments": "位置参数",
    "Commands": "命令",
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本并退出。",
    "Aborted!": "已中止！",
    "Aborted.": "已中止。",
    "required": "必填",
    "[required]": "[必填]",
    "default: {default}": "默认：{default}",
    "[default: {}]": "[默认：{}]",
    "env var: {var}": "环境变量：{var}",
    "[env var: {}]": "[环境变量：{}]",
    "deprecated": "已弃用",
    "(deprecated) ": "（已弃用）",
    "Do you want to continue?": "是否继续？",
    "Repeat for confirmation": "请再输入一次以确认",
    "Error: The two entered values do not match.": "错误：两次输入不一致。",
    "Error: invalid input": "错误：输入无效",
    "unknown error": "未知错误",
}
# (singular, plural) -> (Chinese for one, Chinese for several): placeholders differ by form
PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "多余的参数（{args}）", "多余的参数（{args}）",
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "需要 {nargs} 个值，但只给了 1 个。", "需要 {nargs} 个值，但给了 {len} 个。",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "您是不是要输入 {possibility}？", "（您是不是要输入以下之一：{possibilities}？）",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "选项 {name!r} 需要一个取值。", "选项 {name!r} 需要 {nargs} 个取值。",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "{value!r} 不是 {choice}。", "{value!r} 不是可选值之一：{choices}。",
    ),
    (
        "{value!r} does not match the format {format}.",
        "{value!r} does not match the formats {formats}.",
    ): ("{value!r} 不符合格式 {format}。", "{value!r} 不符合以下任一格式：{formats}。"),
    (
        "{len_type} values are required, but {len_value} was given.",
        "{len_type} values are required, but {len_value} were given.",
    ): ("需要 {len_type} 个值，但只给了 1 个。", "需要 {len_type} 个值，但给了 {len_value} 个。"),
}  # fmt: skip

_MODULES = (
    "click.core",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.types",
    "click.termui",
    "click.decorators",
    "click.utils",
    "typer.core",
)


def gettext(message: str) -> str:
    return MESSAGES.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    forms = PLURALS.get((singular, plural))
    if forms is None:
        return singular if n == 1 else plural
    return forms[0] if n == 1 else forms[1]


def install() -> None:
    """Give click's and typer's modules the Chinese translator (idempotent)."""
    for name in _MODULES:
        module = importlib.import_module(name)
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]


def _value(message: str) -> str:
    """The reason a value was refused, in Chinese where it is one of the usual ones."""
    for pattern, chinese in _VALUE_REASONS:
        match = pattern.match(message.strip())
        if match:
            return chinese(match)
    return message


_VALUE_REASONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"^Input should be a valid integer"), lambda m: "须为整数"),
    (re.compile(r"^Input should be a valid (number|float)"), lambda m: "须为数字"),
    (re.compile(r"^Input should be a valid boolean"), lambda m: "须为是或否（true/false）"),
    (re.compile(r"^Input should be a valid date"), lambda m: "须为日期 YYYY-MM-DD"),
    (
        re.compile(r"^Input should be greater than or equal to (\S+)"),
        lambda m: f"须不小于 {m[1]}",
    ),
    (re.compile(r"^Input should be less than or equal to (\S+)"), lambda m: f"须不大于 {m[1]}"),
    (re.compile(r"^Input should be greater than (\S+)"), lambda m: f"须大于 {m[1]}"),
    (re.compile(r"^(.+) is not in the range (.+?)\.?$"), lambda m: f"{m[1]} 不在范围 {m[2]} 内"),
    (re.compile(r"^'?(.+?)'? is not a valid (integer|float)"), lambda m: f"「{m[1]}」不是数值"),
    (
        re.compile(r"^'?(.+?)'? is not one of (.+?)\.?$"),
        lambda m: f"「{m[1]}」不是可选值之一：{m[2]}",
    ),
    (re.compile(r"^(?:File|Path) '(.+)' does not exist"), lambda m: f"文件「{m[1]}」不存在"),
]

_USAGE: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"^No such option: (\S+)(?: \(Possible options: (.+)\))?"),
        lambda m: f"没有选项 {m[1]}" + (f"（可用的选项：{m[2]}）" if m[2] else ""),
    ),
    (
        re.compile(r"^No such option: (\S+) Did you mean (\S+)\?"),
        lambda m: f"没有选项 {m[1]}，您是不是要输入 {m[2]}？",
    ),
    (re.compile(r"^No such command '(.+)'"), lambda m: f"没有命令「{m[1]}」"),
    (
        re.compile(r"^Missing (argument|option|parameter) (.+?)\.(?: (.*))?$"),
        lambda m: f"缺少{'选项' if m[1] == 'option' else '参数'} {m[2]}",
    ),
    (re.compile(r"^Missing command"), lambda m: "缺少子命令"),
    (
        re.compile(r"^Invalid value for (.+?): (.*)$", re.S),
        lambda m: f"{m[1]} 的取值无效：{_value(m[2])}",
    ),
    (re.compile(r"^Invalid value: (.*)$", re.S), lambda m: f"取值无效：{_value(m[1])}"),
    (
        re.compile(r"^Got unexpected extra argument(?:\(s\)|s)? \((.*)\)"),
        lambda m: f"多余的参数（{m[1]}）",
    ),
    (
        re.compile(r"^Option '(.+)' requires (?:an argument|(\d+) arguments)"),
        lambda m: f"选项 {m[1]} 需要取值",
    ),
    (re.compile(r"^Option '(.+)' does not take a value"), lambda m: f"选项 {m[1]} 不接受取值"),
]


def usage_message(message: str) -> str:
    """One usage error's message in Chinese (as written when it is not one we know)."""
    for pattern, chinese in _USAGE:
        match = pattern.match(message.strip())
        if match:
            return chinese(match)
    return message


def usage_error(usage: str | None, command_path: str | None, message: str) -> str:
    """The whole text a usage error shows: usage line, where to get help, the error."""
    lines = []
    if usage:
        lines.append("用法：" + usage.strip().removeprefix("Usage:").strip())
    if command_path:
        lines.append(f"输入 '{command_path} --help' 查看帮助。")
    lines.append("")
    lines.append("错误：" + usage_message(message))
    return "\n".join(lines if usage or command_path else lines[-1:])
