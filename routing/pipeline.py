"""From items to tickets: intake stores and commits, then routing opens the tickets.

With a queue (``DUBAN_REDIS_URL``) each new message is routed by an rq job
(``routing.jobs.route_message``) after the commit; without one the same function runs
inline. If the queue cannot be reached the message stays stored as *received* and the
sweeper enqueues it later: nothing accepted is lost.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlmodel import Session, col, select

from intake.items import IntakeItem
from intake.outcome import IntakeOutcome, triage_text
from intake.store import (
    DUPLICATE,
    KNOWN,
    NEW,
    REJECTED,
    Accepted,
    Known,
    PreparedBatch,
    Recent,
    known_ids,
    lookup_stored,
    prepare,
    store,
)
from ledger import tickets as T
from ledger.bulk import Opened, OpenSpec, link_duplicates, members, open_tickets
from ledger.directory import list_units
from ledger.models import Audience, Message, MessageStatus, Ticket, TicketState
from ledger.states import TRIAGE_STATES
from routing import notify
from routing.context import RoutingContext
from routing.enqueue import enqueue_routing
from routing.errors import DatabaseUnavailable
from routing.router import UnitIndex, decide

logger = logging.getLogger(__name__)

ROUTER = T.Actor.system("router")
CHUNK = 1000
ROUTE_ATTEMPTS = 5  # transactions tried when a concurrent router wins a race
# Waits between tries of a chunk's transaction when PostgreSQL goes away (a restart, a
# fail-over): about a minute in all, then the import stops with what it committed kept.
DB_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)

T_ = TypeVar("T_")


@dataclass
class ItemOutcome:
    row: int | None
    status: IntakeOutcome
    ticket: str | None = None
    unit: str | None = None
    unit_name: str | None = None
    confidence: float | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    due_date: str | None = None
    reason: str | None = None
    duplicate_of: str | None = None
    message_id: int | None = None
    warnings: list[str] = field(default_factory=list)
    sheet: str | None = None  # the XLSX sheet of ``row``


@dataclass
class IntakeSummary:
    received: int = 0
    opened: int = 0
    duplicates: int = 0
    triage: int = 0
    rejected: int = 0
    queued: int = 0
    known: int = 0
    outcomes: list[ItemOutcome] = field(default_factory=list)

    def add(self, outcome: ItemOutcome, *, keep: bool) -> None:
        self.received += 1
        key = {
            IntakeOutcome.OPENED: "opened",
            IntakeOutcome.TRIAGE: "triage",
            IntakeOutcome.DUPLICATE: "duplicates",
            IntakeOutcome.REJECTED: "rejected",
            IntakeOutcome.QUEUED: "queued",
            IntakeOutcome.KNOWN: "known",
        }[outcome.status]
        setattr(self, key, getattr(self, key) + 1)
        if keep or outcome.status == IntakeOutcome.REJECTED or outcome.warnings:
            self.outcomes.append(outcome)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected_rows"] = [
            {"row": o.row, "reason": o.reason} | ({"sheet": o.sheet} if o.sheet else {})
            for o in self.outcomes
            if o.status == IntakeOutcome.REJECTED
        ]
        return data


# -- the database going away ----------------------------------------------------------------------


def retrying(
    dialect: str,
    action: Callable[[], T_],
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T_:
    """Run ``action`` (one whole transaction) again while PostgreSQL cannot be reached.

    The failed attempt rolled back, so running it again stores nothing twice. SQLite waits
    for its lock inside the driver (busy timeout): it is not retried here.
    """
    if dialect == "sqlite":
        return action()
    for delay in DB_RETRY_DELAYS:
        try:
            return action()
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable (%s): %s again in %.1f s", exc.orig, what, delay)
            sleep(delay)
    try:
        return action()
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable(
            f"数据库连接中断，重试 {len(DB_RETRY_DELAYS)} 次后仍不可用：{what}未完成；"
            "数据库恢复后重新运行同一命令即可（已导入的编号不会重复登记）",
            f"database unavailable after {len(DB_RETRY_DELAYS)} retries: {exc.orig}",
        ) from exc


def _rows_of(chunk: Sequence[IntakeItem]) -> str:
    rows = [item.row for item in chunk if item.row is not None]
    if not rows:
        return f"本批 {len(chunk)} 条"
    return f"第 {min(rows)}–{max(rows)} 行" if len(rows) > 1 else f"第 {rows[0]} 行"


# -- filing -----------------------------------------------------------------------------------


def file_items(
    ctx: RoutingContext,
    items: Iterable[IntakeItem],
    *,
    keep_outcomes: bool = True,
    keep_first: int = 0,
    parallel: bool = False,
) -> IntakeSummary:
    """Store and route ``items`` in chunks (memory stays flat on big imports).

    ``keep_outcomes=False`` keeps only rejected rows and rows with warnings in the summary
    (and every one of the first ``keep_first`` rows).
    ``parallel=True`` (bulk imports) prepares and classifies the next chunk in a second
    process while this one stores and routes the current chunk; the result is the same.
    """
    summary = IntakeSummary()
    chunks_of_items = _chunks(items)
    with fewer_collections() if parallel else nullcontext():
        if parallel and (os.cpu_count() or 1) > 1:
            outcome_lists = _pipelined(ctx, chunks_of_items)
        else:
            outcome_lists = (_file_chunk(ctx, chunk) for chunk in chunks_of_items)
        for outcomes in outcome_lists:
            for outcome in outcomes:
                summary.add(outcome, keep=keep_outcomes or summary.received < keep_first)
    return summary


# A bulk import allocates millions of short-lived objects; with the default threshold (700)
# the cyclic collector runs thousands of times, each pass over everything the process holds
# (the model, the ORM's registry): 10–20 % of an import's CPU. Cycles are still collected,
# in fewer, larger passes; memory stays bounded by the chunks.
BULK_GC_THRESHOLD = 100_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while a bulk import runs (the forked preparing process
    inherits it); imports in several threads restore the threshold when the last ends."""
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(BULK_GC_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def _chunks(items: Iterable[IntakeItem]) -> Iterator[list[IntakeItem]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, CHUNK)):
        yield chunk


def _file_chunk(ctx: RoutingContext, chunk: list[IntakeItem]) -> list[ItemOutcome]:
    now = ctx.now()
    known = _known(ctx, chunk)
    batch = prepare(chunk, policy=ctx.policy, now=now, gazetteer=ctx.gazetteer, known=known)
    return _store_and_route(ctx, batch, now=now, predictions=None)


def _known(ctx: RoutingContext, chunk: list[IntakeItem]) -> dict[tuple[str, str], Known]:
    def read() -> dict[tuple[str, str], Known]:
        with ctx.session() as session:
            return known_ids(session, chunk)

    return retrying(ctx.engine.dialect.name, read, what=f"{_rows_of(chunk)}的编号查询")


def _store_and_route(
    ctx: RoutingContext,
    batch: PreparedBatch,
    *,
    now: datetime,
    predictions: dict[int, Any] | None,
    recent: Sequence[Recent] = (),
) -> list[ItemOutcome]:
    """Store a prepared chunk (one transaction), then route it or enqueue its routing.

    ``predictions`` maps an item's index in the chunk to its classifier prediction when
    it was computed beforehand (the parallel path). The chunk's transaction is tried again
    while PostgreSQL restarts; when it gives up, the chunks before stay committed and the
    error names this chunk's rows."""

    def store_chunk() -> list[Accepted]:
        with ctx.session() as session:
            return store(
                session, batch, policy=ctx.policy, now=now, gazetteer=ctx.gazetteer, recent=recent
            )

    dialect = ctx.engine.dialect.name
    accepted = retrying(
        dialect, store_chunk, what=f"{_rows_of(batch.items)}的登记（此前各批已保存）"
    )
    # Committed: from here on nothing of this chunk can be lost.
    to_route = [a.message_id for a in accepted if a.status in (NEW, DUPLICATE)]
    routed: dict[int, ItemOutcome] = {}
    if to_route:
        queue = ctx.queue()
        if queue is None:
            known_predictions = None
            if predictions is not None:
                known_predictions = {
                    accepted[index].message_id: prediction
                    for index, prediction in predictions.items()
                    if accepted[index].message_id is not None
                }
            outcomes = retrying(
                dialect,
                lambda: route_messages(ctx, to_route, predictions=known_predictions),
                what=f"{_rows_of(batch.items)}的分办（留言已保存，补发时分办）",
            )
            routed = {o.message_id: o for o in outcomes}
        else:
            enqueue_routing(queue, to_route)
    outcomes = [_outcome(a, routed) for a in accepted]
    known = [o.message_id for o in outcomes if o.status is IntakeOutcome.KNOWN and o.message_id]
    if known:
        tickets = retrying(
            dialect, lambda: _known_tickets(ctx, known), what=f"{_rows_of(batch.items)}的编号查询"
        )
        for o in outcomes:
            if o.status is IntakeOutcome.KNOWN and o.message_id in tickets:
                o.ticket = tickets[o.message_id]
    return outcomes


def _known_tickets(ctx: RoutingContext, message_ids: list[int]) -> dict[int, str]:
    """The number of the ticket each stored message is in: its own, or its original's (a
    重复件 points at the first message of its complaint). A message still being routed has
    none yet."""
    with ctx.session() as session:
        originals: dict[int, int] = {}
        for test in members(session, col(Message.id), message_ids):
            query = select(col(Message.id), col(Message.duplicate_of_id)).where(
                test, col(Message.duplicate_of_id).is_not(None)
            )
            for message_id, original in session.exec(query):
                if message_id is not None and original is not None:
                    originals[message_id] = original
        wanted = sorted({*message_ids, *originals.values()})
        numbers = {m: t.number for m, t in _tickets_of(session, wanted).items()}
    found = {}
    for message_id in message_ids:
        number = numbers.get(message_id) or numbers.get(originals.get(message_id, -1))
        if number is not None:
            found[message_id] = number
    return found


# The second process of a parallel import: its settings arrive once, when it starts (it is
# forked, so the model already in memory is not loaded or pickled again). It opens its own
# connections to the ledger: it only reads.
_WORKER: dict[str, Any] = {}
RECENT_CHUNKS = 4  # stored chunks kept in memory for the lookups that could not see them


def _start_worker(policy: Any, gazetteer: Any, predictor: Any, database_url: str) -> None:
    from ledger.db import make_engine

    _WORKER.update(
        policy=policy, gazetteer=gazetteer, predictor=predictor, engine=make_engine(database_url)
    )


def _prepare_in_worker(
    chunk: list[IntakeItem], now: datetime, known: dict[tuple[str, str], Known]
) -> tuple[PreparedBatch, dict[int, Any]]:
    policy, gazetteer = _WORKER["policy"], _WORKER["gazetteer"]
    batch = prepare(chunk, policy=policy, now=now, gazetteer=gazetteer, known=known)

    def lookup() -> None:
        with Session(_WORKER["engine"]) as session:
            lookup_stored(session, batch, policy=policy, gazetteer=gazetteer)

    engine = _WORKER["engine"]
    retrying(engine.dialect.name, lookup, what=f"{_rows_of(chunk)}的查重")
    predictor = _WORKER["predictor"]
    predictions: dict[int, Any] = {}
    if predictor is not None and batch.prepared:
        texts = [f"{p.title}\n{p.text}" if p.title else p.text for p in batch.prepared]
        for prep, prediction in zip(batch.prepared, predictor.predict(texts), strict=True):
            predictions[prep.index] = prediction
    return batch, predictions


def _pipelined(
    ctx: RoutingContext, chunks_of_items: Iterator[list[IntakeItem]]
) -> Iterator[list[ItemOutcome]]:
    """Chunk k+1 is prepared, looked up and classified in a forked process while chunk k
    is stored; what the lookup could not see yet is compared in memory."""
    predictor = ctx.predictor() if ctx.queue() is None else None
    context = multiprocessing.get_context("fork")
    url = ctx.engine.url.render_as_string(hide_password=False)
    recent: deque[list[Recent]] = deque(maxlen=RECENT_CHUNKS)
    with ProcessPoolExecutor(
        1,
        mp_context=context,
        initializer=_start_worker,
        initargs=(ctx.policy, ctx.gazetteer, predictor, url),
    ) as pool:
        pending: tuple[Future, datetime] | None = None
        for chunk in chunks_of_items:
            now = ctx.now()
            known = _known(ctx, chunk)
            future = pool.submit(_prepare_in_worker, chunk, now, known)
            if pending is not None:
                yield _finish(ctx, *pending, have_predictor=predictor is not None, recent=recent)
            pending = (future, now)
        if pending is not None:
            yield _finish(ctx, *pending, have_predictor=predictor is not None, recent=recent)


def _finish(
    ctx: RoutingContext,
    future: Future,
    now: datetime,
    *,
    have_predictor: bool,
    recent: deque[list[Recent]],
) -> list[ItemOutcome]:
    batch, predictions = future.result()
    outcomes = _store_and_route(
        ctx,
        batch,
        now=now,
        predictions=predictions if have_predictor else None,
        recent=[item for stored in recent for item in stored],
    )
    recent.append(batch.stored)
    return outcomes


def _outcome(accepted: Accepted, routed: dict[int, ItemOutcome]) -> ItemOutcome:
    item = accepted.item
    if accepted.status == REJECTED:
        return ItemOutcome(
            row=item.row,
            status=IntakeOutcome.REJECTED,
            reason=accepted.reason,
            warnings=accepted.warnings,
            sheet=item.sheet,
        )
    if accepted.status == KNOWN:
        return ItemOutcome(
            row=item.row,
            sheet=item.sheet,
            status=IntakeOutcome.KNOWN,
            message_id=accepted.message_id,
            reason="已导入过（相同编号），未重复登记",
        )
    outcome = routed.get(accepted.message_id or -1)
    if outcome is None:  # routed by a job later
        return ItemOutcome(
            row=item.row,
            sheet=item.sheet,
            status=IntakeOutcome.QUEUED,
            message_id=accepted.message_id,
            warnings=accepted.warnings,
        )
    outcome.row, outcome.sheet = item.row, item.sheet
    outcome.warnings = accepted.warnings
    return outcome


# -- routing ------------------------------------------------------------------------------------


def route_messages(
    ctx: RoutingContext, message_ids: list[int], *, predictions: dict[int, Any] | None = None
) -> list[ItemOutcome]:
    """Open (or find) the ticket of each message: idempotent, one transaction per call.

    Running it twice for a message makes one ticket (a unique constraint backs this up
    between concurrent workers); a 重复件 joins its original's ticket once that exists.
    When another router (a worker, an inline sweep) opened some of these tickets between
    our read and our commit, the transaction is rolled back and run again: it then finds
    them opened.
    """
    attempt = 1
    while True:
        try:
            return _route_once(ctx, message_ids, predictions=predictions)
        except IntegrityError as exc:
            if attempt >= ROUTE_ATTEMPTS:
                raise
            attempt += 1
            logger.info("concurrent routing of the same messages (%s); again", exc.orig)


def _route_once(
    ctx: RoutingContext, message_ids: list[int], *, predictions: dict[int, Any] | None
) -> list[ItemOutcome]:
    now = ctx.now()
    with ctx.session() as session:
        units = UnitIndex(list_units(session))
        rows = _load(session, message_ids)
        existing = _tickets_of(session, [row.id for row in rows])
        fresh = [
            r for r in rows if r.status == MessageStatus.RECEIVED.value and r.id not in existing
        ]
        decisions = decide(
            fresh,
            units=units,
            rules=ctx.route_rules(),
            predictor=ctx.predictor() if fresh else None,
            threshold=ctx.policy.routing.confidence_threshold,
            predictions=predictions,
        )
        specs = [
            OpenSpec(
                message_id=r.id,
                source_kind=r.source_kind,
                received_at=r.received_at,
                has_time_limit=r.has_time_limit,
                time_limit_days=r.time_limit_days,
                unit=d.unit,
                routed_by=d.routed_by,
                classifier_version=d.classifier_version,
                confidence=d.confidence,
                suggestions=d.suggestions,
            )
            for r, d in zip(fresh, decisions, strict=True)
        ]
        opened = open_tickets(session, specs, rules=ctx.rules, now=now, actor=ROUTER)
        _notify_opened(session, fresh, specs, opened, ctx=ctx, now=now)
        outcomes = {
            o.message_id: _opened_outcome(o, spec) for o, spec in zip(opened, specs, strict=True)
        }
        duplicates = [r for r in rows if r.id not in outcomes and r.duplicate_of_id is not None]
        outcomes.update(_link(session, duplicates, now=now))
        for row in rows:
            if row.id not in outcomes and row.id in existing:
                outcomes[row.id] = _existing_outcome(existing[row.id], units)
        _link_waiting(session, [r.id for r in fresh], now=now)
    if fresh:
        ctx.nudge()  # committed: the cards can go out now
    return [outcomes[r.id] for r in rows if r.id in outcomes]


def _load(session: Session, ids: list[int]) -> list[Any]:
    """The columns routing needs, as light rows (no ORM objects: this runs per batch)."""
    found: list[Any] = []
    columns = (
        Message.id,
        Message.status,
        Message.title,
        Message.text,
        Message.unit_text,
        Message.source_kind,
        Message.received_at,
        Message.has_time_limit,
        Message.time_limit_days,
        Message.duplicate_of_id,
    )
    for test in members(session, col(Message.id), sorted(set(ids))):
        found.extend(session.exec(select(*columns).where(test)))
    return found


def _tickets_of(session: Session, message_ids: list[int]) -> dict[int, Ticket]:
    found: dict[int, Ticket] = {}
    for test in members(session, col(Ticket.message_id), message_ids):
        for ticket in session.exec(select(Ticket).where(test)):
            found[ticket.message_id] = ticket
    return found


def _notify_opened(
    session: Session,
    rows: list[Any],
    specs: list[OpenSpec],
    opened: list[Opened],
    *,
    ctx: RoutingContext,
    now: datetime,
) -> None:
    """The 交办 card for each assigned ticket, a 待分办 notice for each one in triage."""
    notices = []
    phrases: dict[Any, str] = {}  # a batch shares a handful of deadlines
    for row, spec, ticket in zip(rows, specs, opened, strict=True):
        deadline = ticket.deadline
        if spec.unit is not None:
            phrase = phrases.get(deadline)
            if phrase is None:
                phrase = phrases[deadline] = notify.phrase_for(
                    deadline.due_date, deadline.due_at, deadline.provisional, ctx.rules, now
                )
            text = notify.compose_card(
                heading="交办",
                number=ticket.number,
                source_kind=spec.source_kind,
                received_on=ctx.rules.local_date(row.received_at),
                deadline=phrase,
                title=row.title,
                text=row.text,
                unit_text=row.unit_text,
            )
            notices.append(
                notify.row(
                    dedupe_key=f"assigned:{ticket.ticket_id}:{ticket.assign_event_id}",
                    kind="assigned",
                    audience=Audience.UNIT,
                    unit_id=spec.unit.id,
                    ticket_id=ticket.ticket_id,
                    text=text,
                    now=now,
                    payload={
                        "ticket": ticket.number,
                        "actions": notify.unit_actions(ticket.number),
                    },
                )
            )
        else:
            text, actions = triage_text(
                ticket.number, spec.suggestions, reason="置信度不足，请人工分办", content=row.text
            )
            notices.append(
                notify.row(
                    dedupe_key=f"triage:{ticket.ticket_id}:1",
                    kind="triage",
                    audience=Audience.INTAKE,
                    ticket_id=ticket.ticket_id,
                    text=text,
                    now=now,
                    payload={"ticket": ticket.number, "actions": actions},
                )
            )
    notify.insert_rows(session, notices)


def triage_notice(
    session: Session, ticket: Ticket, *, ctx: RoutingContext, now: datetime, reason: str
) -> None:
    """Tell the intake desk a ticket waits in the triage queue, with the top suggestions."""
    message = session.get(Message, ticket.message_id)
    text, actions = triage_text(
        ticket.number,
        ticket.suggestions,
        reason=reason,
        content=message.text if message else None,
    )
    notify.write(
        session,
        dedupe_key=f"triage:{ticket.id}:{ticket.version}",
        kind="triage",
        audience=Audience.INTAKE,
        ticket=ticket,
        now=now,
        text=text,
        payload={"ticket": ticket.number, "actions": actions},
    )


def _opened_outcome(opened: Opened, spec: OpenSpec) -> ItemOutcome:
    unit = spec.unit
    return ItemOutcome(
        row=None,
        status=IntakeOutcome.OPENED if unit is not None else IntakeOutcome.TRIAGE,
        ticket=opened.number,
        unit=unit.code if unit else None,
        unit_name=unit.short_name if unit else None,
        confidence=spec.confidence,
        suggestions=spec.suggestions,
        due_date=opened.deadline.due_date.isoformat(),
        message_id=opened.message_id,
    )


def _existing_outcome(ticket: Ticket, units: UnitIndex) -> ItemOutcome:
    unit = next((u for u in units.units if u.id == ticket.unit_id), None)
    in_triage = TicketState(ticket.state) in TRIAGE_STATES
    return ItemOutcome(
        row=None,
        status=IntakeOutcome.TRIAGE if in_triage else IntakeOutcome.OPENED,
        ticket=ticket.number,
        unit=unit.code if unit else None,
        unit_name=unit.short_name if unit else None,
        confidence=ticket.confidence,
        suggestions=ticket.suggestions,
        due_date=ticket.due_date.isoformat(),
        message_id=ticket.message_id,
    )


def _link(session: Session, duplicates: list[Any], *, now: datetime) -> dict[int, ItemOutcome]:
    """重复件 (rows with ``id``, ``duplicate_of_id`` and ``status``): each joins its
    original's ticket once that exists — all of them in a few statements."""
    tickets: dict[int, Ticket] = {}
    originals = sorted({row.duplicate_of_id for row in duplicates})
    for test in members(session, col(Ticket.message_id), originals):
        for ticket in session.exec(select(Ticket).where(test)):
            tickets[ticket.message_id] = ticket
    outcomes: dict[int, ItemOutcome] = {}
    links: list[tuple[int, Ticket]] = []
    for row in duplicates:
        original = tickets.get(row.duplicate_of_id)
        if original is None:  # the original is still being routed; it links this one later
            outcomes[row.id] = ItemOutcome(
                row=None, status=IntakeOutcome.DUPLICATE, message_id=row.id
            )
            continue
        if row.status == MessageStatus.DUPLICATE.value:
            links.append((row.id, original))
        outcomes[row.id] = ItemOutcome(
            row=None,
            status=IntakeOutcome.DUPLICATE,
            duplicate_of=original.number,
            ticket=original.number,
            message_id=row.id,
            due_date=original.due_date.isoformat(),
        )
    link_duplicates(session, links, actor=ROUTER, now=now)
    return outcomes


def _link_waiting(session: Session, original_ids: list[int], *, now: datetime) -> None:
    """Duplicates that arrived before their original had a ticket join it now."""
    waiting: list[Any] = []
    for test in members(session, col(Message.duplicate_of_id), original_ids):
        waiting.extend(
            session.exec(
                select(Message.id, Message.duplicate_of_id, Message.status)
                .where(test)
                .where(Message.status == MessageStatus.DUPLICATE.value)
            )
        )
    _link(session, sorted(waiting, key=lambda row: row.id), now=now)
