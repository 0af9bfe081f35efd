"""The masthead of a printed report, from policy.yaml office: 期号, 文号, 北京时间, 成文日期."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from duban.settings import REPO_ROOT
from ledger.errors import BadInput
from ledger.policy import OfficePolicy, load_policy
from reports.errors import BadPeriod
from reports.masthead import chinese_date, issue_number, masthead_for, zone_label
from reports.periods import parse_month, parse_week
from tests.helpers import local

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("zone", "label"),
    [
        ("Asia/Shanghai", "北京时间"),
        ("Asia/Chongqing", "北京时间"),
        ("Asia/Harbin", "北京时间"),
        ("PRC", "北京时间"),
        ("Asia/Urumqi", "Asia/Urumqi"),  # +06:00 in the tz database
        ("Asia/Hong_Kong", "Asia/Hong_Kong"),
        ("Europe/Berlin", "Europe/Berlin"),
    ],
)
def test_time_label_from_the_zone(zone: str, label: str) -> None:
    assert zone_label(zone) == label


def test_the_sample_office_from_policy_yaml() -> None:
    office = load_policy(REPO_ROOT / "data" / "policy.yaml").office
    head = masthead_for(
        office, period=parse_week("2026-W47"), now=local(2026, 11, 23, 9), tz=SHANGHAI
    )
    assert head.office == "江州市滨河区人民政府督查室" and head.issuer == head.office
    assert (head.issue_label, head.doc_number) == ("第47期", "滨督周〔2026〕47号")
    assert (head.time_label, head.date_label) == ("北京时间", "2026年11月23日")
    assert head.fonts["title"][0] == "方正小标宋简体" and head.fonts["body"][0] == "仿宋_GB2312"
    month = masthead_for(
        office, period=parse_month("2026-10"), now=local(2026, 11, 2, 9), tz=SHANGHAI
    )
    assert (month.title, month.doc_number) == ("督查工作月讲评", "滨督评〔2026〕10号")


def test_issue_numbers_counted_from_the_first_issue() -> None:
    office = OfficePolicy(numbering="count", first_week="2026-W40", first_month="2025-12")
    assert issue_number(office, parse_week("2026-W40")) == 1
    assert issue_number(office, parse_week("2026-W47")) == 8
    assert (
        issue_number(office, parse_week("2027-W01")) == 15
    )  # W40..W53 of 2026 (53 ISO weeks), then 2027-W01
    assert issue_number(office, parse_month("2026-11")) == 12
    with pytest.raises(BadPeriod, match="早于第1期"):
        issue_number(office, parse_week("2026-W39"))
    # the ISO year of the week goes into the 文号
    head = masthead_for(
        OfficePolicy(weekly_code="督周"),
        period=parse_week("2026-W01"),
        now=local(2026, 1, 5),
        tz=SHANGHAI,
    )
    assert head.doc_number == "督周〔2026〕1号"


def test_dates_without_leading_zeros() -> None:
    assert chinese_date(date(2026, 3, 5)) == "2026年3月5日"


def test_a_count_without_a_first_issue_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("office:\n  numbering: count\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"office: .*numbering: count 须同时填写 first_week"):
        load_policy(path)
    path.write_text("office:\n  first_week: 47\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"office\.first_week"):
        load_policy(path)


def test_time_label_can_be_set() -> None:
    head = masthead_for(
        OfficePolicy(time_label="乌鲁木齐时间"),
        period=parse_week("2026-W47"),
        now=local(2026, 11, 23),
        tz=ZoneInfo("Asia/Urumqi"),
    )
    assert head.time_label == "乌鲁木齐时间"
