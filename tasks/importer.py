"""Task lists offices already keep (责任清单, 重点工作, 周交办 tables), XLSX or CSV.

The file is read as intake reads its files (``intake.readers``: encodings, a title row above
the header, several sheets, blank rows, limits). On each sheet the header is the first row
naming a task column and a unit column; a sheet without one (notes, summaries) is passed
over. Cells left blank under a merged cell (牵头领导, 牵头单位, 完成时限, 来源 written once
for a group of rows) take the value above. A row with one cell only is a heading
(一、经济发展) and is skipped. A row whose unit is unknown or whose deadline cannot be read
is refused with its number and the reason; the others go in. Each task has an import key
(title and lead unit), so importing the same file twice creates nothing new, whatever
``--source`` says the second time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from intake.errors import IntakeError
from intake.readers import (
    MB,
    Row,
    Uncomputed,
    _Budget,
    _check_unzipped_size,
    _csv_rows,
    _open_workbook,
    _sheet_rows,
)
from ledger.deadlines import DeadlineRules
from ledger.directory import find_unit, list_units
from ledger.errors import LedgerError, user_text
from ledger.models import Person, Role, Task, Unit
from ledger.policy import IntakePolicy
from ledger.tickets import Actor
from tasks.deadlines import check_task_day, parse_deadline
from tasks.errors import TaskImportError
from tasks.workflow import SOURCE_LABELS, TaskSource, TaskSpec, register

HEADERS: dict[str, tuple[str, ...]] = {
    "seq": ("序号", "编号", "序"),
    "title": (
        "任务名称",
        "工作任务",
        "督办事项",
        "重点任务",
        "任务事项",
        "事项名称",
        "任务",
        "事项",
    ),
    "requirements": (
        "工作要求",
        "具体内容",
        "任务要求",
        "工作目标",
        "主要内容",
        "具体要求",
        "内容",
    ),
    "leader": ("责任领导", "牵头领导", "分管领导", "区领导", "包抓领导", "联系领导"),
    "lead": ("牵头单位", "责任单位", "主办单位", "牵头部门", "责任部门", "承办单位"),
    "support": ("配合单位", "协办单位", "配合部门", "参与单位"),
    "deadline": ("完成时限", "时限要求", "完成时间", "办结时限", "时限"),
    "source": ("来源", "任务来源", "交办来源"),
}
FILL_DOWN = ("leader", "lead", "deadline", "source")
SPLIT_UNITS = re.compile(r"[、，,;；/\s]+")
YEAR_IN = re.compile(r"(20\d{2})\s*年")
HEADER_SCAN = 20


@dataclass
class ImportSummary:
    received: int = 0
    created: int = 0
    known: int = 0
    rejected: int = 0
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)  # the tasks created

    def as_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "created": self.created,
            "known": self.known,
            "rejected": self.rejected,
            "rejected_rows": self.rejected_rows,
        }

    def refuse(self, row: int, sheet: str, reason: str) -> None:
        self.rejected += 1
        self.rejected_rows.append({"row": row, "sheet": sheet, "reason": reason})


@dataclass(frozen=True, slots=True)
class ListRow:
    sheet: str
    number: int
    values: dict[str, Any]  # field -> cell (filled down)
    title_year: int | None  # a year named in a title row above the header


def read_rows(path: Path, limits: IntakePolicy) -> Iterator[ListRow | tuple[str, int, str]]:
    """Each task row of every sheet (or (sheet, row, reason) for a row that cannot be read)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            _check_unzipped_size(path, limits)
            budget = _Budget(limits.max_unzipped_mb * MB)
            book = _open_workbook(path, budget, limits)
            try:
                found = False
                for title, part in book.sheets:
                    for item in _sheet(title, _sheet_rows(book, part, limits, budget)):
                        found = True
                        yield item
                if not found:
                    raise TaskImportError(
                        f"{path.name}：没有找到含「任务名称」和「牵头单位」的表头"
                    )
            finally:
                book.archive.close()
        elif suffix in (".csv", ".txt", ".tsv"):
            found = False
            for item in _sheet("", _csv_rows(path, limits)):
                found = True
                yield item
            if not found:
                raise TaskImportError(f"{path.name}：没有找到含「任务名称」和「牵头单位」的表头")
        else:
            raise TaskImportError(f"{path.name}：只能导入 .xlsx 或 .csv 文件", "unsupported type")
    except IntakeError as exc:
        raise TaskImportError(f"{path.name}：{user_text(exc)}") from exc
    except OSError as exc:
        raise TaskImportError(f"{path.name}：无法读取（{exc.strerror}）") from exc


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lstrip("\ufeff").strip()
    return value


def _match_header(names: list[str]) -> dict[str, int] | None:
    columns: dict[str, int] = {}
    for key, candidates in HEADERS.items():
        for candidate in candidates:  # preference order, exact before contained
            hit = next((i for i, n in enumerate(names) if n == candidate), None)
            if hit is None:
                hit = next(
                    (
                        i
                        for i, n in enumerate(names)
                        if candidate in n and i not in columns.values()
                    ),
                    None,
                )
            if hit is not None and hit not in columns.values():
                columns[key] = hit
                break
    if "title" in columns and "lead" in columns:
        return columns
    return None


def _sheet(sheet: str, rows: Iterator[Row]) -> Iterator[ListRow | tuple[str, int, str]]:
    columns: dict[str, int] | None = None
    year: int | None = None
    scanned = 0
    above: dict[str, Any] = {}
    for row in rows:
        if not isinstance(row.cells, list):
            if columns is not None:
                yield (sheet, row.number, getattr(row.cells, "reason", "本行无法读取"))
            continue
        cells = [_cell(c) for c in row.cells]
        filled = [c for c in cells if c not in (None, "")]
        if not filled:
            continue
        if columns is None:
            scanned += 1
            names = [str(c) if c is not None else "" for c in cells]
            columns = _match_header(names)
            if columns is None:
                if (m := YEAR_IN.search(" ".join(str(c) for c in filled))) is not None:
                    year = int(m.group(1))
                if scanned >= HEADER_SCAN:
                    return
            continue
        if len(filled) == 1:
            continue  # a heading row (一、经济发展) or a note
        values = {k: cells[i] if i < len(cells) else None for k, i in columns.items()}
        formula = next((v for v in values.values() if isinstance(v, Uncomputed)), None)
        if formula is not None:  # read as empty, it was filled down from the row above
            yield (sheet, row.number, formula.reason())
            continue
        if values.get("title") in (None, "") and _match_header(
            [str(c) if c is not None else "" for c in cells]
        ):
            continue  # the header again (lists pasted one after another)
        for key in FILL_DOWN:
            if values.get(key) in (None, ""):
                values[key] = above.get(key)
            else:
                above[key] = values[key]
        yield ListRow(sheet=sheet, number=row.number, values=values, title_year=year)


def import_key(source: TaskSource, title: str, lead: Unit) -> str:
    compact = re.sub(r"\s+", "", title)
    text = f"{source.value}|{compact}|{lead.code}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _units(session: Session) -> dict[str, Unit]:
    return {u.code: u for u in list_units(session)}


def _leader(leaders: list[Person], text: str) -> Person | None:
    for person in leaders:
        if person.name and person.name in text:
            return person
    return None


def import_tasks(
    session: Session,
    path: Path,
    *,
    source: TaskSource,
    rules: DeadlineRules,
    limits: IntakePolicy,
    now: datetime,
    actor: Actor,
    year: int | None = None,
    on_created: Any = None,
) -> ImportSummary:
    """Register the tasks of a list; ``on_created(task)`` runs for each new one (交办)."""
    summary = ImportSummary()
    leaders = [p for p in session.exec(select(Person)) if Role.DISTRICT_LEADER.value in p.roles]
    known_keys = set(session.exec(select(Task.import_key).where(col(Task.import_key).is_not(None))))
    name_cache: dict[str, Unit | str] = {}

    def unit(name: str) -> Unit:
        if name not in name_cache:
            try:
                name_cache[name] = find_unit(session, name)
            except LedgerError as exc:
                name_cache[name] = user_text(exc)
        found = name_cache[name]
        if isinstance(found, str):
            raise _Refused(found)
        return found

    for item in read_rows(path, limits):
        if isinstance(item, tuple):
            summary.received += 1
            summary.refuse(item[1], item[0], item[2])
            continue
        summary.received += 1
        try:
            spec = _spec(item, unit=unit, leaders=leaders, source=source, rules=rules,
                         year=year or item.title_year or rules.local_date(now).year,
                         today=rules.local_date(now))  # fmt: skip
        except (_Refused, LedgerError) as exc:
            reason = exc.reason if isinstance(exc, _Refused) else user_text(exc)
            summary.refuse(item.number, item.sheet, reason)
            continue
        if spec.import_key in known_keys:
            summary.known += 1
            continue
        task = register(session, spec, rules=rules, now=now, actor=actor)
        known_keys.add(spec.import_key)
        summary.created += 1
        summary.numbers.append(task.number)
        if on_created is not None:
            on_created(task)
    return summary


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _ref(text: str) -> str | None:
    """The meeting or document a row names (a bare kind such as 重点工作 is no reference)."""
    return None if not text or text in SOURCE_LABELS.values() else text[:255]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _spec(
    item: ListRow,
    *,
    unit: Any,
    leaders: list[Person],
    source: TaskSource,
    rules: DeadlineRules,
    year: int,
    today: date,
) -> TaskSpec:
    values = item.values
    title = re.sub(r"\s+", " ", _text(values.get("title")))
    if not title:
        raise _Refused("任务名称为空")
    lead_name = _text(values.get("lead"))
    if not lead_name:
        raise _Refused("牵头单位为空")
    names = [n for n in SPLIT_UNITS.split(lead_name) if n]
    lead = unit(names[0])
    support = [unit(n) for n in names[1:]]  # "住建局、城管局" in the lead column: the first leads
    support += [unit(n) for n in SPLIT_UNITS.split(_text(values.get("support"))) if n]
    raw_deadline = values.get("deadline")
    try:
        deadline = parse_deadline(raw_deadline, year=year, rules=rules)
        if deadline.due_date is not None:  # 9999年12月31日: 8,000 years of warnings
            check_task_day(
                deadline.due_date, today=today, field="完成时限", shown=_text(raw_deadline)
            )
    except LedgerError as exc:
        raise _Refused(user_text(exc)) from None
    row_source = source
    if _text(values.get("source")):
        try:
            row_source = TaskSource.parse(_text(values.get("source")))
        except LedgerError:
            row_source = source  # the meeting's name (e.g. 第12次常务会) is kept as the ref
    leader_text = _text(values.get("leader"))
    leader = _leader(leaders, leader_text) if leader_text else None
    return TaskSpec(
        title=title,
        lead_unit=lead,
        source=row_source,
        source_ref=_ref(_text(values.get("source"))),
        due_date=deadline.due_date,
        limit_days=deadline.limit_days,
        ongoing=deadline.ongoing,
        report_monthly=deadline.monthly,
        requirements=_text(values.get("requirements")) or None,
        leader=leader,
        leader_name=(leader.name if leader else leader_text[:64] or None),
        support_units=tuple(u for u in support if u.id != lead.id),
        import_key=import_key(TaskSource.LIST, title, lead),  # whatever --source says
    )
