"""The ticket state machine: 立项—交办—签收—反馈—核查—续办—通报—归档.

Every function here checks who may act and whether the ticket's state allows the step
*before* changing anything, then changes the ticket and appends one ``Event`` in the
caller's transaction. An illegal step raises ``IllegalTransition`` (or
``PermissionDenied``) and leaves the session untouched.

    registered --assign--> assigned --acknowledge--> acknowledged --reply--> replied
    replied --verify(pass)--> verified --archive--> archived
    replied --verify(fail)--> reopened --reply--> replied           (续办)
    assigned/acknowledged --return--> returned --assign--> assigned  (退回)
    extension request / approve / deny, escalate (通报), comment: the state stays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from ledger.deadlines import Deadline, DeadlineRules
from ledger.errors import BadInput, IllegalTransition, NotFound, PermissionDenied
from ledger.models import (
    Event,
    Extension,
    ExtensionStatus,
    Message,
    MessageStatus,
    Person,
    Reply,
    Role,
    Ticket,
    TicketState,
    TrainingLabel,
    Unit,
    column_size,
)
from ledger.numbers import next_ticket_number
from ledger.states import OPEN_STATES, TRIAGE_STATES, WORKING_STATES

logger = logging.getLogger(__name__)

S = TicketState

# action -> (states it may start from, state it leads to; None keeps the state)
TRANSITIONS: dict[str, tuple[frozenset[TicketState], TicketState | None]] = {
    "assign": (TRIAGE_STATES, S.ASSIGNED),
    "reassign": (frozenset({S.ASSIGNED, S.ACKNOWLEDGED}), S.ASSIGNED),
    "acknowledge": (frozenset({S.ASSIGNED}), S.ACKNOWLEDGED),
    "reply": (frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.REOPENED, S.REPLIED}), S.REPLIED),
    "request_extension": (WORKING_STATES, None),
    "approve_extension": (WORKING_STATES | {S.REPLIED}, None),
    "deny_extension": (WORKING_STATES | {S.REPLIED}, None),
    "return": (frozenset({S.ASSIGNED, S.ACKNOWLEDGED}), S.RETURNED),
    "verify_pass": (frozenset({S.REPLIED}), S.VERIFIED),
    "verify_fail": (frozenset({S.REPLIED}), S.REOPENED),
    "reopen": (frozenset({S.REPLIED, S.VERIFIED}), S.REOPENED),
    "escalate": (OPEN_STATES, None),
    "archive": (frozenset({S.VERIFIED}), S.ARCHIVED),
    "comment": (frozenset(S), None),
    "link_duplicate": (frozenset(S) - {S.ARCHIVED}, None),
}

ACTION_LABELS = {
    "register": "立项",
    "assign": "交办",
    "reassign": "改派",
    "acknowledge": "签收",
    "reply": "反馈",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "deny_extension": "驳回延期",
    "return": "退回",
    "verify_pass": "核查通过",
    "verify_fail": "核查不通过(续办)",
    "reopen": "续办",
    "escalate": "通报",
    "archive": "归档",
    "comment": "备注",
    "link_duplicate": "重复件",
    "recompute_deadline": "重算时限",
    "view_complainant": "查看来信人信息",
}

UNIT_ACTIONS = frozenset({"acknowledge", "reply", "request_extension", "return"})
SUPERVISOR_ACTIONS = frozenset(
    {
        "approve_extension",
        "deny_extension",
        "verify_pass",
        "verify_fail",
        "reopen",
        "escalate",
        "archive",
    }
)
ROUTING_ACTIONS = frozenset({"assign", "reassign"})
# Who acted (Event.actor) and how a ticket was routed (Ticket.routed_by) fit their columns.
LABEL_MAX = min(column_size(Event, "actor"), column_size(Ticket, "routed_by"))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person, or a part of the system (router, scheduler, console operator)."""

    person: Person | None
    label: str

    @classmethod
    def of(cls, person: Person) -> Actor:
        return cls(person=person, label=f"{person.name}({person.code})"[:LABEL_MAX])

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(person=None, label=f"system:{name}"[:LABEL_MAX])

    @property
    def person_id(self) -> int | None:
        return self.person.id if self.person is not None else None


def check_allowed(ticket: Ticket, action: str, actor: Actor) -> None:
    """Raise unless ``actor`` may do ``action`` to ``ticket`` in its current state."""
    allowed_from, _ = TRANSITIONS[action]
    state = TicketState(ticket.state)
    if state not in allowed_from:
        raise IllegalTransition(
            f"{ticket.number}: 当前状态为「{state.label}」，不能{ACTION_LABELS[action]}"
            f" (cannot {action} a ticket in state {state.value})"
        )
    _check_permission(ticket, action, actor)


def _check_permission(ticket: Ticket, action: str, actor: Actor) -> None:
    person = actor.person
    if person is None or person.has_role(Role.ADMIN):
        return
    if not person.active:
        raise PermissionDenied(f"{person.name} 的账号已停用 (person is inactive)")
    if action in UNIT_ACTIONS:
        if ticket.unit_id is None or person.unit_id != ticket.unit_id:
            raise PermissionDenied(
                f"{ticket.number} 不是您所在单位的事项，无权{ACTION_LABELS[action]}"
                f" (only members of the assigned unit may {action})"
            )
        if not person.has_role(Role.MEMBER, Role.LEADER):
            raise PermissionDenied(f"{person.name} 不是单位经办人 (not a unit member)")
    elif action in SUPERVISOR_ACTIONS:
        if not person.has_role(Role.SUPERVISOR):
            raise PermissionDenied(
                f"只有督查人员可以{ACTION_LABELS[action]} (only supervisors may {action})"
            )
    elif action in ROUTING_ACTIONS and not person.has_role(Role.INTAKE, Role.SUPERVISOR):
        raise PermissionDenied(
            f"只有录入员或督查人员可以{ACTION_LABELS[action]} (only intake staff or"
            f" supervisors may {action})"
        )


def _apply(
    session: Session,
    ticket: Ticket,
    action: str,
    actor: Actor,
    now: datetime,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Move ``ticket`` along ``action`` (already checked) and append its event."""
    _, target = TRANSITIONS[action]
    before = ticket.state
    if target is not None:
        ticket.state = target.value
    ticket.version += 1
    session.add(ticket)
    event = Event(
        ticket_id=ticket.id,
        action=action,
        from_state=before,
        to_state=ticket.state,
        actor_id=actor.person_id,
        actor=actor.label,
        unit_id=ticket.unit_id,
        note=note,
        data=data or {},
        at=now,
    )
    session.add(event)
    session.flush()
    logger.info(
        "ticket %s: %s %s -> %s by %s", ticket.number, action, before, ticket.state, actor.label
    )
    return event


def _require_text(value: str | None, field: str) -> str:
    text = (value or "").strip()
    if not text:
        raise BadInput(f"{field} 不能为空 ({field} is required)")
    return text


# -- opening -----------------------------------------------------------------------------


def open_ticket(
    session: Session, message: Message, *, rules: DeadlineRules, now: datetime, actor: Actor
) -> Ticket:
    """立项: one ticket for ``message``, its deadline counted from receipt."""
    if message.id is None:
        raise BadInput("message must be saved before a ticket is opened")
    existing = session.exec(select(Ticket).where(Ticket.message_id == message.id)).first()
    if existing is not None:
        return existing
    deadline = rules.for_message(message)
    ticket = Ticket(
        number=next_ticket_number(session, rules.local_date(now).year),
        message_id=message.id,
        state=TicketState.REGISTERED.value,
        source_kind=message.source_kind,
        opened_at=now,
        due_date=deadline.due_date,
        due_at=deadline.due_at,
        original_due_date=deadline.due_date,
        original_due_at=deadline.due_at,
        limit_days=deadline.limit_days,
        deadline_provisional=deadline.provisional,
    )
    session.add(ticket)
    message.status = MessageStatus.ROUTED.value
    session.add(message)
    session.flush()
    session.add(
        Event(
            ticket_id=ticket.id,
            action="register",
            from_state=None,
            to_state=ticket.state,
            actor_id=actor.person_id,
            actor=actor.label,
            data=register_data(deadline),
            at=now,
        )
    )
    session.flush()
    if deadline.provisional:  # the calendar warns once per year; a row is routine
        logger.info(
            "ticket %s: provisional deadline %s (calendar year not published)",
            ticket.number,
            deadline.due_date,
        )
    return ticket


# -- routing -----------------------------------------------------------------------------


def assign(
    session: Session,
    ticket: Ticket,
    unit: Unit,
    *,
    actor: Actor,
    now: datetime,
    routed_by: str,
    classifier_version: str | None = None,
    confidence: float | None = None,
    note: str | None = None,
) -> Event:
    """交办 (from triage) or 改派 (a ticket already at a unit) to ``unit``."""
    action = "reassign" if ticket.state in (S.ASSIGNED, S.ACKNOWLEDGED) else "assign"
    check_allowed(ticket, action, actor)
    if not unit.active:
        raise BadInput(f"单位「{unit.short_name}」已停用 (unit {unit.code} is inactive)")
    if unit.id == ticket.unit_id:
        raise IllegalTransition(f"{ticket.number} 已在「{unit.short_name}」办理")
    previous = ticket.unit_id
    ticket.unit_id = unit.id
    ticket.assigned_at = now
    ticket.acknowledged_at = None
    ticket.routed_by = routed_by[:LABEL_MAX]  # "rule:<an admin's rule name>" may be long
    if classifier_version is not None or routed_by == "classifier":
        ticket.classifier_version = classifier_version
        ticket.confidence = confidence
    if actor.person is not None:
        session.add(
            TrainingLabel(
                message_id=ticket.message_id,
                unit_id=unit.id,
                source="reassign" if action == "reassign" else "triage",
                rejected_unit_id=previous,
                created_by_id=actor.person_id,
                created_at=now,
            )
        )
    return _apply(
        session,
        ticket,
        action,
        actor,
        now,
        note=note,
        data=assign_data(unit.code, previous, routed_by, confidence, classifier_version),
    )


def register_data(deadline: Deadline) -> dict[str, Any]:
    """The data of a 立项 event (shared with ``ledger.bulk``)."""
    return {
        "due_date": deadline.due_date.isoformat(),
        "limit_days": deadline.limit_days,
        "provisional": deadline.provisional,
    }


def assign_data(
    unit_code: str,
    from_unit_id: int | None,
    routed_by: str,
    confidence: float | None,
    classifier_version: str | None,
) -> dict[str, Any]:
    """The data of a 交办 event (shared with ``ledger.bulk``)."""
    return {
        "unit": unit_code,
        "from_unit_id": from_unit_id,
        "routed_by": routed_by,
        "confidence": confidence,
        "classifier_version": classifier_version,
    }


def set_suggestions(ticket: Ticket, suggestions: list[dict[str, Any]]) -> None:
    """Keep the classifier's top suggestions for the triage queue."""
    ticket.suggestions = suggestions


# -- the unit's steps --------------------------------------------------------------------


def acknowledge(
    session: Session, ticket: Ticket, *, actor: Actor, now: datetime, note: str | None = None
) -> Event:
    """签收."""
    check_allowed(ticket, "acknowledge", actor)
    ticket.acknowledged_at = now
    return _apply(session, ticket, "acknowledge", actor, now, note=note)


def reply(session: Session, ticket: Ticket, text: str, *, actor: Actor, now: datetime) -> Event:
    """反馈: record the unit's answer (several calls add parts to the same round)."""
    check_allowed(ticket, "reply", actor)
    body = _require_text(text, "回复内容")
    if ticket.acknowledged_at is None:
        ticket.acknowledged_at = now  # answering implies receipt
    first_of_round = ticket.state != S.REPLIED
    if first_of_round:
        ticket.replied_at = now
    session.add(
        Reply(
            ticket_id=ticket.id,
            author_id=actor.person_id,
            text=body,
            created_at=now,
            round=ticket.reopen_count + 1,
        )
    )
    return _apply(
        session,
        ticket,
        "reply",
        actor,
        now,
        note=body,
        data={"round": ticket.reopen_count + 1, "first_part": first_of_round},
    )


def request_extension(
    session: Session,
    ticket: Ticket,
    days: int,
    reason: str,
    *,
    actor: Actor,
    now: datetime,
    max_days: int,
) -> Extension:
    """申请延期: working days and a written reason; one pending request at a time."""
    check_allowed(ticket, "request_extension", actor)
    body = _require_text(reason, "延期理由")
    if not 1 <= days <= max_days:
        raise BadInput(f"延期天数须在 1 到 {max_days} 个工作日之间 (days={days})")
    if pending_extension(session, ticket) is not None:
        raise IllegalTransition(f"{ticket.number} 已有待审批的延期申请")
    extension = Extension(
        ticket_id=ticket.id,
        days=days,
        reason=body,
        requested_by_id=actor.person_id,
        requested_at=now,
    )
    session.add(extension)
    session.flush()
    _apply(
        session,
        ticket,
        "request_extension",
        actor,
        now,
        note=body,
        data={"days": days, "extension_id": extension.id},
    )
    return extension


def pending_extension(session: Session, ticket: Ticket) -> Extension | None:
    return session.exec(
        select(Extension)
        .where(Extension.ticket_id == ticket.id)
        .where(Extension.status == ExtensionStatus.REQUESTED.value)
    ).first()


def decide_extension(
    session: Session,
    ticket: Ticket,
    *,
    approve: bool,
    actor: Actor,
    now: datetime,
    rules: DeadlineRules,
    days: int | None = None,
    note: str | None = None,
) -> Extension:
    """批准 / 驳回延期. Approval moves the deadline by the granted working days."""
    action = "approve_extension" if approve else "deny_extension"
    check_allowed(ticket, action, actor)
    extension = pending_extension(session, ticket)
    if extension is None:
        raise IllegalTransition(f"{ticket.number} 没有待审批的延期申请 (no pending extension)")
    extension.decided_by_id = actor.person_id
    extension.decided_at = now
    extension.decision_note = note
    data: dict[str, Any] = {"extension_id": extension.id}
    if approve:
        granted = extension.days if days is None else days
        if not 1 <= granted <= rules.policy.max_extension_days:
            raise BadInput(
                f"批准天数须在 1 到 {rules.policy.max_extension_days} 个工作日之间 (days={granted})"
            )
        moved = rules.extend(ticket.due_date, granted)
        extension.status = ExtensionStatus.APPROVED.value
        extension.granted_days = granted
        extension.old_due_date = ticket.due_date
        extension.new_due_date = moved.due_date
        ticket.due_date = moved.due_date
        ticket.due_at = moved.due_at
        ticket.extension_days += granted
        ticket.deadline_provisional = ticket.deadline_provisional or moved.provisional
        data.update(
            days=granted,
            old_due=extension.old_due_date.isoformat(),
            new_due=moved.due_date.isoformat(),
        )
    else:
        extension.status = ExtensionStatus.DENIED.value
    session.add(extension)
    _apply(session, ticket, action, actor, now, note=note, data=data)
    return extension


def return_ticket(
    session: Session, ticket: Ticket, reason: str, *, actor: Actor, now: datetime
) -> Event:
    """退回: the unit says it is not theirs; back to triage, that unit excluded."""
    check_allowed(ticket, "return", actor)
    body = _require_text(reason, "退回理由")
    returning = ticket.unit_id
    if returning is not None and returning not in ticket.excluded_units:
        ticket.excluded_units = [*ticket.excluded_units, returning]
    ticket.return_count += 1
    event = _apply(
        session, ticket, "return", actor, now, note=body, data={"returned_by_unit_id": returning}
    )
    ticket.unit_id = None
    ticket.assigned_at = None
    ticket.acknowledged_at = None
    session.add(ticket)
    session.flush()
    return event


# -- the supervisor's steps ---------------------------------------------------------------


def verify(
    session: Session,
    ticket: Ticket,
    *,
    passed: bool,
    score: int,
    actor: Actor,
    now: datetime,
    note: str | None = None,
) -> Event:
    """核查: pass (verified) or fail (reopened as 续办), with a 1–5 quality score."""
    action = "verify_pass" if passed else "verify_fail"
    check_allowed(ticket, action, actor)
    if not 1 <= score <= 5:
        raise BadInput(f"质量评分须为 1 到 5 (score={score})")
    if not passed:
        _require_text(note, "核查意见")
    ticket.quality_score = score
    for part in _replies_of_round(session, ticket):
        part.quality = score
        session.add(part)
    if passed:
        ticket.verified_at = now
    else:
        ticket.reopen_count += 1
    return _apply(session, ticket, action, actor, now, note=note, data={"score": score})


def _replies_of_round(session: Session, ticket: Ticket) -> list[Reply]:
    rows = session.exec(
        select(Reply)
        .where(Reply.ticket_id == ticket.id)
        .where(Reply.round == ticket.reopen_count + 1)
    ).all()
    return list(rows)


def reopen(session: Session, ticket: Ticket, reason: str, *, actor: Actor, now: datetime) -> Event:
    """续办 ordered by a supervisor on a replied or verified ticket."""
    check_allowed(ticket, "reopen", actor)
    body = _require_text(reason, "续办理由")
    ticket.reopen_count += 1
    ticket.verified_at = None
    return _apply(session, ticket, "reopen", actor, now, note=body)


def escalate(session: Session, ticket: Ticket, note: str, *, actor: Actor, now: datetime) -> Event:
    """通报: flag the ticket to supervisors and the unit's leadership."""
    check_allowed(ticket, "escalate", actor)
    body = _require_text(note, "通报内容")
    ticket.escalated_at = now
    return _apply(session, ticket, "escalate", actor, now, note=body)


def archive(
    session: Session, ticket: Ticket, *, actor: Actor, now: datetime, note: str | None = None
) -> Event:
    """归档."""
    check_allowed(ticket, "archive", actor)
    ticket.closed_at = now
    return _apply(session, ticket, "archive", actor, now, note=note)


def comment(
    session: Session,
    ticket: Ticket,
    note: str,
    *,
    actor: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> Event:
    """备注: a note in the history; the state stays."""
    check_allowed(ticket, "comment", actor)
    return _apply(
        session, ticket, "comment", actor, now, note=_require_text(note, "备注"), data=data
    )


def link_duplicate(
    session: Session, ticket: Ticket, duplicate: Message, *, actor: Actor, now: datetime
) -> Event:
    """重复件: a repost joins the ticket of the earlier message."""
    check_allowed(ticket, "link_duplicate", actor)
    ticket.duplicate_count += 1
    return _apply(session, ticket, "link_duplicate", actor, now, data={"message_id": duplicate.id})


def record_view(
    session: Session, ticket: Ticket, what: str, *, actor: Actor, now: datetime
) -> Event:
    """Append an audit event for a view of protected data (``view_complainant``).

    A view changes nothing: the state and the version stay, so nobody's page goes stale.
    """
    event = Event(
        ticket_id=ticket.id,
        action=what,
        from_state=ticket.state,
        to_state=ticket.state,
        actor_id=actor.person_id,
        actor=actor.label,
        unit_id=ticket.unit_id,
        at=now,
    )
    session.add(event)
    session.flush()
    logger.info("ticket %s: %s by %s", ticket.number, what, actor.label)
    return event


# -- lookups -----------------------------------------------------------------------------


def get_ticket(session: Session, number_or_id: str | int, *, for_update: bool = False) -> Ticket:
    """A ticket by number (``DB-2026-000123``, case-insensitive) or numeric id."""
    query = select(Ticket)
    key = str(number_or_id).strip()
    if not key:
        raise BadInput("督办件编号不能为空，如 DB-2026-000123 (ticket number is required)")
    if key.isdigit():
        query = query.where(Ticket.id == int(key))
    else:
        query = query.where(Ticket.number == key.upper())
    if for_update:
        query = query.with_for_update()
    ticket = session.exec(query).first()
    if ticket is None:
        raise NotFound(f"没有编号为 {key} 的督办件 (no ticket {key})")
    return ticket


def events_of(session: Session, ticket: Ticket) -> list[Event]:
    return list(session.exec(select(Event).where(Event.ticket_id == ticket.id).order_by(Event.id)))


def replies_of(session: Session, ticket: Ticket) -> list[Reply]:
    return list(session.exec(select(Reply).where(Reply.ticket_id == ticket.id).order_by(Reply.id)))


def extensions_of(session: Session, ticket: Ticket) -> list[Extension]:
    return list(
        session.exec(
            select(Extension).where(Extension.ticket_id == ticket.id).order_by(Extension.id)
        )
    )


# -- calendar updates ----------------------------------------------------------------------


def recompute_deadline(
    session: Session, ticket: Ticket, *, rules: DeadlineRules, now: datetime, actor: Actor
) -> Event | None:
    """Count a provisional deadline again (new calendar data); one event when it moves."""
    message = session.get(Message, ticket.message_id)
    assert message is not None
    base = rules.count(message.received_at, ticket.limit_days)
    due_date, due_at, provisional = base.due_date, base.due_at, base.provisional
    original = (due_date, due_at)
    for extension in extensions_of(session, ticket):
        if extension.status == ExtensionStatus.APPROVED.value and extension.granted_days:
            moved = rules.extend(due_date, extension.granted_days)
            due_date, due_at = moved.due_date, moved.due_at
            provisional = provisional or moved.provisional
    old = ticket.due_date
    ticket.original_due_date, ticket.original_due_at = original
    ticket.due_date, ticket.due_at = due_date, due_at
    ticket.deadline_provisional = provisional
    session.add(ticket)
    if old == due_date and provisional:
        session.flush()
        return None
    assert ticket.id is not None  # a stored ticket
    event = Event(
        ticket_id=ticket.id,
        action="recompute_deadline",
        from_state=ticket.state,
        to_state=ticket.state,
        actor_id=actor.person_id,
        actor=actor.label,
        unit_id=ticket.unit_id,
        at=now,
        data={
            "old_due": old.isoformat(),
            "new_due": due_date.isoformat(),
            "provisional": provisional,
        },
    )
    session.add(event)
    session.flush()
    return event


def recompute_provisional(
    session: Session, *, rules: DeadlineRules, now: datetime, actor: Actor
) -> list[tuple[str, str, str, bool]]:
    """Recount every provisional deadline; returns (number, old, new, still provisional)."""
    changed = []
    tickets = session.exec(select(Ticket).where(Ticket.deadline_provisional == True))  # noqa: E712
    for ticket in list(tickets):
        old = ticket.due_date.isoformat()
        recompute_deadline(session, ticket, rules=rules, now=now, actor=actor)
        changed.append(
            (ticket.number, old, ticket.due_date.isoformat(), ticket.deadline_provisional)
        )
    return changed
