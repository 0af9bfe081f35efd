"""Accepting items into the ledger: clean, normalise, dedupe, redact, store — in batches.

Nothing accepted is lost: every item either becomes a stored ``Message`` (new or a
重复件 linked to its original) or is reported back with the reason it was refused.
The caller commits; routing happens after the commit.

The work is done a batch at a time with a handful of queries and bulk inserts (no
per-row ORM objects), so a 100,000-row import runs at thousands of rows a second; a
single pasted message goes through the very same code as a batch of one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy import bindparam, update
from sqlmodel import Session, col, func, select

from classifier.normalise import normalise_text
from intake.clean import raw_rejection, rejection
from intake.dedupe import (
    BANDS,
    Fingerprint,
    content_hash,
    core_text,
    fingerprints,
    shingles_of,
    similar,
)
from intake.display import for_reading
from intake.items import TITLE_AS_TEXT_CHARS, IntakeItem
from intake.places import EMPTY, Gazetteer, different_places
from intake.redact import redact
from ledger.bulk import driver_value, insert_plain, insert_rows, reserve_ids, select_in
from ledger.models import (
    Complainant,
    Message,
    MessageBand,
    MessageStatus,
    Ticket,
    TicketState,
    column_size,
)
from ledger.policy import MAX_TIME_LIMIT_DAYS, Policy

logger = logging.getLogger(__name__)

NEW, KNOWN, DUPLICATE, REJECTED = "new", "known", "duplicate", "rejected"
MAX_PARAMS = 900  # SQLite's bound-parameter limit is generous, but keep IN lists modest
MAX_CANDIDATES = 12  # stored near-duplicate candidates examined per item
CLOCK_SKEW = timedelta(days=1)  # a message "received" later than now + this: a typo
Known = tuple[int, str | None]  # a stored message's id and content hash


@dataclass
class Accepted:
    """What became of one item."""

    item: IntakeItem
    status: str  # new | known | duplicate | rejected
    message_id: int | None = None
    original_id: int | None = None  # for a duplicate: the first message of the complaint
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Prepared:
    """An item that passed the checks, ready to be stored."""

    index: int
    item: IntakeItem
    text: str
    title: str | None
    unit_text: str | None
    received_at: datetime
    places: frozenset[str]
    stored_original: int | None = None  # the original found among stored messages
    original_id: int | None = None  # the original in the end (stored, recent or this batch)
    fp: Fingerprint = field(init=False)  # set by ``prepare``, for the whole batch at once


@dataclass
class PreparedBatch:
    """Items after the checks that need no database: ready for ``store``.

    ``prepare`` is pure (it can run in another process); ``store`` does the rest in the
    caller's transaction. ``accept`` is the two in a row.
    """

    items: list[IntakeItem]
    done: dict[int, Accepted]  # index -> refused (or known) before storing
    prepared: list[_Prepared]
    # Set by ``lookup_stored``: the newest message id the lookup could see. Messages
    # stored after it are compared in memory (``store``'s ``recent``).
    seen_up_to: int | None = None
    stored: list[Recent] = field(default_factory=list)  # what ``store`` stored, for later


@dataclass
class Recent:
    """A message stored by an earlier batch of the same import, kept in memory."""

    message_id: int
    root_id: int
    received_at: datetime
    fp: Fingerprint
    places: frozenset[str]


def accept(
    session: Session,
    items: Iterable[IntakeItem],
    *,
    policy: Policy,
    now: datetime,
    gazetteer: Gazetteer = EMPTY,
) -> list[Accepted]:
    """Store ``items``; returns one ``Accepted`` per item, in order. The caller commits.

    ``gazetteer`` holds the district's place names: same words about different places
    are not duplicates."""
    batch = list(items)
    known = known_ids(session, batch)
    return store(
        session,
        prepare(batch, policy=policy, now=now, gazetteer=gazetteer, known=known),
        policy=policy,
        now=now,
        gazetteer=gazetteer,
    )


def prepare(
    items: list[IntakeItem],
    *,
    policy: Policy,
    now: datetime,
    gazetteer: Gazetteer = EMPTY,
    known: dict[tuple[str, str], Known] | None = None,
) -> PreparedBatch:
    """Clean, normalise, fingerprint and redact ``items`` (no database, no side effects).

    ``known`` maps (channel, external id) of messages already stored to their id and
    content hash: an item with the same content is reported as known and not prepared
    again; one with other content under the same id is refused with the reason (two
    platforms numbering alike, or an edited export) — never dropped silently.
    """
    known = known or {}
    done: dict[int, Accepted] = {}
    prepared: list[_Prepared] = []
    seen: dict[tuple[str, str], tuple[IntakeItem, str]] = {}  # earlier in this batch
    for index, item in enumerate(items):
        _fit_columns(item)
        key = (item.channel, item.external_id) if item.external_id else None
        if item.reject_reason:
            done[index] = Accepted(
                item, REJECTED, reason=item.reject_reason, warnings=list(item.warnings)
            )
        elif key and key in known:
            message_id, stored_hash = known[key]
            if stored_hash and _content_hash(item) != stored_hash:
                done[index] = Accepted(
                    item, REJECTED, reason=_id_conflict(item), warnings=list(item.warnings)
                )
            else:
                done[index] = Accepted(item, KNOWN, message_id=message_id)
        elif key and key in seen:  # the same id twice in one batch
            first, first_hash = seen[key]
            if _content_hash(item) != first_hash:
                where = f"第 {first.row} 行" if first.row is not None else "前面一条"
                done[index] = Accepted(
                    item, REJECTED, reason=_id_conflict(item, where), warnings=list(item.warnings)
                )
            else:
                done[index] = Accepted(item, KNOWN)
        else:
            outcome = _prepare(index, item, policy=policy, now=now, gazetteer=gazetteer)
            if isinstance(outcome, Accepted):
                done[index] = outcome
            else:
                prepared.append(outcome)
                if key:
                    seen[key] = (item, content_hash(outcome.text, outcome.title))
    for prep, fp in zip(prepared, fingerprints([(p.text, p.title) for p in prepared]), strict=True):
        prep.fp = fp
    return PreparedBatch(items=items, done=done, prepared=prepared)


@cache
def _column_limits() -> dict[str, int]:
    """The lengths ``_fit_columns`` checks, read once from the tables."""
    return {
        "external_id": column_size(Message, "external_id"),
        "channel": column_size(Message, "channel"),
        "submitter": column_size(Message, "submitter"),
        "complainant_name": column_size(Complainant, "name"),
        "complainant_contact": column_size(Complainant, "contact"),
    }


def _fit_columns(item: IntakeItem) -> None:
    """Values longer than their ledger column (PostgreSQL would fail the whole chunk): an
    id becomes its hash (still the same id on a re-import), a name or contact is cut with a
    warning, a channel or submitter is cut."""
    limits = _column_limits()
    if item.external_id and len(item.external_id) > limits["external_id"]:
        digest = hashlib.sha256(item.external_id.encode("utf-8")).hexdigest()
        item.external_id = f"sha256:{digest}"
    for field_name in ("channel", "submitter"):
        value, limit = getattr(item, field_name), limits[field_name]
        if value and len(value) > limit:
            setattr(item, field_name, value[:limit])
    for field_name, label in (
        ("complainant_name", "留言用户"),
        ("complainant_contact", "联系方式"),
    ):
        value, limit = getattr(item, field_name), limits[field_name]
        if value and len(value) > limit:
            setattr(item, field_name, value[:limit])
            item.warnings.append(f"{label}超过 {limit} 个字符，只保留前 {limit} 个")


def _normalised(item: IntakeItem) -> tuple[str, str | None]:
    """The item's (text, title) as stored: normalised; a long title with no text is the
    text (some exports put the message in the title)."""
    text = normalise_text(item.text or "")
    title = normalise_text(item.title) or None
    if not text and title and len(title) >= TITLE_AS_TEXT_CHARS:
        text, title = title, None
    return text, title


def _content_hash(item: IntakeItem) -> str:
    """The content hash ``_prepare`` would give the item (to compare with a stored one)."""
    return content_hash(*_normalised(item))


def _id_conflict(item: IntakeItem, where: str = "台账中") -> str:
    return (
        f"编号「{item.external_id}」{where}已登记过，但内容不同，本行未登记"
        f"（来自另一平台的导出请用 --channel 区分；原留言有修改请在原件上补充）"
    )


def store(
    session: Session,
    batch: PreparedBatch,
    *,
    policy: Policy,
    now: datetime,
    gazetteer: Gazetteer = EMPTY,
    recent: Sequence[Recent] = (),
) -> list[Accepted]:
    """Store a prepared batch: duplicates found, messages inserted. The caller commits.

    ``recent`` are messages stored by the batches just before this one that its
    ``lookup_stored`` (done ahead, in another process) could not see yet."""
    results: dict[int, Accepted] = dict(batch.done)
    # A transaction retried after the database went away starts over: forget what the
    # rolled-back attempt stored.
    batch.stored.clear()
    for prep in batch.prepared:
        prep.original_id = None
    if batch.seen_up_to is None:
        lookup_stored(session, batch, policy=policy, gazetteer=gazetteer)
    # Known again here: another import may have stored some since ``prepare`` ran.
    known = known_ids(session, [p.item for p in batch.prepared])
    prepared = []
    for prep in batch.prepared:
        key = (prep.item.channel, prep.item.external_id)
        if prep.item.external_id and key in known:  # stored meanwhile (or an earlier chunk)
            message_id, stored_hash = known[key]
            if stored_hash and stored_hash != prep.fp.content_hash:
                results[prep.index] = Accepted(
                    prep.item,
                    REJECTED,
                    reason=_id_conflict(prep.item),
                    warnings=list(prep.item.warnings),
                )
            else:
                results[prep.index] = Accepted(prep.item, KNOWN, message_id=message_id)
        else:
            prepared.append(prep)
    if prepared:
        unseen = [r for r in recent if r.message_id > (batch.seen_up_to or 0)]
        _find_originals(prepared, unseen, policy=policy)
        ids = _insert(session, prepared, now=now)
        for prep, message_id in zip(prepared, ids, strict=True):
            status = DUPLICATE if prep.original_id is not None else NEW
            results[prep.index] = Accepted(
                prep.item,
                status,
                message_id=message_id,
                original_id=prep.original_id,
                warnings=list(prep.item.warnings),
            )
            batch.stored.append(
                Recent(
                    message_id,
                    prep.original_id or message_id,
                    prep.received_at,
                    prep.fp,
                    prep.places,
                )
            )
    return [results[index] for index in range(len(batch.items))]


def lookup_stored(
    session: Session, batch: PreparedBatch, *, policy: Policy, gazetteer: Gazetteer = EMPTY
) -> None:
    """The database half of duplicate detection: each prepared item's original among the
    stored messages. It reads only, so a parallel import runs it in its second process,
    on its own connection, while the previous batch is being stored."""
    batch.seen_up_to = session.exec(select(func.max(Message.id))).one() or 0
    if not batch.prepared:
        return
    window = timedelta(days=policy.routing.duplicate_window_days)
    since = min(p.received_at for p in batch.prepared) - window
    threshold = policy.routing.near_duplicate_similarity
    stored = _stored_candidates(session, batch.prepared, since, gazetteer)
    for prep in batch.prepared:
        prep.stored_original = _stored_match(prep, stored, window, threshold)


def _prepare(
    index: int, item: IntakeItem, *, policy: Policy, now: datetime, gazetteer: Gazetteer
) -> _Prepared | Accepted:
    raw_text = item.text or ""
    unreadable = raw_rejection(f"{item.title or ''}\n{raw_text}")
    if unreadable:
        return Accepted(item, REJECTED, reason=unreadable, warnings=list(item.warnings))
    text, title = _normalised(item)
    reason = rejection(raw_text, text, max_chars=policy.intake.max_message_chars)
    days = item.time_limit_days
    if not reason and days is not None and not 1 <= days <= MAX_TIME_LIMIT_DAYS:
        reason = f"限办时限 {days} 个工作日不合理（应在 1 到 {MAX_TIME_LIMIT_DAYS} 之间）"
    if reason:
        return Accepted(item, REJECTED, reason=reason, warnings=list(item.warnings))
    received_at = item.received_at or now
    if received_at > now + CLOCK_SKEW:  # 2091 for 2019: a deadline decades away
        item.warnings.append("留言时间晚于导入时间，按导入时间登记")
        received_at = now
    unit_text = None
    if policy.intake.redact_for_units:
        shown = f"{title}\n{text}" if title else text
        unit_text = for_reading(
            redact(
                shown,
                names=[item.complainant_name or ""],
                contacts=[item.complainant_contact or ""],
            )
        )
    return _Prepared(
        index=index,
        item=item,
        text=text,
        title=title,
        unit_text=unit_text,
        received_at=received_at,
        places=gazetteer.mentions(f"{title or ''}{text}"),
    )


def known_ids(session: Session, batch: list[IntakeItem]) -> dict[tuple[str, str], Known]:
    """(channel, external id) -> (message id, content hash) of the items already stored."""
    keys = {(i.channel, i.external_id) for i in batch if i.external_id}
    found: dict[tuple[str, str], Known] = {}
    postgres = session.get_bind().dialect.name == "postgresql"
    for channel in {channel for channel, _ in keys}:
        ids = sorted(external for ch, external in keys if ch == channel)
        if postgres:
            # Each id probes the (channel, external_id) key (LIMIT 1: it is unique, and it
            # keeps the subquery a probe). As '= ANY', or a join, a young ledger without
            # statistics had the planner read every message of the channel and filter
            # them: an import's channel holds all of them (9-11 ms per 900 ids at 11k
            # messages and growing, against 1.3 ms; up to 140 ms per chunk in the bench).
            rows: list[Any] = list(
                session.connection().exec_driver_sql(
                    "SELECT m.id, m.external_id, m.content_hash FROM unnest(%b::text[]) AS v(e)"
                    " CROSS JOIN LATERAL (SELECT id, external_id, content_hash FROM message"
                    " WHERE channel = %s AND external_id = v.e LIMIT 1) AS m",
                    (ids, channel),
                )
            )
            found.update({(channel, ext): (mid, digest) for mid, ext, digest in rows})
            continue
        rows = select_in(
            session,
            "SELECT id, external_id, content_hash FROM message"
            " WHERE channel = {P} AND external_id {IN}",
            ids,
            array_type="text",
            params=[channel],
        )
        found.update({(channel, external): (mid, digest) for mid, external, digest in rows})
    return found


# -- duplicates ----------------------------------------------------------------------------------


def _find_originals(prepared: list[_Prepared], recent: list[Recent], *, policy: Policy) -> None:
    """Set ``original_id``: the stored original if ``lookup_stored`` found one, else one of
    the ``recent`` messages, else an earlier item of this batch."""
    window = timedelta(days=policy.routing.duplicate_window_days)
    threshold = policy.routing.near_duplicate_similarity
    # In memory: what recent messages and earlier items of this batch look like. Positions
    # below len(recent) are recent messages, the others items of this batch.
    pool: list[Recent | _Prepared] = list(recent)
    by_hash: dict[str, int] = {}
    by_band: dict[int, list[int]] = {}

    def remember(position: int, fp: Fingerprint) -> None:
        by_hash.setdefault(fp.content_hash, position)
        by_hash.setdefault(fp.core_hash, position)
        for value in fp.bands:
            by_band.setdefault(value, []).append(position)

    for position, item in enumerate(recent):
        remember(position, item.fp)
    for prep in prepared:
        position = len(pool)
        if prep.stored_original is not None:
            prep.original_id = prep.stored_original
        else:
            match = _memory_match(prep, pool, by_hash, by_band, window, threshold)
            if match is not None:
                earlier = pool[match]
                if isinstance(earlier, Recent):
                    prep.original_id = earlier.root_id
                else:  # an earlier item of this batch: resolved to its id after insert
                    prep.original_id = -(match - len(recent) + 1)
        pool.append(prep)
        remember(position, prep.fp)


def _memory_match(
    prep: _Prepared,
    pool: list[Recent | _Prepared],
    by_hash: dict[str, int],
    by_band: dict[int, list[int]],
    window: timedelta,
    threshold: float,
) -> int | None:
    def usable(position: int) -> bool:
        return prep.received_at - window <= pool[position].received_at

    for key in (prep.fp.content_hash, prep.fp.core_hash):
        position = by_hash.get(key)
        if position is not None and usable(position):
            return position
    if len(prep.fp.core) < 12:
        return None
    seen: set[int] = set()
    for value in prep.fp.bands:
        for position in by_band.get(value, []):
            if position in seen or not usable(position):
                continue
            seen.add(position)
            earlier = pool[position]
            if different_places(prep.places, earlier.places):
                continue
            if similar(prep.fp.shingles, earlier.fp.shingles, threshold=threshold):
                return position
    return None


@dataclass
class _Candidate:
    id: int
    root_id: int
    received_at: datetime
    content_hash: str
    core_hash: str | None
    shingles: np.ndarray
    places: frozenset[str]
    bands: set[int] = field(default_factory=set)


def _stored_candidates(
    session: Session, prepared: list[_Prepared], since: datetime, gazetteer: Gazetteer
) -> dict[str, list[_Candidate]]:
    """Stored messages sharing a hash or an LSH band with any prepared item, by key.

    By the core hash only: the same text always has the same core (whatever its title),
    and a stored message found by it is keyed under its content hash too, so
    ``_stored_match`` still finds an exact repost first. (A lookup by content hash as well
    found nothing more and cost the server as much again.)"""
    cores = sorted({p.fp.core_hash for p in prepared})
    ids: set[int] = set()
    after = driver_value(session, Message.received_at, since)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # One array for the chunk: the (core_hash, received_at) index bounds each hash to
        # the duplicate window, so the planner has no reason to scan the window instead
        # (it did for 900-hash parts on the single-column index of a young ledger: 6
        # statements, ~50 ms per 1,000 messages, against ~2-7 ms).
        found: list[Any] = list(
            connection.exec_driver_sql(
                "SELECT id FROM message WHERE core_hash = ANY(%b::text[]) AND received_at >= %s",
                (cores, after),
            )
        )
    else:
        found = select_in(
            session,
            "SELECT id FROM message WHERE received_at >= {P} AND core_hash {IN}",
            cores,
            array_type="text",
            params=[after],
        )
    ids.update(message_id for (message_id,) in found)
    bands = sorted({b for p in prepared for b in p.fp.bands})
    band_hits: dict[int, set[int]] = {}
    if connection.dialect.name == "postgresql":
        # One statement for the chunk's bands, each value probing the (value, day) index on
        # its own (LATERAL): as one '= ANY' array the planner scanned the whole table of a
        # large ledger, and 900-value parts cost a plan each (server CPU per 20k messages
        # 5.4-5.8 -> 4.7-5.1 s in bench/pipeline.py).
        rows: list[Any] = list(
            connection.exec_driver_sql(
                "SELECT b.message_id, b.value FROM unnest(%b::bigint[]) AS v(value)"
                " CROSS JOIN LATERAL (SELECT message_id, value FROM messageband"
                " WHERE value = v.value AND day >= %s) AS b",
                (bands, epoch_day(since)),
            )
        )
    else:
        rows = select_in(
            session,
            "SELECT message_id, value FROM messageband WHERE day >= {P} AND value {IN}",
            bands,
            array_type="bigint",
            params=[epoch_day(since)],
        )
    for message_id, value in rows:
        band_hits.setdefault(message_id, set()).add(value)
    ids.update(_best_band_hits(prepared, band_hits))
    if not ids:
        return {}
    candidates: dict[str, list[_Candidate]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), MAX_PARAMS):
        rows = list(
            session.exec(
                select(
                    Message.id,
                    Message.duplicate_of_id,
                    Message.received_at,
                    Message.content_hash,
                    Message.core_hash,
                    Message.title,
                    Message.text,
                )
                .where(col(Message.id).in_(ordered[start : start + MAX_PARAMS]))
                .where(Message.received_at >= since)
            )
        )
        codes = shingles_of([core_text(row.text) for row in rows])
        for (mid, dup_of, received_at, chash, corehash, title, text), trigrams in zip(
            rows, codes, strict=True
        ):
            cand = _Candidate(
                mid,
                dup_of or mid,
                received_at,
                chash,
                corehash,
                trigrams,
                gazetteer.mentions(f"{title or ''}{text}"),
                band_hits.get(mid, set()),
            )
            for key in (chash, corehash, *(f"b{b}" for b in cand.bands)):
                if key:
                    candidates.setdefault(key, []).append(cand)
    archived = _archived_roots(session, {c.root_id for cs in candidates.values() for c in cs})
    return {key: [c for c in cs if c.root_id not in archived] for key, cs in candidates.items()}


def epoch_day(moment: datetime) -> int:
    """Days since 1970-01-01 (UTC) of an aware moment: the LSH bands' time key."""
    return int(moment.timestamp() // 86400)


def _best_band_hits(prepared: list[_Prepared], band_hits: dict[int, set[int]]) -> set[int]:
    """For each item, the stored messages sharing the most LSH bands with it (at most
    ``MAX_CANDIDATES``): the likeliest near-duplicates, found without reading every text
    that shares one band by chance in a large ledger."""
    by_value: dict[int, list[int]] = {}
    for message_id, values in band_hits.items():
        for value in values:
            by_value.setdefault(value, []).append(message_id)
    chosen: set[int] = set()
    for prep in prepared:
        shared: dict[int, int] = {}
        for value in prep.fp.bands:
            for message_id in by_value.get(value, ()):
                shared[message_id] = shared.get(message_id, 0) + 1
        best = sorted(shared, key=lambda mid: (-shared[mid], -mid))[:MAX_CANDIDATES]
        chosen.update(best)
    return chosen


def _archived_roots(session: Session, roots: set[int]) -> set[int]:
    """Roots whose ticket is archived: a complaint made again after closing is new."""
    found: set[int] = set()
    ordered = sorted(roots)
    for start in range(0, len(ordered), MAX_PARAMS):
        found.update(
            session.exec(
                select(Ticket.message_id)
                .where(col(Ticket.message_id).in_(ordered[start : start + MAX_PARAMS]))
                .where(Ticket.state == TicketState.ARCHIVED.value)
            )
        )
    return found


def _stored_match(
    prep: _Prepared, stored: dict[str, list[_Candidate]], window: timedelta, threshold: float
) -> int | None:
    def in_window(candidate: _Candidate) -> bool:
        return prep.received_at - window <= candidate.received_at

    for key in (prep.fp.content_hash, prep.fp.core_hash):
        exact = [c for c in stored.get(key, []) if in_window(c)]
        if exact:
            return min(c.root_id for c in exact)
    if len(prep.fp.core) < 12:
        return None
    seen: set[int] = set()
    for value in prep.fp.bands:
        for candidate in stored.get(f"b{value}", []):
            if candidate.id in seen or not in_window(candidate):
                continue
            seen.add(candidate.id)
            if different_places(prep.places, candidate.places):
                continue
            if similar(prep.fp.shingles, candidate.shingles, threshold=threshold):
                return candidate.root_id
    return None


# -- storing -------------------------------------------------------------------------------------


def _insert(session: Session, prepared: list[_Prepared], *, now: datetime) -> list[int]:
    """Bulk-insert the messages, their LSH bands and complainants; returns the new ids."""
    rows = []
    for prep in prepared:
        item = prep.item
        rows.append(
            {
                "source_kind": item.source_kind.value,
                "channel": item.channel,
                "external_id": item.external_id,
                "received_at": prep.received_at,
                "submitter": item.submitter,
                "title": prep.title,
                "raw_text": item.text if not item.title else f"{item.title}\n{item.text or ''}",
                "text": prep.text,
                "unit_text": prep.unit_text,
                "content_hash": prep.fp.content_hash,
                "core_hash": prep.fp.core_hash,
                "duplicate_of_id": None,
                "has_time_limit": item.has_time_limit or item.time_limit_days is not None,
                "time_limit_days": item.time_limit_days,
                "status": MessageStatus.RECEIVED.value,
                "created_at": now,
            }
        )
    table = Message.__table__
    # A duplicate's link goes in with its row. Its original is a stored message, or an
    # earlier item of this batch whose id PostgreSQL gives out first (taken from the
    # sequence); on SQLite those ids are known after the insert, so the few duplicates of
    # an earlier item of the same batch are linked by an UPDATE then.
    postgres = session.get_bind().dialect.name != "sqlite"
    ids = reserve_ids(session, table, len(rows)) if postgres else []
    later = []
    for position, (prep, row) in enumerate(zip(prepared, rows, strict=True)):
        original = prep.original_id
        if original is not None and original < 0:  # an earlier item: resolved in order
            earlier = prepared[-original - 1]
            if earlier.original_id is not None and earlier.original_id > 0:
                original = earlier.original_id
            elif postgres:
                original = ids[-original - 1]
            else:
                later.append(position)
                continue
        prep.original_id = original
        if original is not None:
            row["duplicate_of_id"] = original
            row["status"] = MessageStatus.DUPLICATE.value
    if postgres:
        insert_plain(session, table, [{"id": i, **row} for i, row in zip(ids, rows, strict=True)])
    else:
        ids = insert_rows(session, table, rows)
    links = []
    for position in later:  # SQLite: an earlier item of this batch is its original
        prep = prepared[position]
        earlier_position = -(prep.original_id or 0) - 1
        prep.original_id = prepared[earlier_position].original_id or ids[earlier_position]
        links.append({"m_id": ids[position], "orig": prep.original_id})
    if links:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("m_id"))
            .values(duplicate_of_id=bindparam("orig"), status=MessageStatus.DUPLICATE.value),
            links,
        )
    insert_plain(
        session,
        MessageBand.__table__,
        [
            {"message_id": message_id, "band": band, "value": value, "day": day}
            for prep, message_id in zip(prepared, ids, strict=True)
            for day in (epoch_day(prep.received_at),)
            for band, value in enumerate(prep.fp.bands[:BANDS])
        ],
    )
    complainants = [
        {
            "message_id": message_id,
            "name": prep.item.complainant_name,
            "contact": prep.item.complainant_contact,
            "extra": {"forwarded_from": prep.item.forwarded_from}
            if prep.item.forwarded_from
            else {},
        }
        for prep, message_id in zip(prepared, ids, strict=True)
        if prep.item.complainant_name or prep.item.complainant_contact or prep.item.forwarded_from
    ]
    if complainants:
        insert_plain(session, Complainant.__table__, complainants)
    return ids
