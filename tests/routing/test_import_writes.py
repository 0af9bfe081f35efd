"""How an import writes, on SQLite and PostgreSQL: every row with the id it was given,
duplicates linked in a few statements whatever their number, no ``INSERT … RETURNING``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import select

from duban.runtime import Runtime
from intake.items import IntakeItem
from ledger.models import Complainant, Event, Message, MessageBand, MessageStatus, Ticket
from routing.pipeline import file_items
from tests.helpers import Clock, local

BODIES = [
    "滨江花园东门外的垃圾桶已经一个星期没人清运了，味道很大，苍蝇到处飞。",
    "学府路小学门口早晚高峰乱停车，孩子上下学很不安全，希望交警来管一管。",
    "东湖路28号的烧烤摊每天营业到凌晨两点，油烟和噪音让周围居民无法休息。",
    "幸福里小区3栋电梯上个月坏了三次，物业一直拖着不修，老人上下楼太难。",
    "柳岸路和江州路交叉口的红绿灯坏了两天，车辆乱成一团，差点出事故。",
    "我在新城街道办的低保申请交上去四个月了，到现在没有任何答复。",
    "城南菜市场里有商户用不合格的秤短斤少两，多次投诉都没有结果。",
    "翠湖公园的健身器材有好几件已经断裂，露出钢筋，小孩玩耍很危险。",
]


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.clock = Clock(local(2026, 11, 20, 17))
    return runtime


@contextmanager
def statements(engine: Engine, *, many_only: bool = False) -> Iterator[list[str]]:
    """The SQL statements sent through the engine meanwhile (``COPY`` on the driver's
    own cursor is not among them); ``many_only``: those sent as ``executemany`` (on
    PostgreSQL one execution per parameter set at the server)."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if executemany or not many_only:
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_duplicates_are_linked_in_the_same_few_statements_however_many(rt: Runtime) -> None:
    originals = file_items(rt.routing, [IntakeItem(text=body) for body in BODIES])
    assert originals.opened + originals.triage == len(BODIES)
    counts = []
    for part in (BODIES[:2], BODIES[2:]):
        with statements(rt.engine) as seen:
            reposts = file_items(
                rt.routing, [IntakeItem(text="您好，再反映一次：" + b) for b in part]
            )
        assert reposts.duplicates == len(part)
        counts.append(len(seen))
    assert counts[0] == counts[1]  # 2 and 6 duplicates: the same statements
    with rt.session() as session:
        tickets = session.exec(select(Ticket)).all()
        assert [t.duplicate_count for t in tickets] == [1] * len(BODIES)
        assert {t.version for t in tickets} == {tickets[0].version}
        links = session.exec(select(Event).where(Event.action == "link_duplicate")).all()
        assert len(links) == len(BODIES)
        reposts_stored = session.exec(
            select(Message).where(Message.duplicate_of_id.is_not(None))  # type: ignore[union-attr]
        ).all()
        assert {m.status for m in reposts_stored} == {MessageStatus.ROUTED.value}
        assert {e.data["message_id"] for e in links} == {m.id for m in reposts_stored}


def test_an_import_writes_no_insert_returning(rt: Runtime) -> None:
    """On PostgreSQL the ids come from the sequence and the rows go in by ``COPY``."""
    items = [
        IntakeItem(text=body, complainant_name="张三", external_id=f"X-{i}", channel="import")
        for i, body in enumerate(BODIES)
    ]
    with statements(rt.engine) as seen:
        summary = file_items(rt.routing, items)
    assert summary.opened + summary.triage == len(BODIES)
    returning = [s for s in seen if s.startswith("INSERT") and "RETURNING" in s]
    assert [s for s in returning if not s.startswith("INSERT INTO counter")] == []


def test_rows_keep_their_ids_when_two_imports_write_at_once(rt: Runtime) -> None:
    """Ids reserved by two imports at the same moment interleave; every message's bands
    and complainant still belong to it."""

    def batch(channel: str) -> list[IntakeItem]:
        return [
            IntakeItem(
                text=f"{BODIES[i % len(BODIES)]}（{channel} 第 {i} 件，编号 {i * 7919}）",
                external_id=f"{channel}-{i}",
                channel=channel,
                complainant_name=f"{channel}-{i}",
            )
            for i in range(120)
        ]

    errors: list[BaseException] = []

    def run(channel: str) -> None:
        try:
            file_items(rt.routing, batch(channel), keep_outcomes=False)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with rt.session() as session:
        messages = {m.id: m for m in session.exec(select(Message))}
        assert len(messages) == 240
        for complainant in session.exec(select(Complainant)):
            assert complainant.name == messages[complainant.message_id].external_id
        bands = session.exec(select(MessageBand.message_id)).all()
        assert set(bands) == set(messages) and len(bands) == 8 * len(messages)


def test_a_bulk_import_collects_garbage_less_often_and_restores_the_threshold(
    rt: Runtime,
) -> None:
    import gc

    from routing.pipeline import BULK_GC_THRESHOLD

    before = gc.get_threshold()
    seen: list[int] = []

    def items() -> Iterator[IntakeItem]:
        for body in BODIES:
            seen.append(gc.get_threshold()[0])
            yield IntakeItem(text=body)

    summary = file_items(rt.routing, items(), parallel=True)
    assert summary.opened + summary.triage == len(BODIES)
    assert set(seen) == {max(BULK_GC_THRESHOLD, before[0])}
    assert gc.get_threshold() == before


class _Predictor:
    """Stands in for a loaded model: counts the texts it was asked about."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, texts: list[str]) -> list[object]:
        self.calls += 1
        return []


class _Context:
    def __init__(self) -> None:
        self.model = _Predictor()

    def predictor(self) -> _Predictor:
        return self.model


def test_a_worker_builds_the_model_once_per_model_not_per_job() -> None:
    """What a model builds on first use (the segmenter's dictionary) is built once in the
    worker when it starts or a new version is promoted, not again for every job."""
    from routing import jobs

    ctx = _Context()
    jobs.configure(lambda: ctx)  # type: ignore[arg-type, return-value]
    try:
        assert ctx.model.calls == 1
        jobs.refresh_model()
        jobs.refresh_model()
        assert ctx.model.calls == 1
        first, ctx.model = ctx.model, _Predictor()  # a new version promoted
        jobs.refresh_model()
        assert (first.calls, ctx.model.calls) == (1, 1)
    finally:
        jobs.configure(None)


def test_a_second_ticket_for_a_message_is_an_integrity_error(rt: Runtime) -> None:
    """Routing runs again when a concurrent router won the race: the unique constraint's
    error must reach it as SQLAlchemy's ``IntegrityError`` (``COPY`` is the driver's own)."""
    from sqlalchemy.exc import IntegrityError

    from ledger import tickets as T
    from ledger.bulk import OpenSpec, open_tickets

    file_items(rt.routing, [IntakeItem(text=BODIES[0])])
    with rt.session() as session:
        ticket = session.exec(select(Ticket)).one()
        message = session.get(Message, ticket.message_id)
        assert message is not None and message.id is not None
        spec = OpenSpec(
            message_id=message.id,
            source_kind=message.source_kind,
            received_at=message.received_at,
            has_time_limit=False,
            time_limit_days=None,
        )
        with pytest.raises(IntegrityError):
            open_tickets(
                session, [spec], rules=rt.routing.rules, now=rt.now(), actor=T.Actor.system("t")
            )
        session.rollback()
    with rt.session() as session:
        assert len(session.exec(select(Ticket)).all()) == 1


def test_duplicates_go_in_linked_and_postgresql_writes_no_row_at_a_time(rt: Runtime) -> None:
    """Reposts of a stored message and of an earlier item of the same batch (and a repost
    of that repost) all point at the first message of their complaint, and each original's
    ticket counts them. On PostgreSQL the links go in with the rows (their ids are taken
    from the sequence first) and the counts in one statement: nothing is sent once per row."""
    file_items(rt.routing, [IntakeItem(text=BODIES[0])])
    batch = [
        IntakeItem(text=BODIES[1]),
        IntakeItem(text="您好，再反映一次：" + BODIES[1]),
        IntakeItem(text="您好，再反映一次：" + BODIES[0]),
        IntakeItem(text="领导您好！" + BODIES[1] + "谢谢！"),
        IntakeItem(text="领导您好！" + BODIES[0] + "谢谢！"),
    ]
    with statements(rt.engine, many_only=True) as many:
        summary = file_items(rt.routing, batch)
    assert summary.duplicates == 4
    with rt.session() as session:
        messages = session.exec(select(Message).order_by(Message.id)).all()
        tickets = {t.message_id: t for t in session.exec(select(Ticket))}
    first, second = messages[0].id, messages[1].id
    assert [m.duplicate_of_id for m in messages] == [None, None, second, first, second, first]
    assert {m.status for m in messages} == {MessageStatus.ROUTED.value}
    assert sorted(tickets) == [first, second]
    assert [tickets[first].duplicate_count, tickets[second].duplicate_count] == [2, 2]
    assert tickets[first].version == tickets[second].version
    if rt.engine.dialect.name == "postgresql":
        assert many == []


def test_stored_reposts_are_found_by_core_hash_in_one_lookup_on_postgresql(rt: Runtime) -> None:
    """The stored-duplicate lookup asks by core hash within the window: a repost under
    another title, or with a greeting, is found; PostgreSQL gets the chunk's hashes in one
    statement (SQLite in parts of ``MAX_PARAMS``)."""
    from intake.store import lookup_stored, prepare
    from ledger.bulk import MAX_PARAMS

    file_items(rt.routing, [IntakeItem(text=body, title="反映问题") for body in BODIES])
    filler = [
        IntakeItem(text=f"{BODIES[i % len(BODIES)][:20]}，第 {i} 次补充说明情况，编号 {i * 7919}。")
        for i in range(MAX_PARAMS)
    ]
    reposts = [
        IntakeItem(text=BODIES[0], title="再次反映"),
        IntakeItem(text="您好，再反映一次：" + BODIES[1]),
    ]
    batch = prepare([*filler, *reposts], policy=rt.policy, now=rt.now())
    with rt.session() as session:
        stored = session.exec(select(Message.id).order_by(Message.id)).all()
        with statements(rt.engine) as seen:
            lookup_stored(session, batch, policy=rt.policy)
    assert [p.stored_original for p in batch.prepared[-2:]] == stored[:2]
    by_hash = [s for s in seen if s.startswith("SELECT id FROM message WHERE")]
    assert len(by_hash) == (1 if rt.engine.dialect.name == "postgresql" else 2)


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)  # a PostgreSQL plan
def test_known_ids_probe_the_channel_and_id_key_without_statistics(rt: Runtime) -> None:
    """An import's channel holds every message of the import: the lookup of ids already
    stored must probe the (channel, external_id) key per id, not read the channel's rows,
    even on a young ledger PostgreSQL has no statistics for yet."""
    import json

    from intake.store import known_ids

    assert rt.engine.dialect.name == "postgresql"
    items = [
        IntakeItem(text=f"{BODIES[i % len(BODIES)]}（第 {i} 件）", external_id=f"E{i}", channel="c")
        for i in range(300)
    ]
    file_items(rt.routing, items, keep_outcomes=False)
    asked = [IntakeItem(text="x", external_id=f"E{i}", channel="c") for i in range(0, 600, 3)]
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if "external_id" in statement:
            sent.append((statement, parameters))

    event.listen(rt.engine, "before_cursor_execute", record)
    try:
        with rt.session() as session:
            found = known_ids(session, asked)
            statement, parameters = sent[-1]
            cursor = session.connection().connection.driver_connection.cursor()
            cursor.execute(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            plan = json.dumps(cursor.fetchone()[0])
    finally:
        event.remove(rt.engine, "before_cursor_execute", record)
    assert len(found) == 100
    conditions = [c for c in plan.split('"Index Cond": ')[1:] if "channel" in c[:120]]
    assert conditions and all("external_id" in c[:160] for c in conditions)
