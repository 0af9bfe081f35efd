"""Typed read models of the desk: ticket rows, a ticket in full, to-do lists, triage rows.

Built from the ledger's views; every front end reads these (attributes, not dict keys) and
turns them into chat text, console lines, web pages or JSON (``as_dict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, literal, tuple_, union_all
from sqlmodel import Session, col, func, select

from desk.permissions import Viewer, is_staff, sees_complainant
from intake.display import for_reading
from ledger import views
from ledger.deadlines import DeadlineRules
from ledger.directory import list_units, units_by_id
from ledger.errors import NotFound, PermissionDenied
from ledger.models import (
    Complainant,
    Event,
    Extension,
    ExtensionStatus,
    Message,
    Role,
    SourceKind,
    Ticket,
    TicketState,
    Unit,
)
from ledger.states import OPEN_STATES, TRIAGE_STATES
from ledger.tickets import Actor, record_view
from ledger.types import UTCDateTime


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
    title: str | None = None  # the message's title (or its first words), where read

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
    """Tickets by state, unit, lateness (everything: callers check who may see the list)."""
    filters = TicketFilter(
        state=state,
        unit_id=unit.id if unit is not None else None,
        overdue=overdue,
        open_only=open_only,
    )
    return search_tickets(session, filters, viewer=Viewer(None), rules=rules, now=now, limit=limit)


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What the 台账 list is narrowed to (every field optional; all given must hold)."""

    state: TicketState | None = None
    unit_id: int | None = None
    source: SourceKind | None = None
    keyword: str | None = None  # in the title or the content
    received_from: date | None = None  # office-local days, both ends included
    received_to: date | None = None
    due_from: date | None = None
    due_to: date | None = None
    overdue: bool = False
    open_only: bool = False
    escalated: bool = False
    person_id: int | None = None  # tickets this person took a step on
    routed_by: str | None = None  # rule:…, classifier, triage, manual (a prefix)


def search_tickets(
    session: Session,
    filters: TicketFilter,
    *,
    viewer: Viewer,
    rules: DeadlineRules,
    now: datetime,
    limit: int = 200,
    offset: int = 0,
    order: str = "new",
    after: str | None = None,
    before: str | None = None,
) -> list[TicketRow]:
    """The 台账 list as this viewer may see it: newest first (or ``order``, a key of
    ``TICKET_ORDERS``), with each message's title.

    ``after`` / ``before`` name a ticket (its number: the last / first row of the page shown)
    and read the ``limit`` rows that follow / precede it in this order, ``offset`` ignored:
    keyset paging, as cheap far down the list as on its first page. A unit's member sees
    only the unit's tickets, whatever the filter asks for.
    """
    if order not in TICKET_ORDERS:
        raise ValueError(f"unknown order {order!r}")
    if after is not None and before is not None:
        raise ValueError("after and before are exclusive")
    read = _REVERSE[order] if before is not None else order
    clauses, branches = _plan(session, filters, viewer=viewer, rules=rules, now=now)
    if branches == []:
        return []
    cursor = after if after is not None else before
    if cursor is not None:
        clauses.append(_keyset(session, cursor, read))
        offset = 0
    # what to show when the message has no title; a unit reads the masked text only
    base = select(
        Ticket,
        Message.title,
        func.substr(Message.text, 1, 60),
        func.substr(Message.unit_text, 1, 60),
    )
    if branches is None:
        query = base.join(Message, col(Message.id) == Ticket.message_id).where(*clauses)
    else:
        page = _union_of(branches, clauses, filters=filters, order=read, wanted=offset + limit)
        query = base.join(page, col(Ticket.id) == page.c.id).join(
            Message, col(Message.id) == Ticket.message_id
        )
    query = query.order_by(*_ORDER_BY[read]).offset(offset).limit(limit)
    masked = for_unit(viewer)
    units = units_by_id(session)
    rows = [
        replace(
            TicketRow.of(ticket, units=units, rules=rules, now=now),
            title=(masked_text if masked and masked_text is not None else title or text),
        )
        for ticket, title, text, masked_text in session.exec(query)
    ]
    return rows[::-1] if before is not None else rows


def _plan(
    session: Session, f: TicketFilter, *, viewer: Viewer, rules: DeadlineRules, now: datetime
) -> tuple[list[Any], list[Any] | None]:
    """The WHERE clauses of a search and, where one filter is a choice among a few values
    that no single index reads in the list's order (未办结 / 超期: any open state; 分办方式:
    every routed_by value with the prefix), one clause per value: each is read through its
    own index range in order, and the pages merged (``_union_of``): (column, value) pairs.
    None: no such split; []: the prefix matches no ticket at all.

    Only SQLite is given the split: it keeps no statistics (duban never runs ANALYZE), so its
    planner cannot know that the newest tickets are the open ones and sorted the whole
    backlog. PostgreSQL's planner knows from its statistics and gets plain ``IN`` lists
    (given a split, it walked the primary key to join the branches back: 28k rows at 100k).
    """
    values = _routed_by_values(session, f.routed_by) if f.routed_by else None
    narrowed = f
    if values is not None:
        narrowed = replace(narrowed, routed_by=None)
    split = session.get_bind().dialect.name == "sqlite"
    # a keyword is matched inside the text, within its window: splitting would repeat that
    by_state = split and (f.open_only or f.overdue) and f.state is None and not f.keyword
    if by_state:
        narrowed = replace(narrowed, open_only=False, overdue=False)
    # the keyword window's floor as a number: given a subquery, PostgreSQL cannot tell that
    # it leaves out most tickets, and read every message's text (1M: 1 s)
    floor = None
    if f.keyword and f.received_from is None and f.received_to is None:
        floor = session.exec(select(_keyword_floor())).one()
    probe = f.person_id is not None and _person_has_many_steps(session, f.person_id)
    clauses = ticket_clauses(
        narrowed, viewer=viewer, rules=rules, now=now, keyword_floor=floor, probe_person=probe
    )
    if by_state and f.overdue:
        clauses.append(col(Ticket.due_at) < now)
    if values is not None and not values:
        return clauses, []
    if by_state:
        if values is not None:
            # ``|| ''`` keeps the planner on the state's index (the backlog of that state),
            # never on a route's index, whose tickets go back to the ledger's first day
            clauses.append(col(Ticket.routed_by).concat("").in_(values))
        return clauses, [(col(Ticket.state), s.value) for s in _OPEN_ORDERED]
    if values is None:
        return clauses, None
    if len(values) == 1 or not split:
        return [*clauses, col(Ticket.routed_by).in_(values)], None
    return clauses, [(col(Ticket.routed_by), v) for v in values]


# the open states in a fixed order (a split's branches are the same statement every time)
_OPEN_ORDERED = sorted(OPEN_STATES, key=lambda s: s.value)

# Reading the distinct routed_by values gives up past this many (then the prefix is matched
# row by row, as a LIKE): an office has a handful of routes and some tens of rules.
ROUTED_BY_VALUES = 200


def _routed_by_values(session: Session, prefix: str) -> list[str] | None:
    """The routed_by values that start with ``prefix`` (as ``startswith`` matches them on
    this database), found by skipping from one distinct value to the next down the
    ``(routed_by, id)`` index; None when the ledger holds more than ROUTED_BY_VALUES."""
    ticket = Ticket.__table__.c  # type: ignore[attr-defined]
    first = select(func.min(ticket.routed_by).label("value"), literal(1).label("n")).cte(
        "routed_values", recursive=True
    )
    following = (
        select(func.min(ticket.routed_by)).where(ticket.routed_by > first.c.value)
    ).scalar_subquery()
    walk = first.union_all(
        select(following, first.c.n + 1).where(
            first.c.value.is_not(None), first.c.n <= ROUTED_BY_VALUES
        )
    )
    matches = case((walk.c.value.startswith(prefix, autoescape=True), 1), else_=0)
    found = session.exec(select(walk.c.value, matches).where(walk.c.value.is_not(None))).all()
    if len(found) > ROUTED_BY_VALUES:
        return None
    return [value for value, match in found if match]


def _union_of(
    branches: list[Any], clauses: list[Any], *, filters: TicketFilter, order: str, wanted: int
) -> Any:
    """The ids (and deadlines) of the first ``wanted`` tickets of each branch, in ``order``:
    the page is among them. Each branch sorts on its own column first (one value there, so
    the same order): the planner then reads the branch's index, not the primary key
    filtered row by row (PostgreSQL's choice otherwise, which reads further the older the
    rows it wants are)."""
    joins_message = bool(filters.keyword or filters.received_from or filters.received_to)
    parts = []
    descending = order in ("new", "due_desc")
    for column, value in branches:
        part: Any = select(col(Ticket.id).label("id"), col(Ticket.due_at).label("due_at"))
        if joins_message:
            part = part.join(Message, col(Message.id) == Ticket.message_id)
        first = column.desc() if descending else column.asc()
        # BETWEEN, not =: PostgreSQL drops an ORDER BY column fixed by an equality
        part = part.where(*clauses, column.between(value, value))
        part = part.order_by(first, *_ORDER_BY[order])
        part = part.limit(wanted)
        inner = part.subquery()
        parts.append(select(inner.c.id, inner.c.due_at))
    return union_all(*parts).subquery("page")


def _keyset(session: Session, number: str, order: str) -> Any:
    """The rows after the ticket ``number`` in ``order`` (its key read from the ledger)."""
    found = session.exec(
        select(col(Ticket.id), col(Ticket.due_at)).where(col(Ticket.number) == number)
    ).first()
    if found is None:
        raise NotFound(f"翻页位置「{number}」不是已有的督办件编号", "unknown page cursor")
    ticket_id, due_at = found
    if order == "new":
        return col(Ticket.id) < ticket_id
    if order == "old":
        return col(Ticket.id) > ticket_id
    key = tuple_(col(Ticket.due_at), col(Ticket.id))
    at = tuple_(literal(due_at, UTCDateTime), literal(ticket_id))
    return key > at if order == "due" else key < at


def ticket_clauses(
    filters: TicketFilter,
    *,
    viewer: Viewer,
    rules: DeadlineRules,
    now: datetime,
    keyword_floor: int | None = None,
    probe_person: bool = False,
) -> list[Any]:
    """The WHERE clauses (on Ticket joined to Message) of the 台账 as this viewer may see
    it: a unit's member sees only the unit's tickets, whatever the filter asks for.
    ``keyword_floor``: the keyword window's lowest id, read beforehand (a subquery else).
    ``probe_person``: match 办理人 by one index probe per ticket read (a person with many
    steps) instead of reading the person's steps first (``_person_has_many_steps``)."""
    clauses: list[Any] = []
    person = viewer.person
    if viewer.in_unit_chat:
        clauses.append(col(Ticket.unit_id) == viewer.unit_scope)
    elif person is not None and not is_staff(person):
        clauses.append(col(Ticket.unit_id) == person.unit_id)
    return clauses + _clauses(
        filters, rules=rules, now=now, keyword_floor=keyword_floor, probe_person=probe_person
    )


def for_unit(viewer: Viewer) -> bool:
    """Whether this viewer reads what a unit reads (the complainant's data masked)."""
    return viewer.in_unit_chat or not sees_complainant(viewer.person)


# How the 台账 list may be sorted: key -> label (each ends on the id, so pages are stable).
TICKET_ORDERS = {"new": "最新立项", "old": "最早立项", "due": "时限最近", "due_desc": "时限最远"}
_ORDER_BY: dict[str, tuple[Any, ...]] = {
    "new": (col(Ticket.id).desc(),),
    "old": (col(Ticket.id).asc(),),
    "due": (col(Ticket.due_at).asc(), col(Ticket.id).asc()),
    "due_desc": (col(Ticket.due_at).desc(), col(Ticket.id).desc()),
}
_REVERSE = {"new": "old", "old": "new", "due": "due_desc", "due_desc": "due"}


def _clauses(
    f: TicketFilter,
    *,
    rules: DeadlineRules,
    now: datetime,
    keyword_floor: int | None = None,
    probe_person: bool = False,
) -> list[Any]:
    clauses: list[Any] = []
    if f.state is not None:
        clauses.append(col(Ticket.state) == f.state.value)
    if f.unit_id is not None:
        clauses.append(col(Ticket.unit_id) == f.unit_id)
    if f.source is not None:
        clauses.append(col(Ticket.source_kind) == f.source.value)
    if f.keyword:
        clauses.append(
            col(Message.text).contains(f.keyword, autoescape=True)
            | col(Message.title).contains(f.keyword, autoescape=True)
        )
        if f.received_from is None and f.received_to is None:
            floor = _keyword_floor() if keyword_floor is None else keyword_floor
            clauses.append(col(Ticket.id) >= floor)
    if f.received_from is not None:
        clauses.append(col(Message.received_at) >= _local_start(f.received_from, rules))
    if f.received_to is not None:
        clauses.append(
            col(Message.received_at) < _local_start(f.received_to + timedelta(days=1), rules)
        )
    if f.due_from is not None:
        clauses.append(col(Ticket.due_date) >= f.due_from)
    if f.due_to is not None:
        clauses.append(col(Ticket.due_date) <= f.due_to)
    if f.open_only:
        clauses.append(col(Ticket.state).in_([s.value for s in OPEN_STATES]))
    if f.overdue:
        clauses.append(col(Ticket.state).in_([s.value for s in OPEN_STATES]))
        clauses.append(col(Ticket.due_at) < now)
    if f.escalated:
        clauses.append(col(Ticket.escalated_at).is_not(None))
    if f.routed_by:
        clauses.append(col(Ticket.routed_by).startswith(f.routed_by, autoescape=True))
    if f.person_id is not None and probe_person:
        # one probe of ix_event_actor_ticket per ticket the list walks
        acted = select(Event.id).where(
            col(Event.actor_id) == f.person_id, col(Event.ticket_id) == col(Ticket.id)
        )
        clauses.append(acted.exists())
    elif f.person_id is not None:
        # the person's own steps first, read from ix_event_actor_ticket
        steps = select(Event.ticket_id).where(col(Event.actor_id) == f.person_id)
        clauses.append(col(Ticket.id).in_(steps))
    return clauses


# 办理人: a person with fewer steps than this is matched by reading all of them first (each
# of 未办结's five state reads does it again: 6 µs a step, so at most ~12 ms); one with more
# (a unit member's grow with the ledger, 72k at 1M tickets, a supervisor's 1M) by probing
# the index for each ticket the list walks, which finds a page among the newest tickets
# (10–22 ms at 1M). Neither alone is flat: probing for a person with no recent step walks
# the whole ledger (0.4 µs a ticket), reading a supervisor's steps first reads them all
# (1.7 s at 1M with 未办结).
PERSON_STEPS_MANY = 2_000


def _person_has_many_steps(session: Session, person_id: int) -> bool:
    """Whether the person took at least PERSON_STEPS_MANY steps: counted through the index,
    stopping there."""
    steps = select(col(Event.id)).where(col(Event.actor_id) == person_id)
    found = session.exec(
        select(func.count()).select_from(steps.limit(PERSON_STEPS_MANY).subquery())
    ).one()
    return found >= PERSON_STEPS_MANY


# A keyword is found inside the title or the text, which no index serves: without a received
# range it looks through the newest KEYWORD_WINDOW tickets only, so a search costs the same
# in a ledger of a million tickets as in one of a hundred thousand; a received range
# (收到日期, --received-from/--received-to) searches that range instead, however old.
KEYWORD_WINDOW = 100_000


def _keyword_floor() -> Any:
    """The id of the KEYWORD_WINDOW-th newest ticket (0 when there are fewer): one walk
    down the primary key, however long the ledger."""
    nth = (
        select(col(Ticket.id))
        .order_by(col(Ticket.id).desc())
        .offset(KEYWORD_WINDOW - 1)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(nth, 0)


def keyword_window_note(session: Session, filters: TicketFilter) -> str | None:
    """What a keyword search without a received range leaves out, in Chinese — or None when
    it searched every ticket (no keyword, a received range given, or a ledger no longer
    than the window). Every front end shows it beside the results."""
    if not filters.keyword or filters.received_from is not None or filters.received_to is not None:
        return None
    beyond = session.exec(
        select(col(Ticket.id)).order_by(col(Ticket.id).desc()).offset(KEYWORD_WINDOW).limit(1)
    ).first()
    if beyond is None:
        return None
    return (
        f"关键词只在最近 {KEYWORD_WINDOW:,} 件中检索；"
        "更早的督办件请同时指定收到日期范围（收到日期起止）再查"
    )


def _local_start(day: date, rules: DeadlineRules) -> datetime:
    """The first moment of an office-local day."""
    return datetime.combine(day, time.min, tzinfo=rules.tz)


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
    masked = for_unit(viewer)
    d = views.ticket_detail(session, ticket, rules=rules, now=now, for_unit=masked)
    fields = {k: d[k] for k in TicketRow.__slots__ if k in d}
    row = TicketRow(**fields, title=d["message"]["title"])
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
        events=event_views(session, ticket, viewer=viewer) if with_events else [],
    )


def event_views(
    session: Session, ticket: Ticket, *, viewer: Viewer | None = None
) -> list[EventView]:
    """The ticket's history; a unit does not see who looked up the complainant."""
    hidden = {"view_complainant"} if viewer is not None and for_unit(viewer) else set()
    return [EventView(**e) for e in views.event_rows(session, ticket) if e["action"] not in hidden]


def pending_extensions(session: Session, *, rules: DeadlineRules, now: datetime) -> list[TicketRow]:
    """Tickets with an extension request waiting for a supervisor."""
    ids = session.exec(
        select(Extension.ticket_id).where(Extension.status == ExtensionStatus.REQUESTED.value)
    ).all()
    if not ids:
        return []
    units = units_by_id(session)
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
class TriageItem:
    """A ticket waiting for a person to choose its unit, with the model's suggestions."""

    number: str
    state: str
    state_label: str
    version: int
    due_date: date
    preview: str  # the message's first words, punctuated as people write
    suggestions: list[dict[str, Any]]  # as the model gave them (unit, unit_name, confidence)
    choices: list[dict[str, Any]]  # the top three a person may pick: active, not returning
    excluded_units: list[int]
    returned_by: list[str]  # short names of the units that sent it back

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def triage_queue(session: Session, *, limit: int = 200) -> list[TriageItem]:
    """The 待分办 queue, nearest deadline first: every front end's one source for it."""
    units = {u.id: u for u in list_units(session)}
    active = {u.code: u for u in units.values() if u.active and u.kind != "desk"}
    found = session.exec(
        select(Ticket, Message)
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(col(Ticket.state).in_([s.value for s in TRIAGE_STATES]))
        .order_by(col(Ticket.due_at), col(Ticket.id))
        .limit(limit)
    )
    rows = []
    for ticket, message in found:
        excluded = set(ticket.excluded_units)
        choices = [
            s
            for s in ticket.suggestions
            if s.get("unit") in active and active[s["unit"]].id not in excluded
        ][:3]
        text = for_reading(message.text)
        rows.append(
            TriageItem(
                number=ticket.number,
                state=ticket.state,
                state_label=TicketState(ticket.state).label,
                version=ticket.version,
                due_date=ticket.due_date,
                preview=text[:80] + ("……" if len(text) > 80 else ""),
                suggestions=list(ticket.suggestions),
                choices=choices,
                excluded_units=list(ticket.excluded_units),
                returned_by=[units[i].short_name for i in excluded if i in units],
            )
        )
    return rows


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
        rows = triage_rows(session, rules=rules, now=now)
        sections.append(TodoSection("待分办", rows, "没有待分办的督办件"))
    return sections


@dataclass(frozen=True, slots=True)
class ComplainantView:
    """Who sent the message and how to reach them, for 回访 (staff only)."""

    name: str | None
    contact: str | None
    extra: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reveal_complainant(
    session: Session, ticket: Ticket, *, viewer: Viewer, actor: Actor, now: datetime
) -> ComplainantView | None:
    """The complainant's name and contact, for intake staff and supervisors only.

    Every view is written to the ticket's history (``view_complainant``: who and when), as
    the office must be able to tell who looked; units are refused whatever they ask through.
    None when the message came without them (nothing is logged then).
    """
    if viewer.in_unit_chat or not sees_complainant(viewer.person):
        raise PermissionDenied(
            "来信人信息仅供录入员和督查人员回访使用",
            "only intake staff and supervisors may see the complainant",
        )
    row = session.exec(
        select(Complainant).where(Complainant.message_id == ticket.message_id)
    ).first()
    if row is None or not (row.name or row.contact or row.extra):
        return None
    record_view(session, ticket, "view_complainant", actor=actor, now=now)
    return ComplainantView(name=row.name, contact=row.contact, extra=dict(row.extra or {}))


def viewer_of(actor: Actor) -> Viewer:
    """The viewer an actor acts as, outside any chat (CLI, web)."""
    return Viewer(person=actor.person)
