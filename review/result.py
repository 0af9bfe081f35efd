"""The annual result (年度考评结果): each unit's score from the ledger and the 评议, its grade
by the thresholds of its group, and a flag when it is 不达标 two years running.

    台账得分  = mean of the unit's 月讲评 scores of the year (the flag history ``unit_flag``,
                months with a score; they already join tickets, tasks and check-ins)
    评议得分  = the weighted mean of the closed round's ratings (``review.rounds.tally``)
    年度得分  = ledger_weight x 台账得分 + rating_weight x 评议得分   (policy ``review:``);
                with only one of the two, that one
    等次      = the highest line of the unit's group (``group_grades`` or ``grades``) the
                score reaches; below every line 不达标; no score at all: 未评定

The result is kept on the round (``ReviewRound.result``) so next year's can read this
year's grade; it is written as XLSX and DOCX and posted to the supervisors' chat.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import Audience, ReviewRound, UnitFlag
from ledger.outbox import add_notification
from ledger.policy import FAIL_GRADE, OfficePolicy, ReviewPolicy
from reports.errors import RenderError
from reports.masthead import Masthead, zone_label
from reports.outputs import SHARED, OutputGuard, atomic_path, check_all, spreadsheet_text
from review.errors import IllegalTransition
from review.rounds import CLOSED, get_round, round_units, tally

UNRATED = "未评定"
TITLE = "年度督查督办考评结果"
COLUMNS = ("单位", "组别", "台账得分", "评议得分", "年度得分", "等次", "上年等次", "备注")
GROUP_LABELS = {"department": "部门", "street": "乡镇（街道）"}
TWICE = "连续两年不达标"


@dataclass(frozen=True, slots=True)
class ResultRow:
    unit: str
    label: str
    group: str
    ledger_score: float | None
    months: int  # months with a 月讲评 score
    rating_score: float | None
    score: float | None
    grade: str
    previous_grade: str | None
    fail_twice: bool

    def cells(self) -> list[Any]:
        return [
            self.label,
            GROUP_LABELS.get(self.group, self.group),
            _round(self.ledger_score),
            _round(self.rating_score),
            _round(self.score),
            self.grade,
            self.previous_grade or "",
            TWICE if self.fail_twice else "",
        ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True, slots=True)
class AnnualResult:
    year: int
    now: datetime
    timezone: str
    masthead: Masthead
    rows: tuple[ResultRow, ...]
    weights: dict[str, float]

    def row(self, code: str) -> ResultRow:
        for row in self.rows:
            if row.unit == code:
                return row
        raise KeyError(code)

    @property
    def fail_twice(self) -> list[ResultRow]:
        return [r for r in self.rows if r.fail_twice]

    def as_dict(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "weights": self.weights,
            "rows": [asdict(r) for r in self.rows],
            "fail_twice": [r.unit for r in self.fail_twice],
        }


def grade_of(score: float | None, group: str, policy: ReviewPolicy) -> str:
    if score is None:
        return UNRATED
    for grade, line in policy.thresholds(group):
        if score >= line - 1e-9:
            return grade
    return FAIL_GRADE


def ledger_scores(session: Session, year: int) -> dict[int, list[float]]:
    found: dict[int, list[float]] = {}
    for flag in session.exec(select(UnitFlag).where(col(UnitFlag.month).startswith(f"{year}-"))):
        if flag.score is not None:
            found.setdefault(flag.unit_id, []).append(flag.score)
    return found


def make_result(
    session: Session,
    *,
    year: int,
    policy: ReviewPolicy,
    now: datetime,
    rules: DeadlineRules,
    office: OfficePolicy | None = None,
) -> AnnualResult:
    """The result of ``year`` (its round must be closed), kept on the round."""
    found = get_round(session, year, for_update=True)
    if found.state != CLOSED:
        raise IllegalTransition(
            f"{year}年度评议尚未结束，请先 duban review close --year {year} 再出考评结果"
        )
    ratings = {row.unit: row.score for row in tally(session, year).units}
    monthly = ledger_scores(session, year)
    before = session.exec(select(ReviewRound).where(ReviewRound.year == year - 1)).first()
    previous = (before.result or {}) if before is not None else {}
    rows = []
    for unit in round_units(session, found):
        months = monthly.get(unit.id or 0, [])
        ledger = statistics.fmean(months) if months else None
        rating = ratings.get(unit.code)
        score = _combine(ledger, rating, policy)
        grade = grade_of(score, unit.kind, policy)
        prior = (previous.get(unit.code) or {}).get("grade")
        rows.append(
            ResultRow(
                unit=unit.code,
                label=unit.short_name,
                group=unit.kind,
                ledger_score=ledger,
                months=len(months),
                rating_score=rating,
                score=score,
                grade=grade,
                previous_grade=prior,
                fail_twice=grade == FAIL_GRADE and prior == FAIL_GRADE,
            )
        )
    found.result = {r.unit: {"score": r.score, "grade": r.grade} for r in rows}
    session.add(found)
    session.flush()
    return AnnualResult(
        year=year,
        now=now,
        timezone=str(rules.tz),
        masthead=_masthead(office or OfficePolicy(), year, now, rules),
        rows=tuple(rows),
        weights={"ledger_weight": policy.ledger_weight, "rating_weight": policy.rating_weight},
    )


def _combine(ledger: float | None, rating: float | None, policy: ReviewPolicy) -> float | None:
    if ledger is not None and rating is not None:
        return policy.ledger_weight * ledger + policy.rating_weight * rating
    return ledger if ledger is not None else rating


def _masthead(office: OfficePolicy, year: int, now: datetime, rules: DeadlineRules) -> Masthead:
    return Masthead(
        office=office.name,
        short_name=office.short_name or office.name,
        issuer=office.issuer or office.name,
        recipients=office.recipients,
        title=TITLE,
        issue=year,
        doc_number=f"{office.monthly_code}〔{year}〕考评",
        time_label=office.time_label or zone_label(str(rules.tz)),
        dated=now.astimezone(rules.tz).date(),
        fonts=office.fonts.model_dump(),
    )


# -- the text, the files, the post -------------------------------------------------------


def summary_lines(result: AnnualResult) -> list[str]:
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row.grade] = counts.get(row.grade, 0) + 1
    lines = [
        f"{result.year}年度督查督办考评结果：共{len(result.rows)}个单位，"
        + "，".join(f"{grade}{n}个" for grade, n in counts.items())
    ]
    for row in sorted(result.rows, key=lambda r: -(r.score or -1)):
        score = "—" if row.score is None else f"{row.score:.2f}"
        tail = f"（{TWICE}）" if row.fail_twice else ""
        lines.append(f"{row.label} {score} {row.grade}{tail}")
    if result.fail_twice:
        names = "、".join(r.label for r in result.fail_twice)
        lines.append(f"连续两年不达标：{names}，请按规定研究处理。")
    return lines


def write_result(
    result: AnnualResult, folder: Path, *, guard: OutputGuard | None
) -> dict[str, Path]:
    """``review-<year>.xlsx`` and ``review-<year>.docx`` in ``folder`` (both checked first)."""
    folder = Path(folder)
    if guard is not None:
        guard.check_folder(folder)
    paths = {fmt: folder / f"review-{result.year}.{fmt}" for fmt in ("xlsx", "docx")}
    check_all(guard, paths.values())
    _xlsx(result, paths["xlsx"])
    _docx(result, paths["docx"])
    return paths


def _xlsx(result: AnnualResult, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = f"{result.year}年度考评"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in result.rows:
        sheet.append([spreadsheet_text(v) if isinstance(v, str) else v for v in row.cells()])
    try:
        with atomic_path(path, mode=SHARED) as temp:
            book.save(str(temp))
    except OSError as exc:
        raise RenderError(f"{path}: 无法写入 (cannot write): {exc}") from exc


def _docx(result: AnnualResult, path: Path) -> None:
    from reports.annual import _table
    from reports.docx import ER_HAO, RED, XIAO_WU, _Writer

    w = _Writer(result)  # type: ignore[arg-type]
    m = result.masthead
    w.para(m.office, kind="title", size=ER_HAO + 4, align="center", indent=False, color=RED)
    w.red_rule(w.para(m.doc_number, align="center", indent=False))
    w.para()
    w.para(f"{result.year}年度督查督办考评结果", kind="title", size=ER_HAO, align="center",
           indent=False)  # fmt: skip
    w.para()
    weights = result.weights
    w.para(
        f"年度得分按台账得分（全年月讲评得分的平均）占{weights['ledger_weight'] * 100:.0f}%、"
        f"综合评议得分占{weights['rating_weight'] * 100:.0f}%计算，按各组分数线评定等次。"
    )
    lines = summary_lines(result)
    w.para(lines[0] + "。")
    if result.fail_twice:
        w.para(lines[-1])
    _table(
        w,
        list(COLUMNS),
        [["—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))
          for v in row.cells()] for row in result.rows],
        size=XIAO_WU,
    )  # fmt: skip
    w.para()
    w.para(m.issuer, align="right", indent=False, right_chars=4)
    w.para(m.date_label, align="right", indent=False, right_chars=4)
    w.fallbacks()
    try:
        with atomic_path(path, mode=SHARED) as temp:
            w.doc.save(str(temp))
    except OSError as exc:
        raise RenderError(f"{path}: 无法写入 (cannot write): {exc}") from exc


def post_result(
    session: Session, result: AnnualResult, *, files: dict[str, Path], now: datetime
) -> bool:
    """The result to the supervisors' chat through the outbox, once per year; False when
    it was posted before."""
    row = add_notification(
        session,
        dedupe_key=f"review:result:{result.year}",
        kind="report",
        audience=Audience.SUPERVISORS,
        text="\n".join(summary_lines(result)),
        now=now,
        payload={
            "report": "review",
            "period": str(result.year),
            "charts": [],
            "files": {fmt: str(path) for fmt, path in files.items()},
        },
    )
    return row is not None
