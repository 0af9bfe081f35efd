"""Every figure of every report, from one function: :func:`compute_figures`.

The report sees the ledger as it stood at the *cut-off* ``c = min(now, end of period)``:
only events strictly before ``c`` count, so a past week's report never changes when it is
produced again later. A ticket's history is read from its ``Event`` rows, which carry the
exact moment of every step. The definitions are written out in README.md ("统计口径");
keep the two in step.
"""

from __future__ import annotations

import functools
import gc
import math
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, NamedTuple, ParamSpec, TypeVar, cast
from zoneinfo import ZoneInfo

from sqlalchemy import String, and_, case, literal, null, or_, type_coerce, union
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from ledger.deadlines import DeadlineRules
from ledger.models import SOURCE_LABELS, Event, Message, SourceKind, Ticket, TicketState, Unit
from ledger.policy import RankingPolicy
from ledger.states import OPEN_STATES
from reports.errors import BadPeriod
from reports.periods import Period

BY_UNIT, BY_SOURCE, OVERALL = "unit", "source", "overall"
GROUPINGS = (BY_UNIT, BY_SOURCE, OVERALL)
# For :func:`tables_from` only: the total's received, replied, due cohort and overdue
# figures (what a trend point shows) and nothing else, counted the cheap way.
TREND = "trend"
UNASSIGNED_LABEL = "未分办"
DONE_STATES = frozenset({TicketState.VERIFIED, TicketState.ARCHIVED})
# The actions that move a ticket's state, unit or deadline; the rest only annotate it.
STEP_ACTIONS = (
    "assign",
    "reassign",
    "acknowledge",
    "reply",
    "return",
    "verify_pass",
    "verify_fail",
    "reopen",
    "archive",
    "approve_extension",
)
REOPEN_ACTIONS = frozenset({"verify_fail", "reopen"})
RATING_ACTIONS = frozenset({"verify_pass", "verify_fail"})
# The only steps whose data the figures read (the days approved, the 核查 score): the data
# of the others is never fetched nor parsed.
DATA_ACTIONS = ("approve_extension", *sorted(RATING_ACTIONS))
# … and the only ones whose note they print (退回 and 续办, in the weekly's list).
NOTE_ACTIONS = ("return", *sorted(REOPEN_ACTIONS))
STATES = {state.value: state for state in TicketState}
# Ticket ids bound in one statement (SQLite allows 32,766 variables since 3.32, 999 before).
ID_BATCH = 900
# iter_histories reads the tickets this many at a time, each chunk with its steps
HISTORY_CHUNK = 10_000
NO_DATA: dict[str, Any] = {}  # the data of a step whose data is not read (never changed)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _without_cycle_collection(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``function`` with Python's cycle collector paused. Reading and counting a large
    ledger makes several hundred thousand tuples (rows, steps, histories, facts) that all
    stay alive until the tables are made; each collection the allocations trigger walks all
    of them again, and found nothing to free: a quarter of a weekly's CPU at 1M tickets.
    None of them form cycles (plain references down to tuples, dates and strings), so they
    are freed by reference counting as before; the collector resumes afterwards."""

    @functools.wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        if not gc.isenabled():  # paused by a caller already (or by the application)
            return function(*args, **kwargs)
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            gc.enable()

    return run


# -- a ticket's history, and what it says at a cut-off ---------------------------------------


class Step(NamedTuple):
    """One event, reduced to what the figures read (``data`` only for :data:`DATA_ACTIONS`,
    empty for the other steps; ``note`` only for :data:`NOTE_ACTIONS`). A tuple: made by
    the hundred thousand, it is made the cheap way."""

    id: int
    action: str
    to_state: str
    unit_id: int | None
    at: datetime
    data: dict[str, Any]
    note: str | None


class Columns(NamedTuple):
    """What a *simple* ticket's own row says (see :func:`load_histories`): its facts at a
    cut-off follow from these by comparing each moment with the cut-off."""

    unit_id: int | None
    assigned_at: datetime | None  # the latest assign / reassign
    acknowledged_at: datetime | None  # the first 签收 (or 反馈) since then
    replied_at: datetime | None  # the first 反馈 (of the only round)
    verified_at: datetime | None
    closed_at: datetime | None
    quality_score: int | None  # the 核查 score (of the only 核查)


class TicketHistory(NamedTuple):
    """A ticket as read for the figures. A tuple: made by the ten thousand per report, it
    is made the cheap way (a frozen dataclass took 1.6 µs each, this 0.4)."""

    id: int
    number: str
    source_kind: str
    title: str | None
    received_at: datetime
    original_due_date: date
    original_due_at: datetime
    steps: tuple[Step, ...]  # empty when ``columns`` is given: the steps were not read
    columns: Columns | None = None  # a simple ticket's row, for the cut-offs it was read for


class TicketFacts(NamedTuple):
    """A ticket as it stood at the cut-off. A tuple, for the same reason as a history."""

    history: TicketHistory
    state: TicketState
    unit_id: int | None  # responsible unit: the one holding it (or that answered it)
    assigned_at: datetime | None  # its current 交办 (the latest assign / reassign)
    acknowledged_at: datetime | None  # first 签收 since then (a reply implies one)
    replied_at: datetime | None  # first 反馈, ever
    verified_at: datetime | None  # first 核查通过
    due_date: date  # deadline in force: the original plus extensions approved by then
    due_at: datetime
    returns: tuple[Step, ...]  # 退回 events (the step's unit is the one that sent it back)
    reopens: tuple[Step, ...]  # 续办 events: verify_fail and reopen
    ratings: tuple[Step, ...]  # 核查 events with a score

    @property
    def number(self) -> str:
        return self.history.number


_T = TypeVar("_T")


def _maker(cls: type[_T]) -> Callable[[tuple[Any, ...]], _T]:
    """``cls._make`` without its length check: ``tuple.__new__`` itself, a third of the
    time of ``cls(...)`` (a NamedTuple's ``__new__`` is Python code). For the tuples made
    by the hundred thousand below; each is given every field, in order."""
    return cast(Callable[[tuple[Any, ...]], _T], functools.partial(tuple.__new__, cls))


new_step, new_columns = _maker(Step), _maker(Columns)
new_history, new_facts = _maker(TicketHistory), _maker(TicketFacts)


@_without_cycle_collection
def load_histories(
    session: Session,
    *,
    until: datetime,
    since: Period | None = None,
    tz: ZoneInfo | None = None,
    cutoffs: Sequence[datetime] | None = None,
) -> list[TicketHistory]:
    """The tickets received before ``until`` with their steps before ``until``, as a list
    (see :func:`iter_histories`)."""
    return list(iter_histories(session, until=until, since=since, tz=tz, cutoffs=cutoffs))


def iter_histories(
    session: Session,
    *,
    until: datetime,
    since: Period | None = None,
    tz: ZoneInfo | None = None,
    cutoffs: Sequence[datetime] | None = None,
) -> Iterator[TicketHistory]:
    """The tickets received before ``until`` with their steps before ``until``, one at a
    time: read from the session's connection (in its transaction, so as of the first
    ``next``) HISTORY_CHUNK tickets at a time with their steps, and a history made only
    when it is asked for, so a counting that drops each history when done
    (:func:`tables_from`) never holds them all, nor their rows (1M weekly: 45 MB less at its
    peak, and less CPU: what is freed at once is reused while still in the cache; the
    annual of a year of 330,000 tickets: 718 → 205 MB).

    With ``since`` (the earliest period the caller will ask about, in zone ``tz``), tickets
    that cannot touch a figure of it or later are left out: received before it, due before
    it, not owing now, and without a step since its start. Such a ticket was already
    answered and checked before the period and nothing has happened to it since. The ones
    kept are found through indexes (:func:`touching_ids`), never by reading every ticket.

    With ``cutoffs`` (every cut-off the caller will ask facts at, none after ``until``), a
    *simple* ticket — never returned, reopened nor extended, and at each of them it was
    received before already at the unit of its latest 交办 — comes with its row's own
    :class:`Columns` and without its steps: its facts at those cut-offs follow from the row
    (:func:`column_facts`), so its events are never read. The others (and every ticket
    without ``cutoffs``) come with their steps and are replayed.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    # Rows come straight from the DBAPI cursor (:func:`_raw_rows`), not as SQLAlchemy Rows:
    # SQLite keeps a moment as naive-UTC text (read with "+00:00" appended by the database)
    # and a day as ISO text, parsed here in one C call each; psycopg gives aware moments,
    # brought to UTC as the column type would.
    moment: Callable[[Any], Any] = datetime.fromisoformat if sqlite else _utc_moment
    day: Callable[[Any], Any] = date.fromisoformat if sqlite else _same

    def shown(column: Any) -> Any:
        return type_coerce(column, String) + "+00:00" if sqlite else column

    received, assigned = col(Message.received_at), col(Ticket.assigned_at)
    if cutoffs:
        simple = and_(
            col(Ticket.reopen_count) == 0,
            col(Ticket.extension_days) == 0,
            col(Ticket.return_count) == 0,
            or_(
                and_(assigned.is_(None), col(Ticket.state) == TicketState.REGISTERED.value),
                and_(
                    assigned.is_not(None),
                    *(or_(received >= c, assigned < c) for c in sorted(set(cutoffs))),
                ),
            ),
        )
        flag: Any = case((simple, 1), else_=0)
    else:
        flag = literal(0)
    tickets = (
        core_select(
            col(Ticket.id),
            col(Ticket.number),
            col(Ticket.source_kind),
            col(Message.title),
            shown(received),
            col(Ticket.original_due_date),
            shown(col(Ticket.original_due_at)),
            flag,
            col(Ticket.unit_id),
            shown(assigned),
            shown(col(Ticket.acknowledged_at)),
            shown(col(Ticket.replied_at)),
            shown(col(Ticket.verified_at)),
            shown(col(Ticket.closed_at)),
            col(Ticket.quality_score),
        )
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(received < until)
    )
    if since is not None:
        if tz is None:
            raise ValueError("since needs the office's time zone")
        tickets = tickets.where(col(Ticket.id).in_(touching_ids(since, tz)))
    session.flush()  # what the session holds counts too (read below on its connection)
    connection = session.connection()
    ticket_rows = _raw_rows(connection.execute(tickets.order_by(col(Ticket.id))))
    # Of the data only the two numbers read (the days approved, the 核查 score), taken out
    # by the database: no JSON is parsed here. The note only where it is printed.
    action = col(Event.action)
    days = case((action == "approve_extension", col(Event.data)["days"].as_integer()))
    score = case((action.in_(RATING_ACTIONS), col(Event.data)["score"].as_integer()))
    note = case((col(Event.action).in_(NOTE_ACTIONS), Event.note), else_=null())
    events = (
        core_select(
            col(Event.ticket_id),
            col(Event.id),
            col(Event.action),
            col(Event.to_state),
            col(Event.unit_id),
            shown(col(Event.at)),
            days,
            score,
            note,
        )
        .where(col(Event.at) < until)
        .where(col(Event.action).in_(STEP_ACTIONS))
        .order_by(col(Event.ticket_id), col(Event.id))
    )
    steps_of: Callable[[list[tuple[Any, ...]]], Iterator[tuple[Any, ...]]]
    if cutoffs:  # the tickets to replay are known: their events by id, a batch at a time

        def steps_of(chunk: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
            replayed = [row[0] for row in chunk if not row[7]]
            for i in range(0, len(replayed), ID_BATCH):
                batch = events.where(col(Event.ticket_id).in_(replayed[i : i + ID_BATCH]))
                yield from _raw_rows(connection.execute(batch))

    else:  # every ticket replayed: the events in ticket order, read beside the tickets
        every = tickets.with_only_columns(col(Ticket.id))
        steps_of = _Ahead(
            _raw_rows(connection.execute(events.where(col(Event.ticket_id).in_(every))))
        ).until_ticket
    no_steps: tuple[Step, ...] = ()
    while chunk := list(islice(ticket_rows, HISTORY_CHUNK)):
        steps = _steps(steps_of(chunk), moment)
        for row in chunk:
            t_id, number, kind, title, got, due_date, due_at, is_simple = row[:8]
            if is_simple:
                unit_id, assigned_at, acknowledged_at, replied_at, verified_at, closed_at, score = (
                    row[8:]
                )
                columns = new_columns(
                    (
                        unit_id,
                        assigned_at and moment(assigned_at),
                        acknowledged_at and moment(acknowledged_at),
                        replied_at and moment(replied_at),
                        verified_at and moment(verified_at),
                        closed_at and moment(closed_at),
                        score,
                    )
                )
                history = new_history((  # in the order of its fields
                    t_id, number, kind, title, moment(got), day(due_date), moment(due_at),
                    no_steps, columns,
                ))  # fmt: skip
            else:
                found_steps = steps.get(t_id)
                history = new_history((
                    t_id, number, kind, title, moment(got), day(due_date), moment(due_at),
                    tuple(found_steps) if found_steps else no_steps, None,
                ))  # fmt: skip
            yield history


class _Ahead:
    """Event rows in ticket order, handed out up to a ticket at a time (one read ahead)."""

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._next = next(rows, None)

    def until_ticket(self, chunk: list[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """The rows of the tickets up to the chunk's last (rows ordered by ticket id)."""
        last = chunk[-1][0]
        while self._next is not None and self._next[0] <= last:
            yield self._next
            self._next = next(self._rows, None)


def _steps(rows: Iterable[tuple[Any, ...]], moment: Callable[[Any], Any]) -> dict[int, list[Step]]:
    """Event rows (ticket id first) as each ticket's steps, in the rows' order."""
    steps: dict[int, list[Step]] = {}
    for ticket_id, event_id, what, to_state, unit_id, at, extended, scored, text in rows:
        if extended is not None:
            data = {"days": extended}
        elif scored is not None:
            data = {"score": scored}
        else:
            data = NO_DATA
        step = new_step((event_id, what, to_state, unit_id, moment(at), data, text))
        found_steps = steps.get(ticket_id)
        if found_steps is None:
            steps[ticket_id] = [step]
        else:
            found_steps.append(step)
    return steps


def _raw_rows(result: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of an executed statement as the DBAPI cursor gives them (fetchmany): no
    SQLAlchemy Row nor result processing per row — half the cost of reading them."""
    cursor = result.cursor
    try:
        while chunk := cursor.fetchmany(10_000):
            yield from chunk
    finally:
        result.close()


def _utc_moment(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _same(value: Any) -> Any:
    return value


def touching_ids(since: Period, tz: ZoneInfo):
    """The ids of the tickets that can touch a figure of ``since`` or a later period: one
    index range each (received since its start, due on or after its first day, owing, a
    step since its start), so the ledger's settled past is never read."""
    start = since.start(tz)
    return union(
        select(Ticket.id)
        .join(Message, col(Message.id) == col(Ticket.message_id))
        .where(Message.received_at >= start),
        select(Ticket.id).where(col(Ticket.due_date) >= since.first),
        select(Ticket.id).where(col(Ticket.state).in_([state.value for state in OPEN_STATES])),
        select(Event.ticket_id).where(Event.at >= start),
    )


def facts_at(history: TicketHistory, cutoff: datetime, rules: DeadlineRules) -> TicketFacts:
    """Replay ``history`` up to (not including) ``cutoff``."""
    return facts_at_each(history, (cutoff,), rules)[0]


def facts_at_each(
    history: TicketHistory, cutoffs: Sequence[datetime], rules: DeadlineRules
) -> list[TicketFacts]:
    """``facts_at(history, c)`` for each of ``cutoffs`` (ascending), in one pass over the
    steps; a cut-off with no step since the one before shares its facts."""
    if history.columns is not None:
        return column_facts(history, cutoffs)
    state = TicketState.REGISTERED
    unit_id = assigned_at = acknowledged_at = replied_at = verified_at = None
    due_date, due_at = history.original_due_date, history.original_due_at
    returns: list[Step] = []
    reopens: list[Step] = []
    ratings: list[Step] = []
    steps = history.steps
    count = len(steps)
    index = 0
    found: list[TicketFacts] = []
    facts: TicketFacts | None = None
    for cutoff in cutoffs:
        moved_on = False
        while index < count:
            step = steps[index]
            if step.at >= cutoff:  # the replay for this cut-off ends here, as facts_at's
                break
            index += 1
            moved_on = True
            action = step.action
            if action in ("assign", "reassign"):
                unit_id, assigned_at, acknowledged_at = step.unit_id, step.at, None
            elif action == "return":
                returns.append(step)
                unit_id = assigned_at = acknowledged_at = None
            elif action == "acknowledge":
                acknowledged_at = acknowledged_at or step.at
            elif action == "reply":
                replied_at = replied_at or step.at
                acknowledged_at = acknowledged_at or step.at
            elif action == "approve_extension":
                moved = rules.extend(due_date, int(step.data["days"]))
                due_date, due_at = moved.due_date, moved.due_at
            if action in RATING_ACTIONS and step.data.get("score") is not None:
                ratings.append(step)
            if action in REOPEN_ACTIONS:
                reopens.append(step)
            if action == "verify_pass":
                verified_at = verified_at or step.at
            state = STATES[step.to_state]
        if facts is None or moved_on:
            facts = new_facts((  # in the order of its fields
                history, state, unit_id, assigned_at, acknowledged_at, replied_at,
                verified_at, due_date, due_at, tuple(returns), tuple(reopens), tuple(ratings),
            ))  # fmt: skip
        found.append(facts)
    return found


def column_facts(history: TicketHistory, cutoffs: Sequence[datetime]) -> list[TicketFacts]:
    """What :func:`facts_at_each` replays, read off a simple ticket's row (``columns``).

    A simple ticket was never returned, reopened nor extended (:func:`load_histories`), so
    its steps ran (assign | reassign | acknowledge)* reply+ verify_pass? archive?: it left
    the open states by its first 反馈 and never came back. The row keeps the moment of each
    stage — the latest 交办, the first 签收 (or 反馈) since, the first 反馈, the 核查通过
    with its score, the 归档 — so at a cut-off ``c`` after its latest 交办 it is archived,
    verified, replied, acknowledged or assigned as those moments fall before ``c``, at the
    row's unit (no step after a 反馈 moves it; the 核查's is the same) and on its original
    deadline. Before its latest 交办 the row cannot tell (it may have been elsewhere, or in
    triage): such a cut-off is refused, and :func:`load_histories` replays such a ticket.
    The 核查 step's ``id`` is not known here (0): nothing reads it."""
    columns = history.columns
    if columns is None:
        raise ValueError(f"{history.number}: read with its steps, not from its row")
    unit_id, assigned, acknowledged, replied, verified, closed, score = columns
    found: list[TicketFacts] = []
    for cutoff in cutoffs:
        if assigned is None or assigned >= cutoff:
            if assigned is not None and history.received_at < cutoff:
                raise ValueError(
                    f"{history.number}: its facts at {cutoff} need its steps (read from its row"
                    " for other cut-offs)"
                )
            # In triage (or not received yet at the cut-off): nothing has happened to it.
            state, unit, at = TicketState.REGISTERED, None, None
            acked = answered = checked = None
        else:
            unit, at = unit_id, assigned
            acked = acknowledged if acknowledged is not None and acknowledged < cutoff else None
            answered = replied if replied is not None and replied < cutoff else None
            checked = verified if verified is not None and verified < cutoff else None
            if closed is not None and closed < cutoff:
                state = TicketState.ARCHIVED
            elif checked is not None:
                state = TicketState.VERIFIED
            elif answered is not None:
                state = TicketState.REPLIED
            elif acked is not None:
                state = TicketState.ACKNOWLEDGED
            else:
                state = TicketState.ASSIGNED
        ratings: tuple[Step, ...] = ()
        if checked is not None and score is not None:
            ratings = (Step(0, "verify_pass", "verified", unit, checked, {"score": score}, None),)
        facts = new_facts((  # in the order of its fields
            history, state, unit, at, acked, answered, checked, history.original_due_date,
            history.original_due_at, (), (), ratings,
        ))  # fmt: skip
        found.append(facts)
    return found


def cutoff_of(period: Period, *, now: datetime, rules: DeadlineRules) -> datetime:
    """``min(now, end of period)``: the report sees what happened strictly before it."""
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass a timezone-aware now")
    if now < period.start(rules.tz):
        # Before its start a period has no figures; the stock (超期未反馈) would be today's.
        raise BadPeriod(
            f"{period.key} 尚未开始（{period.first:%Y-%m-%d} 起），还没有可统计的数据 "
            f"(the period has not started yet)"
        )
    return min(now, period.end(rules.tz))


# -- the figures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one group (a unit, a source kind, or everything) for one period."""

    key: str | None  # unit code, source kind, "all"; None for tickets not at any unit
    label: str
    received: int  # received in the period
    assigned: int  # current 交办 made in the period
    acknowledged: int  # 签收 in the period
    replied: int  # first 反馈 in the period
    verified: int  # first 核查通过 in the period
    returned: int  # 退回 events in the period
    reopened: int  # 续办 events in the period
    overdue_open: int  # owing an answer after its deadline, at the cut-off
    due: int  # deadline in force fell in the period and had passed by the cut-off
    due_replied: int  # … of which answered by the cut-off
    on_time: int  # … answered by the deadline the policy applies
    on_time_original: int  # … answered by the original deadline
    completed: int  # … verified or archived at the cut-off
    reply_rate: float | None  # 回复率 = due_replied / due
    on_time_rate: float | None  # 按期率 = on_time / due
    on_time_rate_original: float | None  # 按原时限按期率 = on_time_original / due
    completion_rate: float | None  # 办结率 = completed / due
    ack_days_median: float | None  # working days 交办 -> 签收, over 签收 in the period
    ack_days_p90: int | None
    reply_days_median: float | None  # working days 收件 -> 首次反馈, over 反馈 in the period
    reply_days_p90: int | None
    rated: int  # 核查 ratings given in the period
    quality_mean: float | None  # their mean, 1–5
    quality_score: float | None  # (mean - 1) / 4 x 100

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FigureTable:
    period: Period
    by: str
    now: datetime
    as_of: datetime  # the cut-off
    extensions_count_on_time: bool
    rows: tuple[Figures, ...]
    total: Figures

    def row(self, key: str | None) -> Figures:
        for row in self.rows:
            if row.key == key:
                return row
        raise KeyError(key)


@dataclass
class _Tally:
    received: int = 0
    assigned: int = 0
    acknowledged: int = 0
    replied: int = 0
    verified: int = 0
    returned: int = 0
    reopened: int = 0
    overdue_open: int = 0
    due: int = 0
    due_replied: int = 0
    on_time: int = 0
    on_time_original: int = 0
    completed: int = 0
    ack_days: list[int] = field(default_factory=list)
    reply_days: list[int] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)

    def merge(self, other: _Tally) -> None:
        """Add ``other``'s counts and values to this one's."""
        self.received += other.received
        self.assigned += other.assigned
        self.acknowledged += other.acknowledged
        self.replied += other.replied
        self.verified += other.verified
        self.returned += other.returned
        self.reopened += other.reopened
        self.overdue_open += other.overdue_open
        self.due += other.due
        self.due_replied += other.due_replied
        self.on_time += other.on_time
        self.on_time_original += other.on_time_original
        self.completed += other.completed
        self.ack_days.extend(other.ack_days)
        self.reply_days.extend(other.reply_days)
        self.scores.extend(other.scores)

    def figures(self, key: str | None, label: str) -> Figures:
        quality = statistics.fmean(self.scores) if self.scores else None
        return Figures(
            key=key,
            label=label,
            received=self.received,
            assigned=self.assigned,
            acknowledged=self.acknowledged,
            replied=self.replied,
            verified=self.verified,
            returned=self.returned,
            reopened=self.reopened,
            overdue_open=self.overdue_open,
            due=self.due,
            due_replied=self.due_replied,
            on_time=self.on_time,
            on_time_original=self.on_time_original,
            completed=self.completed,
            reply_rate=ratio(self.due_replied, self.due),
            on_time_rate=ratio(self.on_time, self.due),
            on_time_rate_original=ratio(self.on_time_original, self.due),
            completion_rate=ratio(self.completed, self.due),
            ack_days_median=median(self.ack_days),
            ack_days_p90=p90(self.ack_days),
            reply_days_median=median(self.reply_days),
            reply_days_p90=p90(self.reply_days),
            rated=len(self.scores),
            quality_mean=quality,
            quality_score=None if quality is None else (quality - 1) / 4 * 100,
        )


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def p90(values: Sequence[int]) -> int | None:
    """The 90th percentile by nearest rank: the ceil(0.9 n)-th smallest value."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def compute_figures(
    session: Session,
    *,
    period: Period,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    by: str = BY_UNIT,
) -> FigureTable:
    """All figures for ``period`` grouped ``by`` unit, source kind or overall."""
    cutoff = cutoff_of(period, now=now, rules=rules)
    histories = load_histories(session, until=cutoff, since=period, tz=rules.tz)
    return figures_from(
        histories, list_units(session), period=period, now=now, rules=rules, policy=policy, by=by
    )


def list_units(session: Session) -> list[Unit]:
    return list(session.exec(select(Unit).order_by(col(Unit.id))))


def figures_from(
    histories: Iterable[TicketHistory],
    units: Sequence[Unit],
    *,
    period: Period,
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    by: str = BY_UNIT,
) -> FigureTable:
    """:func:`compute_figures` over histories already loaded."""
    return tables_from(
        histories, units, wanted=((period, by),), now=now, rules=rules, policy=policy
    )[0]


@_without_cycle_collection
def tables_from(
    histories: Iterable[TicketHistory],
    units: Sequence[Unit],
    *,
    wanted: Sequence[tuple[Period, str]],
    now: datetime,
    rules: DeadlineRules,
    policy: RankingPolicy,
    visit: Callable[[dict[datetime, TicketFacts]], None] | None = None,
) -> list[FigureTable]:
    """One :class:`FigureTable` for each ``(period, by)`` of ``wanted``, the same as
    :func:`figures_from` gives for each, with each ticket replayed once for all their
    cut-offs. ``visit`` is called with each ticket's facts by cut-off (e.g. for the lists
    of a report): for a ticket read from its row (:class:`Columns`), only at the cut-offs
    of the tables that are not :data:`TREND`, and only when it owes something at one of
    them (overdue, or in the period's due cohort)."""
    for _, by in wanted:
        if by not in (*GROUPINGS, TREND):
            raise ValueError(f"by must be one of {GROUPINGS} or {TREND!r}, got {by!r}")
    codes = {unit.id: unit.code for unit in units}
    counts = [_Counting(period, by, now, rules) for period, by in wanted]
    cutoffs = sorted({counting.cutoff for counting in counts})
    # A simple ticket (read from its row) counts into a trend point without its facts being
    # made (its row is compared with the cut-off); they are made at the other tables' only.
    tabled = sorted({counting.cutoff for counting in counts if counting.by != TREND})
    trends = [counting for counting in counts if counting.by == TREND]
    trend_marks = [
        (counting.cutoff, counting.start, counting.period.first, counting.period.last,
         counting.total)
        for counting in trends
    ]  # fmt: skip
    # The tables of one period (by unit, by source) take each ticket's part in one go.
    same: dict[Period, list[_Counting]] = {}
    for counting in counts:
        if counting.by != TREND:
            same.setdefault(counting.period, []).append(counting)
    groups = [_Group(members) for members in same.values()]
    memo: dict[tuple[date, date], int] = {}  # many tickets share a pair of days
    tz, between = rules.tz, rules.calendar.workdays_between

    def days(start: datetime | None, end: datetime) -> int:
        """:func:`workdays`, remembered by the pair of local days (``rules.local_date``
        written out: every moment here is aware)."""
        assert start is not None
        key = (start.astimezone(tz).date(), end.astimezone(tz).date())
        found = memo.get(key)
        if found is None:
            found = memo[key] = between(*key)
        return found

    for history in histories:
        received = history.received_at
        columns = history.columns
        if columns is not None:
            replied = columns.replied_at
            # :func:`_count_trend` of its facts at each trend point, from its row: open at
            # the cut-off exactly when not answered by then, on its original deadline.
            # Written out here, not called (~350,000 times for a weekly at 1M tickets).
            due_at, due_day = history.original_due_at, history.original_due_date
            for cutoff, start, first, final, total in trend_marks:
                if received >= cutoff:
                    continue
                if start <= received:
                    total.received += 1
                if replied is None or replied >= cutoff:
                    if due_at < cutoff:
                        total.overdue_open += 1
                        if first <= due_day <= final:
                            total.due += 1
                    continue
                if start <= replied:
                    total.replied += 1
                if due_at < cutoff and first <= due_day <= final:
                    total.due += 1
                    total.due_replied += 1
                    if replied <= due_at:
                        total.on_time += 1
                        total.on_time_original += 1
            # Counted at each table's cut-off it was received before, straight from the
            # row. One with nothing in the period that owes nothing there adds nothing but
            # its unit's row (what passing over it made): telling it apart cost more.
            owes = False  # owing something at one of the tables' cut-offs (for ``visit``)
            for group in groups:
                if received < group.cutoff:
                    _count_simple(history, columns, group, days)
                    if visit is not None and not owes:
                        owes = _owing_simple(history, replied, group)
            if owes:
                assert visit is not None
                visit(dict(zip(tabled, column_facts(history, tabled), strict=True)))
            continue
        by_cutoff = dict(zip(cutoffs, facts_at_each(history, cutoffs, rules), strict=True))
        latest = max((step.at for step in history.steps), default=received)
        for counting in trends:
            if received >= counting.cutoff:
                continue
            facts = by_cutoff[counting.cutoff]
            if latest < counting.start and not counting.owing(facts):
                continue  # nothing of it falls in the period, and it owes nothing there
            _count_trend(facts, counting.total, counting, policy)
        for group in groups:
            cutoff = group.cutoff
            if received >= cutoff:
                continue
            facts = by_cutoff[cutoff]
            if latest >= group.start or group.owing(facts):
                _count(
                    facts, group.tallies_for, start=group.start, cutoff=cutoff,
                    period=group.period, rules=rules, policy=policy, days=days,
                )  # fmt: skip
            else:
                # Nothing of it falls in the period and it owes nothing there: it counts for
                # nothing, but its unit still has a row (as _count would have made).
                group.cell(history.source_kind, facts.unit_id)
        if visit is not None:
            visit(by_cutoff)
    for group in groups:
        group.merge()
    return [
        FigureTable(
            period=counting.period,
            by=counting.by,
            now=now,
            as_of=counting.cutoff,
            extensions_count_on_time=policy.extensions_count_on_time,
            rows=tuple(_rows(counting.tallies, units, codes, counting.by)),
            total=counting.total.figures("all", "合计"),
        )
        for counting in counts
    ]


class _Counting:
    """The tallies of one table being counted."""

    def __init__(self, period: Period, by: str, now: datetime, rules: DeadlineRules) -> None:
        self.period, self.by = period, by
        self.cutoff = cutoff_of(period, now=now, rules=rules)
        self.start = period.start(rules.tz)
        self.tallies: dict[Any, _Tally] = {}
        self.total = _Tally()

    def owing(self, facts: TicketFacts) -> bool:
        """Overdue at the cut-off, or in the period's due cohort: counted even when no step
        of it falls in the period."""
        if facts.due_at >= self.cutoff:
            return False
        return facts.state in OPEN_STATES or self.period.first <= facts.due_date <= self.period.last

    def tallies_for(self, facts: TicketFacts, unit_id: int | None) -> tuple[_Tally, _Tally]:
        return self.tallies_of(facts.history, unit_id)

    def tallies_of(self, history: TicketHistory, unit_id: int | None) -> tuple[_Tally, _Tally]:
        return self.tally_at(history.source_kind, unit_id), self.total

    def tally_at(self, source_kind: str, unit_id: int | None) -> _Tally:
        if self.by == BY_UNIT:
            key: Any = unit_id
        elif self.by == BY_SOURCE:
            key = source_kind
        else:
            key = "all"
        tally = self.tallies.get(key)
        if tally is None:
            tally = self.tallies[key] = _Tally()
        return tally


class _Group:
    """The tables of one period counted together: :func:`_count` works out a ticket's part
    once and adds it to one *cell* — its (source kind, unit) — and the cells are added into
    each table's rows and the total at the end (:meth:`merge`): a ticket's part is added
    once, not once per table and again for the total. The day lists' order differs from
    adding ticket by ticket; their median, p90 and mean do not depend on it."""

    def __init__(self, members: list[_Counting]) -> None:
        first = members[0]
        self.members = members
        self.period, self.cutoff, self.start, self.owing = (
            first.period, first.cutoff, first.start, first.owing,
        )  # fmt: skip
        self.first, self.last = first.period.first, first.period.last
        self.cells: dict[tuple[str, int | None], _Tally] = {}
        for counting in members[1:]:  # the same tickets, the same total: counted once
            counting.total = first.total

    def tallies_for(self, facts: TicketFacts, unit_id: int | None) -> Sequence[_Tally]:
        return (self.cell(facts.history.source_kind, unit_id),)

    def tallies_of(self, history: TicketHistory, unit_id: int | None) -> Sequence[_Tally]:
        return (self.cell(history.source_kind, unit_id),)

    def cell(self, source_kind: str, unit_id: int | None) -> _Tally:
        key = (source_kind, unit_id)  # all that picks a ticket's tallies
        found = self.cells.get(key)
        if found is None:
            found = self.cells[key] = _Tally()
        return found

    def merge(self) -> None:
        """Add every cell into its row of each table and into the total (once: the tables
        share it). A cell that counted nothing still makes its unit's row."""
        total = self.members[0].total
        for (source_kind, unit_id), cell in self.cells.items():
            for counting in self.members:
                counting.tally_at(source_kind, unit_id).merge(cell)
            total.merge(cell)
        self.cells = {}


def _count_trend(facts: TicketFacts, total: _Tally, counting: _Counting, policy) -> None:
    """The part of :func:`_count` a trend point reads, into the total."""
    start, cutoff, period = counting.start, counting.cutoff, counting.period
    replied = facts.replied_at
    total.received += start <= facts.history.received_at < cutoff
    total.replied += replied is not None and start <= replied < cutoff
    if facts.due_at < cutoff:
        if facts.state in OPEN_STATES:
            total.overdue_open += 1
        if period.first <= facts.due_date <= period.last:
            history = facts.history
            applied = facts.due_at if policy.extensions_count_on_time else history.original_due_at
            total.due += 1
            if replied is not None:
                total.due_replied += 1
                total.on_time += replied <= applied
                total.on_time_original += replied <= history.original_due_at


def _owing_simple(history: TicketHistory, replied: datetime | None, group: _Group) -> bool:
    """:meth:`_Counting.owing` for a simple ticket, from its row: open at the cut-off exactly
    when not answered by then, its deadline the original one."""
    cutoff, period = group.cutoff, group.period
    if history.original_due_at >= cutoff:
        return False
    return (
        replied is None
        or replied >= cutoff
        or period.first <= history.original_due_date <= period.last
    )


def _count_simple(
    history: TicketHistory, columns: Columns, group: _Group, days: Callable[..., int]
) -> None:
    """:func:`_count` of a simple ticket's facts at the group's cut-off (which it was
    received before), from its row without making them (see :func:`column_facts`): at its
    row's unit, answered exactly when no longer open, done exactly when verified, on its
    original deadline, its only rating the 核查通过's. Written out into its cell (no
    :func:`_add`): it runs for every simple ticket at every table's cut-off."""
    start, cutoff = group.start, group.cutoff
    _, number, kind, _, received, due_day, due_at, _, _ = history  # unpacked: read once
    unit_id, assigned, acknowledged, replied, verified, _, score = columns
    if assigned is not None and assigned >= cutoff:
        raise ValueError(f"{number}: its facts at {cutoff} need its steps")
    key = (kind, None if assigned is None else unit_id)
    tally = group.cells.get(key)
    if tally is None:
        tally = group.cell(*key)
    if start <= received:
        tally.received += 1
    if assigned is not None and start <= assigned:
        tally.assigned += 1
    if acknowledged is not None and start <= acknowledged < cutoff:
        tally.acknowledged += 1
        tally.ack_days.append(days(assigned, acknowledged))
    if replied is not None and replied >= cutoff:
        replied = None
    if replied is not None and start <= replied:
        tally.replied += 1
        tally.reply_days.append(days(received, replied))
    if verified is not None and verified >= cutoff:
        verified = None
    if verified is not None and start <= verified:
        tally.verified += 1
        if score is not None:
            tally.scores.append(score)
    if due_at < cutoff:
        if replied is None:
            tally.overdue_open += 1
        if group.first <= due_day <= group.last:
            tally.due += 1
            if replied is not None:
                tally.due_replied += 1
                if replied <= due_at:  # the deadline in force is the original one
                    tally.on_time += 1
                    tally.on_time_original += 1
            if verified is not None:
                tally.completed += 1


def _count(facts, tallies_for, *, start, cutoff, period, rules, policy, days=None) -> None:
    """Add one ticket's contribution to its group and to the total (``days``: working days
    between two moments, :func:`workdays` unless given)."""
    if days is None:

        def days(begin: datetime | None, end: datetime) -> int:
            return workdays(rules, begin, end)

    history = facts.history
    received, assigned = history.received_at, facts.assigned_at
    acknowledged, replied, verified = facts.acknowledged_at, facts.replied_at, facts.verified_at
    # Each test once for the ticket; the group's tally and the total add the same.
    got = start <= received < cutoff
    was_assigned = assigned is not None and start <= assigned < cutoff
    was_acknowledged = acknowledged is not None and start <= acknowledged < cutoff
    was_replied = replied is not None and start <= replied < cutoff
    was_verified = verified is not None and start <= verified < cutoff
    late = facts.due_at < cutoff
    cohort = None
    if late and period.first <= facts.due_date <= period.last:
        applied = facts.due_at if policy.extensions_count_on_time else history.original_due_at
        answered = replied is not None
        cohort = (
            answered,
            answered and replied <= applied,
            answered and replied <= history.original_due_at,
            facts.state in DONE_STATES,
        )
    _add(
        tallies_for(facts, facts.unit_id), got, was_assigned,
        days(assigned, acknowledged) if was_acknowledged else None,
        days(received, replied) if was_replied else None,
        was_verified, late and facts.state in OPEN_STATES, cohort,
    )  # fmt: skip
    for step in facts.returns:
        if start <= step.at < cutoff:
            for tally in tallies_for(facts, step.unit_id):
                tally.returned += 1
    for step in facts.reopens:
        if start <= step.at < cutoff:
            for tally in tallies_for(facts, step.unit_id):
                tally.reopened += 1
    for step in facts.ratings:
        if start <= step.at < cutoff:
            for tally in tallies_for(facts, step.unit_id):
                tally.scores.append(int(step.data["score"]))


def _add(
    tallies: Iterable[_Tally],
    got: bool,
    assigned: bool,
    ack_days: int | None,
    reply_days: int | None,
    verified: bool,
    overdue: bool,
    cohort: tuple[bool, bool, bool, bool] | None,
) -> None:
    """Add one ticket's part to each of ``tallies`` (its group's and the total): working
    days to 签收 / 反馈 when that happened in the period, and for a ticket of the period's
    due cohort (answered, on time, on time by the original deadline, done)."""
    for tally in tallies:
        tally.received += got
        tally.assigned += assigned
        if ack_days is not None:
            tally.acknowledged += 1
            tally.ack_days.append(ack_days)
        if reply_days is not None:
            tally.replied += 1
            tally.reply_days.append(reply_days)
        tally.verified += verified
        if overdue:
            tally.overdue_open += 1
        if cohort is not None:
            answered, on_time, on_time_original, completed = cohort
            tally.due += 1
            tally.due_replied += answered
            tally.on_time += on_time
            tally.on_time_original += on_time_original
            tally.completed += completed


def workdays(rules: DeadlineRules, start: datetime | None, end: datetime) -> int:
    """Working days in (local day of ``start``, local day of ``end``]: same day is 0."""
    assert start is not None
    return rules.calendar.workdays_between(rules.local_date(start), rules.local_date(end))


def _rows(tallies: dict[Any, _Tally], units: Sequence[Unit], codes: dict, by: str) -> list[Figures]:
    if by == TREND:
        return []
    if by == OVERALL:
        return [tallies.get("all", _Tally()).figures("all", "合计")]
    if by == BY_SOURCE:
        return [
            tallies.get(kind.value, _Tally()).figures(kind.value, SOURCE_LABELS[kind])
            for kind in SourceKind
        ]
    rows = [
        tallies.get(unit.id, _Tally()).figures(unit.code, unit.short_name)
        for unit in units
        if (unit.active and unit.kind != "desk") or unit.id in tallies
    ]
    if None in tallies:
        rows.append(tallies[None].figures(None, UNASSIGNED_LABEL))
    return rows


def overdue_workdays(facts: TicketFacts, cutoff: datetime, rules: DeadlineRules) -> int:
    """Working days after the due day up to the day of the cut-off (the report's day)."""
    return rules.calendar.workdays_between(facts.due_date, rules.local_date(cutoff))
