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

import numpy as np

BANDS = 8
ROWS = 4
_HASHES = BANDS * ROWS
_rng = np.random.default_rng(20261122)
_A = _rng.integers(1, 2**63 - 1, size=_HASHES, dtype=np.uint64) | np.uint64(1)
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
    shingles: np.ndarray  # sorted unique trigram codes of ``core``


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


def minhash_bands(core: str, codes: np.ndarray | None = None) -> list[int]:
    """``BANDS`` signed 64-bit band keys (the band number folded in) for ``core``."""
    codes = _trigram_codes(core) if codes is None else codes
    with np.errstate(over="ignore"):
        signature = ((codes[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(11)).min(axis=0)
    rows = signature.reshape(BANDS, ROWS)
    keys = []
    for band, values in enumerate(rows):
        digest = hashlib.blake2b(
            values.tobytes(), digest_size=8, person=b"duban-lsh", salt=band.to_bytes(2, "little")
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def fingerprint(text: str, title: str | None = None) -> Fingerprint:
    core = core_text(text)
    codes = _trigram_codes(core)
    return Fingerprint(
        content_hash=content_hash(text, title),
        core_hash=hashlib.sha256(core.encode("utf-8")).hexdigest(),
        core=core,
        bands=minhash_bands(core, codes),
        shingles=codes,
    )


def shingles(core: str) -> np.ndarray:
    """The sorted unique trigram codes of a core text (what ``similar`` compares)."""
    return _trigram_codes(core)


def similar(a: np.ndarray, b: np.ndarray, *, threshold: float) -> bool:
    """Near-duplicate test on two trigram sets: Jaccard, or one nearly containing the other
    (an added sentence) while still similar overall."""
    common = np.intersect1d(a, b, assume_unique=True).size
    if not common:
        return False
    union = a.size + b.size - common
    jaccard = common / union
    if jaccard >= threshold:
        return True
    smaller = min(a.size, b.size)
    return smaller >= 30 and common / smaller >= 0.92 and jaccard >= threshold - 0.25
