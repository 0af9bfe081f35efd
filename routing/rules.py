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


def load_rules(path: Path | None, units: list[Unit]) -> RuleSet:
    """Rules from ``path`` (no file: no rules); errors name the rule and the field."""
    if path is None or not path.exists():
        return RuleSet(rules=[], units=units)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadRules(f"{path}: not valid YAML: {exc}") from exc
    entries = document.get("rules") or []
    if not isinstance(entries, list):
        raise BadRules(f"{path}: 'rules' must be a list")
    rules = [_rule(entry, index, path, units) for index, entry in enumerate(entries)]
    return RuleSet(rules=rules, units=units)


def _rule(entry: Any, index: int, path: Path, units: list[Unit]) -> Rule:
    where = f"{path}: rules[{index}]"
    if not isinstance(entry, dict):
        raise BadRules(f"{where}: must be a mapping")
    known = {"name", "unit", "source", "keywords", "all_keywords", "regex", "named_unit"}
    unknown = set(entry) - known
    if unknown:
        raise BadRules(f"{where}: unknown field(s) {sorted(unknown)}; use {sorted(known)}")
    name = str(entry.get("name") or f"rule{index + 1}")
    where = f"{where} ({name})"
    named = bool(entry.get("named_unit", False))
    unit = entry.get("unit")
    if not named:
        if not unit:
            raise BadRules(f"{where}: 'unit' is required (or named_unit: true)")
        if _resolve(str(unit), units) is None:
            raise BadRules(f"{where}: unknown unit {unit!r}")
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
        raise BadRules(f"{where}: regex: {exc}") from None
    keywords = tuple(str(k) for k in entry.get("keywords") or [])
    all_keywords = tuple(str(k) for k in entry.get("all_keywords") or [])
    if not (named or kinds or keywords or all_keywords or pattern):
        raise BadRules(
            f"{where}: a rule needs at least one condition "
            "(source, keywords, all_keywords, regex or named_unit)"
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
