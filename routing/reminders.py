"""Reminders (催办) and escalation (通报), written to the outbox.

For every ticket a unit still owes an answer on, at each run:

- ``before_due_workdays``: N working days before the due day (from ``due_day_hour`` on);
- the morning of the due day;
- every working day while overdue;
- once overdue by ``escalate_after_overdue_workdays`` working days: 通报 to supervisors
  and the unit (an escalation event on the ticket).

Each notice has a dedupe key naming the ticket, the deadline in force and the day, so a
run repeated (or run by two schedulers) writes nothing twice, and an approved extension
starts the reminders afresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from ledger import tickets as T
from ledger.models import Ticket, TicketState
from routing import notify
from routing.context import RoutingContext

logger = logging.getLogger(__name__)

SCHEDULER = T.Actor.system("scheduler")
UNIT_OWES = (TicketState.ASSIGNED, TicketState.ACKNOWLEDGED, TicketState.REOPENED)
DESK_OWES = (TicketState.REGISTERED, TicketState.RETURNED)


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
    working_today = rules.calendar.is_workday(today)
    horizon = rules.end_of_day(rules.calendar.add_workdays(today, max(
        [*policy.before_due_workdays, 0]) + 1).due)
    result = ReminderRun()
    with ctx.session() as session:
        owing = session.exec(
            select(Ticket)
            .where(col(Ticket.state).in_([s.value for s in (*UNIT_OWES, *DESK_OWES)]))
            .where(Ticket.due_at <= horizon)
            .order_by(col(Ticket.due_at))
        ).all()
        for ticket in owing:
            left = rules.workdays_left(ticket.due_date, now)
            overdue = now > ticket.due_at
            if TicketState(ticket.state) in DESK_OWES:
                if overdue and working_today and _write(
                        session, ticket, ctx, now, "triage-overdue", notify.AUDIENCE_INTAKE,
                        f"【待分办超期】{ticket.number} 仍未交办，已超期 {max(-left, 1)} 个工作日",
                        key=f"triage-overdue:{ticket.id}:{today}"):
                    result.triage_overdue += 1
                continue
            if overdue:
                days_late = max(-left, 1)
                if working_today and policy.overdue_every_workday and _write(
                        session, ticket, ctx, now, "overdue", notify.AUDIENCE_UNIT,
                        f"【超期催办】{ticket.number} 已超期 {days_late} 个工作日，"
                        "请立即办理并反馈",
                        key=f"overdue:{ticket.id}:{ticket.due_date}:{today}"):
                    result.overdue += 1
                late_enough = days_late >= policy.escalate_after_overdue_workdays
                if working_today and late_enough and _escalate(
                        session, ticket, ctx, now, days_late):
                    result.escalated += 1
                continue
            if local_hour < policy.due_day_hour or not working_today:
                continue
            if left == 0:
                if _write(session, ticket, ctx, now, "reminder", notify.AUDIENCE_UNIT,
                          f"【今日到期】{ticket.number} 今天（{ticket.due_date}）是办理时限，"
                          "请按时反馈", key=f"due:{ticket.id}:{ticket.due_date}"):
                    result.reminders += 1
            elif left in policy.before_due_workdays and _write(
                    session, ticket, ctx, now, "reminder", notify.AUDIENCE_UNIT,
                    f"【临期提醒】{ticket.number} 还剩 {left} 个工作日（时限 {ticket.due_date}）",
                    key=f"remind:{ticket.id}:{ticket.due_date}:{left}"):
                result.reminders += 1
    if result.reminders or result.overdue or result.escalated or result.triage_overdue:
        logger.info("reminders: %s", result)
        ctx.nudge()
    return result


def _write(session, ticket: Ticket, ctx: RoutingContext, now: datetime, kind: str,
           audience: str, text: str, *, key: str) -> bool:
    row = notify.write(
        session, dedupe_key=key, kind=kind, audience=audience, unit_id=ticket.unit_id,
        ticket=ticket, now=now, text=text,
        payload={"ticket": ticket.number, "actions": notify.unit_actions(ticket)
                 if audience == notify.AUDIENCE_UNIT else []},
    )
    return row is not None


def _escalate(session, ticket: Ticket, ctx: RoutingContext, now: datetime,
              days_late: int) -> bool:
    """通报 once per deadline in force (an extension that moves it allows a new one)."""
    key = f"escalate:{ticket.id}:{ticket.due_date}"
    if ticket.escalated_at is not None and ticket.escalated_at >= ticket.due_at:
        return False
    unit = notify.unit_name(session, ticket.unit_id)
    note = f"{unit}办理的 {ticket.number} 已超期 {days_late} 个工作日未反馈，予以通报"
    event = T.escalate(session, ticket, note, actor=SCHEDULER, now=now)
    text = (f"【通报】{ticket.number}（{unit}）\n{note}\n"
            f"办理时限：{notify.deadline_phrase(ticket, ctx.rules, now)}")
    for audience in (notify.AUDIENCE_SUPERVISORS, notify.AUDIENCE_UNIT):
        notify.write(session, dedupe_key=f"{key}:{audience}", kind="escalation",
                     audience=audience, unit_id=ticket.unit_id, ticket=ticket, now=now,
                     text=text, payload={"ticket": ticket.number, "event_id": event.id})
    return True

