"""One chat message, one transaction: the inbox record, who is speaking, the step, the answer.

:class:`bots.hub.ChatHub` handles each message in one worker thread and one session
(:class:`MessageWork`). Its first write is the message's inbox row, so on SQLite the
write lock is taken before anything is read, and the step's effects commit together with
the record that the message was handled, or not at all: a message delivered twice is
handled once, and nothing is half done.

Chat callbacks and the ``desk`` functions they call open ``ctx.session()`` as everywhere
else. The hub hands them a :class:`ChatContext`, whose ``session()`` inside a message is a
savepoint of the message's transaction (a refused or failed step is rolled back to where it
began, as its own transaction used to be) and whose ``nudge()`` waits for the commit.
Outside a message (an adapter's questions, the outbox) it is the plain routing context.

Work that must commit in steps of its own (filing a citizen's message: the pipeline
commits, then enqueues its routing; a report that reads for seconds) calls
:func:`own_transactions` first: what the message did so far (its inbox row) is committed,
and the rest runs as it would anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import fields
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session

from ledger.db import session_scope
from routing.context import RoutingContext

_current: ContextVar[MessageWork | None] = ContextVar("duban_chat_message", default=None)


class MessageWork:
    """The session and transaction of the message being handled in this thread."""

    def __init__(self, engine: Engine) -> None:
        self.session = Session(engine, expire_on_commit=False)
        event.listen(self.session, "do_orm_execute", _fresh_when_locking)
        self.nudge_wanted = False  # a step wrote outbox rows: wake the bots after the commit
        self.detached = False  # committed early; the rest ran in transactions of its own

    @contextmanager
    def scope(self) -> Iterator[Session]:
        """A savepoint: rolled back alone when what runs inside raises."""
        with self.session.begin_nested():
            yield self.session

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
