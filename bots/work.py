"""One chat message, one transaction: the inbox record, who is speaking, the step, the answer.

:class:`bots.hub.ChatHub` handles each message in one worker thread and one session
(:class:`MessageWork`). Its first write is the message's inbox row, so on SQLite the
write lock is taken before anything is read, and the step's effects commit together with
the record that the message was handled, or not at all: a message delivered twice is
handled once, and nothing is half done.

Chat callbacks and the ``desk`` functions they call open ``ctx.session()`` as everywhere
else. The hub hands them a :class:`ChatContext`, whose ``session()`` inside a message is
the message's session (a refused step writes nothing; one that wrote and then raised makes
the hub roll the message back and handle it again with a savepoint per step, see
:class:`MessageWork`) and whose ``nudge()`` waits for the commit. Outside a message (an
adapter's questions, the outbox) it is the plain routing context.

Work that must commit in steps of its own (filing a citizen's message: the pipeline
commits, then enqueues its routing; a report that reads for seconds) calls
:func:`own_transactions` first: what the message did so far (its inbox row) is committed,
and the rest runs as it would anywhere else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session

from ledger.db import session_scope
from ledger.directory import UNIT_CACHE, list_units
from ledger.models import Unit
from routing.context import RoutingContext

UNITS_TTL = 10.0  # seconds a bot shows a unit's name after another process renamed it

_current: ContextVar[MessageWork | None] = ContextVar("duban_chat_message", default=None)


class MessageWork:
    """The session and transaction of the message being handled in this thread.

    A step's ``ctx.session()`` is, at first, the message's session itself (no savepoint:
    on SQLite a savepoint that writes costs a statement journal, on PostgreSQL two round
    trips). Writing nothing before a refusal is the desk's contract ("a refused step
    raises and writes nothing"); where a scope is left by an exception after writing,
    the message is *tainted*: the hub rolls it back and handles it again with a real
    savepoint per scope (``strict``), which is what separate transactions used to give.
    """

    def __init__(self, engine: Engine, *, units: UnitCache | None = None) -> None:
        self.session = Session(engine, expire_on_commit=False)
        if units is not None:
            self.session.info[UNIT_CACHE] = units
        event.listen(self.session, "do_orm_execute", _fresh_when_locking)
        event.listen(self.session, "do_orm_execute", self._bulk_write)
        event.listen(self.session, "after_flush", self._flushed)
        self.writes = 0  # flushes and bulk statements that wrote, in this transaction
        self.strict = False  # a savepoint per scope (the second try of a tainted message)
        self.tainted = False  # a scope raised after writing: roll back, try again strictly
        self.nudge_wanted = False  # a step wrote outbox rows: wake the bots after the commit
        self.detached = False  # committed early; the rest ran in transactions of its own

    def _flushed(self, _session: Session, _context: object) -> None:
        self.writes += 1

    def _bulk_write(self, state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            self.writes += 1

    @contextmanager
    def scope(self) -> Iterator[Session]:
        """What ``ctx.session()`` is inside the message (see the class)."""
        session = self.session
        if self.strict:
            with session.begin_nested():
                yield session
            return
        before = self.writes
        try:
            yield session
            session.flush()  # what the scope wrote is written at its end, as a commit would
        except BaseException as exc:
            changed = bool(session.new or session.dirty or session.deleted)
            if changed or self.writes != before or isinstance(exc, DBAPIError):
                self.tainted = True
            raise

    def retry_strictly(self) -> None:
        """Forget the first try (rolled back) and make every scope a savepoint."""
        self.session.rollback()
        self.strict, self.tainted, self.nudge_wanted, self.writes = True, False, False, 0

    @contextmanager
    def active(self) -> Iterator[MessageWork]:
        """Make this the message of the current thread (``ChatContext`` uses it)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def close(self) -> None:
        self.session.close()


class UnitCache:
    """The units by id, per process, for showing a ticket's unit (``units_by_id``).

    Read again after ``ttl`` seconds (a ``duban units load`` in another process shows within
    that) and at once after this process wrote a unit. Nothing decides with it: who may see
    or do what is read fresh by ``desk``.
    """

    def __init__(self, ttl: float = UNITS_TTL) -> None:
        self.ttl = ttl
        self._entry: tuple[int, float, dict[int, Unit]] | None = None

    def __call__(self, session: Session) -> dict[int, Unit]:
        entry, now = self._entry, time.monotonic()
        if entry is not None and entry[0] == _unit_writes[0] and now - entry[1] < self.ttl:
            return entry[2]
        generation = _unit_writes[0]
        units = {
            u.id: Unit(**u.model_dump()) for u in list_units(session) if u.id is not None
        }  # copies, free of the session (it may roll back)
        self._entry = (generation, now, units)
        return units


_unit_writes = [0]  # bumped whenever this process writes a unit


def _unit_written(*_args: object) -> None:
    _unit_writes[0] += 1


for _name in ("after_insert", "after_update", "after_delete"):
    event.listen(Unit, _name, _unit_written)


class Tainted(Exception):
    """Raised by :func:`own_transactions` in a tainted message: it must be tried again."""


def _fresh_when_locking(state: ORMExecuteState) -> None:
    """A row read again ``FOR UPDATE`` is refreshed from the database, not taken from the
    session: an earlier read in the same message may be older than the lock (PostgreSQL)."""
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


def current() -> MessageWork | None:
    return _current.get()


def own_transactions() -> None:
    """Commit the message's work so far; the rest of the message opens its own sessions.

    For steps that commit before they do something outside the ledger (the intake pipeline
    enqueues routing after its commit) or that read for long (reports): they must not run
    inside the message's transaction. The inbox row is committed unhandled first, as a claim,
    and marked handled when the message is done.
    """
    work = _current.get()
    if work is None or work.detached:
        return
    if work.tainted:
        raise Tainted("a step wrote, then raised: the message is handled again")
    if work.session.in_nested_transaction():
        raise RuntimeError("own_transactions() called inside ctx.session()")
    work.session.commit()
    work.detached = True
    _current.set(None)  # the hub's ``active()`` restores the context when the message ends


class ChatContext(RoutingContext):
    """The routing context the chat handlers see: inside a message, its one transaction."""

    @classmethod
    def of(cls, ctx: RoutingContext) -> ChatContext:
        if isinstance(ctx, ChatContext):
            return ctx
        values: dict[str, Any] = {f.name: getattr(ctx, f.name) for f in fields(ctx)}
        values["nudge"] = _deferred(values["nudge"])
        return cls(**values)

    @contextmanager
    def session(self) -> Iterator[Session]:
        work = _current.get()
        if work is None:
            with session_scope(self.engine) as session:
                yield session
        else:
            with work.scope() as session:
                yield session


def _deferred(nudge: Callable[[], None]) -> Callable[[], None]:
    """``nudge`` now outside a message; inside one, once it has committed (the hub calls
    ``ctx.nudge()`` again then, outside the message)."""

    def deferred() -> None:
        work = _current.get()
        if work is None:
            nudge()
        else:
            work.nudge_wanted = True

    return deferred
