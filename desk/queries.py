"""Typed read models of the desk: ticket rows, a ticket in full, to-do lists, triage rows.

Built from the ledger's views; every front end reads these (attributes, not dict keys) and
turns them into chat text, console lines, web pages or JSON (``as_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from desk.permissions import Viewer, is_staff, sees_complainant
from ledger import views
from ledger.deadlines import DeadlineRules
from ledger.directory import list_units
from ledger.models import Extension, ExtensionStatus, Role, Ticket, TicketState, Unit
from ledger.tickets import TRIAGE_STATES, Actor


@dataclass(frozen=True, slots=True)
class TicketRow:
    """The one-line summary of a ticket."""

    number: str
    state: str
    state_label: str
    unit: str | None
    unit_name: str | None
    source: str
    source_label: str
    opened_at: datetime
    due_date: date
    due_at: datetime
    deadline_provisional: bool
    workdays_left: int | None
    overdue: bool
    routed_by: str | None
    confidence: float | None
    escalated: bool
    version: int

    @classmethod
    def of(
        cls, ticket: Ticket, *, units: dict[int, Unit], rules: DeadlineRules, now: datetime
    ) -> TicketRow:
        return cls(**views.ticket_row(ticket, units=units, rules=rules, now=now))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def clock(self) -> str:
        """``剩3个工作日`` / ``超期2个工作日`` / '' for a ticket that owes nothing."""
        left = self.workdays_left
        if left is None:
            return ""
        return f"超期{-left}个工作日" if self.overdue else f"剩{left}个工作日"


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    title: str | None
    text: str
    received_at: datetime
    channel: str
    external_id: str | None


@dataclass(frozen=True, slots=True)
class ReplyView:
    text: str
    at: datetime
    round: int
    quality: int | None
    author: str | None


@dataclass(frozen=True, slots=True)
class ExtensionView:
    days: int
    reason: str
    status: str
    requested_at: datetime
    requested_by: str | None
    decided_at: datetime | None
    decided_by: str | None
    granted_days: int | None
    old_due_date: date | None
    new_due_date: date | None


@dataclass(frozen=True, slots=True)
class EventView:
    at: datetime
    action: str
    action_label: str
    from_state: str | None
    to_state: str
    actor: str
    note: str | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TicketDetail:
    """Everything about a ticket, as this viewer may see it (masked for units)."""

    row: TicketRow
    message: MessageView
    original_due_date: date
    limit_days: int
    extension_days: int
    acknowledged_at: datetime | None
    replied_at: datetime | None
    verified_at: datetime | None
    closed_at: datetime | None
    classifier_version: str | None
    suggestions: list[dict[str, Any]]
    quality_score: int | None
    duplicate_count: int
    replies: list[ReplyView]
    extensions: list[ExtensionView]
    events: list[EventView] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The flat JSON shape the CLI has always printed (row fields at the top)."""
        data = asdict(self)
        data.pop("row")
        data.pop("events")
        return {**self.row.as_dict(), **data}


def ticket_rows(
    session: Session,
    *,
    rules: DeadlineRules,
    now: datetime,
    state: TicketState | None = None,
    unit: Unit | None = None,
    overdue: bool = False,
    open_only: bool = False,
    limit: int = 200,
) -> list[TicketRow]:
    rows = views.list_tickets(
        session,
        rules=rules,
        now=now,
        state=state,
        unit=unit,
        overdue=overdue,
        open_only=open_only,
        limit=limit,
    )
    return [TicketRow(**row) for row in rows]


def ticket_detail(
    session: Session,
    ticket: Ticket,
    *,
    viewer: Viewer,
    rules: DeadlineRules,
    now: datetime,
    with_events: bool = False,
) -> TicketDetail:
    """The ticket in full; the complainant's data masked unless the viewer is staff acting
    as staff (a supervisor in a unit's chat sees what the unit sees)."""
    for_unit = viewer.in_unit_chat or not sees_complainant(viewer.person)
    d = views.ticket_detail(session, ticket, rules=rules, now=now, for_unit=for_unit)
    row = TicketRow(**{k: d[k] for k in TicketRow.__slots__})  # type: ignore[attr-defined]
    return TicketDetail(
        row=row,
        message=MessageView(**d["message"]),
        original_due_date=d["original_due_date"],
        limit_days=d["limit_days"],
        extension_days=d["extension_days"],
        acknowledged_at=d["acknowledged_at"],
        replied_at=d["replied_at"],
        verified_at=d["verified_at"],
        closed_at=d["closed_at"],
        classifier_version=d["classifier_version"],
        suggestions=list(d["suggestions"]),
        quality_score=d["quality_score"],
        duplicate_count=d["duplicate_count"],
        replies=[ReplyView(**r) for r in d["replies"]],
        extensions=[ExtensionView(**x) for x in d["extensions"]],
        events=event_views(session, ticket) if with_events else [],
    )


def event_views(session: Session, ticket: Ticket) -> list[EventView]:
    return [EventView(**e) for e in views.event_rows(session, ticket)]


def pending_extensions(session: Session, *, rules: DeadlineRules, now: datetime) -> list[TicketRow]:
    """Tickets with an extension request waiting for a supervisor."""
    ids = session.exec(
        select(Extension.ticket_id).where(Extension.status == ExtensionStatus.REQUESTED.value)
    ).all()
    if not ids:
        return []
    units = {u.id: u for u in list_units(session) if u.id is not None}
    tickets = session.exec(
        select(Ticket).where(col(Ticket.id).in_(list(ids))).order_by(col(Ticket.id).desc())
    )
    return [TicketRow.of(t, units=units, rules=rules, now=now) for t in tickets]


def triage_rows(
    session: Session, *, rules: DeadlineRules, now: datetime, limit: int = 200
) -> list[TicketRow]:
    """The triage queue (立项 and 退回, waiting for a person to choose the unit)."""
    return [
        row
        for state in sorted(TRIAGE_STATES)
        for row in ticket_rows(session, rules=rules, now=now, state=state, limit=limit)
    ]


@dataclass(frozen=True, slots=True)
class TodoSection:
    title: str  # 住建局待办 / 待核查 / 待审批延期 / 待分办
    rows: list[TicketRow]
    empty: str  # what to say when there is nothing


def todo(
    session: Session,
    viewer: Viewer,
    *,
    rules: DeadlineRules,
    now: datetime,
    chat_kind: str | None = None,
) -> list[TodoSection]:
    """What this person owes now, by role (the 工作台 of every front end).

    ``chat_kind`` is where the question is asked: ``unit`` (a unit's chat shows that unit's
    list, whoever asks), ``supervisors``, ``intake``, or None (a private chat, the console
    or the web: everything the person's roles owe).
    """
    person = viewer.person
    sections: list[TodoSection] = []
    if person is None:
        return sections
    unit_id = viewer.unit_scope if viewer.in_unit_chat else person.unit_id
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    member = person.has_role(Role.MEMBER, Role.LEADER)
    if chat_kind == "unit" or (member and unit is not None and unit.kind != "desk"):
        rows = (
            ticket_rows(session, rules=rules, now=now, unit=unit, open_only=True)
            if unit is not None
            else []
        )
        sections.append(
            TodoSection(f"{unit.short_name if unit else ''}待办", rows, "没有未办结的督办件")
        )
    elif person.has_role(Role.SUPERVISOR, Role.ADMIN) and chat_kind != "intake":
        sections.append(
            TodoSection(
                "待核查",
                ticket_rows(session, rules=rules, now=now, state=TicketState.REPLIED),
                "没有待核查的反馈",
            )
        )
        sections.append(
            TodoSection(
                "待审批延期",
                pending_extensions(session, rules=rules, now=now),
                "没有待审批的延期申请",
            )
        )
    if is_staff(person) and chat_kind != "unit" and (chat_kind != "supervisors" or not sections):
        rows = [
            row
            for state in (TicketState.REGISTERED, TicketState.RETURNED)
            for row in ticket_rows(session, rules=rules, now=now, state=state)
        ]
        sections.append(TodoSection("待分办", rows, "没有待分办的督办件"))
    return sections


def viewer_of(actor: Actor) -> Viewer:
    """The viewer an actor acts as, outside any chat (CLI, web)."""
    return Viewer(person=actor.person)
