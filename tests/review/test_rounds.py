"""评议 rounds: raters in two groups with weights, complete sets only, late ratings refused,
书面点评, the anonymous tally recomputed here; the CLI and /评议 in chat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.messages import Outcome
from desk import review as D
from duban.cli import app
from ledger.errors import BadInput, IllegalTransition, NotFound, PermissionDenied
from review import rounds as R
from routing.context import RoutingContext
from tests.bots.conftest import Desk, bind_all
from tests.helpers import Clock, local

UNITS = ("zjj", "cgj", "jtj")
RATERS = """代码,姓名,组别,权重,人员
L1,王区长,区领导,2,
L2,李副区长,区领导,2,
D1,张代表,党代表,1,zjj-ld
D2,赵委员,党代表,1,
"""
GRADES = {"优秀": 95, "称职": 80, "基本称职": 65, "不称职": 40}  # data/policy.yaml
BALLOTS = {
    "L1": {"zjj": "优秀", "cgj": "称职", "jtj": "基本称职"},
    "L2": {"zjj": "称职", "cgj": "称职", "jtj": "不称职"},
    "D1": {"zjj": "优秀", "cgj": "基本称职", "jtj": "称职"},
}
WEIGHTS = {"L1": 2, "L2": 2, "D1": 1, "D2": 1}
GROUPS = {"L1": "区领导", "L2": "区领导", "D1": "党代表", "D2": "党代表"}


def entries(ballot: dict[str, str], **comments: str) -> list[R.Entry]:
    return [R.Entry(unit, grade, comments.get(unit)) for unit, grade in ballot.items()]


@pytest.fixture
def ctx(runtime, clock: Clock) -> Iterator[RoutingContext]:
    runtime.clock = clock
    clock.now = local(2026, 12, 20, 9)
    context = runtime.routing
    D.open_round(context, year=2026, raters=R.parse_raters(RATERS), by="test", units=list(UNITS))
    yield context


def test_raters_file_errors_name_the_row() -> None:
    with pytest.raises(BadInput, match="表头缺少 组别"):
        R.parse_raters("代码,姓名,权重\nL1,王,1\n")
    with pytest.raises(BadInput, match="第3行：代码「L1」重复"):
        R.parse_raters("代码,姓名,组别,权重\nL1,王,区领导,1\nL1,李,区领导,1\n")
    with pytest.raises(BadInput, match="第2行：权重须大于 0"):
        R.parse_raters("代码,姓名,组别,权重\nL1,王,区领导,0\n")
    with pytest.raises(BadInput, match="第2行：权重「重」不是数字"):
        R.parse_raters("代码,姓名,组别,权重\nL1,王,区领导,重\n")


def test_complete_sets_weighted_tally_and_frozen_after_close(ctx: RoutingContext) -> None:
    with pytest.raises(IllegalTransition, match="已经建立"):
        D.open_round(ctx, year=2026, raters=R.parse_raters(RATERS), by="test")
    # a partial set is refused naming what is missing, and nothing is stored
    with pytest.raises(BadInput, match="尚缺2个：城管局、交通运输局") as refused:
        D.rate(ctx, year=2026, rater="L1", entries=[R.Entry("zjj", "优秀")])
    assert "全部3个单位" in str(refused.value)
    with pytest.raises(BadInput, match="不是评议等次"):
        D.rate(ctx, year=2026, rater="L1", entries=entries({**BALLOTS["L1"], "jtj": "良"}))
    with pytest.raises(BadInput, match="评了两次"):
        D.rate(
            ctx, year=2026, rater="L1", entries=[*entries(BALLOTS["L1"]), R.Entry("住建局", "优秀")]
        )
    with pytest.raises(BadInput, match="不在2026年度评议的单位之中"):
        D.rate(
            ctx, year=2026, rater="L1", entries=[*entries(BALLOTS["L1"]), R.Entry("gaj", "优秀")]
        )
    with pytest.raises(NotFound, match="X9"):
        D.rate(ctx, year=2026, rater="X9", entries=entries(BALLOTS["L1"]))
    assert D.tally(ctx, year=2026).unit("zjj").rated == 0

    # L1 first rates everyone 不称职, then changes its mind while the round is open
    D.rate(ctx, year=2026, rater="L1", entries=entries(dict.fromkeys(UNITS, "不称职")))
    for code, ballot in BALLOTS.items():
        comments = {"zjj": "工作扎实"} if code == "D1" else {}
        assert D.rate(ctx, year=2026, rater=code, entries=entries(ballot, **comments)).count == 3
    D.remark(ctx, year=2026, unit="zjj", text="全年督办件按期办结，群众满意。", by="王区长")

    tally = D.tally(ctx, year=2026)
    for unit in UNITS:
        row = tally.unit(unit)
        points = {c: GRADES[b[unit]] for c, b in BALLOTS.items()}
        overall = sum(WEIGHTS[c] * p for c, p in points.items()) / sum(WEIGHTS[c] for c in points)
        assert row.score == pytest.approx(overall)
        for group in ("区领导", "党代表"):
            mine = {c: p for c, p in points.items() if GROUPS[c] == group}
            assert row.by_group[group] == pytest.approx(
                sum(WEIGHTS[c] * p for c, p in mine.items()) / sum(WEIGHTS[c] for c in mine)
            )
        assert row.rated == 3
        assert row.grades == {g: sum(b[unit] == g for b in BALLOTS.values()) for g in GRADES}
    zjj = tally.unit("zjj")
    assert zjj.comments == ("工作扎实",) and zjj.remark_by == "王区长"
    # anonymous to units: nothing of a unit's row names a rater (the 点评 is signed)
    unit_rows = json.dumps(tally.as_dict()["units"], ensure_ascii=False)
    assert not any(name in unit_rows for name in ("李副区长", "张代表", "赵委员", "L1", "D1"))
    assert [r.code for r in tally.pending] == ["D2"]

    closed = D.close_round(ctx, year=2026, by="test")
    assert "未提交 1 人：赵委员" in closed.text
    # late: refused after close, and nothing changes
    with pytest.raises(IllegalTransition, match="评议已结束"):
        D.rate(ctx, year=2026, rater="D2", entries=entries(BALLOTS["L1"]))
    with pytest.raises(IllegalTransition, match="评议已结束"):
        D.rate(ctx, year=2026, rater="L1", entries=entries(dict.fromkeys(UNITS, "不称职")))
    with pytest.raises(IllegalTransition, match="评议已结束"):
        D.remark(ctx, year=2026, unit="cgj", text="好", by="李副区长")
    with pytest.raises(IllegalTransition):
        D.close_round(ctx, year=2026, by="test")
    assert D.tally(ctx, year=2026).unit("zjj").score == pytest.approx(zjj.score)


def test_rating_from_chat_privately(ctx: RoutingContext) -> None:
    bind_all(ctx, "memory")
    desk = Desk(ctx)
    ballot = "/评议 住建局=优秀（年度表现突出） 城管局=称职 交通局=称职"
    assert desk.say("zjj", "zjj-ld", ballot) == Outcome.REFUSED
    assert "私聊" in desk.last("zjj")
    assert desk.say("dm", "zjj-ld", "/评议 住建局=优秀", private=True) == Outcome.REFUSED
    assert "尚缺2个：城管局、交通运输局" in desk.last("dm")
    assert desk.say("dm", "zjj-ld", ballot, private=True) == Outcome.DONE
    assert "已收到张代表对3个单位的2026年度评议" in desk.last("dm")
    # someone who is no rater
    assert desk.say("dm2", "zjj-1", ballot, private=True) == Outcome.REFUSED
    assert "不是2026年度评议的评议人" in desk.last("dm2")
    tally = D.tally(ctx, year=2026)
    assert tally.unit("zjj").grades["优秀"] == 1 and tally.unit("zjj").comments == ("年度表现突出",)
    D.close_round(ctx, year=2026, by="test")
    assert desk.say("dm", "zjj-ld", "/评议 2026 " + ballot[4:], private=True) == Outcome.REFUSED
    assert "评议已结束" in desk.last("dm")


def test_score_scale_and_bounds(runtime, clock: Clock) -> None:
    runtime.clock = clock
    context = runtime.routing
    context.policy = context.policy.model_copy(
        update={"review": context.policy.review.model_copy(update={"scale": "score"})}
    )
    D.open_round(context, year=2027, raters=R.parse_raters(RATERS), by="t", units=["zjj", "cgj"])
    with pytest.raises(BadInput, match="1–100"):
        D.rate(
            context, year=2027, rater="L1", entries=[R.Entry("zjj", "101"), R.Entry("cgj", "80")]
        )
    D.rate(context, year=2027, rater="L1", entries=[R.Entry("zjj", "91.5"), R.Entry("cgj", "80")])
    D.rate(context, year=2027, rater="D1", entries=[R.Entry("zjj", "70"), R.Entry("cgj", "80")])
    assert D.tally(context, year=2027).unit("zjj").score == pytest.approx((2 * 91.5 + 70) / 3)
    with pytest.raises(PermissionDenied), context.session() as session:
        R.rater_of_person(session, R.get_round(session, 2027), person_id=10**6)


runner = CliRunner()


def test_cli_open_rate_remark_close_status(tmp_path: Path) -> None:
    assert runner.invoke(app, ["init"]).exit_code == 0
    raters = tmp_path / "raters.csv"
    raters.write_text(RATERS, encoding="utf-8-sig")
    base = ["review"]
    args = ["--year", "2026"]
    units = [x for u in UNITS for x in ("--unit", u)]
    result = runner.invoke(app, [*base, "open", *args, "--raters", str(raters), *units])
    assert result.exit_code == 0, result.stderr
    assert "3个单位，4位评议人" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("代码,姓名\n", encoding="utf-8")
    result = runner.invoke(app, [*base, "open", "--year", "2025", "--raters", str(bad)])
    assert result.exit_code == 2 and "表头缺少" in result.stderr
    partial = runner.invoke(app, [*base, "rate", *args, "--rater", "L1", "住建局=优秀"])
    assert partial.exit_code == 2 and "尚缺2个：城管局、交通运输局" in partial.stderr
    sheet = tmp_path / "L2.csv"
    sheet.write_text("单位,等次,评语\n住建局,称职,\n城管局,称职,\n交通局,不称职,进度慢\n", "utf-8")
    ok = runner.invoke(app, [*base, "rate", *args, "--rater", "L2", "--file", str(sheet)])
    assert ok.exit_code == 0, ok.stderr
    ok = runner.invoke(
        app, [*base, "rate", *args, "--rater", "L1", "zjj=优秀", "cgj=称职", "jtj=基本称职"]
    )
    assert ok.exit_code == 0, ok.stderr
    ok = runner.invoke(
        app, [*base, "remark", *args, "住建局", "按期率全区第一。", "--leader", "王区长"]
    )
    assert ok.exit_code == 0 and "王区长对住建局的书面点评" in ok.stdout
    assert runner.invoke(app, [*base, "close", *args]).exit_code == 0
    late = runner.invoke(
        app, [*base, "rate", *args, "--rater", "D1", "zjj=优秀", "cgj=称职", "jtj=称职"]
    )
    assert late.exit_code == 1 and "评议已结束" in late.stderr
    status = runner.invoke(app, [*base, "status", *args, "--json"])
    data = json.loads(status.stdout)
    zjj = next(u for u in data["units"] if u["unit"] == "zjj")
    assert zjj["score"] == pytest.approx((2 * 95 + 2 * 80) / 4)
    assert data["state"] == "closed" and zjj["remark"] == "按期率全区第一。"
    text = runner.invoke(app, [*base, "status", *args]).stdout
    assert "住建局  评议得分 87.50  共2份" in text and "未提交：张代表（党代表）" in text
