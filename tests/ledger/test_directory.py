"""units.yaml edited and loaded again: people and units left out, renamed, swapped, broken."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from duban.settings import REPO_ROOT
from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit, get_person, load_directory
from ledger.errors import BadInput, NotFound, PermissionDenied
from ledger.models import Unit
from tests.helpers import local, make_ticket, rules_for

NOW = local(2026, 11, 16, 10)


def _directory() -> dict:
    return yaml.safe_load((REPO_ROOT / "data" / "units.yaml").read_text(encoding="utf-8"))


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def _write(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "units.yaml"
    # written as an office writes it: no anchors or aliases (ledger.yamlfile refuses them)
    path.write_text(yaml.dump(document, Dumper=_NoAliases, allow_unicode=True), encoding="utf-8")
    return path


def _unit(document: dict, code: str) -> dict:
    return next(u for u in document["units"] if u["code"] == code)


def test_a_person_left_out_of_the_file_can_no_longer_act(engine: Engine, tmp_path: Path) -> None:
    # Removing a person from units.yaml and running `duban init` left them active with
    # all their rights.
    with session_scope(engine) as session:
        ticket = make_ticket(session, rules_for(), received_at=NOW)
        T.assign(
            session,
            ticket,
            find_unit(session, "zjj"),
            actor=T.Actor.system("t"),
            now=NOW,
            routed_by="manual",
        )
    document = _directory()
    document["people"] = [p for p in document["people"] if p["code"] != "zjj-1"]
    _unit(document, "zjj")["active"] = False
    with session_scope(engine) as session:
        loaded = load_directory(session, _write(tmp_path, document))
    assert (loaded.people_deactivated, loaded.units_deactivated) == (1, 0)
    assert loaded.open_at_inactive == {"zjj": 1}
    with session_scope(engine) as session:
        gone = get_person(session, "zjj-1")  # kept: events refer to people
        assert not gone.active
        ticket = T.get_ticket(session, ticket.number)
        with pytest.raises(PermissionDenied):
            T.check_allowed(ticket, "acknowledge", T.Actor.of(gone))
        T.check_allowed(ticket, "acknowledge", T.Actor.of(get_person(session, "zjj-ld")))
    with session_scope(engine) as session:  # back in the file: active again
        again = load_directory(session, REPO_ROOT / "data" / "units.yaml")
        assert again.people_deactivated == 0 and again.open_at_inactive == {}
        assert get_person(session, "zjj-1").active


def test_a_unit_left_out_is_kept_inactive_and_its_successor_wins_the_alias(
    engine: Engine, tmp_path: Path
) -> None:
    document = _directory()
    old = _unit(document, "cgj")
    document["units"].remove(old)
    document["units"].append({**old, "code": "cgzf", "name": "滨河区城市管理和综合执法局"})
    for person in document["people"]:
        if person.get("unit") == "cgj":
            person["unit"] = "cgzf"
    with session_scope(engine) as session:
        loaded = load_directory(session, _write(tmp_path, document))
        assert (loaded.units_created, loaded.units_deactivated) == (1, 1)
        assert not session.exec(select(Unit).where(Unit.code == "cgj")).one().active
        assert find_unit(session, "城管局").code == "cgzf"  # both have it; the active one
        assert find_unit(session, "cgj").code == "cgj"  # the old one still found by code


def test_changing_a_unit_code_is_refused_with_the_entry_named(
    engine: Engine, tmp_path: Path
) -> None:
    # Same full name under a new code was an IntegrityError traceback.
    document = _directory()
    _unit(document, "cgj")["code"] = "cgzf"
    for person in document["people"]:
        if person.get("unit") == "cgj":
            person["unit"] = "cgzf"
    with session_scope(engine) as session, pytest.raises(BadInput, match=r"units\[2\].*cgj"):
        load_directory(session, _write(tmp_path, document))
    with session_scope(engine) as session:
        assert [u.code for u in session.exec(select(Unit).where(Unit.code == "cgzf"))] == []
        assert find_unit(session, "cgj").active


def test_two_units_may_swap_full_names(engine: Engine, tmp_path: Path) -> None:
    # Swapping names hit the unique constraint on unit.name (a traceback).
    document = _directory()
    swj, mzj = _unit(document, "swj"), _unit(document, "mzj")
    swj["name"], mzj["name"] = mzj["name"], swj["name"]
    with session_scope(engine) as session:
        load_directory(session, _write(tmp_path, document))
    with session_scope(engine) as session:
        assert find_unit(session, "swj").name == "滨河区民政局"
        assert find_unit(session, "mzj").name == "滨河区水务局"


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["people"].append(dict(d["people"][2], name="重复")), "people[22]"),
        (lambda d: d["units"][1].update(name=d["units"][0]["name"]), "units[1]"),
        (lambda d: d["people"][0].update(roles="admin"), "people[0]"),
        (lambda d: d.update(units={"zjj": "住建局"}), "units"),
        (lambda d: d["people"].__setitem__(0, "admin"), "people[0]"),
    ],
)
def test_a_malformed_file_is_refused_and_changes_nothing(
    engine: Engine, tmp_path: Path, edit, named: str
) -> None:
    document = _directory()
    edit(document)
    with session_scope(engine) as session, pytest.raises(BadInput, match=named.replace("[", r"\[")):
        load_directory(session, _write(tmp_path, document))
    with session_scope(engine) as session:
        assert get_person(session, "luru1").name == "王晓燕"


def test_a_unit_by_code_in_any_case_or_a_near_miss(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert find_unit(session, "ZJJ").code == "zjj"
        with pytest.raises(NotFound, match="住建局"):
            find_unit(session, "住健局")  # a typo: the message suggests the unit
        with pytest.raises(BadInput):
            get_person(session, "  ")
        assert get_person(session, " zjj-1 ").code == "zjj-1"


def test_only_real_changes_count_as_updates(engine: Engine, tmp_path: Path) -> None:
    document = _directory()
    with session_scope(engine) as session:  # the engine fixture loaded the same file
        again = load_directory(session, _write(tmp_path, document))
    assert (again.units_created, again.units_updated, again.people_updated) == (0, 0, 0)
    _unit(document, "zjj")["aliases"] = ["建设局", "住房城乡建设局"]
    document["people"][0]["name"] = document["people"][0]["name"] + "（调岗）"
    with session_scope(engine) as session:
        changed = load_directory(session, _write(tmp_path, document))
    assert (changed.units_updated, changed.people_updated) == (1, 1)


def test_a_person_with_the_longest_name_and_code_can_act(engine: Engine, tmp_path: Path) -> None:
    """name (64) + code (64) made an actor label of 130 characters: PostgreSQL refused it."""
    document = _directory()
    person = next(p for p in document["people"] if p["code"] == "zjj-1")
    person["name"], person["code"] = "刘" * 64, "z" * 64
    with session_scope(engine) as session:
        load_directory(session, _write(tmp_path, document))
        ticket = make_ticket(session, rules_for(), received_at=NOW)
        T.assign(
            session,
            ticket,
            find_unit(session, "zjj"),
            actor=T.Actor.system("t"),
            now=NOW,
            routed_by="rule:" + "很长的规则名" * 40,
        )
        T.acknowledge(session, ticket, actor=T.Actor.of(get_person(session, "z" * 64)), now=NOW)
    with session_scope(engine) as session:
        events = T.events_of(session, T.get_ticket(session, ticket.number))
        assert len(events[-1].actor) == 128


def test_a_value_too_long_for_the_ledger_is_refused_by_entry(tmp_path: Path) -> None:
    from ledger.directory import read_directory

    document = _directory()
    _unit(document, "zjj")["short"] = "住建" * 40
    with pytest.raises(BadInput, match=r"units\[\d+\]\.short: 长度 80 超过 64"):
        read_directory(_write(tmp_path, document))
