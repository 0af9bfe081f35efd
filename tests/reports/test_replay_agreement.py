"""The replayed real data: an independent calculation must agree with every figure.

When ``../shared/data/teddy2020c/replies.csv`` is present (it is optional, so this test may
skip even under CI), the file is replayed into a fresh SQLite ledger and the weekly and
monthly reports are made for the busiest week and month. Then the same figures are worked
out here in plain Python straight from the CSV rows — no ledger, no ``reports`` code: times
parsed here, working days counted with ``chinese_calendar`` itself, the definitions of
the definitions in README.md ("统计口径") applied by hand — and compared figure by figure.

Everything here is in local (Asia/Shanghai) naive time: the replay puts every moment there.
"""

from __future__ import annotations

import csv
import hashlib
import math
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import yaml

from duban.settings import REPO_ROOT

DATA = REPO_ROOT.parent / "shared" / "data" / "teddy2020c" / "replies.csv"
FORMATS = ("%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason=f"optional real data not present: {DATA}"),
]


# -- the independent calculation ---------------------------------------------------------------


def parse(text: str) -> datetime:
    for fmt in FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            pass
    raise ValueError(text)


def workdays(start: date, end: date) -> int:
    """Working days d with start < d <= end."""
    return sum(
        chinese_calendar.is_workday(start + timedelta(days=i))
        for i in range(1, (end - start).days + 1)
    )


def nth_workday_after(day: date, n: int) -> date:
    while n:
        day += timedelta(days=1)
        n -= chinese_calendar.is_workday(day)
    return day


@dataclass
class Row:
    number: str
    unit: str
    received: datetime
    replied: datetime
    verified: datetime
    due: date
    due_end: datetime
    score: int


def load_rows(policy: dict) -> list[Row]:
    directory = yaml.safe_load((REPO_ROOT / "data" / "units.yaml").read_text(encoding="utf-8"))
    codes = sorted(
        u["code"]
        for u in directory["units"]
        if u.get("active", True) and u.get("kind", "department") != "desk"
    )
    limit = policy["deadlines"]["online"]
    rows = []
    with DATA.open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            received, replied = parse(record["留言时间"]), parse(record["答复时间"])
            if replied < received:
                continue
            number = record["留言编号"].strip()
            digest = int(hashlib.sha256(number.encode()).hexdigest(), 16)
            length = len(record["答复意见"].strip())
            due = nth_workday_after(received.date(), limit)
            rows.append(
                Row(
                    number,
                    codes[digest % len(codes)],
                    received,
                    replied,
                    replied + timedelta(days=1),
                    due,
                    datetime.combine(due, time(23, 59, 59)),
                    5 if length >= 400 else 4 if length >= 150 else 3,
                )
            )
    return rows


def median(values):
    return float(statistics.median(values)) if values else None


def p90(values):
    return sorted(values)[math.ceil(0.9 * len(values)) - 1] if values else None


def figures(rows: list[Row], first: date, last: date, *, extensions_count: bool) -> dict:
    """The documented figures of one group for the period first..last, seen at its end.
    (No extensions, returns or reopenings happen in this data, so ``extensions_count``
    changes nothing; it is taken to show where it would.)"""
    start = datetime.combine(first, time(0))
    cut = datetime.combine(last + timedelta(days=1), time(0))
    seen = [r for r in rows if r.received < cut]

    def within(moment: datetime) -> bool:
        return start <= moment < cut

    replied_in = [r for r in seen if within(r.replied)]
    due = [r for r in seen if first <= r.due <= last and r.due_end < cut]
    answered = [r for r in due if r.replied < cut]
    on_time = [r for r in due if r.replied < cut and r.replied <= r.due_end]
    done = [r for r in due if r.verified < cut]
    ratings = [r.score for r in seen if within(r.verified)]
    days = [workdays(r.received.date(), r.replied.date()) for r in replied_in]
    quality = statistics.fmean(ratings) if ratings else None
    assert extensions_count in (True, False)
    return {
        "received": sum(within(r.received) for r in seen),
        "assigned": sum(within(r.received) for r in seen),  # assigned on receipt
        "acknowledged": len(replied_in),  # acknowledged when answered
        "replied": len(replied_in),
        "verified": sum(within(r.verified) for r in seen),
        "returned": 0,
        "reopened": 0,
        "overdue_open": sum(1 for r in seen if r.replied >= cut and r.due_end < cut),
        "due": len(due),
        "due_replied": len(answered),
        "on_time": len(on_time),
        "on_time_original": len(on_time),
        "completed": len(done),
        "reply_rate": len(answered) / len(due) if due else None,
        "on_time_rate": len(on_time) / len(due) if due else None,
        "on_time_rate_original": len(on_time) / len(due) if due else None,
        "completion_rate": len(done) / len(due) if due else None,
        "ack_days_median": median(days),
        "ack_days_p90": p90(days),
        "reply_days_median": median(days),
        "reply_days_p90": p90(days),
        "rated": len(ratings),
        "quality_mean": quality,
        "quality_score": None if quality is None else (quality - 1) / 4 * 100,
    }


def ranking(by_unit: dict[str, dict], policy: dict) -> list[tuple[str, float]]:
    """Ranked units with their scores, best first."""
    scored = []
    for code, f in by_unit.items():
        if f["due"] < max(policy["min_tickets"], 1) or f["quality_score"] is None:
            continue
        t_score = 100 * (
            policy["time_on_time_weight"] * f["on_time_rate"]
            + policy["time_reply_weight"] * f["reply_rate"]
        )
        t_score = min(100, max(0, t_score - policy["overdue_penalty"] * f["overdue_open"]))
        score = policy["time_weight"] * t_score + policy["quality_weight"] * f["quality_score"]
        scored.append((code, score, f["on_time_rate"], f["overdue_open"]))
    scored.sort(key=lambda s: (-s[1], -s[2], s[3], s[0]))
    return [(code, score) for code, score, _, _ in scored]


def busiest(rows: list[Row], key) -> tuple:
    counts = Counter(key(r.received.date()) for r in rows)
    top = max(counts.values())
    return min(k for k, n in counts.items() if n == top)


# -- the comparison ------------------------------------------------------------------------------


def same(actual, expected, where: str) -> None:
    assert set(actual) >= set(expected), where
    for name, value in expected.items():
        got = actual[name]
        if isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-12, abs=1e-12), f"{where}.{name}"
        else:
            assert got == value, f"{where}.{name}: report {got!r}, independent {value!r}"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    from ledger import schema
    from ledger.calendar import load_calendar
    from ledger.db import make_engine, session_scope
    from ledger.deadlines import DeadlineRules
    from ledger.directory import load_directory
    from ledger.policy import load_policy
    from reports.replay import run_replay
    from tests.helpers import SHANGHAI

    data_dir = REPO_ROOT / "data"
    policy = load_policy(data_dir / "policy.yaml")
    rules = DeadlineRules(
        calendar=load_calendar(data_dir / "calendar.yaml"), policy=policy.deadlines, tz=SHANGHAI
    )
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('replay') / 'ledger.db'}")
    schema.upgrade(engine)
    with session_scope(engine) as session:
        load_directory(session, data_dir / "units.yaml")
    with session_scope(engine) as session:
        summary = run_replay(session, DATA, rules=rules, policy=policy.ranking)
    engine.dispose()
    return summary


@pytest.fixture(scope="module")
def independent():
    policy = yaml.safe_load((REPO_ROOT / "data" / "policy.yaml").read_text(encoding="utf-8"))
    calendar = yaml.safe_load((REPO_ROOT / "data" / "calendar.yaml").read_text(encoding="utf-8"))
    assert not calendar.get("years"), "calendar overrides would need applying here too"
    return policy, load_rows(policy)


def test_every_row_replayed(replayed, independent) -> None:
    _, rows = independent
    assert replayed.result.added == len(rows) == replayed.result.rows
    assert replayed.result.rejected == []


def test_the_periods_are_the_busiest(replayed, independent) -> None:
    _, rows = independent
    year, week = busiest(rows, lambda d: d.isocalendar()[:2])
    assert replayed.weekly.period.key == f"{year}-W{week:02d}"
    year, month = busiest(rows, lambda d: (d.year, d.month))
    assert replayed.monthly.period.key == f"{year}-{month:02d}"


@pytest.mark.parametrize("which", ["weekly", "monthly"])
def test_every_figure_agrees(replayed, independent, which) -> None:
    policy, rows = independent
    report = getattr(replayed, which)
    first, last = report.period.first, report.period.last
    count = policy["ranking"]["extensions_count_on_time"]
    same(report.total.as_dict(), figures(rows, first, last, extensions_count=count), "total")
    assert [f.key for f in report.by_unit] == [  # every unit listed, none unassigned
        u["code"]
        for u in yaml.safe_load((REPO_ROOT / "data" / "units.yaml").read_text(encoding="utf-8"))[
            "units"
        ]
        if u.get("active", True) and u.get("kind") != "desk"
    ]
    for row in report.by_unit:
        mine = [r for r in rows if r.unit == row.key]
        same(row.as_dict(), figures(mine, first, last, extensions_count=count), row.key)
    (online, *others) = report.by_source
    same(online.as_dict(), figures(rows, first, last, extensions_count=count), "online")
    assert all(f.received == f.due == 0 for f in others)


def test_overdue_list_and_trend_agree(replayed, independent) -> None:
    _, rows = independent
    report = replayed.weekly
    cut = datetime.combine(report.period.last + timedelta(days=1), time(0))
    expected = sorted(
        (-workdays(r.due, cut.date()), r.unit, r.received, r.due)
        for r in rows
        if r.received < cut and r.replied >= cut and r.due_end < cut
    )
    tz = ZoneInfo(report.timezone)
    actual = sorted(
        (-o.overdue_workdays, o.unit, o.received_at.astimezone(tz).replace(tzinfo=None), o.due_date)
        for o in report.overdue
    )
    assert actual == expected
    assert report.changes == ()
    assert len(report.trend) == 8
    for point in report.trend:
        f = figures(rows, point.first, point.first + timedelta(days=6), extensions_count=True)
        same(
            {
                "received": point.received,
                "due": point.due,
                "replied": point.replied,
                "reply_rate": point.reply_rate,
                "on_time_rate": point.on_time_rate,
                "on_time_rate_original": point.on_time_rate_original,
                "overdue_open": point.overdue_open,
            },
            {
                k: f[k]
                for k in (
                    "received",
                    "due",
                    "replied",
                    "reply_rate",
                    "on_time_rate",
                    "on_time_rate_original",
                    "overdue_open",
                )
            },
            point.week,
        )


def test_ranking_agrees(replayed, independent) -> None:
    policy, rows = independent
    report = replayed.monthly
    first, last = report.period.first, report.period.last
    codes = [f.key for f in report.by_unit]

    def month_ranking(first: date, last: date):
        by_unit = {
            code: figures([r for r in rows if r.unit == code], first, last, extensions_count=True)
            for code in codes
        }
        return ranking(by_unit, policy["ranking"])

    expected = month_ranking(first, last)
    ranked = report.ranking.ranked
    assert [e.unit for e in ranked] == [code for code, _ in expected]
    for entry, (_, score) in zip(ranked, expected, strict=True):
        assert entry.score == pytest.approx(score, rel=1e-12)
    red, yellow = policy["ranking"]["red_flags"], policy["ranking"]["yellow_flags"]
    n = len(expected)
    flags = [
        "红旗" if i < min(red, n) else "黄旗" if i >= n - min(yellow, n - min(red, n)) else None
        for i in range(n)
    ]
    assert [e.flag for e in ranked] == flags
    previous_last = first - timedelta(days=1)
    before = month_ranking(previous_last.replace(day=1), previous_last)
    marked = [code for code, _ in expected[-1:] if before and before[-1][0] == code]
    assert [e.unit for e in report.ranking.accountability] == marked
    assert report.ranking.previous_last == (before[-1][0] if before else None)
