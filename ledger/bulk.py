"""立项 and 交办 for many messages at once, with bulk inserts.

It writes exactly what ``ledger.tickets.open_ticket`` followed by ``assign`` writes — the
ticket, a ``register`` event and (when a unit is chosen) an ``assign`` event, the message
marked routed — but in a few statements for a whole batch, which is what lets an import of
100,000 messages run at thousands a second. The event payloads come from the same helpers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any

from sqlalchemy import ARRAY, Table, any_, bindparam, func, literal, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel

from ledger.deadlines import Deadline, DeadlineRules
from ledger.models import Event, Message, MessageStatus, SourceKind, Ticket, TicketState, Unit
from ledger.numbers import PREFIX, next_value
from ledger.tickets import LABEL_MAX, Actor, assign_data, check_allowed, register_data
from ledger.types import UTCDateTime

logger = logging.getLogger(__name__)

MAX_PARAMS = 900  # ids in one IN list (SQLite's bound-parameter limit, with room)


@dataclass
class OpenSpec:
    """One message to open a ticket for, and the routing decision for it."""

    message_id: int
    source_kind: str
    received_at: datetime
    has_time_limit: bool
    time_limit_days: int | None
    unit: Unit | None = None  # None: wait in triage
    routed_by: str | None = None
    classifier_version: str | None = None
    confidence: float | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Opened:
    ticket_id: int
    number: str
    message_id: int
    deadline: Deadline
    assign_event_id: int | None
    state: str


def open_tickets(
    session: Session,
    specs: list[OpenSpec],
    *,
    rules: DeadlineRules,
    now: datetime,
    actor: Actor,
) -> list[Opened]:
    """Open one ticket per spec (the caller made sure none exists yet)."""
    if not specs:
        return []
    deadlines = [_deadline(rules, spec) for spec in specs]
    year = rules.local_date(now).year
    last = next_value(session, f"ticket-{year}", step=len(specs))
    numbers = [f"{PREFIX}-{year}-{last - len(specs) + i + 1:06d}" for i in range(len(specs))]
    rows = []
    for spec, deadline, number in zip(specs, deadlines, numbers, strict=True):
        assigned = spec.unit is not None
        rows.append(
            {
                "number": number,
                "message_id": spec.message_id,
                "unit_id": spec.unit.id if assigned else None,
                "state": (TicketState.ASSIGNED if assigned else TicketState.REGISTERED).value,
                "source_kind": spec.source_kind,
                "opened_at": now,
                "assigned_at": now if assigned else None,
                "acknowledged_at": None,
                "replied_at": None,
                "verified_at": None,
                "closed_at": None,
                "escalated_at": None,
                "due_date": deadline.due_date,
                "due_at": deadline.due_at,
                "original_due_date": deadline.due_date,
                "original_due_at": deadline.due_at,
                "limit_days": deadline.limit_days,
                "deadline_provisional": deadline.provisional,
                "extension_days": 0,
                "routed_by": spec.routed_by[:LABEL_MAX] if assigned else None,
                "classifier_version": spec.classifier_version,
                "confidence": spec.confidence,
                "suggestions": spec.suggestions,
                "excluded_units": [],
                "quality_score": None,
                "reopen_count": 0,
                "return_count": 0,
                "duplicate_count": 0,
                "version": 2 if assigned else 1,
            }
        )
    ticket_ids = insert_rows(session, Ticket.__table__, rows)
    events = []
    registered: dict[Deadline, dict[str, Any]] = {}  # one data object per deadline
    for spec, deadline, ticket_id in zip(specs, deadlines, ticket_ids, strict=True):
        events.append(
            _event(
                ticket_id,
                "register",
                None,
                TicketState.REGISTERED,
                None,
                actor,
                registered.setdefault(deadline, register_data(deadline)),
                now,
            )
        )
        if spec.unit is not None:
            events.append(
                _event(
                    ticket_id,
                    "assign",
                    TicketState.REGISTERED,
                    TicketState.ASSIGNED,
                    spec.unit.id,
                    actor,
                    assign_data(
                        spec.unit.code,
                        None,
                        spec.routed_by or "",
                        spec.confidence,
                        spec.classifier_version,
                    ),
                    now,
                )
            )
    event_ids = insert_rows(session, Event.__table__, events)
    assign_ids: dict[int, int] = {}
    for row, event in zip(event_ids, events, strict=True):
        if event["action"] == "assign":
            assign_ids[event["ticket_id"]] = row
    mark_messages(session, [spec.message_id for spec in specs], MessageStatus.ROUTED)
    return [
        Opened(
            ticket_id=tid,
            number=number,
            message_id=spec.message_id,
            deadline=deadline,
            assign_event_id=assign_ids.get(tid),
            state=row["state"],
        )
        for spec, deadline, number, tid, row in zip(
            specs, deadlines, numbers, ticket_ids, rows, strict=True
        )
    ]


def link_duplicates(
    session: Session, links: list[tuple[int, Ticket]], *, actor: Actor, now: datetime
) -> None:
    """重复件 for many messages at once, in order: each ``(message id, original's ticket)``
    gets what ``ledger.tickets.link_duplicate`` writes — the ticket's ``duplicate_count``
    and ``version`` up by one, a ``link_duplicate`` event, the message marked routed — or,
    when the ticket is archived, a 备注 saying a duplicate came after archiving (the count
    still goes up). A few statements for the whole batch; the counts are added in the
    database, so two workers linking to one ticket at once both count."""
    if not links:
        return
    events = []
    added: dict[int, int] = {}
    for message_id, ticket in links:
        if ticket.state == TicketState.ARCHIVED.value:
            action, note = "comment", f"归档后又收到重复件（消息 {message_id}）"
        else:
            action, note = "link_duplicate", None
        check_allowed(ticket, action, actor)
        assert ticket.id is not None
        added[ticket.id] = added.get(ticket.id, 0) + 1
        events.append(
            {
                "ticket_id": ticket.id,
                "action": action,
                "from_state": ticket.state,
                "to_state": ticket.state,
                "actor_id": actor.person_id,
                "actor": actor.label,
                "unit_id": ticket.unit_id,
                "note": note,
                "data": {"message_id": message_id},
                "at": now,
            }
        )
    add_to_rows(session, _table(Ticket), sorted(added.items()), ["duplicate_count", "version"])
    insert_plain(session, _table(Event), events)
    mark_messages(session, [message_id for message_id, _ in links], MessageStatus.ROUTED)
    logger.info("%d duplicates linked to %d tickets by %s", len(links), len(added), actor.label)


def add_to_rows(
    session: Session, table: Table, amounts: Sequence[tuple[int, int]], columns: Sequence[str]
) -> None:
    """Add each ``(id, n)``'s ``n`` to ``columns`` of the row with that id, in the database
    (a concurrent writer's additions are kept). PostgreSQL: one ``UPDATE … FROM unnest(…)``
    of two binary arrays, whatever the number of rows (an ``executemany`` is one statement
    per row at the server); SQLite: one ``executemany``. Rows are locked in the order
    given (each id once): pass them sorted, so two writers cannot deadlock."""
    if not amounts:
        return
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(table)
            .where(table.c.id == bindparam("t_id"))
            .values({name: table.c[name] + bindparam("n") for name in columns}),
            [{"t_id": row_id, "n": n} for row_id, n in amounts],
        )
        return
    sets = ", ".join(f'"{name}" = t."{name}" + v.n' for name in columns)
    statement = (
        f'UPDATE "{table.name}" AS t SET {sets}'
        " FROM unnest(%b::integer[], %b::integer[]) AS v(id, n) WHERE t.id = v.id"
    )
    with _driver_errors(session, statement), _driver_connection(session).cursor() as cursor:
        cursor.execute(statement, [[row_id for row_id, _ in amounts], [n for _, n in amounts]])


def _table(model: type[SQLModel]) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


def mark_messages(session: Session, message_ids: list[int], status: MessageStatus) -> None:
    """Set the status of many messages (one ``UPDATE``; a few on SQLite)."""
    table = Message.__table__
    for test in members(session, table.c.id, sorted(set(message_ids))):
        session.execute(update(table).where(test).values(status=status.value))


def members(session: Session, column: Any, values: Sequence[Any]) -> Iterator[Any]:
    """The membership tests of ``column`` in ``values`` for ``WHERE``, one per statement
    to run: on PostgreSQL one ``column = ANY(array)`` for them all (a statement compiled
    and parsed once, whatever their number), on SQLite ``IN`` lists of ``MAX_PARAMS``.
    Nothing for no values.

    An ``IN`` list has one parameter per value: SQLAlchemy compiles the statement anew for
    each length and psycopg parses the long query text again (a fifth of a routing job's
    client CPU went to that)."""
    ordered = list(values)
    if not ordered:
        return
    if session.get_bind().dialect.name != "sqlite":
        yield column == any_(literal(ordered, ARRAY(column.type)))
        return
    for start in range(0, len(ordered), MAX_PARAMS):
        yield column.in_(ordered[start : start + MAX_PARAMS])


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` in bulk and return their new ids, in the order of ``rows``.

    PostgreSQL: the ids are taken from the table's sequence first (one statement), then
    the rows go in with those ids by ``COPY`` on the session's own connection (the same
    transaction). SQLAlchemy's batched ``INSERT … RETURNING`` costs several times more.

    SQLite cannot tie RETURNING rows to parameter sets in a batch (SQLAlchemy would fall
    back to one statement per row), so there the rows go in with one ``executemany`` and
    their ids are read back: a rowid table gives each new row the largest rowid so far
    plus one, and the transaction holds SQLite's write lock from its first write to its
    commit, so the ids of the batch are the last ``len(rows)`` ones.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name != "sqlite":
        ids = reserve_ids(session, table, len(rows))
        names = list(rows[0])
        picked = _picked(rows, names)
        _copy(session, table, ["id", *names], ((i, *r) for i, r in zip(ids, picked, strict=True)))
        return ids
    insert_plain(session, table, rows)
    last = session.execute(select(func.max(table.c.id))).scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


def reserve_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new ids from a PostgreSQL table's sequence, ascending (not necessarily
    consecutive: other writers draw from it at the same time)."""
    # The sequence is looked up once (OFFSET 0 keeps the subquery from being pulled up):
    # pg_get_serial_sequence per row cost 5x the nextval calls themselves.
    result = session.execute(
        text(
            "SELECT nextval(q.seq) FROM (SELECT pg_get_serial_sequence(:table, 'id')::regclass"
            " AS seq OFFSET 0) AS q, generate_series(1, :n)"
        ),
        {"table": f'"{table.name}"', "n": count},
    )
    return sorted(row[0] for row in result)


def insert_plain(
    session: Session, table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """Insert ``rows`` (all with the same keys) in bulk, no ids returned; with
    ``ignore_conflicts`` a row whose unique key is taken is skipped (``ON CONFLICT DO NOTHING``).

    The values are converted here, the way the column types would convert them, and handed
    to the driver in one call: SQLAlchemy's per-row parameter processing costs more than
    the insert itself on a large import. SQLite gets one ``executemany``; PostgreSQL gets
    ``COPY``, or (to skip conflicts, which ``COPY`` cannot) one ``INSERT … SELECT … FROM
    unnest(…)`` of one array per column.
    """
    if not rows:
        return
    names = list(rows[0])
    if session.get_bind().dialect.name != "sqlite":
        if not ignore_conflicts:
            _copy(session, table, names, _picked(rows, names))
            return
        # One array per column, unnested into rows: a short statement for any number.
        columns = ", ".join(f'"{name}"' for name in names)
        # %b: each array goes in binary. In text psycopg quotes and escapes every element
        # in Python (a chunk's outbox texts: ~100 ms per 1,000 rows against ~2 ms). (The
        # execute's ``binary=True`` asked for binary results only, not parameters.)
        arrays = ", ".join(f"%b::{_postgres_type(table.c[name].type)}[]" for name in names)
        values = _converted(table, names, _picked(rows, names), _postgres_converter)
        statement = (
            f'INSERT INTO "{table.name}" ({columns}) SELECT * FROM unnest({arrays})'
            " ON CONFLICT DO NOTHING"
        )
        with _driver_errors(session, statement), _driver_connection(session).cursor() as cursor:
            cursor.execute(statement, [list(column) for column in zip(*values, strict=True)])
        return
    values = _converted(table, names, _picked(rows, names), _sqlite_converter)
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join("?" for _ in names)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    session.connection().exec_driver_sql(
        f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks}){conflict}', values
    )


def select_in(
    session: Session,
    sql: str,
    values: Sequence[Any],
    *,
    array_type: str,
    params: Sequence[Any] = (),
) -> list[Any]:
    """The rows of a raw ``SELECT`` for many values, in parts: ``{IN}`` in ``sql`` stands
    for the membership test of ``values`` (``IN (?, …)`` on SQLite, ``= ANY(%b::type[])``
    on PostgreSQL, ``array_type`` naming the type), each ``{P}`` for one of ``params``
    (driver values: see ``driver_value``), which must all come before ``{IN}``.

    SQLAlchemy renders a long IN list anew for every execution; this is what made a
    large import's lookups cost more than the lookups themselves. PostgreSQL gets each
    part as one array, in binary (psycopg's text form quotes each element in Python). The
    parts stay ``MAX_PARAMS`` long there too: given one array of a chunk's 8,000 band
    values, the planner scanned the whole ``messageband`` table of a 100k ledger (135 ms)
    where 900 at a time probe its index (11 ms each); 2,000 hashes picked the
    ``received_at`` index over the hash's with a 30-day window (75 ms against 8)."""
    connection = session.connection()
    postgres = connection.dialect.name != "sqlite"
    found: list[Any] = []
    ordered = list(values)
    for start in range(0, len(ordered), MAX_PARAMS):
        part = ordered[start : start + MAX_PARAMS]
        if postgres:
            statement = sql.format(IN=f"= ANY(%b::{array_type}[])", P="%s")
            args: tuple[Any, ...] = (*params, part)
        else:
            statement = sql.format(IN=f"IN ({', '.join('?' * len(part))})", P="?")
            args = (*params, *part)
        found.extend(connection.exec_driver_sql(statement, args).all())
    return found


def driver_value(session: Session, column: Any, value: Any) -> Any:
    """``value`` as the driver takes it for ``column`` (what its type's bind processing
    gives: SQLite stores a timestamp as naive UTC text)."""
    dialect = session.get_bind().dialect.name
    converter = _sqlite_converter if dialect == "sqlite" else _postgres_converter
    return converter(column.type)(value)


def _picked(rows: list[dict[str, Any]], names: list[str]) -> Iterable[tuple[Any, ...]]:
    """Each row's values in the order of ``names``."""
    pick = itemgetter(*names)
    if len(names) == 1:
        return ((pick(row),) for row in rows)
    return (pick(row) for row in rows)


def _converted(
    table: Table,
    names: list[str],
    rows: Iterable[Iterable[Any]],
    converter: Callable[[Any], Callable[[Any], Any]],
) -> list[tuple[Any, ...]]:
    converting = [
        (index, fn)
        for index, name in enumerate(names)
        if (fn := converter(table.c[name].type)) is not _same
    ]
    if not converting:
        return [tuple(row) for row in rows]
    # JSON values repeated by the caller (one object for many rows) are encoded once.
    encoded: dict[int, tuple[Any, Any]] = {}  # id -> (the object, kept alive; its text)

    def once(value: Any, fn: Callable[[Any], Any]) -> Any:
        known = encoded.get(id(value))
        if known is None or known[0] is not value:
            known = encoded[id(value)] = (value, fn(value))
        return known[1]

    converting = [
        (index, partial(once, fn=fn) if fn is _json_text else fn) for index, fn in converting
    ]
    values = []
    for row in rows:
        value = list(row)
        for index, fn in converting:
            value[index] = fn(value[index])
        values.append(tuple(value))
    return values


def _driver_connection(session: Session) -> Any:
    """The psycopg connection under the session, in the session's transaction (pending
    ORM changes flushed first, so what is written here sees them)."""
    session.flush()
    return session.connection().connection.driver_connection


def _copy(session: Session, table: Table, names: list[str], rows: Iterable[Iterable[Any]]) -> None:
    """``COPY`` rows (values in the order of ``names``) into a PostgreSQL table."""
    columns = ", ".join(f'"{name}"' for name in names)
    values = _converted(table, names, rows, _postgres_converter)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    with (
        _driver_errors(session, statement),
        _driver_connection(session).cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for value in values:
            copy.write_row(value)


@contextmanager
def _driver_errors(session: Session, statement: str) -> Iterator[None]:
    """psycopg's errors raised as SQLAlchemy's, as if the statement had gone through the
    session: callers retry on ``OperationalError`` (the database went away) and on
    ``IntegrityError`` (a concurrent router won a race), and the pool throws away a
    connection that was lost."""
    dbapi = session.get_bind().dialect.dbapi
    assert dbapi is not None
    try:
        yield
    except dbapi.Error as exc:
        connection = session.connection()
        lost = connection.dialect.is_disconnect(exc, connection.connection, None)
        if lost:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement, None, exc, dbapi.Error, connection_invalidated=lost
        ) from exc


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is list and not value:
        return "[]"
    if type(value) is dict and not value:
        return "{}"
    return json.dumps(value)


def _sqlite_converter(column_type: Any) -> Callable[[Any], Any]:
    """What the column type's bind processing does on SQLite, for one value."""
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime
    if isinstance(column_type, sqltypes.JSON):
        return _json_text
    if isinstance(column_type, sqltypes.Boolean):
        return lambda value: None if value is None else int(bool(value))
    if isinstance(column_type, sqltypes.Date):
        return lambda value: None if value is None else value.isoformat()
    return _same


_POSTGRES: Any = postgresql.dialect()  # type: ignore[no-untyped-call]


def _postgres_type(column_type: Any) -> str:
    """The type of a column's array parameter: strings as ``text`` (a cast to
    ``varchar(n)`` would cut a long value instead of refusing it as the column does)."""
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl
    if isinstance(column_type, sqltypes.String):
        return "text"
    return str(column_type.compile(dialect=_POSTGRES))


def _postgres_converter(column_type: Any) -> Callable[[Any], Any]:
    """What the column type's bind processing does on PostgreSQL, for one value (psycopg
    adapts the rest)."""
    if isinstance(column_type, UTCDateTime):
        return _aware
    if isinstance(column_type, sqltypes.JSON):
        return _json_text
    return _same


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"naive datetime {value!r}: duban stores UTC-aware timestamps only")
    return value


@lru_cache(maxsize=4096)  # a batch repeats its ``now`` and its deadlines many times
def _sqlite_datetime(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, naive UTC (as UTCDateTime stores it).
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: duban stores UTC-aware timestamps only")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value: Any) -> Any:
    return value


def _deadline(rules: DeadlineRules, spec: OpenSpec) -> Deadline:
    limit = rules.policy.limit_for(
        SourceKind(spec.source_kind),
        explicit_days=spec.time_limit_days,
        has_limit=spec.has_time_limit,
    )
    return rules.count(spec.received_at, limit)


def _event(
    ticket_id: int,
    action: str,
    before: TicketState | None,
    after: TicketState,
    unit_id: int | None,
    actor: Actor,
    data: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "action": action,
        "from_state": before.value if before else None,
        "to_state": after.value,
        "actor_id": actor.person_id,
        "actor": actor.label,
        "unit_id": unit_id,
        "note": None,
        "data": data,
        "at": now,
    }
