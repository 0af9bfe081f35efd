"""The district's place names (roads, estates, communities …) found in a text.

Two complaints with the same words about different places are different complaints:
"柳岸路3号楼有人高空抛物" and "江州路3号楼有人高空抛物" must stay two tickets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class Gazetteer:
    names: frozenset[str]

    def __post_init__(self) -> None:
        ordered = sorted((n for n in self.names if len(n) >= 2), key=len, reverse=True)
        pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        object.__setattr__(self, "_pattern", pattern)

    def mentions(self, text: str) -> frozenset[str]:
        pattern = getattr(self, "_pattern", None)
        return frozenset(pattern.findall(text)) if pattern is not None and text else frozenset()


EMPTY = Gazetteer(frozenset())


def load_gazetteer(units_yaml: Path) -> Gazetteer:
    """Every name under ``district.places`` in ``units.yaml`` (no file: an empty one)."""
    if not units_yaml.exists():
        return EMPTY
    document = yaml.safe_load(units_yaml.read_text(encoding="utf-8")) or {}
    places = (document.get("district") or {}).get("places") or {}
    names = {str(name) for group in places.values() for name in (group or [])}
    return Gazetteer(frozenset(names))


def different_places(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both name places and none in common: about different places."""
    return bool(a) and bool(b) and not (a & b)
