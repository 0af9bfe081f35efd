"""Routing rules an admin writes in YAML (``data/routing_rules.yaml``), tried in order.

A rule matches a message on any combination of:

- ``source``: 网民留言 / 群众来信 / 批示件 / 其他 (or a list);
- ``keywords``: any of these words appears; ``all_keywords``: every one appears;
- ``regex``: a regular expression matches the text;
- ``named_unit: true``: the text names a unit (a 批示件 "请区城管局牵头…") — that unit is
  chosen (the one marked 牵头 if several are named);

and routes to ``unit`` (code, name or alias) unless ``named_unit`` decides. The first
matching rule wins; no match leaves the message to the classifier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ledger import yamlfile
from ledger.errors import BadInput
from ledger.models import SourceKind, Unit
from routing.errors import BadRules

_LEAD = re.compile(r"^.{0,3}(?:牵头|主办|负责|为主)")


@dataclass(frozen=True)
class Rule:
    name: str
    unit: str | None = None
    sources: frozenset[SourceKind] = frozenset()
    keywords: tuple[str, ...] = ()
    all_keywords: tuple[str, ...] = ()
    regex: re.Pattern[str] | None = None
    named_unit: bool = False

    def matches(self, text: str, kind: SourceKind) -> bool:
        if self.sources and kind not in self.sources:
            return False
        if self.keywords and not any(word in text for word in self.keywords):
            return False
        if self.all_keywords and not all(word in text for word in self.all_keywords):
            return False
        return not (self.regex and not self.regex.search(text))


@dataclass
class RuleSet:
    rules: list[Rule]
    units: list[Unit] = field(default_factory=list)

    def decide(self, text: str, kind: SourceKind) -> tuple[str, str] | None:
        """(unit code, rule name) of the first rule that matches, or None."""
        for rule in self.rules:
            if not rule.matches(text, kind):
                continue
            if rule.named_unit:
                code = named_unit(text, self.units)
                if code is None:
                    continue
                return code, rule.name
            unit = _resolve(rule.unit or "", self.units)
            if unit is not None:
                return unit.code, rule.name
        return None


def named_unit(text: str, units: list[Unit]) -> str | None:
    """The unit a text names as responsible: the one followed by 牵头, else the first named."""
    names = sorted(
        (
            (name, unit)
            for unit in units
            if unit.active and unit.kind != "desk"
            for name in {unit.name, unit.short_name, *unit.aliases}
            if len(name) >= 2
        ),
        key=lambda pair: -len(pair[0]),
    )
    taken = [False] * len(text)
    found: list[tuple[int, int, Unit]] = []
    for name, unit in names:
        start = text.find(name)
        while start >= 0:
            end = start + len(name)
            if not any(taken[start:end]):
                found.append((start, end, unit))
                for i in range(start, end):
                    taken[i] = True
            start = text.find(name, end)
    if not found:
        return None
    found.sort(key=lambda item: item[0])
    # "公安分局交通警察大队": a parent named right before its sub-unit means the sub-unit.
    found = [
        item
        for index, item in enumerate(found)
        if not (
            index + 1 < len(found)
            and found[index + 1][0] == item[1]
            and found[index + 1][2].parent_id == item[2].id
            and item[2].id is not None
        )
    ]
    for _, end, unit in found:
        if _LEAD.match(text[end : end + 6]):
            return unit.code
    return found[0][2].code


def _resolve(name: str, units: list[Unit]) -> Unit | None:
    for unit in units:
        if name in (unit.code, unit.name, unit.short_name, *unit.aliases):
            return unit
    return None


_FIELDS = ("name", "unit", "source", "keywords", "all_keywords", "regex", "named_unit")


def load_rules(path: Path | None, units: list[Unit]) -> RuleSet:
    """Rules from ``path`` (no file: no rules); errors say in Chinese which rule, key and
    line. The file is read as the office's other YAML files are (``ledger.yamlfile``):
    another encoding, a key written twice or an alias is refused naming the line."""
    if path is None or not path.exists():
        return RuleSet(rules=[], units=units)
    try:  # yamlfile's errors are the ledger's: the same text, as this package's error
        text = yamlfile.read_text(path, error=BadInput)
    except BadInput as exc:
        raise BadRules(str(exc)) from None
    loader = yamlfile.StrictLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise BadRules(f"{path}: {yamlfile.describe(exc)}") from None
    finally:
        loader.dispose()
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise BadRules(f"{path}: 文件须以 rules: 开头，下面逐条列出规则 (must be a mapping)")
    unknown = sorted(str(key) for key in document if key != "rules")
    if unknown:
        raise BadRules(
            f"{path}: 第 {_line(node, unknown[0])} 行：未知的键「{unknown[0]}」，"
            f"顶层只能写 rules (unknown key {unknown[0]!r})"
        )
    entries = document.get("rules") or []
    if not isinstance(entries, list):
        raise BadRules(f"{path}: rules 须为列表，每条规则以“- ”开头 ('rules' must be a list)")
    items = _rule_nodes(node)
    rules = [
        _rule(entry, index, path, units, items[index] if index < len(items) else None)
        for index, entry in enumerate(entries)
    ]
    return RuleSet(rules=rules, units=units)


def _rule_nodes(document: Any) -> list[Any]:
    """The YAML nodes of the rules (for their lines), or [] when the shape is another."""
    if not isinstance(document, yaml.MappingNode):
        return []
    for key, value in document.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return list(value.value)
    return []


def _line(node: Any, key: str | None = None) -> int:
    """The line (from 1) of ``key`` in mapping ``node``, else of the node itself."""
    if node is None:
        return 0
    if key is not None and isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if str(key_node.value) == key:
                return int(key_node.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _rule(entry: Any, index: int, path: Path, units: list[Unit], node: Any = None) -> Rule:
    where = f"{path}: rules[{index}]"
    at = f"（第 {_line(node)} 行）" if node is not None else ""
    if not isinstance(entry, dict):
        raise BadRules(f"{where}{at}: 每条规则须是“键: 值”的映射 (must be a mapping)")
    unknown = sorted(str(key) for key in entry if key not in _FIELDS)
    if unknown:
        line = f"第 {_line(node, unknown[0])} 行：" if node is not None else ""
        raise BadRules(
            f"{where}: {line}未知的键「{unknown[0]}」，可用的键: {'、'.join(_FIELDS)}"
            f" (unknown field(s) {unknown})"
        )
    name = str(entry.get("name") or f"rule{index + 1}")
    where = f"{where} ({name}){at}"
    named = bool(entry.get("named_unit", False))
    unit = entry.get("unit")
    if not named:
        if not unit:
            raise BadRules(
                f"{where}: 须写 unit（责任单位），或 named_unit: true ('unit' is required)"
            )
        if _resolve(str(unit), units) is None:
            raise BadRules(f"{where}: 找不到单位 {unit!r} (unknown unit {unit!r})")
    sources = entry.get("source") or []
    if isinstance(sources, str):
        sources = [sources]
    try:
        kinds = frozenset(SourceKind.parse(str(s)) for s in sources)
    except ValueError as exc:
        raise BadRules(f"{where}: source: {exc}") from None
    regex = entry.get("regex")
    try:
        pattern = re.compile(regex) if regex else None
    except re.error as exc:
        raise BadRules(f"{where}: regex 不是有效的正则表达式 ({exc})") from None
    keywords = tuple(str(k) for k in entry.get("keywords") or [])
    all_keywords = tuple(str(k) for k in entry.get("all_keywords") or [])
    if not (named or kinds or keywords or all_keywords or pattern):
        raise BadRules(
            f"{where}: 每条规则至少要有一个条件（source、keywords、all_keywords、regex 或 "
            "named_unit） (a rule needs at least one condition)"
        )
    return Rule(
        name=name,
        unit=str(unit) if unit else None,
        sources=kinds,
        keywords=keywords,
        all_keywords=all_keywords,
        regex=pattern,
        named_unit=named,
    )
