"""一问: a question put to a unit at the annual review, recorded with who asked and tracked
as a ticket of source kind 代表提问 — assigned to the unit at once, due in
``review.answer_days`` working days, answered (反馈) and checked like any ticket."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from ledger import tickets as T
from ledger.deadlines import DeadlineRules
from ledger.directory import find_unit
from ledger.messages import add_message
from ledger.models import (
    STATE_LABELS,
    Reply,
    ReviewQuestion,
    SourceKind,
    Ticket,
    TicketState,
    Unit,
)
from ledger.policy import ReviewPolicy
from review.errors import BadInput

CHANNEL = "review"
MAX_ASKER = 64


def ask(
    session: Session,
    *,
    year: int,
    unit: str,
    question: str,
    asked_by: str,
    policy: ReviewPolicy,
    rules: DeadlineRules,
    now: datetime,
) -> tuple[ReviewQuestion, Ticket, Unit]:
    """Record the question and open its ticket, assigned to the unit (the caller notifies)."""
    text = (question or "").strip()
    if not text:
        raise BadInput("问题内容不能为空")
    who = (asked_by or "").strip()
    if not who or len(who) > MAX_ASKER:
        raise BadInput(f"请写明提问人（--by，至多{MAX_ASKER}字）")
    target = find_unit(session, unit)
    if target.kind == "desk" or not target.active:
        raise BadInput(f"「{target.short_name}」不是可以提问的责任单位")
    digest = hashlib.sha256(f"{year}\n{who}\n{target.code}\n{text}".encode()).hexdigest()
    message = add_message(
        session,
        source_kind=SourceKind.QUESTION,
        channel=CHANNEL,
        received_at=now,
        raw_text=text,
        text=text,
        content_hash=digest,
        now=now,
        title=f"{who}提问：{text[:40]}",
        submitter=who,
        time_limit_days=policy.answer_days,
    )
    actor = T.Actor.system("review")
    ticket = T.open_ticket(session, message, rules=rules, now=now, actor=actor)
    T.assign(session, ticket, target, actor=actor, now=now, routed_by="manual", note="一问")
    assert ticket.id is not None and target.id is not None
    row = ReviewQuestion(
        year=year, unit_id=target.id, asked_by=who, question=text, ticket_id=ticket.id, asked_at=now
    )
    session.add(row)
    session.flush()
    return row, ticket, target


@dataclass(frozen=True, slots=True)
class QuestionRow:
    asked_at: datetime
    asked_by: str
    unit: str
    unit_label: str
    question: str
    number: str  # the ticket
    state: str
    state_label: str
    due_date: date
    answered_at: datetime | None
    answer: str | None
    overdue: bool  # unanswered after its deadline at ``now``

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def questions(session: Session, *, year: int, now: datetime) -> list[QuestionRow]:
    """The year's questions, oldest first, each with its ticket's state and the answer."""
    units = {u.id: u for u in session.exec(select(Unit))}
    rows = []
    found = session.exec(
        select(ReviewQuestion, Ticket)
        .join(Ticket, col(Ticket.id) == col(ReviewQuestion.ticket_id))
        .where(ReviewQuestion.year == year)
        .order_by(col(ReviewQuestion.asked_at), col(ReviewQuestion.id))
    ).all()
    for question, ticket in found:
        replies = session.exec(
            select(Reply).where(Reply.ticket_id == ticket.id).order_by(col(Reply.id))
        ).all()
        unit = units[question.unit_id]
        state = TicketState(ticket.state)
        answered = replies[0].created_at if replies else None
        rows.append(
            QuestionRow(
                asked_at=question.asked_at,
                asked_by=question.asked_by,
                unit=unit.code,
                unit_label=unit.short_name,
                question=question.question,
                number=ticket.number,
                state=state.value,
                state_label=STATE_LABELS[state],
                due_date=ticket.due_date,
                answered_at=answered,
                answer="\n".join(r.text for r in replies) if replies else None,
                overdue=answered is None and ticket.due_at < now,
            )
        )
    return rows
