"""月讲评: scores, ranks, flags, the minimum, 问责提示 — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ledger import tickets as T
from ledger.db import session_scope
from ledger.directory import find_unit
from ledger.policy import RankingPolicy
from reports.figures import Figures
from reports.monthly import build_monthly
from reports.periods import parse_month
from reports.ranking import time_score
from tests.helpers import local, make_ticket, rules_for

RULES = rules_for()
ACTOR = T.Actor.system("test")
ON, LATE, NEVER, UNRATED = "on", "late", "never", "unrated"

# unit -> [(outcome, score)]; every ticket has a limit of 1 working day.
OCTOBER = {
    "zjj": [(ON, 5)] * 3,
    "cgj": [(ON, 4)] * 3,
    "wjj": [(LATE, 1)] * 3,
}
NOVEMBER = {
    "zjj": [(ON, 5)] * 4,  # time 100, quality 100 -> 100
    "cgj": [(ON, 4)] * 3 + [(LATE, 4)],  # time 82.5, quality 75 -> 77.25
    "jtj": [(ON, 3), (ON, 3), (LATE, 3), (NEVER, None)],  # time 55.5, quality 50 -> 51.65
    "jyj": [(ON, 2)] * 3,  # time 100, quality 25 -> 47.5
    "wjj": [(ON, 3), (LATE, 2), (LATE, 1)],  # time 53.33, quality 25 -> 33.5
    "rsj": [(ON, 5)] * 2,  # fewer than 3 due: listed, not ranked
    "scjg": [(ON, None)] * 3,  # answered but never checked: no quality score
}


def _month(session: Session, spec: dict, received, on_time_reply, late_reply) -> None:
    for code, outcomes in spec.items():
        unit = find_unit(session, code)
        for index, (outcome, score) in enumerate(outcomes):
            ticket = make_ticket(
                session,
                RULES,
                received_at=received,
                time_limit_days=1,
                text=f"{code} {received.date()} 第{index}件",
                external_id=f"{code}-{received.date()}-{index}",
            )
            T.assign(session, ticket, unit, actor=ACTOR, now=received, routed_by="manual")
            if outcome == NEVER:
                continue
            replied = on_time_reply if outcome == ON else late_reply
            T.reply(session, ticket, "已办理", actor=ACTOR, now=replied)
            if score is not None:
                T.verify(
                    session,
                    ticket,
                    passed=True,
                    score=score,
                    actor=ACTOR,
                    now=replied + timedelta(hours=1),
                )


@pytest.fixture
def ranked(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        # Tuesday 10-20 -> due Wednesday 10-21; late answers come on Friday.
        _month(session, OCTOBER, local(2026, 10, 20), local(2026, 10, 20, 15), local(2026, 10, 23))
        _month(session, NOVEMBER, local(2026, 11, 10), local(2026, 11, 10, 15), local(2026, 11, 13))
    return engine


def monthly(engine: Engine, policy: RankingPolicy | None = None):
    with session_scope(engine) as session:
        return build_monthly(
            session,
            now=local(2026, 12, 1, 9),
            rules=RULES,
            policy=policy or RankingPolicy(),
            month=parse_month("2026-11"),
        )


def test_scores_ranks_and_flags(ranked: Engine) -> None:
    report = monthly(ranked)
    ranking = report.ranking
    assert [(e.unit, e.rank, e.flag) for e in ranking.ranked] == [
        ("zjj", 1, "红旗"),
        ("cgj", 2, "红旗"),
        ("jtj", 3, None),
        ("jyj", 4, "黄旗"),
        ("wjj", 5, "黄旗"),
    ]
    expected = {
        "zjj": (100, 100, 100),
        "cgj": (82.5, 75, 77.25),
        "jtj": (55.5, 50, 51.65),
        "jyj": (100, 25, 47.5),
        "wjj": (100 * (0.7 / 3 + 0.3), 25, 33.5),
    }
    for code, (t_score, q_score, score) in expected.items():
        entry = ranking.entry(code)
        assert entry.time_score == pytest.approx(t_score)
        assert entry.quality_score == pytest.approx(q_score)
        assert entry.score == pytest.approx(score)
    jtj = ranking.entry("jtj")
    assert (jtj.due, jtj.reply_rate, jtj.on_time_rate, jtj.overdue_open) == (4, 0.75, 0.5, 1)


def test_min_tickets_and_missing_ratings_list_but_do_not_rank(ranked: Engine) -> None:
    ranking = monthly(ranked).ranking
    rsj, scjg = ranking.entry("rsj"), ranking.entry("scjg")
    assert rsj.rank is None and "少于 3 件" in rsj.reason and rsj.due == 2
    assert scjg.rank is None and scjg.reason == "本月无核查评分"
    assert ranking.entry("mzj").reason == "本月无到期件"
    # Unranked units come after the ranked ones and carry no flag.
    unranked = [e for e in ranking.entries if e.rank is None]
    assert ranking.entries[-len(unranked) :] == tuple(unranked)
    assert all(e.flag is None for e in unranked)
    lowered = monthly(ranked, RankingPolicy(min_tickets=2)).ranking
    assert lowered.entry("rsj").rank is not None


def test_bottom_place_two_months_running_is_marked(ranked: Engine) -> None:
    ranking = monthly(ranked).ranking
    assert ranking.previous_last == "wjj"
    assert [e.unit for e in ranking.accountability] == ["wjj"]
    assert not ranking.entry("jyj").accountability


def test_flag_counts_are_configurable(ranked: Engine) -> None:
    ranking = monthly(ranked, RankingPolicy(red_flags=1, yellow_flags=4)).ranking
    flags = [e.flag for e in ranking.ranked]
    assert flags == ["红旗", "黄旗", "黄旗", "黄旗", "黄旗"]  # never both on one unit


def test_time_score_formula_and_clamp() -> None:
    base = dict(
        key="x",
        label="x",
        received=0,
        assigned=0,
        acknowledged=0,
        replied=0,
        verified=0,
        returned=0,
        reopened=0,
        due=4,
        due_replied=4,
        on_time=1,
        on_time_original=1,
        completed=0,
        on_time_rate_original=0.25,
        completion_rate=0.0,
        ack_days_median=None,
        ack_days_p90=None,
        reply_days_median=None,
        reply_days_p90=None,
        rated=0,
        quality_mean=None,
        quality_score=None,
    )
    figures = Figures(**base, overdue_open=30, reply_rate=1.0, on_time_rate=0.25)
    assert time_score(figures, RankingPolicy()) == 0.0  # 47.5 - 60, kept at 0
    no_penalty = RankingPolicy(overdue_penalty=0, time_on_time_weight=1, time_reply_weight=0)
    assert time_score(figures, no_penalty) == 25.0
    nothing_due = Figures(**{**base, "due": 0}, overdue_open=0, reply_rate=None, on_time_rate=None)
    assert time_score(nothing_due, RankingPolicy()) is None


def test_policy_weights_must_add_up() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        RankingPolicy(time_weight=0.5, quality_weight=0.7)
    with pytest.raises(ValidationError):
        RankingPolicy(time_on_time_weight=0.5, time_reply_weight=0.1)
