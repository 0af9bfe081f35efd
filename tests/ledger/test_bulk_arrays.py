"""``ledger.bulk``'s array statements, on SQLite and PostgreSQL: awkward values come back as
they went in, PostgreSQL gets the arrays in binary (psycopg's text form quotes every element
in Python), a routing job's reads and marks by id in one statement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

from ledger.bulk import (
    MAX_PARAMS,
    add_to_rows,
    insert_plain,
    mark_messages,
    members,
    select_in,
)
from ledger.db import session_scope
from ledger.models import Message, MessageStatus, Notification
from ledger.outbox import notification_row

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
AWKWARD = [
    '交办 "卡片"\n第二行, 逗号 {花括号} \\反斜杠\\ NULL',
    "",
    "null",
    "'单引号' \t 制表符 \r 回车",
    "{}",
]


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def text_list_dumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The lengths of the lists of values psycopg dumped in text form meanwhile."""
    from psycopg.types.array import ListDumper

    calls: list[int] = []
    original = ListDumper.dump

    def counting(self: Any, obj: Any) -> Any:
        if any(value is not None for value in obj):  # all NULL: text, but nothing to quote
            calls.append(len(obj))
        return original(self, obj)

    monkeypatch.setattr(ListDumper, "dump", counting)
    yield calls


def _rows() -> list[dict[str, Any]]:
    return [
        notification_row(
            dedupe_key=f"test:{index}",
            kind="assigned",
            audience="unit",
            text=text,
            now=NOW,
            payload={"ticket": f"DB-2026-{index:06d}", "actions": ["签收", text]},
        )
        for index, text in enumerate(AWKWARD)
    ]


def test_outbox_rows_with_awkward_texts_come_back_as_they_went_in(engine: Engine) -> None:
    with session_scope(engine) as session:
        insert_plain(session, Notification.__table__, _rows(), ignore_conflicts=True)
        insert_plain(session, Notification.__table__, _rows(), ignore_conflicts=True)  # skipped
    with session_scope(engine) as session:
        stored = session.exec(select(Notification).order_by(Notification.id)).all()
    assert [n.text for n in stored] == AWKWARD
    assert [n.payload["actions"][1] for n in stored] == AWKWARD
    assert {n.created_at for n in stored} == {NOW}


@pytest.mark.postgres
def test_postgresql_gets_the_unnest_arrays_in_binary(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger import schema
    from ledger.db import make_engine

    engine = make_engine(pg_url)
    try:
        schema.upgrade(engine)
        with text_list_dumps(monkeypatch) as dumped, session_scope(engine) as session:
            insert_plain(session, Notification.__table__, _rows(), ignore_conflicts=True)
            found = select_in(
                session,
                "SELECT dedupe_key FROM notification WHERE dedupe_key {IN}",
                [f"test:{index}" for index in range(len(AWKWARD))],
                array_type="text",
            )
        assert dumped == []
        assert len(found) == len(AWKWARD)
    finally:
        engine.dispose()


def test_a_long_lookup_finds_every_value(engine: Engine) -> None:
    keys = [f"test:{index}" for index in range(len(AWKWARD))]
    asked = [*keys, *(f"absent:{index}" for index in range(2 * MAX_PARAMS))]
    with session_scope(engine) as session:
        insert_plain(session, Notification.__table__, _rows())
        with statements(engine) as seen:
            found = select_in(
                session,
                "SELECT dedupe_key FROM notification WHERE kind = {P} AND dedupe_key {IN}",
                asked[::-1],
                array_type="text",
                params=["assigned"],
            )
    assert sorted(key for (key,) in found) == keys
    # MAX_PARAMS at a time on both (a longer array can turn PostgreSQL's plan to a scan)
    assert len(seen) == 3


def _messages(engine: Engine, count: int) -> list[int]:
    from ledger.bulk import insert_rows

    rows = [
        {
            "source_kind": "online",
            "channel": "test",
            "external_id": str(index),
            "received_at": NOW,
            "raw_text": f"留言 {index}",
            "text": f"留言 {index}",
            "content_hash": f"h{index}",
            "has_time_limit": False,
            "status": MessageStatus.RECEIVED.value,
            "created_at": NOW,
        }
        for index in range(count)
    ]
    with session_scope(engine) as session:
        return insert_rows(session, Message.__table__, rows)


def test_many_messages_are_marked_in_one_statement_on_postgresql(engine: Engine) -> None:
    ids = _messages(engine, 2 * MAX_PARAMS + 5)
    with session_scope(engine) as session, statements(engine) as seen:
        mark_messages(session, ids[::-1], MessageStatus.ROUTED)
    updates = [s for s in seen if s.startswith("UPDATE")]
    assert len(updates) == (1 if engine.dialect.name == "postgresql" else 3)
    with session_scope(engine) as session:
        statuses = session.exec(select(Message.status).where(col(Message.id).in_(ids[:5]))).all()
        assert session.exec(select(func.count()).select_from(Message)).one() == len(ids)
        routed = session.exec(
            select(func.count()).where(Message.status == MessageStatus.ROUTED.value)
        ).one()
    assert set(statuses) == {MessageStatus.ROUTED.value}
    assert routed == len(ids)


def test_members_read_the_same_rows_on_both_dialects(engine: Engine) -> None:
    ids = _messages(engine, MAX_PARAMS + 3)
    asked = [*ids[::2], -1]
    with session_scope(engine) as session:
        found = [
            message_id
            for test in members(session, col(Message.id), asked)
            for message_id in session.exec(select(Message.id).where(test))
        ]
        assert list(members(session, col(Message.id), [])) == []
    assert sorted(found) == ids[::2]


def test_amounts_are_added_in_the_database_in_one_statement_on_postgresql(engine: Engine) -> None:
    """``add_to_rows``: each row gets its own amount on every named column, on top of what
    is stored (another writer's additions are kept); PostgreSQL gets one ``UPDATE … FROM
    unnest(…)`` (on the driver's cursor), not one statement per row."""
    ids = _messages(engine, 4)
    with session_scope(engine) as session:
        session.execute(update(Message).values(time_limit_days=10))
    with session_scope(engine) as session, statements(engine) as seen:
        add_to_rows(session, Message.__table__, [(ids[0], 1), (ids[2], 7)], ["time_limit_days"])
        add_to_rows(session, Message.__table__, [(ids[2], 2), (ids[3], 3)], ["time_limit_days"])
        add_to_rows(session, Message.__table__, [], ["time_limit_days"])
    with session_scope(engine) as session:
        stored = dict(session.exec(select(Message.id, Message.time_limit_days)).all())
    assert [stored[i] for i in ids] == [11, 10, 19, 13]
    updates = [s for s in seen if s.startswith("UPDATE")]
    assert len(updates) == (0 if engine.dialect.name == "postgresql" else 2)
