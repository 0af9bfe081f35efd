"""The unit's year (年度督查督办情况): per unit, the year's tickets, key tasks, check-ins,
monthly ranks and flags, and the 通报 it received, as JSON, an XLSX of all units and a DOCX
pack per unit in the official layout.

The year is the office's calendar year ``[1 Jan, 1 Jan next)``; like every report it sees the
ledger as it stood at the cut-off ``min(now, end of year)``.

- tickets: the year's :class:`~reports.figures.Figures` of the unit (``figures_from`` over
  the whole year): 收件, 回复率, 按期率, 办结率, mean 核查 rating, 退回, 续办, 超期未反馈;
- tasks (督办事项 the unit leads, assigned before the cut-off and not 销号 before the year):
  fell due in the year (deadline in force within the year, passed by the cut-off), of which
  办结 reported by the deadline; 销号 in the year; overdue open at the cut-off; the colours
  of its open tasks at the cut-off (``tasks.colours.status_of``);
- check-ins (``checkins.record.unit_figures`` over the year's days up to the cut-off): windows
  owed, posted, late, found false, rate;
- months: the unit's rows of the flag history (``unit_flag``) for the year's months;
- 通报: ticket ``escalate`` events at the unit and ``escalate`` of tasks it leads, in the year.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from checkins.figures import month_bounds
from checkins.figures import points as checkin_points
from checkins.record import unit_figures
from ledger.deadlines import DeadlineRules
from ledger.models import Event, Task, TaskEvent, TaskMilestone, Ticket, Unit, UnitFlag
from ledger.policy import CheckinPolicy, OfficePolicy, RankingPolicy, TaskPolicy
from reports.errors import BadPeriod, RenderError
from reports.figures import BY_UNIT, Figures, cutoff_of, figures_from, iter_histories, list_units
from reports.masthead import Masthead, chinese_date, zone_label
from reports.outputs import SHARED, OutputGuard, atomic_path, check_all, spreadsheet_text
from reports.periods import MAX_YEAR, MIN_YEAR, Period
from tasks.colours import OPEN_COLOURS, status_of

ANNUAL_TITLE = "年度督查督办情况"
ANNUAL_FORMATS = ("docx", "xlsx", "json")


def year_period(year: int) -> Period:
    """The calendar year as a report period (``kind`` "year", key "2026")."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise BadPeriod(f"--year: {year} 须在 {MIN_YEAR}–{MAX_YEAR} 之间 (year out of range)")
    return Period("year", str(year), date(year, 1, 1), date(year, 12, 31))


# -- what a unit's year holds --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskYear:
    tasks: int = 0  # led by the unit and open at some time in the year
    due: int = 0  # fell due in the year, by the cut-off
    on_time: int = 0  # … 办结 reported by the deadline in force
    closed: int = 0  # 销号 in the year
    overdue_open: int = 0  # past the deadline without 办结 at the cut-off
    colours: dict[str, int] = field(default_factory=dict)  # open tasks by colour at the cut-off

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None


@dataclass(frozen=True, slots=True)
class CheckinYear:
    expected: int = 0
    posted: int = 0
    late: int = 0
    false: int = 0

    @property
    def rate(self) -> float | None:
        return self.posted / self.expected if self.expected else None


@dataclass(frozen=True, slots=True)
class MonthFlag:
    month: str
    group: str
    rank: int | None
    score: float | None
    flag: str | None
    last: bool
    accountability: bool


@dataclass(frozen=True, slots=True)
class Notice:
    """A 通报 the unit received."""

    at: datetime
    kind: str  # 督办件 | 督办事项
    number: str
    note: str | None


@dataclass(frozen=True, slots=True)
class PointItem:
    """One month's 加分 / 扣分 from check-ins (``checkins.figures.points``), with why."""

    month: str
    points: float
    reason: str


@dataclass(frozen=True, slots=True)
class UnitYear:
    unit: str  # code
    label: str  # short name
    name: str
    group: str  # the unit's kind (department | street)
    tickets: Figures
    tasks: TaskYear
    checkins: CheckinYear
    months: tuple[MonthFlag, ...]
    notices: tuple[Notice, ...]
    points: tuple[PointItem, ...] = ()  # 加分 / 扣分 of the months, with reasons

    @property
    def points_total(self) -> float:
        return round(sum(p.points for p in self.points), 2)

    @property
    def red_flags(self) -> int:
        return sum(m.flag == "红旗" for m in self.months)

    @property
    def yellow_flags(self) -> int:
        return sum(m.flag == "黄旗" for m in self.months)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tasks"]["on_time_rate"] = self.tasks.on_time_rate
        data["checkins"]["rate"] = self.checkins.rate
        data["red_flags"], data["yellow_flags"] = self.red_flags, self.yellow_flags
        data["points_total"] = self.points_total
        return data


@dataclass(frozen=True, slots=True)
class AnnualReport:
    year: int
    period: Period
    now: datetime
    as_of: datetime
    timezone: str
    masthead: Masthead
    units: tuple[UnitYear, ...]
    total: Figures
    kind: str = "annual"

    def unit(self, code: str) -> UnitYear:
        for row in self.units:
            if row.unit == code:
                return row
        raise KeyError(code)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "year": self.year,
            "now": self.now.isoformat(),
            "as_of": self.as_of.isoformat(),
            "timezone": self.timezone,
            "total": self.total.as_dict(),
            "units": [row.as_dict() for row in self.units],
        }


# -- building it ---------------------------------------------------------------------------


def build_annual(
    session: Session,
    *,
    year: int,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    task_policy: TaskPolicy | None = None,
    checkin_policy: CheckinPolicy | None = None,
    office: OfficePolicy | None = None,
    units: Sequence[str] = (),
    replay_all: bool = False,
) -> AnnualReport:
    """The year's figures of every unit (or of the units named by code or name).
    ``replay_all`` replays every ticket from its events instead of reading the simple ones
    from their rows (the same report, slower: for tests)."""
    period = year_period(year)
    cutoff = cutoff_of(period, now=now, rules=rules)
    start = period.start(rules.tz)
    everyone = list_units(session)
    histories = iter_histories(  # counted as made, never all held at once
        session, until=cutoff, since=period, tz=rules.tz, cutoffs=None if replay_all else [cutoff]
    )
    table = figures_from(
        histories, everyone, period=period, now=now, rules=rules, policy=policy, by=BY_UNIT
    )
    chosen = _choose(everyone, units)
    last_day = min(period.last, rules.local_date(cutoff))
    checkins, points = (
        _checkin_months(session, year, last_day, policy=checkin_policy, rules=rules, now=cutoff)
        if checkin_policy is not None and last_day >= period.first
        else ({}, {})
    )
    tasks = _task_years(
        session, start=start, cutoff=cutoff, rules=rules, policy=task_policy or TaskPolicy()
    )
    flags = _flags(session, year)
    notices = _notices(session, start=start, cutoff=cutoff)
    rows = []
    for unit in chosen:
        assert unit.id is not None
        try:
            figures = table.row(unit.code)
        except KeyError:
            figures = _empty_figures(unit)
        fig = checkins.get(unit.id, CheckinYear())
        rows.append(
            UnitYear(
                unit=unit.code,
                label=unit.short_name,
                name=unit.name,
                group=unit.kind,
                tickets=figures,
                tasks=tasks.get(unit.id, TaskYear()),
                checkins=fig,
                points=tuple(points.get(unit.id, ())),
                months=tuple(flags.get(unit.id, ())),
                notices=tuple(notices.get(unit.id, ())),
            )
        )
    return AnnualReport(
        year=year,
        period=period,
        now=now,
        as_of=cutoff,
        timezone=str(rules.tz),
        masthead=_masthead(office or OfficePolicy(), year=year, now=now, rules=rules),
        units=tuple(rows),
        total=table.total,
    )


def _checkin_months(
    session: Session,
    year: int,
    last_day: date,
    *,
    policy: CheckinPolicy,
    rules: DeadlineRules,
    now: datetime,
) -> tuple[dict[int, CheckinYear], dict[int, list[PointItem]]]:
    """The year's check-ins month by month: the sums, and each month's 加分 / 扣分."""
    totals: dict[int, CheckinYear] = {}
    items: dict[int, list[PointItem]] = {}
    for number in range(1, 13):
        first, last = month_bounds(f"{year}-{number:02d}")
        if first > last_day:
            break
        month = unit_figures(
            session, first, min(last, last_day), policy=policy, rules=rules, now=now
        )
        for unit_id, fig in month.items():
            was = totals.get(unit_id, CheckinYear())
            totals[unit_id] = CheckinYear(
                was.expected + fig.expected,
                was.posted + fig.posted,
                was.late + fig.late,
                was.false + fig.false,
            )
            value = checkin_points(fig, policy)
            if value:
                items.setdefault(unit_id, []).append(
                    PointItem(f"{year}-{number:02d}", value, _reason(fig, policy))
                )
    return totals, items


def _reason(fig: Any, policy: CheckinPolicy) -> str:
    missed = fig.expected - fig.posted
    parts = [
        f"{label}{count}{unit}（每{unit}{'扣' if weight else ''}{weight:g}分）"
        for label, count, unit, weight in (
            ("漏晒", missed, "次", policy.penalty_per_missed),
            ("迟晒", fig.late, "次", policy.penalty_per_late),
            ("抽查不实", fig.false, "条", policy.penalty_per_false),
        )
        if count and weight
    ]
    if fig.expected and missed == 0 and policy.bonus_full_rate:
        parts.append(f"应晒全部晒到（加{policy.bonus_full_rate:g}分）")
    return "，".join(parts)


def _choose(units: Sequence[Unit], wanted: Sequence[str]) -> list[Unit]:
    listed = [u for u in units if u.active and u.kind != "desk"]
    if not wanted:
        return listed
    chosen = []
    for text in wanted:
        key = text.strip()
        match = [u for u in units if key in (u.code, u.name, u.short_name, *u.aliases)]
        if not match:
            raise BadPeriod(f"--unit: 没有单位「{key}」(no such unit)")
        chosen.append(match[0])
    return chosen


def _empty_figures(unit: Unit) -> Figures:
    from reports.figures import _Tally

    return _Tally().figures(unit.code, unit.short_name)


def _task_years(
    session: Session, *, start: datetime, cutoff: datetime, rules: DeadlineRules, policy: TaskPolicy
) -> dict[int, TaskYear]:
    tasks = [
        t
        for t in session.exec(select(Task).where(col(Task.assigned_at).is_not(None)))
        if t.assigned_at is not None
        and t.assigned_at < cutoff
        and not (t.closed_at is not None and t.closed_at < start)
    ]
    milestones: dict[int, list[TaskMilestone]] = {}
    for milestone in session.exec(select(TaskMilestone).order_by(col(TaskMilestone.seq))):
        milestones.setdefault(milestone.task_id, []).append(milestone)
    counts: dict[int, dict[str, Any]] = {}
    for task in tasks:
        c = counts.setdefault(
            task.lead_unit_id,
            {"tasks": 0, "due": 0, "on_time": 0, "closed": 0, "overdue_open": 0, "c": Counter()},
        )
        c["tasks"] += 1
        finished = task.finished_at if task.finished_at and task.finished_at < cutoff else None
        if task.due_at is not None and start <= task.due_at < cutoff:
            c["due"] += 1
            c["on_time"] += finished is not None and finished <= task.due_at
        if task.closed_at is not None and start <= task.closed_at < cutoff:
            c["closed"] += 1
        if task.due_at is not None and task.due_at < cutoff and finished is None:
            c["overdue_open"] += 1
        colour = status_of(
            task, milestones.get(task.id or 0, []), rules=rules, policy=policy, now=cutoff
        ).colour
        if colour in OPEN_COLOURS:
            c["c"][colour.value] += 1
    return {
        unit_id: TaskYear(
            tasks=c["tasks"],
            due=c["due"],
            on_time=c["on_time"],
            closed=c["closed"],
            overdue_open=c["overdue_open"],
            colours={colour.value: c["c"][colour.value] for colour in OPEN_COLOURS},
        )
        for unit_id, c in counts.items()
    }


def _flags(session: Session, year: int) -> dict[int, list[MonthFlag]]:
    found: dict[int, list[MonthFlag]] = {}
    rows = session.exec(
        select(UnitFlag)
        .where(col(UnitFlag.month).startswith(f"{year}-"))
        .order_by(col(UnitFlag.month))
    )
    for row in rows:
        found.setdefault(row.unit_id, []).append(
            MonthFlag(
                month=row.month,
                group=row.group,
                rank=row.rank,
                score=row.score,
                flag=row.flag,
                last=row.last,
                accountability=row.accountability,
            )
        )
    return found


def _notices(session: Session, *, start: datetime, cutoff: datetime) -> dict[int, list[Notice]]:
    found: dict[int, list[Notice]] = {}
    for event, number in session.exec(
        select(Event, Ticket.number)
        .join(Ticket, col(Ticket.id) == col(Event.ticket_id))
        .where(Event.action == "escalate")
        .where(Event.at >= start)
        .where(Event.at < cutoff)
        .order_by(col(Event.at), col(Event.id))
    ):
        if event.unit_id is not None:
            found.setdefault(event.unit_id, []).append(
                Notice(at=event.at, kind="督办件", number=number, note=event.note)
            )
    for task_event, task in session.exec(
        select(TaskEvent, Task)
        .join(Task, col(Task.id) == col(TaskEvent.task_id))
        .where(TaskEvent.action == "escalate")
        .where(TaskEvent.at >= start)
        .where(TaskEvent.at < cutoff)
        .order_by(col(TaskEvent.at), col(TaskEvent.id))
    ):
        found.setdefault(task.lead_unit_id, []).append(
            Notice(at=task_event.at, kind="督办事项", number=task.number, note=task_event.note)
        )
    for items in found.values():
        items.sort(key=lambda n: n.at)
    return found


def _masthead(office: OfficePolicy, *, year: int, now: datetime, rules: DeadlineRules) -> Masthead:
    return Masthead(
        office=office.name,
        short_name=office.short_name or office.name,
        issuer=office.issuer or office.name,
        recipients=office.recipients,
        title=ANNUAL_TITLE,
        issue=year,
        doc_number=f"{office.monthly_code}〔{year}〕年度",
        time_label=office.time_label or zone_label(str(rules.tz)),
        dated=now.astimezone(rules.tz).date(),
        fonts=office.fonts.model_dump(),
    )


# -- the figures as rows (XLSX and the DOCX tables read the same list) ---------------------


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def num(value: float | None, places: int = 2) -> str:
    return "—" if value is None else f"{value:.{places}f}"


# (header, function of a UnitYear giving a raw value, kind: int | pct | score | text)
SUMMARY_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("单位", lambda u: u.label, "text"),
    ("收件", lambda u: u.tickets.received, "int"),
    ("到期", lambda u: u.tickets.due, "int"),
    ("回复率", lambda u: u.tickets.reply_rate, "pct"),
    ("按期率", lambda u: u.tickets.on_time_rate, "pct"),
    ("办结率", lambda u: u.tickets.completion_rate, "pct"),
    ("平均评分", lambda u: u.tickets.quality_mean, "score"),
    ("退回", lambda u: u.tickets.returned, "int"),
    ("续办", lambda u: u.tickets.reopened, "int"),
    ("超期未反馈", lambda u: u.tickets.overdue_open, "int"),
    ("事项", lambda u: u.tasks.tasks, "int"),
    ("事项到期", lambda u: u.tasks.due, "int"),
    ("事项按期办结", lambda u: u.tasks.on_time, "int"),
    ("事项销号", lambda u: u.tasks.closed, "int"),
    ("事项超期", lambda u: u.tasks.overdue_open, "int"),
    ("红色", lambda u: u.tasks.colours.get("红", 0), "int"),
    ("黄色", lambda u: u.tasks.colours.get("黄", 0), "int"),
    ("蓝色", lambda u: u.tasks.colours.get("蓝", 0), "int"),
    ("绿色", lambda u: u.tasks.colours.get("绿", 0), "int"),
    ("应晒", lambda u: u.checkins.expected, "int"),
    ("已晒", lambda u: u.checkins.posted, "int"),
    ("晒报率", lambda u: u.checkins.rate, "pct"),
    ("迟晒", lambda u: u.checkins.late, "int"),
    ("不实", lambda u: u.checkins.false, "int"),
    ("晒报加扣分", lambda u: u.points_total, "score"),
    ("红旗", lambda u: u.red_flags, "int"),
    ("黄旗", lambda u: u.yellow_flags, "int"),
    ("通报", lambda u: len(u.notices), "int"),
)


def _text(value: Any, kind: str) -> str:
    if kind == "pct":
        return pct(value)
    if kind == "score":
        return num(value)
    return "—" if value is None else str(value)


# -- writing -------------------------------------------------------------------------------


def write_annual_xlsx(report: AnnualReport, path: Path) -> Path:
    """One sheet of all units (rates as fractions in % format), one of the month flags and
    one of the 通报."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = f"{report.year}年度"
    sheet.append([header for header, _, _ in SUMMARY_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in report.units:
        values = []
        for _, get, kind in SUMMARY_COLUMNS:
            value = get(row)
            values.append(spreadsheet_text(value) if kind == "text" else value)
        sheet.append(values)
        for index, (_, _, kind) in enumerate(SUMMARY_COLUMNS, start=1):
            if kind == "pct":
                sheet.cell(row=sheet.max_row, column=index).number_format = "0.0%"
            elif kind == "score":
                sheet.cell(row=sheet.max_row, column=index).number_format = "0.00"
    flags = book.create_sheet("月讲评名次")
    flags.append(["单位", "月份", "组别", "名次", "得分", "旗", "末位", "问责提示"])
    for row in report.units:
        for m in row.months:
            flags.append(
                [
                    spreadsheet_text(row.label),
                    m.month,
                    m.group,
                    m.rank,
                    m.score,
                    m.flag or "",
                    "是" if m.last else "",
                    "是" if m.accountability else "",
                ]
            )
    notices = book.create_sheet("通报")
    notices.append(["单位", "时间", "类别", "编号", "内容"])
    tz = _tz(report)
    for row in report.units:
        for n in row.notices:
            notices.append(
                [
                    spreadsheet_text(row.label),
                    n.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    n.kind,
                    n.number,
                    spreadsheet_text(n.note or ""),
                ]
            )
    try:
        with atomic_path(path, mode=SHARED) as temp:
            book.save(str(temp))
    except OSError as exc:
        raise RenderError(f"{path}: 无法写入 (cannot write): {exc}") from exc
    return Path(path)


def _tz(report: AnnualReport):
    from zoneinfo import ZoneInfo

    return ZoneInfo(report.timezone)


def build_unit_docx(report: AnnualReport, row: UnitYear):
    """One unit's year in the official layout: 版头, title, the figures in sections, the
    month flags and the 通报 as tables, 署名 and 成文日期."""
    from reports.docx import ER_HAO, RED, WU_HAO, _Writer

    w = _Writer(report)  # type: ignore[arg-type]
    m = report.masthead
    tz = _tz(report)
    w.para(m.office, kind="title", size=ER_HAO + 4, align="center", indent=False, color=RED)
    w.red_rule(w.para(m.doc_number, align="center", indent=False))
    w.para()
    w.para(f"{row.name}{report.year}年度", kind="title", size=ER_HAO, align="center", indent=False)
    w.para("督查督办情况", kind="title", size=ER_HAO, align="center", indent=False)
    w.para()
    as_of = report.as_of.astimezone(tz)
    w.para(
        f"统计期间{report.year}年1月1日至{chinese_date(min(report.period.last, as_of.date()))}，"
        f"数据截至{as_of:%Y年%m月%d日%H:%M}（{m.time_label}）。"
    )
    t, k, c = row.tickets, row.tasks, row.checkins
    w.para("一、督办件办理", kind="heading")
    w.para(
        f"全年收件{t.received}件，到期{t.due}件，回复率{pct(t.reply_rate)}，"
        f"按期率{pct(t.on_time_rate)}，办结率{pct(t.completion_rate)}；"
        f"核查评分{t.rated}次，平均{num(t.quality_mean)}分；"
        f"退回{t.returned}次，续办{t.reopened}次，截至统计时超期未反馈{t.overdue_open}件。"
    )
    w.para("二、督办事项落实", kind="heading")
    colours = "、".join(f"{name}{count}项" for name, count in k.colours.items()) or "无"
    w.para(
        f"牵头督办事项{k.tasks}项，年内到期{k.due}项，按期办结{k.on_time}项"
        f"（按期率{pct(k.on_time_rate)}），销号{k.closed}项，超期未办结{k.overdue_open}项；"
        f"在办事项状态：{colours}。"
    )
    w.para("三、一日三晒", kind="heading")
    w.para(
        f"应晒{c.expected}次，已晒{c.posted}次（晒报率{pct(c.rate)}），"
        f"其中迟晒{c.late}次，抽查不实{c.false}次。"
    )
    for item in row.points:
        sign = "加" if item.points > 0 else "扣"
        w.para(f"{item.month}：{sign}{abs(item.points):g}分，{item.reason}。")
    w.para("四、月讲评名次与红黄旗", kind="heading")
    if row.months:
        w.para(f"全年获红旗{row.red_flags}次、黄旗{row.yellow_flags}次。")
        _table(
            w,
            ["月份", "名次", "得分", "旗", "问责提示"],
            [
                [
                    f.month,
                    "—" if f.rank is None else str(f.rank),
                    num(f.score),
                    f.flag or "—",
                    "是" if f.accountability else "—",
                ]
                for f in row.months
            ],
            size=WU_HAO,
        )
    else:
        w.para("本年度无月讲评名次记录。")
    w.para("五、通报", kind="heading")
    if row.notices:
        w.para(f"全年受到通报{len(row.notices)}次。")
        _table(
            w,
            ["时间", "类别", "编号", "内容"],
            [
                [f"{n.at.astimezone(tz):%Y-%m-%d}", n.kind, n.number, n.note or ""]
                for n in row.notices
            ],
            size=WU_HAO,
        )
    else:
        w.para("本年度未受到通报。")
    w.para()
    w.para(m.issuer, align="right", indent=False, right_chars=4)
    w.para(m.date_label, align="right", indent=False, right_chars=4)
    w.fallbacks()
    return w.doc


def _table(w, header: list[str], rows: list[list[str]], *, size: float) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT

    table = w.doc.add_table(rows=1 + len(rows), cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for r, texts in enumerate([header, *rows]):
        for i, text in enumerate(texts):
            paragraph = table.cell(r, i).paragraphs[0]
            paragraph.paragraph_format.first_line_indent = 0
            run = w._run(paragraph, text, "body", size)
            run.bold = r == 0


def unit_docx_path(folder: Path, report: AnnualReport, row: UnitYear) -> Path:
    return Path(folder) / f"annual-{report.year}-{row.unit}.docx"


def write_annual(
    report: AnnualReport, out: Path, fmt: str, *, guard: OutputGuard | None
) -> list[Path]:
    """Write ``report``: ``json`` and ``xlsx`` to the file ``out``; ``docx`` to one file per
    unit in the folder ``out`` (or to the file ``out`` when it names one unit's pack).
    Every path is checked before anything is written."""
    from reports.render import to_jsonable

    if fmt not in ANNUAL_FORMATS:
        raise RenderError(f"--format: 不支持「{fmt}」，可选 {' | '.join(ANNUAL_FORMATS)}")
    out = Path(out)
    if fmt == "docx":
        if out.suffix.lower() == ".docx":
            if len(report.units) != 1:
                raise RenderError(
                    f"{out}: 多个单位的年度材料须写入目录，请给出目录或用 --unit 指定一个单位"
                    " (a folder for several units)"
                )
            targets = [(out, report.units[0])]
        else:
            if guard is not None:
                guard.check_folder(out)
            targets = [(unit_docx_path(out, report, row), row) for row in report.units]
        check_all(guard, [path for path, _ in targets])
        for path, row in targets:
            document = build_unit_docx(report, row)
            try:
                with atomic_path(path, mode=SHARED) as temp:
                    document.save(str(temp))
            except OSError as exc:
                raise RenderError(f"{path}: 无法写入 (cannot write): {exc}") from exc
        return [path for path, _ in targets]
    check_all(guard, [out])
    if fmt == "xlsx":
        return [write_annual_xlsx(report, out)]
    import json

    text = json.dumps(to_jsonable(report.as_dict()), ensure_ascii=False, indent=2) + "\n"
    from reports.outputs import write_text

    return [write_text(out, text)]
