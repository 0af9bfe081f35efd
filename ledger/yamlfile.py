"""Reading an office's YAML files (``units.yaml``, ``policy.yaml``, ``calendar.yaml``).

Each is edited by hand, often on Windows: the errors here say in Chinese what is wrong and
where (line and column), for a file saved in another encoding, a tab in the indentation, a
key written twice, or a file far larger than any office needs. Anchors and aliases
(``&a`` / ``*a``) are refused: none of these files needs them, and a few lines of them
expand into billions of entries (a "YAML bomb").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ledger.errors import LedgerError

MAX_FILE_BYTES = 8 * 1024 * 1024  # a district's units.yaml is some 100 KB


class StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key given twice and any alias (``*name``)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "不支持锚点和别名（& 和 *），请把内容直接写出 (no anchors or aliases)",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: let PyYAML report it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"键 {key!r} 写了两次 (key {key!r} appears twice)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_text(path: Path, *, error: type[LedgerError], limit: int = MAX_FILE_BYTES) -> str:
    """The file's text (UTF-8, a byte-order mark allowed); ``error`` says what is wrong."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(
                f"{path}: 文件有 {size / 1024 / 1024:.1f} MB，超过 {limit // 1024 // 1024} MB"
                f" 的上限，不是正常的配置文件 (file too large)"
            )
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: 无法读取：{exc.strerror} (cannot be read: {exc})") from exc
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise error(f"{path}: 文件是 UTF-16 编码，请另存为 UTF-8 (not UTF-8 text: UTF-16)")
    if b"\x00" in data:
        raise error(f"{path}: 不是文本文件（含二进制内容） (not UTF-8 text: binary)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        guess = ""
        try:
            data.decode("gb18030")
            guess = "（看来是 GBK/GB18030 编码）"
        except UnicodeDecodeError:
            pass
        raise error(
            f"{path}: 第 {line} 行不是 UTF-8 编码{guess}，请用编辑器另存为 UTF-8"
            f" (not UTF-8 text: {exc})"
        ) from None


def parse(
    text: str, path: Path, *, error: type[LedgerError], loader: type[yaml.SafeLoader] = StrictLoader
) -> Any:
    """The YAML document in ``text``; a syntax error names its line and column in Chinese."""
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{path}: {describe(exc)}") from None


def describe(exc: yaml.YAMLError) -> str:
    """A YAML error as an office reads it: where, what, and the usual cause."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"第 {mark.line + 1} 行第 {mark.column + 1} 列：" if mark is not None else ""
    hint = ""
    if "'\\t'" in problem:
        hint = "缩进不能用 Tab 键，请改用空格；"
    elif "mapping values are not allowed" in problem:
        hint = "冒号后面要有空格，含冒号的文字请加引号；"
    return f"{where}{hint}YAML 格式有误 (not valid YAML: {problem})"
