"""月讲评 by unit group: each group's flags, ties, small groups, 问责提示, the flag history,
and task scores combined with ticket scores."""

from __future__ import annotations

from datetime import date

from desk import tasks as D
from ledger.policy import GroupFlags, RankingPolicy, TaskPolicy
from reports.monthly import build_monthly
from reports.periods import month_of
from reports.ranking import (
    RankEntry,
    Ranking,
    combined_score,
    flag_history,
    quarter_view,
    rank_by_group,
)
from reports.tables import ranking_summary
from routing.context import RoutingContext
from tasks.scores import task_scores
from tests.helpers import local
from tests.tasks.conftest import actor, spec

POLICY = RankingPolicy(
    groups={
        "department": GroupFlags(label="区直部门", red_flags=3, yellow_flags=2),
        "street": GroupFlags(label="乡镇（街道）", red_flags=2, yellow_flags=1),
    }
)
NOVEMBER = month_of(date(2026, 11, 1))


def ranking(scores: dict[str, float | None]) -> Ranking:
    entries = tuple(
        RankEntry(
            unit=code,
            label=code,
            due=5,
            reply_rate=1,
            on_time_rate=1,
            overdue_open=0,
            rated=5,
            quality_mean=4,
            time_score=score,
            quality_score=score,
            score=score,
            rank=None,
            flag=None,
            reason=None,
            accountability=False,
        )
        for code, score in scores.items()
    )
    return Ranking(period=NOVEMBER, as_of=local(2026, 12, 1), entries=entries, previous_last=None)


DEPARTMENTS = [(f"d{i}", f"部门{i}", "department") for i in range(1, 8)]
STREETS = [(f"s{i}", f"街道{i}", "street") for i in range(1, 5)]


def flags(groups, kind: str) -> dict[str, str | None]:
    group = next(g for g in groups if g.group == kind)
    return {e.unit: e.flag for e in group.entries}


def test_each_group_has_its_own_flags() -> None:
    scores = {f"d{i}": 100.0 - i for i in range(1, 8)} | {f"s{i}": 90.0 - i for i in range(1, 5)}
    groups = rank_by_group(ranking(scores), {}, DEPARTMENTS + STREETS + [("dcs", "督查室", "desk")],
                           POLICY)  # fmt: skip
    assert [g.group for g in groups] == ["department", "street"]  # the desk is not ranked
    assert [g.label for g in groups] == ["区直部门", "乡镇（街道）"]
    dept = flags(groups, "department")
    assert [c for c, f in dept.items() if f == "红旗"] == ["d1", "d2", "d3"]
    assert [c for c, f in dept.items() if f == "黄旗"] == ["d6", "d7"]
    street = flags(groups, "street")
    assert [c for c, f in street.items() if f == "红旗"] == ["s1", "s2"]
    assert [c for c, f in street.items() if f == "黄旗"] == ["s4"]
    assert groups[1].last == ["s4"]


def test_ties_share_a_rank_and_a_flag() -> None:
    scores = {"s1": 90.0, "s2": 80.0, "s3": 80.0, "s4": 70.0, "s5": 70.0}
    streets = [(c, c, "street") for c in scores]
    (group,) = rank_by_group(ranking(scores), {}, streets, POLICY)
    ranks = {e.unit: (e.rank, e.flag, e.last) for e in group.entries}
    assert ranks == {
        "s1": (1, "红旗", False),
        "s2": (2, "红旗", False),  # tied for second: both within the two 红旗
        "s3": (2, "红旗", False),
        "s4": (4, "黄旗", True),  # tied for last: both 黄旗, both last
        "s5": (4, "黄旗", True),
    }


def test_a_group_all_tied_has_no_flags_and_nobody_last() -> None:
    (group,) = rank_by_group(ranking({"s1": 75.0, "s2": 75.0, "s3": 75.0}), {}, STREETS[:3], POLICY)
    assert [(e.rank, e.flag, e.last) for e in group.entries] == [(1, None, False)] * 3


def test_small_groups_flag_at_most_half_and_a_group_of_one_not_at_all() -> None:
    (two,) = rank_by_group(ranking({"s1": 80.0, "s2": 60.0}), {}, STREETS[:2], POLICY)
    assert [(e.unit, e.flag) for e in two.entries] == [("s1", "红旗"), ("s2", "黄旗")]
    (one,) = rank_by_group(ranking({"s1": 80.0}), {}, STREETS[:1], POLICY)
    assert [(e.rank, e.flag, e.last) for e in one.entries] == [(1, None, False)]
    (none,) = rank_by_group(ranking({"s1": None}), {}, STREETS[:1], POLICY)
    assert none.entries[0].rank is None and "无可评分" in (none.entries[0].reason or "")


def test_tasks_and_tickets_combine_by_the_policy_weights() -> None:
    policy = POLICY.model_copy(update={"ticket_weight": 0.4, "task_weight": 0.6})
    assert combined_score(50.0, 100.0, policy) == 80.0
    assert combined_score(None, 70.0, policy) == 70.0 and combined_score(60.0, None, policy) == 60.0
    # s2 has fewer ticket points but better tasks: it comes first
    (group,) = rank_by_group(
        ranking({"s1": 80.0, "s2": 70.0}), {"s1": 40.0, "s2": 100.0}, STREETS[:2], policy
    )
    assert [e.unit for e in group.entries] == ["s2", "s1"]


def test_last_two_months_running_is_flagged_for_accountability() -> None:
    scores = {"s1": 90.0, "s2": 80.0, "s3": 10.0}
    streets = STREETS[:3]
    (fresh,) = rank_by_group(ranking(scores), {}, streets, POLICY, previous_last=[set()])
    assert not any(e.accountability for e in fresh.entries)
    (again,) = rank_by_group(ranking(scores), {}, streets, POLICY, previous_last=[{"s3"}])
    assert [e.unit for e in again.entries if e.accountability] == ["s3"]
    three = POLICY.model_copy(update={"accountability_months": 3})
    (once,) = rank_by_group(ranking(scores), {}, streets, three, previous_last=[{"s3"}, {"s1"}])
    assert not any(e.accountability for e in once.entries)


def test_task_scores_time_and_quality(ctx: RoutingContext, clock) -> None:
    clock.now = local(2026, 11, 2, 9)
    unit, supervisor = actor(ctx, "zjj-1"), actor(ctx, "ducha1")
    on_time = D.create(
        ctx, spec(ctx, due=date(2026, 11, 20), support=()), actor=actor(ctx, "luru1")
    )
    late = D.create(ctx, spec(ctx, due=date(2026, 11, 10), support=()), actor=actor(ctx, "luru1"))
    clock.now = local(2026, 11, 6, 9)
    D.progress(ctx, on_time.number, "进展", actor=unit)
    D.progress(ctx, late.number, "进展", actor=unit)
    clock.now = local(2026, 11, 12, 9)
    D.finish(ctx, on_time.number, "完成", actor=unit)
    D.verify(ctx, on_time.number, passed=True, score=5, actor=supervisor)
    clock.now = local(2026, 11, 16, 9)  # after its deadline
    D.finish(ctx, late.number, "完成", actor=unit)
    D.verify(ctx, late.number, passed=True, score=3, actor=supervisor)
    with ctx.session() as session:
        scores = task_scores(
            session, start=NOVEMBER.start(ctx.rules.tz), end=NOVEMBER.end(ctx.rules.tz),
            cutoff=NOVEMBER.end(ctx.rules.tz), rules=ctx.rules, policy=TaskPolicy(),
            ranking=POLICY,
        )  # fmt: skip
    (score,) = scores.values()
    assert (score.tasks, score.due, score.on_time, score.missed_reports) == (2, 2, 1, 0)
    assert score.time_score == 50.0 and score.quality_score == 75.0  # mean 4
    assert score.score == 0.3 * 50 + 0.7 * 75


def test_a_missed_report_costs_time_points(ctx: RoutingContext, clock) -> None:
    clock.now = local(2026, 11, 2, 9)
    D.create(ctx, spec(ctx, due=date(2026, 12, 31), support=()), actor=actor(ctx, "luru1"))
    with ctx.session() as session:
        scores = task_scores(
            session, start=NOVEMBER.start(ctx.rules.tz), end=NOVEMBER.end(ctx.rules.tz),
            cutoff=NOVEMBER.end(ctx.rules.tz), rules=ctx.rules, policy=TaskPolicy(),
            ranking=POLICY,
        )  # fmt: skip
    (score,) = scores.values()
    # 20 working days from 2 Nov to the month's end, a report owed every 5: four missed
    assert score.missed_reports == 4 and score.time_score == 60.0 and score.quality_score is None


def test_the_monthly_report_ranks_by_group_and_keeps_the_flag_history(
    ctx: RoutingContext, clock
) -> None:
    clock.now = local(2026, 10, 8, 9)
    street = D.create(
        ctx,
        spec(ctx, lead="滨江街道", support=(), due=date(2026, 11, 20)),
        actor=actor(ctx, "luru1"),
    ).number
    other = D.create(
        ctx,
        spec(ctx, lead="城东街道", support=(), due=date(2026, 11, 20)),
        actor=actor(ctx, "luru1"),
    ).number
    clock.now = local(2026, 10, 15, 9)
    D.progress(ctx, street, "进展", actor=actor(ctx, "bjjd-1"))  # 城东 reports nothing
    clock.now = local(2026, 11, 18, 9)
    D.finish(ctx, street, "完成", actor=actor(ctx, "bjjd-1"))
    D.verify(ctx, street, passed=True, score=5, actor=actor(ctx, "ducha1"))
    for month in (10, 11):
        now = local(2026, month + 1, 2, 9)
        with ctx.session() as session:
            report = build_monthly(
                session, now=now, rules=ctx.rules, policy=ctx.policy.ranking,
                month=month_of(date(2026, month, 1)), task_policy=ctx.policy.tasks,
            )  # fmt: skip
    streets = next(g for g in report.groups if g.group == "street")
    entries = {e.label: e for e in streets.entries}
    assert entries["滨江街道"].flag == "红旗" and entries["城东街道"].flag == "黄旗"
    assert entries["城东街道"].last and entries["城东街道"].accountability  # last Oct and Nov
    assert report.as_dict()["groups"][1]["label"] == "乡镇（街道）"
    summary = ranking_summary(report)  # what every format of the 月讲评 prints
    assert (
        "乡镇（街道）（督办件与督办事项综合）：红旗 滨江街道；黄旗 城东街道；问责提示：城东街道"
        in ("\n".join(summary))
    )
    with ctx.session() as session:
        assert [m for m, _, _ in flag_history(session, "bjjd")] == ["2026-10", "2026-11"]
        assert flag_history(session, "bjjd")[-1][1] == "红旗"
        quarter = {q.label: q for q in quarter_view(session, 2026, 4)}
    assert (quarter["滨江街道"].red, quarter["城东街道"].yellow) == (2, 2)
    assert quarter["城东街道"].accountability == 1 and len(quarter["城东街道"].months) == 2
    assert quarter["滨江街道"].total > quarter["城东街道"].total
    assert other


def test_check_in_points_move_a_unit_within_its_group_and_stay_within_0_to_100() -> None:
    scores = {"s1": 80.0, "s2": 79.0, "s3": 99.5}
    (plain,) = rank_by_group(ranking(scores), {}, STREETS[:3], POLICY)
    assert [e.unit for e in plain.entries] == ["s3", "s1", "s2"]
    points = {"s2": 2.0, "s1": -0.5, "s3": 3.0}
    (moved,) = rank_by_group(ranking(scores), {}, STREETS[:3], POLICY, points=points)
    assert [e.unit for e in moved.entries] == ["s3", "s2", "s1"]  # 81 over 79.5
    top = moved.entries[0]
    assert (top.score, top.checkin_points) == (100.0, 3.0)  # capped at 100


def test_the_monthly_text_names_the_check_in_points_it_counted() -> None:
    from types import SimpleNamespace

    from reports.tables import ranking_summary

    scores = {"s1": 80.0, "s2": 79.0}
    groups = rank_by_group(ranking(scores), {}, STREETS[:2], POLICY, points={"s2": 2.0})
    report = SimpleNamespace(ranking=ranking(scores), groups=groups)
    lines = ranking_summary(report)  # type: ignore[arg-type]
    assert any("晒工作加减分" in line and "+2" in line for line in lines)
