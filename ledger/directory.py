"""Units and people: loading ``units.yaml`` and finding a unit by any of its names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from ledger.errors import BadInput, NotFound
from ledger.models import Person, Role, Unit

UNIT_KINDS = {"department", "street", "desk"}


@dataclass(frozen=True, slots=True)
class LoadResult:
    units_created: int
    units_updated: int
    people_created: int
    people_updated: int


def read_directory(path: Path) -> dict[str, Any]:
    """The parsed ``units.yaml`` with every entry checked; errors name the entry."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{path}: {exc}") from exc
    units = document.get("units") or []
    people = document.get("people") or []
    codes: set[str] = set()
    for index, entry in enumerate(units):
        where = f"{path}: units[{index}]"
        for key in ("code", "name", "short"):
            if not str(entry.get(key) or "").strip():
                raise BadInput(f"{where}: '{key}' is required")
        if entry["code"] in codes:
            raise BadInput(f"{where}: duplicate code {entry['code']!r}")
        if entry.get("kind", "department") not in UNIT_KINDS:
            raise BadInput(f"{where}: kind must be one of {sorted(UNIT_KINDS)}")
        codes.add(entry["code"])
    for index, entry in enumerate(units):
        parent = entry.get("parent")
        if parent and parent not in codes:
            raise BadInput(f"{path}: units[{index}]: unknown parent {parent!r}")
    valid_roles = {role.value for role in Role}
    for index, entry in enumerate(people):
        where = f"{path}: people[{index}]"
        for key in ("code", "name"):
            if not str(entry.get(key) or "").strip():
                raise BadInput(f"{where}: '{key}' is required")
        bad = set(entry.get("roles") or []) - valid_roles
        if bad:
            raise BadInput(f"{where}: unknown roles {sorted(bad)} (use {sorted(valid_roles)})")
        if entry.get("unit") and entry["unit"] not in codes:
            raise BadInput(f"{where}: unknown unit {entry['unit']!r}")
    return document


def load_directory(session: Session, path: Path) -> LoadResult:
    """Create or update units and people from ``path`` (matched by ``code``); idempotent."""
    document = read_directory(path)
    by_code = {unit.code: unit for unit in session.exec(select(Unit))}
    created = updated = 0
    for entry in document.get("units") or []:
        unit = by_code.get(entry["code"])
        if unit is None:
            unit = Unit(code=entry["code"], name=entry["name"], short_name=entry["short"])
            by_code[unit.code] = unit
            created += 1
        else:
            updated += 1
        unit.name = entry["name"]
        unit.short_name = entry["short"]
        unit.aliases = list(entry.get("aliases") or [])
        unit.kind = entry.get("kind", "department")
        unit.active = bool(entry.get("active", True))
        session.add(unit)
    session.flush()
    for entry in document.get("units") or []:
        parent = entry.get("parent")
        by_code[entry["code"]].parent_id = by_code[parent].id if parent else None
    people_by_code = {person.code: person for person in session.exec(select(Person))}
    p_created = p_updated = 0
    for entry in document.get("people") or []:
        person = people_by_code.get(entry["code"])
        if person is None:
            person = Person(code=entry["code"], name=entry["name"])
            p_created += 1
        else:
            p_updated += 1
        person.name = entry["name"]
        person.roles = list(entry.get("roles") or [])
        person.unit_id = by_code[entry["unit"]].id if entry.get("unit") else None
        person.active = bool(entry.get("active", True))
        session.add(person)
    session.flush()
    return LoadResult(created, updated, p_created, p_updated)


def list_units(session: Session, *, active_only: bool = False) -> list[Unit]:
    query = select(Unit).order_by(Unit.id)
    if active_only:
        query = query.where(Unit.active == True)  # noqa: E712 (SQL expression)
    return list(session.exec(query))


def find_unit(session: Session, name: str) -> Unit:
    """A unit by code, full name, short name or alias (exact, then unique substring)."""
    key = (name or "").strip()
    if not key:
        raise BadInput("单位名称不能为空 (unit name is required)")
    units = list_units(session)
    for unit in units:
        if key in (unit.code, unit.name, unit.short_name, *unit.aliases):
            return unit
    partial = [
        unit for unit in units
        if any(key in candidate for candidate in (unit.name, unit.short_name, *unit.aliases))
    ]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = "、".join(unit.short_name for unit in partial)
        raise BadInput(f"「{key}」对应多个单位：{names}，请写全称 (ambiguous unit name)")
    raise NotFound(f"找不到单位「{key}」 (no unit {key!r})")


def get_person(session: Session, code: str) -> Person:
    person = session.exec(select(Person).where(Person.code == code)).first()
    if person is None:
        raise NotFound(f"找不到人员「{code}」 (no person {code!r})")
    return person


def people_with_role(session: Session, role: Role) -> list[Person]:
    return [person for person in session.exec(select(Person)) if role.value in person.roles]
