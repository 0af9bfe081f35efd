"""评议 rounds on the ledger: open a year's round with its raters, take each rater's
complete set of grades (or 1–100 scores), 书面点评 per unit, close (frozen), tally.

Rules kept here, whoever calls (CLI, chat):
- one round a year; its units are fixed at opening, its scale is the policy's then;
- a rater's submission names every unit of the round exactly once: a partial one is
  refused naming the units missing, nothing is stored; a rater may submit again while the
  round is open (the new set replaces the old);
- after ``close`` nothing changes: ratings and 点评 are refused as late;
- the tally per unit says nothing of who rated what (anonymous to units).
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from ledger.directory import find_unit, get_person, list_units
from ledger.models import ReviewRater, ReviewRating, ReviewRemark, ReviewRound, Unit
from ledger.policy import REVIEW_GRADES, ReviewPolicy
from review.errors import BadInput, IllegalTransition, NotFound, PermissionDenied

OPEN, CLOSED = "open", "closed"
STATE_LABELS = {OPEN: "评议中", CLOSED: "已结束"}
RATER_COLUMNS = ("代码", "姓名", "组别", "权重")  # then, optionally, 人员 (a person's code)
MAX_SCORE = 100


# -- raters --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaterSpec:
    code: str
    name: str
    group: str
    weight: float
    person: str | None  # person code: this rater may rate from chat


def parse_raters(text: str, *, source: str = "评议人名单") -> list[RaterSpec]:
    """The raters file: CSV (UTF-8, a BOM allowed) with the header 代码,姓名,组别,权重 and
    an optional 人员 column; a clear error naming the row and field otherwise."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise BadInput(f"{source}：文件是空的，须有表头 {','.join(RATER_COLUMNS)}")
    header = [cell.strip() for cell in rows[0]]
    missing = [name for name in RATER_COLUMNS if name not in header]
    if missing:
        raise BadInput(
            f"{source}：表头缺少 {'、'.join(missing)}（须有 {','.join(RATER_COLUMNS)}，可加 人员）"
        )
    at = {name: header.index(name) for name in (*RATER_COLUMNS, "人员") if name in header}
    found: list[RaterSpec] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):

        def cell(name: str, row: list[str] = row) -> str:
            index = at.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        where = f"{source}第{number}行"
        code, name, group = cell("代码"), cell("姓名"), cell("组别")
        for label, value in (("代码", code), ("姓名", name), ("组别", group)):
            if not value:
                raise BadInput(f"{where}：「{label}」不能为空")
        if len(code) > 32 or len(name) > 64 or len(group) > 32:
            raise BadInput(f"{where}：代码至多32字、姓名至多64字、组别至多32字")
        if code in seen:
            raise BadInput(f"{where}：代码「{code}」重复")
        seen.add(code)
        try:
            weight = float(cell("权重") or "1")
        except ValueError:
            raise BadInput(f"{where}：权重「{cell('权重')}」不是数字") from None
        if not 0 < weight <= 100:
            raise BadInput(f"{where}：权重须大于 0、不超过 100（{weight:g}）")
        found.append(RaterSpec(code, name, group, weight, cell("人员") or None))
    if not found:
        raise BadInput(f"{source}：没有评议人")
    return found


# -- the round -----------------------------------------------------------------------------


def get_round(session: Session, year: int, *, for_update: bool = False) -> ReviewRound:
    query = select(ReviewRound).where(ReviewRound.year == year)
    if for_update:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise NotFound(f"{year}年度没有评议，请先 duban review open --year {year}")
    return found


def open_now(session: Session) -> ReviewRound:
    """The round open now (the latest, if several years are open)."""
    found = session.exec(
        select(ReviewRound).where(ReviewRound.state == OPEN).order_by(col(ReviewRound.year).desc())
    ).first()
    if found is None:
        raise NotFound("目前没有进行中的年度评议")
    return found


def open_round(
    session: Session,
    *,
    year: int,
    raters: Sequence[RaterSpec],
    policy: ReviewPolicy,
    now: datetime,
    by: str,
    units: Sequence[str] = (),
) -> ReviewRound:
    """评议 of ``year``: the units (all active units but the desk, or those named) and the
    raters; refused when the year already has one."""
    if session.exec(select(ReviewRound).where(ReviewRound.year == year)).first() is not None:
        raise IllegalTransition(f"{year}年度的评议已经建立，不能重复建立")
    chosen = (
        [find_unit(session, name) for name in units]
        if units
        else [u for u in list_units(session) if u.active and u.kind != "desk"]
    )
    if not chosen:
        raise BadInput("没有可评议的单位")
    ids = list(dict.fromkeys(u.id for u in chosen if u.id is not None))
    people = {spec.person: get_person(session, spec.person) for spec in raters if spec.person}
    found = ReviewRound(
        year=year, state=OPEN, scale=policy.scale, unit_ids=ids, opened_at=now, opened_by=by
    )
    session.add(found)
    session.flush()
    assert found.id is not None
    for spec in raters:
        person = people.get(spec.person) if spec.person else None
        session.add(
            ReviewRater(
                round_id=found.id,
                code=spec.code,
                name=spec.name,
                group=spec.group,
                weight=spec.weight,
                person_id=person.id if person is not None else None,
            )
        )
    session.flush()
    return found


def close_round(session: Session, *, year: int, now: datetime, by: str) -> ReviewRound:
    """结束评议: from now on nothing of the round changes."""
    found = get_round(session, year, for_update=True)
    _check_open(found)
    found.state, found.closed_at, found.closed_by = CLOSED, now, by
    session.add(found)
    session.flush()
    return found


def _check_open(found: ReviewRound) -> None:
    if found.state != OPEN:
        raise IllegalTransition(f"{found.year}年度评议已结束，评议结果不能再更改")


def round_units(session: Session, found: ReviewRound) -> list[Unit]:
    by_id = {u.id: u for u in list_units(session)}
    return [by_id[i] for i in found.unit_ids if i in by_id]


def raters_of(session: Session, found: ReviewRound) -> list[ReviewRater]:
    return list(
        session.exec(
            select(ReviewRater)
            .where(ReviewRater.round_id == found.id)
            .order_by(col(ReviewRater.id))
        )
    )


def find_rater(session: Session, found: ReviewRound, code: str) -> ReviewRater:
    key = (code or "").strip()
    for rater in raters_of(session, found):
        if rater.code == key:
            return rater
    raise NotFound(f"{found.year}年度评议没有代码为「{key}」的评议人")


def rater_of_person(session: Session, found: ReviewRound, person_id: int) -> ReviewRater:
    for rater in raters_of(session, found):
        if rater.person_id == person_id:
            return rater
    raise PermissionDenied(f"您不是{found.year}年度评议的评议人")


# -- ratings -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One unit's grade (or score) as a rater wrote it."""

    unit: str  # as written: code or name
    value: str  # 优秀 … or a number
    comment: str | None = None


ENTRY = re.compile(
    r"^(?P<unit>[^=＝:：]+)[=＝:：](?P<value>[^（(]+)(?:[（(](?P<comment>.*)[)）])?$"
)


def parse_entries(text: str) -> list[Entry]:
    """``住建局=优秀 城管局=称职（工作扎实）`` (separated by spaces, commas or semicolons)."""
    entries = []
    for token in re.split(r"[\s,，;；、]+", (text or "").strip()):
        if not token:
            continue
        match = ENTRY.match(token)
        if match is None:
            raise BadInput(f"「{token}」看不懂，请写成 单位=等次，如 住建局=优秀")
        comment = (match["comment"] or "").strip() or None
        entries.append(Entry(match["unit"].strip(), match["value"].strip(), comment))
    return entries


def points_of(
    value: str, *, scale: str, policy: ReviewPolicy, unit: str
) -> tuple[str | None, float]:
    """(grade, points) of a written value on the round's scale."""
    if scale == "grade":
        if value not in REVIEW_GRADES:
            raise BadInput(f"{unit}：「{value}」不是评议等次（{' / '.join(REVIEW_GRADES)}）")
        return value, float(policy.grade_points[value])
    try:
        score = float(value)
    except ValueError:
        raise BadInput(f"{unit}：「{value}」不是 1–{MAX_SCORE} 的分数") from None
    if not 1 <= score <= MAX_SCORE:
        raise BadInput(f"{unit}：分数须在 1–{MAX_SCORE} 之间（{value}）")
    return None, score


def rate(
    session: Session,
    *,
    year: int,
    rater: ReviewRater,
    entries: Sequence[Entry],
    policy: ReviewPolicy,
    now: datetime,
) -> int:
    """Store ``rater``'s complete set (replacing an earlier one); the count stored.

    Refused, storing nothing: a closed round (late), a unit not in the round or named twice,
    a value off the scale, and a set missing any unit of the round (named in the error)."""
    found = get_round(session, year, for_update=True)
    _check_open(found)
    units = round_units(session, found)
    in_round = {u.id for u in units}
    chosen: dict[int, tuple[str | None, float, str | None]] = {}
    for entry in entries:
        unit = find_unit(session, entry.unit)
        if unit.id not in in_round:
            raise BadInput(f"{unit.short_name}不在{year}年度评议的单位之中")
        if unit.id in chosen:
            raise BadInput(f"{unit.short_name}评了两次，请每个单位只评一次")
        grade, points = points_of(
            entry.value, scale=found.scale, policy=policy, unit=unit.short_name
        )
        assert unit.id is not None
        chosen[unit.id] = (grade, points, entry.comment)
    missing = [u.short_name for u in units if u.id not in chosen]
    if missing:
        raise BadInput(
            f"评议须对全部{len(units)}个单位评定后一并提交，尚缺{len(missing)}个：{'、'.join(missing)}"
        )
    for old in session.exec(select(ReviewRating).where(ReviewRating.rater_id == rater.id)):
        session.delete(old)
    session.flush()
    assert found.id is not None and rater.id is not None
    for unit_id, (grade, points, comment) in chosen.items():
        session.add(
            ReviewRating(
                round_id=found.id,
                rater_id=rater.id,
                unit_id=unit_id,
                grade=grade,
                score=points,
                comment=comment,
                rated_at=now,
            )
        )
    rater.submitted_at = now
    session.add(rater)
    session.flush()
    return len(chosen)


def remark(
    session: Session, *, year: int, unit: str, text: str, author: str, now: datetime
) -> ReviewRemark:
    """分管领导书面点评 of a unit (a new one replaces the old while the round is open)."""
    body = (text or "").strip()
    if not body:
        raise BadInput("书面点评内容不能为空")
    name = (author or "").strip()
    if not name or len(name) > 64:
        raise BadInput("请写明点评人（--by，至多64字）")
    found = get_round(session, year, for_update=True)
    _check_open(found)
    target = find_unit(session, unit)
    if target.id not in found.unit_ids:
        raise BadInput(f"{target.short_name}不在{year}年度评议的单位之中")
    existing = session.exec(
        select(ReviewRemark)
        .where(ReviewRemark.round_id == found.id)
        .where(ReviewRemark.unit_id == target.id)
    ).first()
    assert found.id is not None and target.id is not None
    row = existing or ReviewRemark(
        round_id=found.id, unit_id=target.id, author=name, text=body, written_at=now
    )
    row.author, row.text, row.written_at = name, body, now
    session.add(row)
    session.flush()
    return row


# -- the tally -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitTally:
    """One unit's 评议, anonymous: counts by grade, weighted means by rater group and all."""

    unit: str
    label: str
    rated: int  # ratings received
    grades: dict[str, int]  # 优秀 … -> count (grade scale)
    by_group: dict[str, float]  # rater group -> weighted mean points
    score: float | None  # weighted mean over every rating
    comments: tuple[str, ...]  # raters' comments, without names
    remark: str | None  # 书面点评
    remark_by: str | None


@dataclass(frozen=True, slots=True)
class RaterStatus:
    code: str
    name: str
    group: str
    weight: float
    submitted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Tally:
    year: int
    state: str
    scale: str
    units: tuple[UnitTally, ...]
    raters: tuple[RaterStatus, ...] = field(default=())

    def unit(self, code: str) -> UnitTally:
        for row in self.units:
            if row.unit == code:
                return row
        raise KeyError(code)

    @property
    def pending(self) -> list[RaterStatus]:
        return [r for r in self.raters if r.submitted_at is None]

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "state_label": STATE_LABELS[self.state]}


def tally(session: Session, year: int) -> Tally:
    found = get_round(session, year)
    raters = {r.id: r for r in raters_of(session, found)}
    ratings: dict[int, list[ReviewRating]] = defaultdict(list)
    for rating in session.exec(
        select(ReviewRating).where(ReviewRating.round_id == found.id).order_by(col(ReviewRating.id))
    ):
        ratings[rating.unit_id].append(rating)
    remarks = {
        r.unit_id: r
        for r in session.exec(select(ReviewRemark).where(ReviewRemark.round_id == found.id))
    }
    rows = []
    for unit in round_units(session, found):
        mine = ratings.get(unit.id or 0, [])
        groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for rating in mine:
            rater = raters[rating.rater_id]
            groups[rater.group].append((rater.weight, rating.score))
        every = [pair for pairs in groups.values() for pair in pairs]
        note = remarks.get(unit.id or 0)
        rows.append(
            UnitTally(
                unit=unit.code,
                label=unit.short_name,
                rated=len(mine),
                grades={g: sum(r.grade == g for r in mine) for g in REVIEW_GRADES}
                if found.scale == "grade"
                else {},
                by_group={g: _weighted(pairs) for g, pairs in sorted(groups.items())},
                score=_weighted(every) if every else None,
                comments=tuple(r.comment for r in mine if r.comment),
                remark=note.text if note else None,
                remark_by=note.author if note else None,
            )
        )
    return Tally(
        year=year,
        state=found.state,
        scale=found.scale,
        units=tuple(rows),
        raters=tuple(
            RaterStatus(r.code, r.name, r.group, r.weight, r.submitted_at) for r in raters.values()
        ),
    )


def _weighted(pairs: Sequence[tuple[float, float]]) -> float:
    total = sum(weight for weight, _ in pairs)
    return sum(weight * points for weight, points in pairs) / total
