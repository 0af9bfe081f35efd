"""The desk's verbs: every workflow step as the desk, the units and the supervisors take it.

Chat, CLI and web call these and nothing else to change a ticket (as Signalen's
``SignalManager`` is the one way to update a signal). Each function runs one transaction:
the ticket is read under a lock; the caller's ``expected_version`` (the version the page or
card showed) is checked; the separation of duties is checked; the ledger step (which checks
state and role and writes its one event) and the outbox rows that tell the next person are
written; all commit together, and the bot processes are nudged after the commit. A refused
step raises and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from desk.errors import StaleVersion
from desk.permissions import check_duties
from desk.queries import TicketRow
from ledger import tickets as T
from ledger.directory import find_unit, units_by_id
from ledger.errors import BadInput
from ledger.models import Audience, Reply, Ticket, TicketState
from ledger.states import TRIAGE_STATES
from routing import notify
from routing.context import RoutingContext
from routing.pipeline import triage_notice
from routing.triage import suggest_again


@dataclass(frozen=True, slots=True)
class StepResult:
    """What a step did: the ticket as it is now, and a sentence for the person who acted."""

    row: TicketRow
    text: str  # Simplified Chinese

    @property
    def number(self) -> str:
        return self.row.number

    @property
    def state(self) -> str:
        return self.row.state

    @property
    def state_label(self) -> str:
        return self.row.state_label

    @property
    def unit(self) -> str | None:
        return self.row.unit

    @property
    def unit_name(self) -> str | None:
        return self.row.unit_name

    @property
    def due_date(self) -> str:
        return self.row.due_date.isoformat()

    @property
    def version(self) -> int:
        return self.row.version


Step = Callable[[Session, Ticket, datetime], str]


def _run(
    ctx: RoutingContext,
    number: str,
    actor: T.Actor,
    step: Step,
    *,
    expected_version: int | None,
    action: str | None = None,
) -> StepResult:
    """One transaction: lock, check the version the caller saw and the duties, run ``step``."""
    now = ctx.now()
    with ctx.session() as session:
        ticket = T.get_ticket(session, number, for_update=True)
        check_version(ticket, expected_version)
        if action is not None:
            T.check_allowed(ticket, action, actor)  # state and role first, then duties
            check_duties(session, ticket, action, actor)
        text = step(session, ticket, now)
        units = units_by_id(session)
        row = TicketRow.of(ticket, units=units, rules=ctx.rules, now=now)
    ctx.nudge()
    return StepResult(row=row, text=text)


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    """Refuse a step taken on a stale view of the ticket (a page opened an hour ago)."""
    if expected_version is not None and ticket.version != expected_version:
        raise StaleVersion(
            f"{ticket.number} 已有新的办理进展（当前状态「{TicketState(ticket.state).label}」），"
            "请刷新后再操作",
            f"stale version: expected {expected_version}, ticket is at {ticket.version}",
        )


# -- desk ---------------------------------------------------------------------------------


def assign(
    ctx: RoutingContext,
    number: str,
    unit_name: str,
    *,
    actor: T.Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> StepResult:
    """交办 from triage (or 改派): the unit gets its card."""

    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        unit = find_unit(session, unit_name)
        action = (
            "reassign"
            if ticket.state in (TicketState.ASSIGNED, TicketState.ACKNOWLEDGED)
            else "assign"
        )
        T.check_allowed(ticket, action, actor)
        check_duties(session, ticket, action, actor, target=unit)
        routed_by = "triage" if ticket.state in TRIAGE_STATES else "manual"
        returned_before = unit.id in (ticket.excluded_units or [])
        event = T.assign(
            session, ticket, unit, actor=actor, now=now, routed_by=routed_by, note=note
        )
        assert event.id is not None  # flushed
        notify.assigned(session, ticket, rules=ctx.rules, now=now, event_id=event.id)
        text = f"{ticket.number} 已交办「{unit.short_name}」，时限 {ticket.due_date.isoformat()}"
        if returned_before:  # allowed (a desk may overrule a 退回), never without a word
            text += f"\n注意：「{unit.short_name}」曾退回此件，请确认确属该单位职责"
        return text

    return _run(ctx, number, actor, step, expected_version=expected_version)


# -- unit -----------------------------------------------------------------------------------


def acknowledge(
    ctx: RoutingContext, number: str, *, actor: T.Actor, expected_version: int | None = None
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        T.acknowledge(session, ticket, actor=actor, now=now)
        return f"{ticket.number} 已签收，办理时限 {notify.deadline_phrase(ticket, ctx.rules, now)}"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def reply(
    ctx: RoutingContext,
    number: str,
    text: str,
    *,
    actor: T.Actor,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        first = ticket.state != TicketState.REPLIED
        if not first and _last_reply_text(session, ticket) == text.strip():
            T.check_allowed(ticket, "reply", actor)
            return f"{ticket.number} 该反馈内容已记录，无需重复发送"  # sent twice: kept once
        event = T.reply(session, ticket, text, actor=actor, now=now)
        unit = notify.unit_name(session, ticket.unit_id)
        notify.write(
            session,
            dedupe_key=f"replied:{ticket.id}:{event.id}",
            kind="replied",
            audience=Audience.SUPERVISORS,
            ticket=ticket,
            now=now,
            text=(
                f"【反馈待核查】{ticket.number}（{unit}）\n{text.strip()}\n"
                f"核查：/核查 {ticket.number} 通过 评分1-5　或　/核查 {ticket.number} 不通过 "
                f"评分 意见"
            ),
            payload={
                "ticket": ticket.number,
                "actions": [
                    {"label": "核查通过(5分)", "command": f"/核查 {ticket.number} 通过 5"},
                    {"label": "核查通过(4分)", "command": f"/核查 {ticket.number} 通过 4"},
                ],
            },
        )
        return f"{ticket.number} 已收到反馈" + ("，等待核查" if first else "（补充内容已记录）")

    return _run(ctx, number, actor, step, expected_version=expected_version)


def _last_reply_text(session: Session, ticket: Ticket) -> str | None:
    last = session.exec(
        select(Reply.text)
        .where(Reply.ticket_id == ticket.id)
        .where(Reply.round == ticket.reopen_count + 1)
        .order_by(col(Reply.id).desc())
    ).first()
    return last.strip() if last is not None else None


def request_extension(
    ctx: RoutingContext,
    number: str,
    days: int,
    reason: str,
    *,
    actor: T.Actor,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        extension = T.request_extension(
            session,
            ticket,
            days,
            reason,
            actor=actor,
            now=now,
            max_days=ctx.policy.deadlines.max_extension_days,
        )
        unit = notify.unit_name(session, ticket.unit_id)
        notify.write(
            session,
            dedupe_key=f"extension:{ticket.id}:{extension.id}",
            kind="extension",
            audience=Audience.SUPERVISORS,
            ticket=ticket,
            now=now,
            text=(
                f"【延期申请】{ticket.number}（{unit}）申请延期 {days} 个工作日\n"
                f"理由：{extension.reason}\n现时限：{ticket.due_date.isoformat()}\n"
                f"审批：/批准延期 {ticket.number}　或　/驳回延期 {ticket.number} 意见"
            ),
            payload={
                "ticket": ticket.number,
                "actions": [
                    {"label": "批准延期", "command": f"/批准延期 {ticket.number}"},
                    {"label": "驳回延期", "command": f"/驳回延期 {ticket.number}"},
                ],
            },
        )
        return f"{ticket.number} 延期申请（{days} 个工作日）已提交，等待督查室审批"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def return_ticket(
    ctx: RoutingContext,
    number: str,
    reason: str,
    *,
    actor: T.Actor,
    expected_version: int | None = None,
) -> StepResult:
    """退回: back to the triage queue with fresh suggestions (never the returning unit)."""

    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        unit = notify.unit_name(session, ticket.unit_id)
        event = T.return_ticket(session, ticket, reason, actor=actor, now=now)
        suggest_again(session, ticket, ctx)
        triage_notice(
            session, ticket, ctx=ctx, now=now, reason=f"被「{unit}」退回，理由：{event.note}"
        )
        return f"{ticket.number} 已退回督查室重新分办"

    return _run(ctx, number, actor, step, expected_version=expected_version)


# -- supervisors -------------------------------------------------------------------------------


def decide_extension(
    ctx: RoutingContext,
    number: str,
    *,
    approve: bool,
    actor: T.Actor,
    days: int | None = None,
    note: str | None = None,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        asked = T.pending_extension(session, ticket)
        if approve and days is not None and asked is not None and days > asked.days:
            T.check_allowed(ticket, "approve_extension", actor)  # who may, before how many
            raise BadInput(
                f"{ticket.number} 申请延期 {asked.days} 个工作日，批准天数不能多于"
                f"申请天数 (days={days} > {asked.days})"
            )
        extension = T.decide_extension(
            session,
            ticket,
            approve=approve,
            actor=actor,
            now=now,
            rules=ctx.rules,
            days=days,
            note=note,
        )
        if approve:
            text = (
                f"【延期已批准】{ticket.number} 延期 {extension.granted_days} 个工作日，"
                f"新时限 {ticket.due_date.isoformat()}"
            )
        else:
            text = (
                f"【延期未批准】{ticket.number} 仍按原时限 {ticket.due_date.isoformat()} 办理"
                + (f"\n意见：{note}" if note else "")
            )
        notify.to_unit(
            session, ticket, kind="extension_decided", key=str(extension.id), text=text, now=now
        )
        return text

    return _run(
        ctx,
        number,
        actor,
        step,
        expected_version=expected_version,
        action="approve_extension" if approve else "deny_extension",
    )


def verify(
    ctx: RoutingContext,
    number: str,
    *,
    passed: bool,
    score: int,
    actor: T.Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        event = T.verify(
            session, ticket, passed=passed, score=score, actor=actor, now=now, note=note
        )
        if passed:
            text = f"【核查通过】{ticket.number} 质量评分 {score} 分"
        else:
            text = (
                f"【续办】{ticket.number} 核查未通过（评分 {score}），请继续办理并重新反馈\n"
                f"意见：{note}\n办理时限：{notify.deadline_phrase(ticket, ctx.rules, now)}"
            )
        notify.to_unit(session, ticket, kind="verified", key=str(event.id), text=text, now=now)
        return text

    return _run(
        ctx,
        number,
        actor,
        step,
        expected_version=expected_version,
        action="verify_pass" if passed else "verify_fail",
    )


def reopen(
    ctx: RoutingContext,
    number: str,
    reason: str,
    *,
    actor: T.Actor,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        event = T.reopen(session, ticket, reason, actor=actor, now=now)
        text = f"【续办】{ticket.number} 请继续办理并重新反馈\n理由：{event.note}"
        notify.to_unit(session, ticket, kind="reopened", key=str(event.id), text=text, now=now)
        return text

    return _run(ctx, number, actor, step, expected_version=expected_version, action="reopen")


def escalate(
    ctx: RoutingContext,
    number: str,
    note: str,
    *,
    actor: T.Actor,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        event = T.escalate(session, ticket, note, actor=actor, now=now)
        unit = notify.unit_name(session, ticket.unit_id)
        text = (
            f"【通报】{ticket.number}（{unit}）\n{event.note}\n"
            f"办理时限：{notify.deadline_phrase(ticket, ctx.rules, now)}"
        )
        for audience in (Audience.SUPERVISORS, Audience.UNIT):
            if audience == Audience.UNIT and ticket.unit_id is None:
                continue
            notify.write(
                session,
                dedupe_key=f"escalated:{audience}:{ticket.id}:{event.id}",
                kind="escalation",
                audience=audience,
                unit_id=ticket.unit_id,
                ticket=ticket,
                now=now,
                text=text,
                payload={"ticket": ticket.number},
            )
        return f"{ticket.number} 已通报"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def archive(
    ctx: RoutingContext,
    number: str,
    *,
    actor: T.Actor,
    note: str | None = None,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        T.archive(session, ticket, actor=actor, now=now, note=note)
        return f"{ticket.number} 已归档"

    return _run(ctx, number, actor, step, expected_version=expected_version)


def comment(
    ctx: RoutingContext,
    number: str,
    note: str,
    *,
    actor: T.Actor,
    expected_version: int | None = None,
) -> StepResult:
    def step(session: Session, ticket: Ticket, now: datetime) -> str:
        T.comment(session, ticket, note, actor=actor, now=now)
        return f"{ticket.number} 备注已记录"

    return _run(ctx, number, actor, step, expected_version=expected_version)
