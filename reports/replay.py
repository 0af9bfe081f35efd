"""Replay a file of real messages and replies as history into a ledger, then report on it.

The file (``replies.csv`` of the teddy2020c set) has the columns 留言编号, 留言用户,
留言主题, 留言时间, 留言详情, 答复意见, 答复时间. Each row becomes, through the ledger's
own functions with ``now=`` set to the historical moments:

- a 网民留言 ``Message`` received at 留言时间 (Asia/Shanghai) and its ``Ticket``;
- 交办 at the same moment to a unit of the sample district chosen by
  ``sha256(留言编号) mod N`` over the active non-desk units sorted by code (the data names
  no unit, so the choice is deterministic and anyone can repeat it);
- 签收 and 反馈 (the 答复意见) at 答复时间;
- 核查通过 one day after the reply, rated by the reply's length: at least 400 characters
  5, at least 150 characters 4, otherwise 3 (a stand-in: the data has no ratings).

Rows already replayed (same channel and 留言编号) are skipped, so a replay can be re-run.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ledger import tickets as T
from ledger.deadlines import DeadlineRules
from ledger.messages import add_message, find_by_external_id
from ledger.models import SourceKind, Unit
from ledger.policy import RankingPolicy
from reports.errors import BadReplayFile
from reports.monthly import MonthlyReport, build_monthly
from reports.outputs import OutputGuard
from reports.periods import Period, month_of, week_of
from reports.render import WrittenReport, text_of, write_all
from reports.weekly import WeeklyReport, build_weekly

logger = logging.getLogger(__name__)

COLUMNS = ("留言编号", "留言主题", "留言时间", "留言详情", "答复意见", "答复时间")
DATA_TZ = ZoneInfo("Asia/Shanghai")
TIME_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%d",
)
VERIFY_DELAY = timedelta(days=1)
CHANNEL = "replay"
ACTOR = T.Actor.system("replay")


@dataclass(frozen=True, slots=True)
class ReplayRow:
    line: int  # line number in the file, for messages
    number: str  # 留言编号
    title: str
    text: str
    received_at: datetime  # UTC-aware
    reply_text: str
    replied_at: datetime


@dataclass
class ReplayResult:
    rows: int = 0
    added: int = 0
    skipped: int = 0  # already in the ledger
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    first_received: datetime | None = None
    last_received: datetime | None = None


def parse_time(text: str, *, tz: ZoneInfo = DATA_TZ) -> datetime:
    """``2019/4/25 9:32:09``, ``2019-04-08 08:37:20`` or a bare date, local -> UTC."""
    value = (text or "").strip()
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=tz).astimezone(UTC)
        except ValueError:
            continue
    raise ValueError(f"not a time: {value!r}")


def read_rows(path: Path) -> tuple[list[ReplayRow], list[tuple[int, str]]]:
    """The file's rows, and the ones that cannot be replayed with the reason."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise BadReplayFile(f"{path}: 无法读取 (cannot read): {exc}") from exc
    rows: list[ReplayRow] = []
    rejected: list[tuple[int, str]] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise BadReplayFile(f"{path}: 缺少列 (missing columns): {', '.join(missing)}")
        for record in reader:
            line = reader.line_num
            try:
                rows.append(_row(record, line))
            except ValueError as exc:
                rejected.append((line, str(exc)))
    return rows, rejected


def _row(record: dict[str, str], line: int) -> ReplayRow:
    number = (record["留言编号"] or "").strip()
    if not number:
        raise ValueError("留言编号 is empty")
    received = parse_time(record["留言时间"])
    replied = parse_time(record["答复时间"])
    if replied < received:
        raise ValueError(f"留言 {number}: 答复时间 is before 留言时间")
    title = (record["留言主题"] or "").strip()
    text = " ".join((record["留言详情"] or "").split()) or title
    reply = (record["答复意见"] or "").strip()
    if not text or not reply:
        raise ValueError(f"留言 {number}: 留言详情 or 答复意见 is empty")
    return ReplayRow(line, number, title, text, received, reply, replied)


def replay_units(session: Session) -> list[Unit]:
    """The units tickets are spread over: active, not the desk, sorted by code."""
    units = session.exec(select(Unit).where(col(Unit.active)).order_by(col(Unit.code)))
    return [unit for unit in units if unit.kind != "desk"]


def unit_index(number: str, count: int) -> int:
    return int(hashlib.sha256(number.encode("utf-8")).hexdigest(), 16) % count


def rating_for(reply_text: str) -> int:
    length = len(reply_text.strip())
    return 5 if length >= 400 else 4 if length >= 150 else 3


def replay(
    session: Session, rows: Iterable[ReplayRow], *, rules: DeadlineRules, channel: str = CHANNEL
) -> ReplayResult:
    """Write every row's history into the ledger (the caller commits)."""
    units = replay_units(session)
    if not units:
        raise BadReplayFile("台账中没有可分派的单位，请先运行 duban init (no units)")
    result = ReplayResult()
    for row in rows:
        result.rows += 1
        if find_by_external_id(session, channel, row.number) is not None:
            result.skipped += 1
            continue
        _replay_one(session, row, units[unit_index(row.number, len(units))], rules, channel)
        result.added += 1
        result.first_received = min(filter(None, (result.first_received, row.received_at)))
        result.last_received = max(filter(None, (result.last_received, row.received_at)))
    return result


def _replay_one(
    session: Session, row: ReplayRow, unit: Unit, rules: DeadlineRules, channel: str
) -> None:
    message = add_message(
        session,
        source_kind=SourceKind.ONLINE,
        channel=channel,
        received_at=row.received_at,
        raw_text=row.text,
        text=row.text,
        title=row.title,
        content_hash=hashlib.sha256(row.text.encode("utf-8")).hexdigest(),
        external_id=row.number,
        now=row.received_at,
    )
    ticket = T.open_ticket(session, message, rules=rules, now=row.received_at, actor=ACTOR)
    T.assign(session, ticket, unit, actor=ACTOR, now=row.received_at, routed_by="replay")
    T.acknowledge(session, ticket, actor=ACTOR, now=row.replied_at)
    T.reply(session, ticket, row.reply_text, actor=ACTOR, now=row.replied_at)
    T.verify(
        session,
        ticket,
        passed=True,
        score=rating_for(row.reply_text),
        actor=ACTOR,
        now=row.replied_at + VERIFY_DELAY,
    )


# -- choosing the periods and reporting --------------------------------------------------------


def busiest(rows: Iterable[ReplayRow], kind: str, *, tz: ZoneInfo) -> Period:
    """The week or month in which most rows were received (the earliest on a tie)."""
    of = week_of if kind == "week" else month_of
    counts = Counter(of(row.received_at.astimezone(tz).date()) for row in rows)
    if not counts:
        raise BadReplayFile("文件中没有可重放的行 (no rows to replay)")
    best = max(counts.values())
    return min((p for p, n in counts.items() if n == best), key=lambda p: p.first)


@dataclass
class ReplaySummary:
    result: ReplayResult
    weekly: WeeklyReport
    monthly: MonthlyReport
    written: dict[str, WrittenReport] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def period(report: WeeklyReport | MonthlyReport) -> dict[str, Any]:
            return {
                "period": report.period.key,
                "as_of": report.as_of.isoformat(),
                "total": report.total.as_dict(),
                "by_unit": [row.as_dict() for row in report.by_unit],
            }

        monthly = period(self.monthly)
        monthly["ranking"] = [entry.as_dict() for entry in self.monthly.ranking.entries]
        return {
            "replay": {
                "rows": self.result.rows,
                "added": self.result.added,
                "skipped": self.result.skipped,
                "rejected": [{"line": n, "reason": r} for n, r in self.result.rejected],
            },
            "weekly": period(self.weekly),
            "monthly": monthly,
            "files": {name: w.as_dict() for name, w in self.written.items()},
        }


def run_replay(
    session: Session,
    path: Path,
    *,
    rules: DeadlineRules,
    policy: RankingPolicy,
    week: Period | None = None,
    month: Period | None = None,
    out_dir: Path | None = None,
    channel: str = CHANNEL,
    guard: OutputGuard | None = None,
) -> ReplaySummary:
    """Replay ``path``, then report on ``week`` and ``month`` (default: the busiest ones),
    each as the ledger stood at the period's end; write the files when ``out_dir`` is given.
    """
    rows, rejected = read_rows(path)
    result = replay(session, rows, rules=rules, channel=channel)
    result.rejected = rejected
    for line, reason in rejected:
        logger.warning("replay: line %d skipped: %s", line, reason)
    session.flush()
    week = week or busiest(rows, "week", tz=rules.tz)
    month = month or busiest(rows, "month", tz=rules.tz)
    weekly = build_weekly(session, now=week.end(rules.tz), rules=rules, policy=policy, week=week)
    monthly = build_monthly(
        session, now=month.end(rules.tz), rules=rules, policy=policy, month=month
    )
    summary = ReplaySummary(result=result, weekly=weekly, monthly=monthly)
    if out_dir is not None:
        for report in (weekly, monthly):
            stem = f"{report.kind}-{report.period.key}"
            summary.written[report.kind] = write_all(report, Path(out_dir), stem, guard=guard)
    return summary


def summary_lines(summary: ReplaySummary) -> list[str]:
    """The figures a person reads first: volumes, reply and on-time rates, times, ranking."""
    r = summary.result
    lines = [f"重放 {r.rows} 行：新增 {r.added}，已存在 {r.skipped}，无法重放 {len(r.rejected)}"]
    for report in (summary.weekly, summary.monthly):
        tz = ZoneInfo(report.timezone)
        t = report.total
        name = "督查周报" if report.kind == "weekly" else "月讲评"
        lines += [
            "",
            f"{name} {report.period.key}（截至 {text_of(report.as_of, 'datetime', tz)}）",
            f"  收件 {t.received}，反馈 {t.replied}，到期 {t.due}，到期已回复 {t.due_replied}，"
            f"按期 {t.on_time}，超期未反馈 {t.overdue_open}",
            f"  回复率 {text_of(t.reply_rate, 'pct', tz)}，"
            f"按期率 {text_of(t.on_time_rate, 'pct', tz)}"
            f"（按原时限 {text_of(t.on_time_rate_original, 'pct', tz)}），"
            f"办结率 {text_of(t.completion_rate, 'pct', tz)}",
            f"  反馈用时中位数 {text_of(t.reply_days_median, 'days', tz)} 个工作日"
            f"（P90 {text_of(t.reply_days_p90, 'days', tz)}）",
        ]
    ranked = summary.monthly.ranking.ranked
    if ranked:
        lines.append(
            "  排名："
            + "，".join(
                f"{e.rank}.{e.label} {text_of(e.score, 'score', tz)}" + (e.flag or "")
                for e in ranked
            )
        )
    for name, written in summary.written.items():
        for path in [*written.files.values(), *written.charts]:
            lines.append(f"{name}: {path}")
    return lines
