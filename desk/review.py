"""The desk's verbs of the annual review (年度考评): open and close a 评议 round, take a
rater's grades (from the CLI for a paper ballot, or from chat by the rater), 书面点评,
一问. Each runs one transaction; a refused step writes nothing (``review.rounds``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ledger import tickets as T
from ledger.models import Person
from reports.outputs import OutputGuard
from review import rounds as R
from routing.context import RoutingContext


@dataclass(frozen=True, slots=True)
class ReviewResult:
    year: int
    text: str  # Simplified Chinese, for the person who acted
    count: int = 0


def open_round(
    ctx: RoutingContext,
    *,
    year: int,
    raters: Sequence[R.RaterSpec],
    by: str,
    units: Sequence[str] = (),
) -> ReviewResult:
    with ctx.session() as session:
        found = R.open_round(
            session,
            year=year,
            raters=raters,
            policy=ctx.policy.review,
            now=ctx.now(),
            by=by,
            units=units,
        )
        count = len(found.unit_ids)
        scale = "等次（优秀/称职/基本称职/不称职）" if found.scale == "grade" else "1–100 分"
    groups = sorted({r.group for r in raters})
    return ReviewResult(
        year,
        f"已建立{year}年度评议：{count}个单位，{len(raters)}位评议人"
        f"（{'、'.join(groups)}），按{scale}评定",
        count,
    )


def rate(
    ctx: RoutingContext,
    *,
    year: int | None,
    entries: Sequence[R.Entry],
    rater: str | None = None,
    person: Person | None = None,
) -> ReviewResult:
    """A rater's complete set: by rater code (CLI) or as the person bound in chat (the
    year may then be left out: the round open now)."""
    with ctx.session() as session:
        found = R.get_round(session, year) if year is not None else R.open_now(session)
        year = found.year
        if person is not None:
            assert person.id is not None
            who = R.rater_of_person(session, found, person.id)
        else:
            who = R.find_rater(session, found, rater or "")
        count = R.rate(
            session, year=year, rater=who, entries=entries, policy=ctx.policy.review, now=ctx.now()
        )
        name = who.name
    return ReviewResult(year, f"已收到{name}对{count}个单位的{year}年度评议，谢谢", count)


def close_round(ctx: RoutingContext, *, year: int, by: str) -> ReviewResult:
    with ctx.session() as session:
        R.close_round(session, year=year, now=ctx.now(), by=by)
        result = R.tally(session, year)
    pending = result.pending
    tail = f"；未提交 {len(pending)} 人：{'、'.join(r.name for r in pending)}" if pending else ""
    return ReviewResult(
        year, f"{year}年度评议已结束，评议结果不再更改{tail}", len(result.raters) - len(pending)
    )


def remark(ctx: RoutingContext, *, year: int, unit: str, text: str, by: str) -> ReviewResult:
    with ctx.session() as session:
        row = R.remark(session, year=year, unit=unit, text=text, author=by, now=ctx.now())
        target = next(
            u for u in R.round_units(session, R.get_round(session, year)) if u.id == row.unit_id
        )
        label = target.short_name
    return ReviewResult(year, f"已记录{by}对{label}的书面点评", 1)


def tally(ctx: RoutingContext, *, year: int) -> R.Tally:
    with ctx.session() as session:
        return R.tally(session, year)


def ask(ctx: RoutingContext, *, year: int, unit: str, question: str, by: str) -> ReviewResult:
    """一问: the question recorded and its ticket (代表提问) sent to the unit's chats."""
    from review import questions as Q
    from routing import notify

    now = ctx.now()
    with ctx.session() as session:
        _, ticket, target = Q.ask(
            session,
            year=year,
            unit=unit,
            question=question,
            asked_by=by,
            policy=ctx.policy.review,
            rules=ctx.rules,
            now=now,
        )
        event = T.events_of(session, ticket)[-1]
        assert event.id is not None
        notify.assigned(session, ticket, rules=ctx.rules, now=now, event_id=event.id)
        text = (
            f"已记录{by}向{target.short_name}的提问，转为督办件 {ticket.number}"
            f"（代表提问），答复时限 {ticket.due_date.isoformat()}"
        )
    ctx.nudge()
    return ReviewResult(year, text, 1)


@dataclass(frozen=True, slots=True)
class ResultOutcome:
    result: object  # review.result.AnnualResult
    files: dict[str, Path]
    posted: bool
    text: str


def result(
    ctx: RoutingContext, *, year: int, folder: Path, guard: OutputGuard | None, post: bool
) -> ResultOutcome:
    """The annual result: made and kept on the closed round, written as XLSX and DOCX, and
    (with ``post``) put in the outbox for the supervisors' chat — one transaction."""
    from review import result as RR

    now = ctx.now()
    with ctx.session() as session:
        made = RR.make_result(
            session, year=year, policy=ctx.policy.review, now=now, rules=ctx.rules,
            office=ctx.policy.office,
        )  # fmt: skip
        files = RR.write_result(made, folder, guard=guard)
        posted = RR.post_result(session, made, files=files, now=now) if post else False
    if posted:
        ctx.nudge()
    lines = RR.summary_lines(made)
    if post:
        lines.append("已发送督查群" if posted else "本年度考评结果此前已发送督查群，未重复发送")
    return ResultOutcome(made, files, posted, "\n".join(lines))
