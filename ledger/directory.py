"""Units and people: loading ``units.yaml`` and finding a unit by any of its names."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, func, select

from ledger import yamlfile
from ledger.errors import BadInput, NotFound
from ledger.models import Person, Role, Ticket, TicketState, Unit, column_size

UNIT_KINDS = {"department", "street", "desk"}


@dataclass(frozen=True, slots=True)
class LoadResult:
    units_created: int
    units_updated: int
    people_created: int
    people_updated: int
    # Units and people in the ledger but no longer in the file: kept (their tickets and
    # history refer to them), marked inactive.
    units_deactivated: int = 0
    people_deactivated: int = 0
    # Inactive units that still hold unfinished tickets: code -> how many (to be reassigned).
    open_at_inactive: dict[str, int] = field(default_factory=dict)


def read_directory(path: Path) -> dict[str, Any]:
    """The parsed ``units.yaml`` with every entry checked; errors name the entry."""
    document = yamlfile.parse(yamlfile.read_text(path, error=BadInput), path, error=BadInput)
    if document is None:
        raise BadInput(f"{path}: 文件是空的，名册中至少要有一个单位 (no units)")
    if not isinstance(document, dict):
        raise BadInput(f"{path}: 须为含 units 和 people 的映射 (expected a mapping)")
    _known_keys(document, TOP_KEYS, str(path))
    check_district(document.get("district"), path)
    units = _entries(document, "units", path)
    if not units:
        raise BadInput(f"{path}: 名册中没有任何单位 (units is empty)")
    people = _entries(document, "people", path)
    codes: set[str] = set()
    names: dict[str, int] = {}
    shorts: dict[str, int] = {}
    for index, entry in enumerate(units):
        where = f"{path}: units[{index}]"
        _known_keys(entry, UNIT_KEYS, where)
        for key in ("code", "name", "short"):
            entry[key] = _text(entry.get(key), f"{where}.{key}")
            _check_length(entry[key], Unit, UNIT_COLUMNS[key], f"{where}.{key}")
        _check_code(entry["code"], f"{where}.code")
        if entry["code"] in codes:
            raise BadInput(f"{where}: 单位代码 {entry['code']!r} 重复 (duplicate code)")
        if entry["name"] in names:
            raise BadInput(
                f"{where}: 全称「{entry['name']}」与 units[{names[entry['name']]}]"
                f" 重复 (duplicate name)"
            )
        if entry["short"] in shorts:
            raise BadInput(
                f"{where}: 简称「{entry['short']}」与 units[{shorts[entry['short']]}]"
                f" 重复，卡片和报表上无法区分 (duplicate short name)"
            )
        if entry.get("kind", "department") not in UNIT_KINDS:
            raise BadInput(f"{where}: kind 须为 {sorted(UNIT_KINDS)} 之一")
        entry["aliases"] = _aliases(entry.get("aliases"), f"{where}.aliases")
        _check_active(entry, where)
        if entry.get("parent") not in (None, ""):
            entry["parent"] = _text(entry["parent"], f"{where}.parent")
        codes.add(entry["code"])
        names[entry["name"]] = index
        shorts[entry["short"]] = index
    for index, entry in enumerate(units):
        parent = entry.get("parent")
        if parent and parent not in codes:
            raise BadInput(
                f"{path}: units[{index}]: 上级单位 {parent!r} 不在名册中 (unknown parent)"
            )
    _check_no_cycle(units, path)
    valid_roles = {role.value for role in Role}
    people_codes: set[str] = set()
    for index, entry in enumerate(people):
        where = f"{path}: people[{index}]"
        _known_keys(entry, PERSON_KEYS, where)
        for key in ("code", "name"):
            entry[key] = _text(entry.get(key), f"{where}.{key}")
            _check_length(entry[key], Person, key, f"{where}.{key}")
        _check_code(entry["code"], f"{where}.code")
        if entry["code"] in people_codes:
            raise BadInput(f"{where}: 人员编号 {entry['code']!r} 重复 (duplicate code)")
        people_codes.add(entry["code"])
        roles = entry.get("roles") or []
        if not isinstance(roles, list):
            raise BadInput(f"{where}: roles 须为列表，如 [member] (roles must be a list)")
        bad = {str(role) for role in roles} - valid_roles
        if bad:
            raise BadInput(f"{where}: 未知角色 {sorted(bad)} (use {sorted(valid_roles)})")
        _check_active(entry, where)
        if entry.get("unit") not in (None, ""):
            entry["unit"] = _text(entry["unit"], f"{where}.unit")
            if entry["unit"] not in codes:
                raise BadInput(
                    f"{where}: 单位 {entry['unit']!r} 不在名册中，请写单位代码 (unknown unit)"
                )
    return document


TOP_KEYS = frozenset({"district", "units", "people"})
UNIT_KEYS = frozenset({"code", "name", "short", "aliases", "parent", "kind", "active"})
PERSON_KEYS = frozenset({"code", "name", "unit", "roles", "active"})
DISTRICT_KEYS = frozenset({"name", "city", "places"})


def _known_keys(mapping: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), 1, 0.6)
            hint = f"，是不是 {close[0]}？" if close else ""
            raise BadInput(
                f"{where}: 未知的键 {key!r}{hint}（可用：{'、'.join(sorted(allowed))}）"
                f" (unknown key)"
            )


def _text(value: Any, where: str) -> str:
    """A required name or code: text or a number, never empty, a list or a mapping."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        if value is None or value == "":
            raise BadInput(f"{where}: 不能为空 (required)")
        raise BadInput(f"{where}: 须为文字，现为 {value!r} (expected text)")
    text = str(value).strip()
    if not text:
        raise BadInput(f"{where}: 不能为空 (required)")
    return text


def _check_code(code: str, where: str) -> None:
    """A code is typed on the command line and in chat: half-width, no spaces."""
    if any(ch.isspace() for ch in code) or unicodedata.normalize("NFKC", code) != code:
        raise BadInput(
            f"{where}: 代码「{code}」含空格或全角字符，请用半角字母、数字（如"
            f" {unicodedata.normalize('NFKC', ''.join(code.split()))}） (code must be half-width)"
        )


def _aliases(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(f"{where}: aliases 须为列表 (aliases must be a list)")
    return [_text(alias, f"{where}[{index}]") for index, alias in enumerate(value)]


def _check_active(entry: dict[str, Any], where: str) -> None:
    if "active" in entry and not isinstance(entry["active"], bool):
        raise BadInput(
            f"{where}.active: 须为 true 或 false（不加引号），现为 {entry['active']!r}"
            f" (expected true or false)"
        )


def _check_no_cycle(units: list[dict[str, Any]], path: Path) -> None:
    """A unit may not be its own parent, directly or through others."""
    parent_of = {entry["code"]: entry.get("parent") for entry in units}
    for index, entry in enumerate(units):
        seen = [entry["code"]]
        parent = entry.get("parent")
        while parent:
            if parent in seen:
                chain = " → ".join([*seen, parent])
                raise BadInput(
                    f"{path}: units[{index}].parent: 上级单位形成循环（{chain}） (parent cycle)"
                )
            seen.append(parent)
            parent = parent_of.get(parent)


def check_district(district: Any, path: Path) -> None:
    """``district``: a mapping of name, city and ``places`` (groups of place names)."""
    where = f"{path}: district"
    if district is None:
        return
    if not isinstance(district, dict):
        raise BadInput(f"{where}: 须为映射，如 {{name: 青溪县, city: 云州市}} (expected a mapping)")
    _known_keys(district, DISTRICT_KEYS, where)
    for key in ("name", "city"):
        if district.get(key) is not None:
            _text(district[key], f"{where}.{key}")
    places = district.get("places")
    if places is None:
        return
    if not isinstance(places, dict):
        raise BadInput(
            f"{where}.places: 须为映射，如 {{roads: [东湖路]}} (expected a mapping of lists)"
        )
    for group, names in places.items():
        if names is None:
            continue
        if not isinstance(names, list):
            raise BadInput(f"{where}.places.{group}: 须为列表 (expected a list)")
        for index, name in enumerate(names):
            _text(name, f"{where}.places.{group}[{index}]")


UNIT_COLUMNS = {"code": "code", "name": "name", "short": "short_name"}  # file key -> column


def _check_length(value: str, model: type, column: str, where: str) -> None:
    limit = column_size(model, column)
    if len(value) > limit:
        raise BadInput(f"{where}: 长度 {len(value)} 超过 {limit} 个字符 (too long)")


def _entries(document: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    entries = document.get(key) or []
    if not isinstance(entries, list):
        raise BadInput(f"{path}: {key} 须为列表 ({key} must be a list)")
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise BadInput(
                f"{path}: {key}[{index}]: 须为映射，如 {{code: …, name: …}} (expected a mapping)"
            )
    return entries


def load_directory(session: Session, path: Path) -> LoadResult:
    """Create or update units and people from ``path`` (matched by ``code``); idempotent.

    The file is the whole directory: a unit or person left out of it is kept (tickets and
    events refer to it) but marked inactive, so a person removed from the file can no
    longer act. A unit's code is its stable identity and cannot be changed here.
    """
    document = read_directory(path)
    entries = document.get("units") or []
    by_code = {unit.code: unit for unit in session.exec(select(Unit))}
    listed = {entry["code"] for entry in entries}
    _check_names_free(entries, by_code, listed, path)
    created = 0
    renamed = []
    before = {code: _unit_state(unit) for code, unit in by_code.items()}
    for entry in entries:
        unit = by_code.get(entry["code"])
        if unit is None:
            continue
        if unit.name != entry["name"]:  # free the old name first: names may be swapped
            unit.name = f"~renaming~{unit.code}"
            session.add(unit)
            renamed.append(unit)
    if renamed:
        session.flush()
    for entry in entries:
        unit = by_code.get(entry["code"])
        if unit is None:
            unit = Unit(code=entry["code"], name=entry["name"], short_name=entry["short"])
            by_code[unit.code] = unit
            created += 1
        unit.name = entry["name"]
        unit.short_name = entry["short"]
        unit.aliases = [str(alias) for alias in entry.get("aliases") or []]
        unit.kind = entry.get("kind", "department")
        unit.active = bool(entry.get("active", True))
        session.add(unit)
    units_deactivated = _deactivate(session, [u for c, u in by_code.items() if c not in listed])
    session.flush()
    for entry in entries:
        parent = entry.get("parent")
        by_code[entry["code"]].parent_id = by_code[str(parent)].id if parent else None
    session.flush()
    updated = sum(
        1 for code in listed if code in before and _unit_state(by_code[code]) != before[code]
    )
    people_by_code = {person.code: person for person in session.exec(select(Person))}
    p_before = {code: _person_state(person) for code, person in people_by_code.items()}
    p_created = 0
    for entry in document.get("people") or []:
        person = people_by_code.get(entry["code"])
        if person is None:
            person = Person(code=entry["code"], name=entry["name"])
            p_created += 1
        person.name = entry["name"]
        person.roles = [str(role) for role in entry.get("roles") or []]
        person.unit_id = by_code[str(entry["unit"])].id if entry.get("unit") else None
        person.active = bool(entry.get("active", True))
        session.add(person)
    in_file = {entry["code"] for entry in document.get("people") or []}
    p_updated = sum(
        1
        for code in in_file
        if code in p_before and _person_state(people_by_code[code]) != p_before[code]
    )
    people_deactivated = _deactivate(
        session, [p for c, p in people_by_code.items() if c not in in_file]
    )
    session.flush()
    return LoadResult(
        created,
        updated,
        p_created,
        p_updated,
        units_deactivated,
        people_deactivated,
        _open_at_inactive(session),
    )


def _unit_state(unit: Unit) -> tuple:
    return (
        unit.name,
        unit.short_name,
        tuple(unit.aliases or ()),
        unit.kind,
        unit.active,
        unit.parent_id,
    )


def _person_state(person: Person) -> tuple:
    return (person.name, tuple(person.roles or ()), person.unit_id, person.active)


def _check_names_free(
    entries: list[dict[str, Any]], by_code: dict[str, Unit], listed: set[str], path: Path
) -> None:
    """A full name still held by a unit left out of the file: its code was changed."""
    held = {unit.name: unit for code, unit in by_code.items() if code not in listed}
    for index, entry in enumerate(entries):
        other = held.get(entry["name"])
        if other is not None:
            raise BadInput(
                f"{path}: units[{index}]: 全称「{entry['name']}」已属于单位 {other.code}，"
                f"单位代码不能更改，请保留代码 {other.code} (unit codes are permanent)"
            )


def _deactivate(session: Session, rows: list[Any]) -> int:
    count = 0
    for row in rows:
        if row.active:
            row.active = False
            session.add(row)
            count += 1
    return count


def _open_at_inactive(session: Session) -> dict[str, int]:
    done = (TicketState.VERIFIED.value, TicketState.ARCHIVED.value)
    rows = session.exec(
        select(Unit.code, func.count(col(Ticket.id)))
        .join(Ticket, col(Ticket.unit_id) == col(Unit.id))
        .where(Unit.active == False)  # noqa: E712 (SQL expression)
        .where(col(Ticket.state).not_in(done))
        .group_by(Unit.code)
    ).all()
    return {code: count for code, count in rows}


def list_units(session: Session, *, active_only: bool = False) -> list[Unit]:
    query = select(Unit).order_by(Unit.id)
    if active_only:
        query = query.where(Unit.active == True)  # noqa: E712 (SQL expression)
    return list(session.exec(query))


# A session may carry a cache of ``units_by_id`` here (``bots.work``: a bot answers many
# commands a second, the directory changes a few times a year): a callable taking the session.
UNIT_CACHE = "duban.units_by_id"


def units_by_id(session: Session) -> dict[int, Unit]:
    """Every unit by id, to show a ticket's unit (its code and name), never to decide who
    may do what (that reads the units it needs, fresh)."""
    cached: Callable[[Session], dict[int, Unit]] | None = session.info.get(UNIT_CACHE)
    if cached is not None:
        return cached(session)
    return {u.id: u for u in list_units(session) if u.id is not None}


def find_unit(session: Session, name: str) -> Unit:
    """A unit by code, full name, short name or alias (exact, then unique substring).

    Codes match in any case. When several units match, the active ones win (a unit left
    out of ``units.yaml`` may share an alias with its successor).
    """
    key = (name or "").strip()
    if not key:
        raise BadInput("单位名称不能为空 (unit name is required)")
    units = list_units(session)
    exact = [
        unit
        for unit in units
        if key in (unit.name, unit.short_name, *unit.aliases)
        or key.casefold() == unit.code.casefold()
    ]
    found = _one(exact, key)
    if found is not None:
        return found
    partial = [
        unit
        for unit in units
        if any(key in candidate for candidate in (unit.name, unit.short_name, *unit.aliases))
    ]
    found = _one(partial, key)
    if found is not None:
        return found
    names = {
        candidate: unit
        for unit in units
        if unit.active
        for candidate in (unit.name, unit.short_name, *unit.aliases)
    }
    close = {names[c].short_name: None for c in difflib.get_close_matches(key, names, 3, 0.5)}
    hint = f"，您是否要找：{'、'.join(close)}" if close else ""
    raise NotFound(f"找不到单位「{key}」{hint} (no unit {key!r})")


def _one(units: list[Unit], key: str) -> Unit | None:
    """The one unit meant, the active one among several, or ``None`` when there is none."""
    if len(units) > 1:
        units = [unit for unit in units if unit.active] or units
    if len(units) == 1:
        return units[0]
    if units:
        names = "、".join(unit.short_name for unit in units)
        raise BadInput(f"「{key}」对应多个单位：{names}，请写全称 (ambiguous unit name)")
    return None


def get_person(session: Session, code: str) -> Person:
    key = (code or "").strip()
    if not key:
        raise BadInput("人员编号不能为空 (person code is required)")
    person = session.exec(select(Person).where(Person.code == key)).first()
    if person is None:
        raise NotFound(f"找不到人员「{key}」 (no person {key!r})")
    return person


def people_with_role(session: Session, role: Role) -> list[Person]:
    return [person for person in session.exec(select(Person)) if role.value in person.roles]
