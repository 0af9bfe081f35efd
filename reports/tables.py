"""What every format of a report says, in the same words: the columns (one list, read by
Markdown, HTML, XLSX and DOCX), how a value prints, and the report's sentences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from reports.figures import Figures
from reports.monthly import MonthlyReport
from reports.rounding import half_up
from reports.weekly import WeeklyReport

Report = WeeklyReport | MonthlyReport


# -- columns: one list, read by every format ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    field: str
    label: str
    kind: str  # text | int | pct | days | score | date | datetime


FIGURE_COLUMNS = (
    Column("label", "单位", "text"),
    Column("received", "收件", "int"),
    Column("assigned", "交办", "int"),
    Column("acknowledged", "签收", "int"),
    Column("replied", "反馈", "int"),
    Column("verified", "核查通过", "int"),
    Column("returned", "退回", "int"),
    Column("reopened", "续办", "int"),
    Column("overdue_open", "超期未反馈", "int"),
    Column("due", "到期", "int"),
    Column("due_replied", "到期已回复", "int"),
    Column("on_time", "按期", "int"),
    Column("reply_rate", "回复率", "pct"),
    Column("on_time_rate", "按期率", "pct"),
    Column("on_time_rate_original", "按原时限按期率", "pct"),
    Column("completion_rate", "办结率", "pct"),
    Column("ack_days_median", "签收用时中位数", "days"),
    Column("ack_days_p90", "签收用时P90", "days"),
    Column("reply_days_median", "反馈用时中位数", "days"),
    Column("reply_days_p90", "反馈用时P90", "days"),
    Column("rated", "评分次数", "int"),
    Column("quality_mean", "平均评分", "score"),
)
OVERDUE_COLUMNS = (
    Column("number", "编号", "text"),
    Column("unit_label", "责任单位", "text"),
    Column("source_label", "来源", "text"),
    Column("title", "标题", "text"),
    Column("received_at", "收件时间", "datetime"),
    Column("due_date", "时限", "date"),
    Column("original_due_date", "原时限", "date"),
    Column("overdue_workdays", "超期工作日", "int"),
    Column("state_label", "状态", "text"),
)
OVERDUE_UNIT_COLUMNS = (
    Column("unit_label", "责任单位", "text"),
    Column("count", "超期件数", "int"),
    Column("longest_workdays", "最长超期工作日", "int"),
)
# Where the full list of overdue tickets is (a report lists only the longest-overdue ones):
# duban report overdue streams every one of them.
OVERDUE_FULL_LIST = "完整清单请用 duban report overdue 导出"
CHANGE_COLUMNS = (
    Column("number", "编号", "text"),
    Column("action_label", "事项", "text"),
    Column("unit_label", "单位", "text"),
    Column("at", "时间", "datetime"),
    Column("note", "理由/意见", "text"),
)
TASK_COLUMNS = (
    Column("number", "编号", "text"),
    Column("title", "督办事项", "text"),
    Column("lead_unit", "牵头单位", "text"),
    Column("colour", "状态", "text"),
    Column("reason", "原因", "text"),
)


def task_lines(tasks: Any) -> list[str]:
    """The 督办事项 section's sentences (a ``tasks.summary.TaskWeek``)."""
    return [
        f"本期新立项 {tasks.new} 项，报办结 {tasks.finished} 项，销号 {tasks.closed} 项；"
        f"统计时点在办 {tasks.open} 项，其中红色 {len(tasks.red)} 项、黄色 {len(tasks.yellow)} 项。"
    ]


def overdue_summary(report: WeeklyReport) -> str:
    """The sentence over the overdue tables: how many, at how many units."""
    units = sum(1 for u in report.overdue_units if u.unit is not None)
    unassigned = next((u.count for u in report.overdue_units if u.unit is None), 0)
    where = f"涉及 {units} 个责任单位" + (f"，另有未分办 {unassigned} 件" if unassigned else "")
    return f"截至统计时点，超期未反馈共 {report.overdue_total} 件，{where}。分单位情况如下："


def overdue_list_line(report: WeeklyReport) -> str:
    """The sentence over the list: all of them, or the longest-overdue and where the rest are."""
    if report.overdue_unlisted > 0:
        return (
            f"以下列超期最久的 {len(report.overdue)} 件（其余 {report.overdue_unlisted} 件从略）；"
            f"{OVERDUE_FULL_LIST}。"
        )
    return "以下按超期工作日由多到少列出："


TREND_COLUMNS = (
    Column("week", "周", "text"),
    Column("first", "周一", "date"),
    Column("received", "收件", "int"),
    Column("replied", "反馈", "int"),
    Column("due", "到期", "int"),
    Column("reply_rate", "回复率", "pct"),
    Column("on_time_rate", "按期率", "pct"),
    Column("on_time_rate_original", "按原时限按期率", "pct"),
    Column("overdue_open", "周末超期未反馈", "int"),
)
RANK_COLUMNS = (
    Column("rank", "名次", "int"),
    Column("label", "单位", "text"),
    Column("due", "到期件", "int"),
    Column("reply_rate", "回复率", "pct"),
    Column("on_time_rate", "按期率", "pct"),
    Column("overdue_open", "月末超期未反馈", "int"),
    Column("rated", "评分次数", "int"),
    Column("quality_mean", "平均评分", "score"),
    Column("time_score", "时效分", "score"),
    Column("quality_score", "质量分", "score"),
    Column("score", "综合得分", "score"),
    Column("flag", "旗帜", "text"),
    Column("reason", "说明", "text"),
)


def text_of(value: Any, kind: str, tz: ZoneInfo) -> str:
    """A value as the reports print it ("—" for a figure that has no value)."""
    if value is None or value == "":
        return "—"
    if kind == "pct":
        return half_up(value, scale=100) + "%"
    if kind == "days":  # a median may fall between two days: 2.5
        return half_up(value).rstrip("0").rstrip(".")
    if kind == "score":
        return half_up(value)
    if kind == "datetime":
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if kind == "date":
        return value.isoformat()
    return str(value)


def table_rows(items: Sequence[Any], columns: Sequence[Column], tz: ZoneInfo) -> list[list[str]]:
    return [[text_of(getattr(item, c.field), c.kind, tz) for c in columns] for item in items]


# The condensed unit (and source) table of the printed page; the full table is the annex.
CONDENSED_FIELDS = (
    "label",
    "received",
    "due",
    "reply_rate",
    "on_time_rate",
    "completion_rate",
    "overdue_open",
)
CONDENSED_COLUMNS = tuple(
    Column(c.field, "超期" if c.field == "overdue_open" else c.label, c.kind)
    for name in CONDENSED_FIELDS
    for c in FIGURE_COLUMNS
    if c.field == name
)
# Text that names something (a unit, a state, a number) is never broken inside.
KEEP_WHOLE = {"label", "unit_label", "source_label", "state_label", "action_label", "number"}
KEEP_WHOLE |= {"week", "flag"}
NUMERIC_KINDS = {"int", "pct", "days", "score"}


def display_width(text: str) -> float:
    """Roughly how many em a line of text takes: CJK one, the rest half."""
    return sum(1.0 if ord(ch) > 0x2E7F else 0.55 for ch in text)


def as_of_line(report: Report, tz: ZoneInfo) -> str:
    as_of = report.as_of.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    rule = "计入批准的延期" if report.extensions_count_on_time else "不计延期，按原时限"
    label = report.masthead.time_label
    return f"统计截至 {as_of}（{label}）；按期率{rule}；口径见使用手册《统计口径》"


def headline(total: Figures, tz: ZoneInfo) -> list[str]:
    """The headline sentences, shared by Markdown, HTML and chat."""

    def pct(value: float | None) -> str:
        return text_of(value, "pct", tz)

    def days(value: float | int | None) -> str:
        return text_of(value, "days", tz)

    return [
        f"收件 {total.received} 件，交办 {total.assigned} 件，签收 {total.acknowledged} 件，"
        f"反馈 {total.replied} 件，核查通过 {total.verified} 件；"
        f"退回 {total.returned} 次，续办 {total.reopened} 次。",
        f"到期 {total.due} 件，已回复 {total.due_replied} 件，回复率 {pct(total.reply_rate)}；"
        f"按期 {total.on_time} 件，按期率 {pct(total.on_time_rate)}"
        f"（按原时限 {pct(total.on_time_rate_original)}）；办结率 {pct(total.completion_rate)}。",
        f"统计时点超期未反馈 {total.overdue_open} 件。",
        f"反馈用时中位数 {days(total.reply_days_median)} 个工作日（P90 "
        f"{days(total.reply_days_p90)}），签收用时中位数 {days(total.ack_days_median)} 个工作日"
        f"（P90 {days(total.ack_days_p90)}）。",
    ]


def ranking_summary(report: MonthlyReport, *, brief: bool = False) -> list[str]:
    """Flags, 问责提示 and who was not ranked and why (``brief``: idle units as a count)."""
    ranking = report.ranking
    red = [e.label for e in ranking.ranked if e.flag == "红旗"]
    yellow = [e.label for e in ranking.ranked if e.flag == "黄旗"]
    lines = [f"红旗：{'、'.join(red) or '无'}；黄旗：{'、'.join(yellow) or '无'}。"]
    for entry in ranking.accountability:
        lines.append(f"问责提示：{entry.label} 连续两个月排名末位。")
    for group in report.groups:  # by unit group, tickets and 督办事项 together
        group_red = "、".join(e.label for e in group.entries if e.flag == "红旗") or "无"
        group_yellow = "、".join(e.label for e in group.entries if e.flag == "黄旗") or "无"
        line = f"{group.label}（督办件与督办事项综合）：红旗 {group_red}；黄旗 {group_yellow}"
        accountable = "、".join(e.label for e in group.entries if e.accountability)
        lines.append(
            line + (f"；问责提示：{accountable} 连续在组内末位。" if accountable else "。")
        )
        moved = [e for e in group.entries if e.checkin_points and e.score is not None]
        if moved:
            lines.append(
                f"{group.label}晒工作加减分（已计入组内综合得分）："
                + "、".join(f"{e.label} {e.checkin_points:+g}" for e in moved)
                + "。"
            )
    unranked = [e for e in ranking.entries if e.rank is None]
    idle = [e for e in unranked if brief and e.due == 0]
    named = [f"{e.label}（{e.reason}）" for e in unranked if e not in idle]
    if idle:
        named.append(f"另有 {len(idle)} 个单位本月无到期件")
    if named:
        lines.append("未参与排名：" + "；".join(named) + "。")
    return lines


def scoring_rules(report: MonthlyReport) -> list[str]:
    p = report.policy
    return [
        f"综合得分 = {p['time_weight']:g} × 时效分 + {p['quality_weight']:g} × 质量分。",
        f"时效分 = 100 × ({p['time_on_time_weight']:g} × 按期率 + {p['time_reply_weight']:g}"
        f" × 回复率) − {p['overdue_penalty']:g} × 月末超期未反馈件数，限定在 0–100。",
        "质量分 = (本月核查平均评分 − 1) ÷ 4 × 100（1 分为 0，5 分为 100）。",
        f"本月到期件少于 {p['min_tickets']} 件或无核查评分的单位列出但不排名；"
        f"前 {p['red_flags']} 名红旗，后 {p['yellow_flags']} 名黄旗；连续两个月末位者问责提示。",
    ]
