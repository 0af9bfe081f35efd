"""Fingerprints of a whole batch at once are the fingerprints of each item alone."""

from __future__ import annotations

import hashlib

import numpy as np

from intake.dedupe import (
    _A,
    _B,
    BANDS,
    FINGERPRINT_BLOCK,
    ROWS,
    _trigram_codes,
    content_hash,
    core_text,
    fingerprint,
    fingerprints,
    shingles_of,
)

SAMPLES = [
    ("领导您好！滨江花园东门外的垃圾桶已经一个星期没人清运了，味道很大。谢谢！", None),
    ("您好，再反映一次：滨江花园东门外的垃圾桶已经一个星期没人清运了，味道很大。", "垃圾"),
    ("学府路小学门口早晚高峰乱停车", "停车"),
    ("", None),  # nothing left of it
    ("好", None),  # shorter than a trigram
    ("路灯", "灯"),
    ("谢谢！", None),  # only a closing: an empty core
    ("a b c d e f g", None),
    ("😀😀😀😀 emoji 与汉字 混排 𠀀𠀁𠀂", None),
]


def reference_bands(core: str) -> list[int]:
    """The band keys one item at a time, as the ledger's stored bands were computed."""
    codes = _trigram_codes(core)
    with np.errstate(over="ignore"):
        signature = ((codes[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(11)).min(axis=0)
    keys = []
    for band, values in enumerate(signature.reshape(BANDS, ROWS)):
        digest = hashlib.blake2b(
            values.tobytes(), digest_size=8, person=b"duban-lsh", salt=band.to_bytes(2, "little")
        ).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def test_band_keys_stay_those_stored_by_earlier_versions() -> None:
    """Messages stored before must still be found: the keys are pinned."""
    fp = fingerprint(SAMPLES[0][0])
    assert fp.bands == [
        -7648475813315912233,
        2575571999929020692,
        8758432356297244435,
        -2151643238112217661,
        5150093325511678619,
        138111393502796229,
        -3590464590628980302,
        271605134155377911,
    ]
    assert len(fp.shingles) == 24


def test_a_batch_gives_each_item_its_own_fingerprint() -> None:
    # More items than one block, and the short ones in between the long ones.
    texts = [(f"{text}{i % 7 or ''}", title) for i in range(70) for text, title in SAMPLES]
    assert len(texts) > FINGERPRINT_BLOCK
    batch = fingerprints(texts)
    for (text, title), fp in zip(texts, batch, strict=True):
        core = core_text(text)
        alone = _trigram_codes(core)  # the per-item computation
        assert fp.core == core
        assert np.array_equal(fp.shingles, alone) and fp.shingles.dtype == alone.dtype
        assert fp.bands == reference_bands(core)
        assert fp.content_hash == content_hash(text, title)
        assert fp.core_hash == hashlib.sha256(core.encode("utf-8")).hexdigest()


def test_shingles_of_many_cores_are_each_cores_shingles() -> None:
    cores = [core_text(text) for text, _ in SAMPLES] * 3
    for core, codes in zip(cores, shingles_of(cores), strict=True):
        assert np.array_equal(codes, _trigram_codes(core))
    assert shingles_of([]) == []
