"""Reminders (催办) and escalation (通报), written to the outbox.

For every ticket a unit still owes an answer on, at each run:

- ``before_due_workdays``: N working days before the due day (from ``due_day_hour`` on);
- the morning of the due day;
- every working day while overdue;
- once overdue by ``escalate_after_overdue_workdays`` working days: 通报 to supervisors
  and the unit (an escalation event on the ticket).

Nothing goes out on a day off or before ``due_day_hour`` (office time), so a unit is not
woken at midnight by an overdue notice. Each notice has a dedupe key naming the ticket, the
deadline in force and the day, so a run repeated (or run by two schedulers) writes nothing
twice, and an approved extension starts the reminders afresh. A ticket re-routed to another
unit (退回 then 交办, or 改派) gives the new unit its own notices: the key of a notice an
earlier unit already had gets the new unit's id appended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from ledger import tickets as T
from ledger.models import Audience, Notification, Ticket, TicketState
from ledger.states import OPEN_STATES, TRIAGE_STATES, WORKING_STATES, values
from routing import notify
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

SCHEDULER = T.Actor.system("scheduler")


@dataclass
class ReminderRun:
    reminders: int = 0
    overdue: int = 0
    escalated: int = 0
    triage_overdue: int = 0


def run_reminders(ctx: RoutingContext, *, now: datetime | None = None) -> ReminderRun:
    now = now or ctx.now()
    policy = ctx.policy.reminders
    rules = ctx.rules
    today = rules.local_date(now)
    local_hour = now.astimezone(rules.tz).hour
    result = ReminderRun()
    if not rules.calendar.is_workday(today) or local_hour < policy.due_day_hour:
        return result  # office hours only: not on a day off, not before the morning
    horizon = rules.end_of_day(
        rules.calendar.add_workdays(today, max([*policy.before_due_workdays, 0]) + 1).due
    )
    with ctx.session() as session:
        owing = session.exec(
            select(Ticket)
            .where(col(Ticket.state).in_(values(OPEN_STATES)))
            .where(Ticket.due_at <= horizon)
            .order_by(col(Ticket.due_at))
        ).all()
        for ticket in owing:
            left = rules.workdays_left(ticket.due_date, now)
            overdue = now > ticket.due_at
            if TicketState(ticket.state) in TRIAGE_STATES:
                if overdue and _write(
                    session,
                    ticket,
                    ctx,
                    now,
                    "triage-overdue",
                    Audience.INTAKE,
                    f"【待分办超期】{ticket.number} 仍未交办，已超期 {max(-left, 1)} 个工作日",
                    key=f"triage-overdue:{ticket.id}:{today}",
                ):
                    result.triage_overdue += 1
                continue
            if overdue:
                days_late = max(-left, 1)
                if policy.overdue_every_workday and _write(
                    session,
                    ticket,
                    ctx,
                    now,
                    "overdue",
                    Audience.UNIT,
                    f"【超期催办】{ticket.number} 已超期 {days_late} 个工作日，请立即办理并反馈",
                    key=f"overdue:{ticket.id}:{ticket.due_date}:{today}",
                ):
                    result.overdue += 1
                if _escalate(session, ticket, ctx, now):
                    result.escalated += 1
                continue
            if left == 0:
                if _write(
                    session,
                    ticket,
                    ctx,
                    now,
                    "reminder",
                    Audience.UNIT,
                    f"【今日到期】{ticket.number} 今天（{ticket.due_date}）是办理时限，请按时反馈",
                    key=f"due:{ticket.id}:{ticket.due_date}",
                ):
                    result.reminders += 1
            elif left in policy.before_due_workdays and _write(
                session,
                ticket,
                ctx,
                now,
                "reminder",
                Audience.UNIT,
                f"【临期提醒】{ticket.number} 还剩 {left} 个工作日（时限 {ticket.due_date}）",
                key=f"remind:{ticket.id}:{ticket.due_date}:{left}",
            ):
                result.reminders += 1
    if result.reminders or result.overdue or result.escalated or result.triage_overdue:
        logger.info("reminders: %s", result)
        ctx.nudge()
    return result


def _write(
    session: Session,
    ticket: Ticket,
    ctx: RoutingContext,
    now: datetime,
    kind: str,
    audience: Audience,
    text: str,
    *,
    key: str,
) -> bool:
    row = notify.write(
        session,
        dedupe_key=_unit_key(session, ticket, key),
        kind=kind,
        audience=audience,
        unit_id=ticket.unit_id,
        ticket=ticket,
        now=now,
        text=text,
        payload={
            "ticket": ticket.number,
            "actions": notify.unit_actions(ticket) if audience == Audience.UNIT else [],
        },
    )
    return row is not None


def _unit_key(session: Session, ticket: Ticket, key: str) -> str:
    """``key``, or ``key:u<unit id>`` when another unit of the ticket already had ``key``."""
    had = session.exec(select(Notification.unit_id).where(Notification.dedupe_key == key)).first()
    if had is None or had == ticket.unit_id:
        return key
    return f"{key}:u{ticket.unit_id}"


def _escalate(session: Session, ticket: Ticket, ctx: RoutingContext, now: datetime) -> bool:
    """通报 once per deadline in force and unit (see ``_escalation_due``).

    Before it, the ticket is read again under a lock: another scheduler, a reply or an
    approved extension may have changed it since this run listed it.
    """
    if not _escalation_due(ticket, ctx, now):
        return False
    session.refresh(ticket, with_for_update=True)
    if TicketState(ticket.state) not in WORKING_STATES or not _escalation_due(ticket, ctx, now):
        return False
    days_late = max(-ctx.rules.workdays_left(ticket.due_date, now), 1)
    unit = notify.unit_name(session, ticket.unit_id)
    note = f"{unit}办理的 {ticket.number} 已超期 {days_late} 个工作日未反馈，予以通报"
    event = T.escalate(session, ticket, note, actor=SCHEDULER, now=now)
    text = (
        f"【通报】{ticket.number}（{unit}）\n{note}\n"
        f"办理时限：{notify.deadline_phrase(ticket, ctx.rules, now)}"
    )
    key = f"escalate:{ticket.id}:{ticket.due_date}"
    for audience in (Audience.SUPERVISORS, Audience.UNIT):
        notify.write(
            session,
            dedupe_key=_unit_key(session, ticket, f"{key}:{audience}"),
            kind="escalation",
            audience=audience,
            unit_id=ticket.unit_id,
            ticket=ticket,
            now=now,
            text=text,
            payload={"ticket": ticket.number, "event_id": event.id},
        )
    return True


def _escalation_due(ticket: Ticket, ctx: RoutingContext, now: datetime) -> bool:
    """Late by ``escalate_after_overdue_workdays`` working days and not yet escalated for it.

    An extension that moves the deadline allows a new 通报; so does re-routing to another
    unit, whose working days count from the later of the due day and the day it got the
    ticket (it is not blamed for the days the ticket spent elsewhere).
    """
    if now <= ticket.due_at:
        return False
    held_since = max(ticket.due_at, ticket.assigned_at or ticket.due_at)
    if ticket.escalated_at is not None and ticket.escalated_at >= held_since:
        return False
    rules = ctx.rules
    late = -rules.workdays_left(rules.local_date(held_since), now)
    return late >= ctx.policy.reminders.escalate_after_overdue_workdays
