"""Who checks in: the groups of ``checkins.groups`` in the policy, resolved to people."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from checkins.errors import BadInput
from ledger.directory import find_unit
from ledger.errors import NotFound
from ledger.models import Person, Unit
from ledger.policy import CheckinGroup, CheckinPolicy


@dataclass(frozen=True, slots=True)
class Member:
    person_id: int
    code: str
    name: str
    unit_id: int | None
    unit_name: str | None


def unit_ids(session: Session, key: str, group: CheckinGroup) -> list[int]:
    found = []
    for name in group.units:
        try:
            unit = find_unit(session, name)
        except NotFound as exc:
            raise BadInput(
                f"policy.yaml checkins.groups.{key}.units：没有名为「{name}」的单位",
                f"unknown unit {name!r} in check-in group {key}",
            ) from exc
        assert unit.id is not None
        found.append(unit.id)
    return found


def members(session: Session, key: str, group: CheckinGroup) -> list[Member]:
    """The group's active people: everyone of its units, then the people it names."""
    ids = unit_ids(session, key, group)
    query = select(Person).where(Person.active == True)  # noqa: E712 (SQL expression)
    people = list(
        session.exec(query.where(col(Person.unit_id).in_(ids)).order_by(col(Person.id))).all()
    )
    if group.people:
        named = session.exec(query.where(col(Person.code).in_(group.people))).all()
        people += [p for p in named if p not in people]
    names = {u.id: u.short_name or u.name for u in session.exec(select(Unit)).all()}
    return [
        Member(
            person_id=p.id,
            code=p.code,
            name=p.name,
            unit_id=p.unit_id,
            unit_name=names.get(p.unit_id) if p.unit_id is not None else None,
        )
        for p in people
        if p.id is not None
    ]


def groups_of(session: Session, person: Person, policy: CheckinPolicy) -> list[str]:
    """The keys of the groups ``person`` checks in with, in policy order."""
    return [
        key
        for key, group in policy.groups.items()
        if any(m.person_id == person.id for m in members(session, key, group))
    ]


def chats_of(group: CheckinGroup) -> list[tuple[str, str]]:
    """(platform, chat_id) of each chat the group names."""
    return [tuple(chat.split(":", 1)) for chat in group.chats]  # type: ignore[misc]
