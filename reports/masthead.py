"""What a printed report says about itself: the office, the title, 期号, 文号, the time
label (北京时间) and the 成文日期 — resolved once, from ``policy.yaml``'s ``office:``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ledger.policy import OfficePolicy
from reports.errors import BadPeriod
from reports.periods import Period, parse_month, parse_week

# Mainland zones at +08:00 (Asia/Shanghai and its old aliases): an office there says 北京时间.
# Hong Kong, Macau and Taipei keep their own names, as every zone elsewhere does.
BEIJING_TIME_ZONES = frozenset(
    {"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"}
)
BEIJING_TIME = "北京时间"


@dataclass(frozen=True, slots=True)
class Masthead:
    office: str  # 办公室全称, the header of every page
    short_name: str
    issuer: str  # 发文机关署名
    recipients: str | None  # 主送机关
    title: str  # 督查周报 / 月讲评
    issue: int  # 期号: 47
    doc_number: str  # 文号: 滨督周〔2026〕47号
    time_label: str  # 北京时间 (or the zone's name)
    dated: date  # 成文日期
    fonts: dict[str, list[str]]

    @property
    def issue_label(self) -> str:
        return f"第{self.issue}期"

    @property
    def date_label(self) -> str:
        return chinese_date(self.dated)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "issue_label": self.issue_label, "date_label": self.date_label}


def zone_label(zone: str) -> str:
    """北京时间 for Asia/Shanghai and the other mainland +08:00 zones; else the zone's name."""
    return BEIJING_TIME if zone in BEIJING_TIME_ZONES else zone


def chinese_date(day: date) -> str:
    """成文日期 as GB/T 9704 writes it: Arabic numerals, no leading zeros (2026年11月3日)."""
    return f"{day.year}年{day.month}月{day.day}日"


def issue_number(office: OfficePolicy, period: Period) -> int:
    """期号: the ISO week's (or month's) number, or counted on from the office's first issue."""
    if period.kind == "week":
        if office.numbering == "period":
            return int(period.key.split("-W")[1])
        first = parse_week(office.first_week or "")
        number = (period.first - first.first).days // 7 + 1
        start = office.first_week
    else:
        if office.numbering == "period":
            return period.first.month
        first = parse_month(office.first_month or "")
        number = (period.first.year - first.first.year) * 12 + (
            period.first.month - first.first.month
        )
        number += 1
        start = office.first_month
    if number < 1:
        raise BadPeriod(
            f"期号：{period.key} 早于第1期（policy.yaml office: {start}），没有期号 "
            f"(before the first issue)"
        )
    return number


def masthead_for(office: OfficePolicy, *, period: Period, now: datetime, tz: ZoneInfo) -> Masthead:
    weekly = period.kind == "week"
    issue = issue_number(office, period)
    code = office.weekly_code if weekly else office.monthly_code
    year = period.key[:4]  # the ISO year of a week
    return Masthead(
        office=office.name,
        short_name=office.short_name or office.name,
        issuer=office.issuer or office.name,
        recipients=office.recipients,
        title=office.weekly_title if weekly else office.monthly_title,
        issue=issue,
        doc_number=f"{code}〔{year}〕{issue}号",
        time_label=office.time_label or zone_label(str(tz)),
        dated=now.astimezone(tz).date(),
        fonts=office.fonts.model_dump(),
    )
