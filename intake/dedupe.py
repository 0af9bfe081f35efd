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
from collections.abc import Sequence
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
    return _band_keys(_signatures([codes])[0])


def fingerprint(text: str, title: str | None = None) -> Fingerprint:
    return fingerprints([(text, title)])[0]


FINGERPRINT_BLOCK = 256  # items hashed together (bounds the temporary hash matrix)


def fingerprints(texts: Sequence[tuple[str, str | None]]) -> list[Fingerprint]:
    """``fingerprint`` of each ``(text, title)``: the same values, computed for many items
    at once — the trigrams and the MinHash signatures with a few numpy operations over the
    whole block instead of a handful per item."""
    cores = [core_text(text) for text, _ in texts]
    codes = _block_codes(cores)
    result = []
    for start in range(0, len(cores), FINGERPRINT_BLOCK):
        block = codes[start : start + FINGERPRINT_BLOCK]
        signatures = _signatures(block)
        for offset, item_codes in enumerate(block):
            index = start + offset
            text, title = texts[index]
            core = cores[index]
            result.append(
                Fingerprint(
                    content_hash=content_hash(text, title),
                    core_hash=hashlib.sha256(core.encode("utf-8")).hexdigest(),
                    core=core,
                    bands=_band_keys(signatures[offset]),
                    shingles=item_codes,
                )
            )
    return result


def _block_codes(cores: list[str]) -> list[np.ndarray]:
    """``_trigram_codes`` of each core (sorted unique trigram codes), computed together."""
    if not cores:
        return []
    lengths = np.fromiter((len(core) for core in cores), dtype=np.int64, count=len(cores))
    points = np.frombuffer("".join(cores).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.cumsum(lengths) - lengths
    if len(points) < 3 or not (lengths >= 3).any():
        return [_trigram_codes(core) for core in cores]
    with np.errstate(over="ignore"):
        grams = points[:-2] * _P1 + points[1:-1] * _P2 + points[2:]
    # Keep the trigrams that start and end inside one core.
    owner = np.repeat(np.arange(len(cores)), lengths)[:-2]
    inside = np.arange(len(grams)) - starts[owner] <= lengths[owner] - 3
    values, owner = grams[inside], owner[inside]
    order = np.lexsort((values, owner))
    values, owner = values[order], owner[order]
    keep = np.ones(len(values), dtype=bool)
    keep[1:] = (values[1:] != values[:-1]) | (owner[1:] != owner[:-1])
    values, owner = values[keep], owner[keep]
    bounds = np.searchsorted(owner, np.arange(len(cores) + 1))
    return [
        values[bounds[i] : bounds[i + 1]] if lengths[i] >= 3 else _trigram_codes(core)
        for i, core in enumerate(cores)
    ]


def _signatures(block: list[np.ndarray]) -> np.ndarray:
    """The MinHash signature (``_HASHES`` values) of each item's trigram codes."""
    sizes = np.fromiter((len(codes) for codes in block), dtype=np.int64, count=len(block))
    codes = np.concatenate(block)
    with np.errstate(over="ignore"):
        hashed = (codes[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(11)
    return np.minimum.reduceat(hashed, np.cumsum(sizes) - sizes, axis=0)


def _band_keys(signature: np.ndarray) -> list[int]:
    raw = signature.tobytes()  # BANDS runs of ROWS values
    width = len(raw) // BANDS
    keys = []
    for band, salt in enumerate(_SALTS):
        digest = hashlib.blake2b(
            raw[band * width : (band + 1) * width], digest_size=8, person=b"duban-lsh", salt=salt
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


_SALTS = [band.to_bytes(2, "little") for band in range(BANDS)]


def shingles(core: str) -> np.ndarray:
    """The sorted unique trigram codes of a core text (what ``similar`` compares)."""
    return _trigram_codes(core)


def shingles_of(cores: list[str]) -> list[np.ndarray]:
    """``shingles`` of each core text, computed together."""
    return _block_codes(cores)


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
