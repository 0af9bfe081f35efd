"""Duplicates: the same complaint posted again joins the first one's ticket as 重复件.

Three tests, cheapest first:

1. exact: the normalised text hashes the same (``content_hash``);
2. repost: the *core* text — greetings, closings, punctuation and spaces stripped —
   hashes the same (``core_hash``), e.g. "领导您好！…谢谢！" vs "您好，再反映一次：…";
3. near: character-trigram MinHash finds candidates through LSH bands stored in the
   ledger (``messageband``); a candidate is a duplicate only when the trigram Jaccard
   similarity reaches the threshold, or one text nearly contains the other (an added
   sentence) and they are still similar overall.

Precision matters more than recall: two different complaints about the same road share
place names but not their trigrams, and stay two tickets. ``bench/dedupe.py`` measures it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import Session, col, select

from ledger.models import Message, MessageBand, Ticket, TicketState

BANDS = 10
ROWS = 3
_HASHES = BANDS * ROWS
_rng = np.random.default_rng(20261122)
_A = (_rng.integers(1, 2**63 - 1, size=_HASHES, dtype=np.uint64) | np.uint64(1))
_B = _rng.integers(0, 2**63 - 1, size=_HASHES, dtype=np.uint64)
_P1, _P2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)

_GREETING = re.compile(
    r"^(?:(?:尊敬的|各位|敬爱的)?(?:[\u4e00-\u9fff]{0,6}?)(?:领导|同志|书记|区长|局长|主任|工作人员)"
    r"(?:们)?(?:您好|你好|好)?|您好|你好|大家好|再反映一次|再次反映|又来反映|重复反映)[！!，,。:：\s]*"
)
_CLOSING = re.compile(
    r"(?:此致\s*敬礼|谢谢(?:领导|您|你们|各位)?|万分感谢|感谢(?:领导|您)?|盼复|望回复|"
    r"恳请(?:领导)?(?:重视|回复)|希望(?:尽快)?(?:得到)?(?:回复|答复))[！!。.\s]*$"
)
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    content_hash: str
    core_hash: str
    core: str
    bands: list[int]


def content_hash(text: str, title: str | None = None) -> str:
    body = f"{title.strip()}\n{text}" if title and title.strip() else text
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def core_text(text: str) -> str:
    """The complaint itself: greetings, closings, punctuation and whitespace removed."""
    value = text.strip()
    for _ in range(3):
        stripped = _GREETING.sub("", value, count=1)
        stripped = _CLOSING.sub("", stripped).strip()
        if stripped == value:
            break
        value = stripped
    return _NOISE.sub("", value)


def _trigram_codes(core: str) -> np.ndarray:
    points = np.frombuffer(core.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(points) < 3:
        points = np.concatenate([points, np.zeros(3 - len(points), dtype=np.uint64)])
    with np.errstate(over="ignore"):
        return np.unique(points[:-2] * _P1 + points[1:-1] * _P2 + points[2:])


def minhash_bands(core: str) -> list[int]:
    """``BANDS`` signed 64-bit band keys (the band number folded in) for ``core``."""
    codes = _trigram_codes(core)
    with np.errstate(over="ignore"):
        signature = ((codes[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(11)).min(axis=0)
    rows = signature.reshape(BANDS, ROWS)
    keys = []
    for band, values in enumerate(rows):
        digest = hashlib.blake2b(values.tobytes(), digest_size=8, person=b"duban-lsh",
                                 salt=band.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def fingerprint(text: str, title: str | None = None) -> Fingerprint:
    core = core_text(text)
    return Fingerprint(
        content_hash=content_hash(text, title),
        core_hash=hashlib.sha256(core.encode("utf-8")).hexdigest(),
        core=core,
        bands=minhash_bands(core),
    )


def trigrams(core: str) -> set[str]:
    return {core[i:i + 3] for i in range(max(1, len(core) - 2))}


def similar(a: str, b: str, *, threshold: float) -> bool:
    """Near-duplicate test on two core texts (trigram Jaccard, or containment)."""
    if a == b:
        return True
    x, y = trigrams(a), trigrams(b)
    common = len(x & y)
    if not common:
        return False
    jaccard = common / len(x | y)
    if jaccard >= threshold:
        return True
    smaller = min(len(x), len(y))
    containment = common / smaller
    return smaller >= 30 and containment >= 0.92 and jaccard >= threshold - 0.25


@dataclass
class DuplicateFinder:
    """Finds the original of a message among those stored within the window."""

    session: Session
    window_days: int
    threshold: float

    def find(self, fp: Fingerprint, received_at: datetime) -> Message | None:
        since = received_at - timedelta(days=self.window_days)
        exact = self.session.exec(
            select(Message)
            .where((Message.content_hash == fp.content_hash) | (Message.core_hash == fp.core_hash))
            .where(Message.received_at >= since)
            .order_by(col(Message.id))
            .limit(1)
        ).first()
        if exact is not None:
            return self._open_root(exact)
        if len(fp.core) < 12:  # too short to call "the same" on similarity alone
            return None
        candidates = self.session.exec(
            select(Message)
            .join(MessageBand, col(MessageBand.message_id) == col(Message.id))
            .where(col(MessageBand.value).in_(fp.bands))
            .where(Message.received_at >= since)
            .distinct()
            .order_by(col(Message.id))
            .limit(50)
        ).all()
        for candidate in candidates:
            if similar(fp.core, core_text(candidate.text), threshold=self.threshold):
                return self._open_root(candidate)
        return None

    def _open_root(self, message: Message) -> Message | None:
        """The first message of the complaint, unless its ticket is archived: a complaint
        made again after its matter was closed is a new matter."""
        root = self._root(message)
        state = self.session.exec(
            select(Ticket.state).where(Ticket.message_id == root.id)).first()
        return None if state == TicketState.ARCHIVED.value else root

    def _root(self, message: Message) -> Message:
        seen = set()
        while message.duplicate_of_id is not None and message.id not in seen:
            seen.add(message.id)
            parent = self.session.get(Message, message.duplicate_of_id)
            if parent is None:
                break
            message = parent
        return message


def add_bands(session: Session, message: Message, fp: Fingerprint) -> None:
    session.add_all(
        MessageBand(message_id=message.id, band=band, value=value)
        for band, value in enumerate(fp.bands)
    )
