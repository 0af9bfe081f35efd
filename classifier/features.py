"""Features: TF-IDF over words, characters and the message's opening, built batch-wise.

``NgramVectorizer`` turns segmented documents (``(text, tokens)`` pairs, the tokens tiling
the text) into one sparse matrix of three blocks, each with sublinear TF, smoothed IDF and
its own L2 norm:

- ``words``: the segmenter's tokens (unigrams; whitespace tokens are not features);
- ``chars``: character 1..n-grams of the whole text;
- ``head``: words and character n-grams of the first ``head_chars`` characters, where the
  title (or the first line a citizen writes) sits. Exports often glue the title to the
  detail, so a fixed prefix stands in for "the title".

The numbers are those of scikit-learn's ``CountVectorizer`` + ``TfidfTransformer``
(``smooth_idf``, ``sublinear_tf``), computed without per-feature Python work: a batch's
texts become one array of code points; character n-grams are packed into integers and
words into 64-bit polynomial hashes of their code points (vectorised with prefix sums);
both are found in open-addressing tables; counts come from one sort of 32-bit keys. The
only per-token Python work left is ``len`` (one C-level ``map``).

A word's hash could in principle collide with another word's (about one chance in 2**64
per pair); a collision would make an unseen word count as a known one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from classifier.errors import BadInput

# (text, its tokens: "".join(tokens) == text). The tokens may also be given by their
# lengths alone (an integer array), as the pipeline's segment step gives them: 4 bytes a
# token instead of a string object (about 75), which is most of the training set's memory.
Doc = tuple[str, "Sequence[str] | np.ndarray"]

_CP_BITS = 21  # a code point fits in 21 bits, so up to three of them pack into an int64
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_MAX_CHUNK = 1024  # documents per chunk when transforming: bounds its memory
_FIT_CHUNK = 2048  # documents per chunk when fitting: bounds its memory
_WHITESPACE = (ord(" "), ord("\n"))  # all the whitespace normalised text has


class _KeyTable:
    """Sorted int64 keys and a lookup structure built from them: only the keys are pickled,
    the structure is rebuilt (deterministically) on load."""

    def __init__(self, codes: np.ndarray) -> None:
        self.codes = np.ascontiguousarray(codes, dtype=np.int64)
        self._build()

    def __getstate__(self) -> dict[str, Any]:
        return {"codes": self.codes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.codes = state["codes"]
        self._build()

    def __len__(self) -> int:
        return len(self.codes)

    def _build(self) -> None:
        raise NotImplementedError

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """The index of each query among the keys, or -1."""
        raise NotImplementedError


class CodeTable(_KeyTable):
    """An exact ``int64 -> index`` lookup for many keys at once (open addressing).

    Keys are placed by Fibonacci hashing with linear probing at a load of at most 1/4;
    ``lookup`` probes all queries together, so a batch costs a few vectorised passes.
    """

    def _home(self, codes: np.ndarray) -> np.ndarray:
        return ((codes.view(np.uint64) * _GOLDEN) >> self._shift).astype(np.int64)

    def _build(self) -> None:
        count = len(self.codes)
        bits = max(4, int(np.ceil(np.log2(max(count, 1) * 4))))
        self._mask = (1 << bits) - 1
        self._shift = np.uint64(64 - bits)
        slots = np.full(1 << bits, -1, dtype=np.int32)
        home = self._home(self.codes)
        pending = np.arange(count)
        probes = 0
        while len(pending):
            position = (home[pending] + probes) & self._mask
            free = slots[position] == -1
            candidates, where = pending[free], position[free]
            taken, first = np.unique(where, return_index=True)  # one key per free slot
            slots[taken] = candidates[first]
            placed = np.zeros(count, dtype=bool)
            placed[candidates[first]] = True
            pending = pending[~placed[pending]]
            probes += 1
        self._slots = slots
        self._probes = probes

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """The index of each query among the keys, or -1."""
        queries = np.ascontiguousarray(queries, dtype=np.int64)
        if not len(self.codes):
            return np.full(len(queries), -1, dtype=np.int64)
        home = self._home(queries)
        slot = self._slots[home]
        occupied = slot >= 0
        match = occupied & (self.codes[slot] == queries)  # slot -1 reads a key, masked off
        result = np.where(match, slot, -1).astype(np.int64)
        active = np.flatnonzero(occupied & ~match)
        for probe in range(1, self._probes):
            if not len(active):
                break
            slot = self._slots[(home[active] + probe) & self._mask]
            occupied = slot >= 0
            match = occupied & (self.codes[slot] == queries[active])
            result[active[match]] = slot[match]
            active = active[occupied & ~match]
        return result


class UnigramTable(_KeyTable):
    """Code point -> index by direct addressing (a code point is below 2**21)."""

    def _build(self) -> None:
        size = int(self.codes.max()) + 2 if len(self.codes) else 1
        table = np.full(size, -1, dtype=np.int64)
        table[self.codes] = np.arange(len(self.codes))
        self._table = table  # the last entry is always -1: where larger code points land

    def lookup(self, points: np.ndarray) -> np.ndarray:
        return self._table[np.minimum(points, len(self._table) - 1)]


def _token_lengths(tokens: Sequence[str] | np.ndarray) -> np.ndarray:
    if isinstance(tokens, np.ndarray):
        return tokens.astype(np.int64)
    return np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))


class _Batch:
    """One batch of documents as flat arrays: code points and token spans."""

    def __init__(self, docs: Sequence[Doc], head: int) -> None:
        texts = [doc[0] for doc in docs]
        token_lists = [doc[1] for doc in docs]
        self.size = len(docs)
        self.head = head
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        # Texts are joined with "\x00" (normalised text never holds it): code point 0 marks
        # the gaps, so a packed n-gram that spans two texts is never a vocabulary code.
        joined = "\x00".join(texts) + "\x00"
        self.points = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        self.text_lengths = lengths
        self.text_start = np.cumsum(lengths + 1) - (lengths + 1)
        self.char_rows = np.repeat(np.arange(len(texts)), lengths + 1)

        counts = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(texts))
        token_lengths: np.ndarray = np.concatenate(
            [np.zeros(0, dtype=np.int64)] + [_token_lengths(tokens) for tokens in token_lists]
        )
        self.token_rows = np.repeat(np.arange(len(texts)), counts)
        # Tokens tile their text, and the texts are joined with one separator each: a token
        # starts where the tokens before it end, plus one per text before it.
        self.token_starts = np.cumsum(token_lengths) - token_lengths + self.token_rows
        self.token_lengths = token_lengths
        self.joined = joined
        spelled = np.bincount(self.token_rows, weights=token_lengths, minlength=len(texts))
        if not np.array_equal(spelled.astype(np.int64), lengths):
            bad = int(np.flatnonzero(spelled.astype(np.int64) != lengths)[0])
            raise ValueError(f"document {bad}: its tokens do not spell its text")

    def token_text(self, index: int) -> str:
        """The spelling of a token (by its index among the batch's tokens)."""
        start = int(self.token_starts[index])
        return self.joined[start : start + int(self.token_lengths[index])]

    @property
    def token_in_head(self) -> np.ndarray:
        return self.token_starts - self.text_start[self.token_rows] < self.head

    def token_codes(self) -> np.ndarray:
        """A 64-bit polynomial hash of each token's code points (and its length)."""
        total = len(self.points)
        powers = np.full(total + 1, _BASE, dtype=np.uint64)
        powers[0] = 1
        np.cumprod(powers, out=powers)
        inverse = np.full(total + 1, _BASE_INVERSE, dtype=np.uint64)
        inverse[0] = 1
        np.cumprod(inverse, out=inverse)
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum(self.points.view(np.uint64) * powers[:total], out=prefix[1:])
        start, end = self.token_starts, self.token_starts + self.token_lengths
        hashed = (prefix[end] - prefix[start]) * inverse[start]
        return (hashed * _GOLDEN + self.token_lengths.view(np.uint64)).view(np.int64)

    def whitespace_tokens(self) -> np.ndarray:
        """Whether each token is made of whitespace only."""
        solid = np.zeros(len(self.points) + 1, dtype=np.int64)
        np.cumsum(~np.isin(self.points, _WHITESPACE), out=solid[1:])
        start, end = self.token_starts, self.token_starts + self.token_lengths
        blank: np.ndarray = (solid[end] - solid[start]) == 0
        return blank

    def char_ngrams(self, n: int) -> np.ndarray:
        """Packed codes of the n-grams starting at every position (row: ``char_rows``).

        Code points c1..cn pack as ``c1 << 21(n-1) | … | cn``; n-grams that run past the
        end of the batch are packed with zeros. A code holding a zero (a gap between texts)
        is never a vocabulary code, since fitting keeps only codes without one.
        """
        packed = self.points.copy()
        for k in range(1, n):
            packed[:-k] = (packed[:-k] << _CP_BITS) | self.points[k:]
            packed[-k:] <<= _CP_BITS
        return packed

    def head_points(self) -> np.ndarray:
        """The first ``head`` code points of each text (rows x head), padded with 0."""
        columns = np.arange(self.head)
        index = np.minimum(self.text_start[:, None] + columns, len(self.points) - 1)
        inside = columns < self.text_lengths[:, None]
        return np.where(inside, self.points[index], 0)


def head_ngrams(points: np.ndarray, n: int) -> np.ndarray:
    """Packed n-gram codes of each row of ``points`` (rows x (head - n + 1))."""
    packed = points[:, : points.shape[1] - n + 1].copy()
    for k in range(1, n):
        packed = (packed << _CP_BITS) | points[:, k : points.shape[1] - n + 1 + k]
    return packed


def _has_no_gap(codes: np.ndarray, n: int) -> np.ndarray:
    """Whether none of the n code points packed in each code is 0."""
    ok = np.ones(len(codes), dtype=bool)
    for k in range(n):
        ok &= ((codes >> (_CP_BITS * k)) & ((1 << _CP_BITS) - 1)) != 0
    return ok


def _document_counts(rows: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes (sorted) and in how many rows each is found."""
    values, ids = np.unique(codes, return_inverse=True)
    width = max(len(values), 1)
    pairs = np.sort(rows.astype(np.int64) * width + ids.ravel())
    if len(pairs):  # distinct pairs by sorting (numpy's hash-based unique is slower here)
        pairs = pairs[np.append(True, pairs[1:] != pairs[:-1])]
    return values, np.bincount(pairs % width, minlength=len(values))


class _Counts:
    """Codes and their document counts, summed over the chunks of a fit."""

    def __init__(self) -> None:
        self.codes = np.zeros(0, dtype=np.int64)
        self.df = np.zeros(0, dtype=np.int64)

    def add(self, codes: np.ndarray, df: np.ndarray) -> None:
        if not len(self.codes):
            self.codes, self.df = codes.astype(np.int64), df.astype(np.int64)
            return
        merged, where = np.unique(np.concatenate([self.codes, codes]), return_inverse=True)
        total = np.bincount(where[: len(self.codes)], weights=self.df, minlength=len(merged))
        total += np.bincount(where[len(self.codes) :], weights=df, minlength=len(merged))
        self.codes, self.df = merged, total.astype(np.int64)  # counts < 2**53: exact

    def frequent(self, min_df: int) -> tuple[np.ndarray, np.ndarray]:
        """The codes found in at least ``min_df`` documents, and their counts."""
        keep = self.df >= min_df
        return self.codes[keep], self.df[keep]


class _Spellings:
    """The spelling of every token code: the first token, in document order, with it."""

    def __init__(self) -> None:
        self.codes = np.zeros(0, dtype=np.int64)
        self.words = np.zeros(0, dtype=object)

    def add(self, codes: np.ndarray, batch: _Batch) -> None:
        values, first = np.unique(codes, return_index=True)
        words = np.empty(len(first), dtype=object)
        words[:] = [batch.token_text(i) for i in first]
        # Codes seen in an earlier chunk come first, so they keep their first spelling.
        merged, first = np.unique(np.concatenate([self.codes, values]), return_index=True)
        self.codes, self.words = merged, np.concatenate([self.words, words])[first]

    def of(self, codes: np.ndarray) -> np.ndarray:
        return self.words[np.searchsorted(self.codes, codes)]


def _unpack(code: int) -> str:
    chars = []
    while code:
        chars.append(chr(code & ((1 << _CP_BITS) - 1)))
        code >>= _CP_BITS
    return "".join(reversed(chars))


def _table(n: int, codes: np.ndarray) -> UnigramTable | CodeTable:
    return UnigramTable(codes) if n == 1 else CodeTable(codes)


class NgramVectorizer(TransformerMixin, BaseEstimator):
    """Sublinear TF-IDF over words, character 1..n-grams and the opening ``head_chars``.

    Each block (``words``, ``chars``, ``head``) is L2-normalised on its own and scaled by
    its weight, so a long letter and a short post weigh the same per block.
    """

    def __init__(
        self,
        *,
        char_ngram_max: int = 2,
        head_chars: int = 50,
        min_df: int = 2,
        sublinear_tf: bool = True,
        word_weight: float = 1.0,
        char_weight: float = 1.0,
        head_weight: float = 1.0,
    ) -> None:
        self.char_ngram_max = char_ngram_max
        self.head_chars = head_chars
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.word_weight = word_weight
        self.char_weight = char_weight
        self.head_weight = head_weight

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # -- fitting ---------------------------------------------------------------------------

    def fit(self, docs: Sequence[Doc], y: Any = None) -> NgramVectorizer:
        """Learn the vocabularies and document frequencies, ``_FIT_CHUNK`` documents at a
        time: each chunk's codes and their document counts are merged into running totals
        (a document sits in one chunk, so the sums are the exact document frequencies),
        and memory grows with the vocabulary, not with the rows."""
        if not 1 <= self.char_ngram_max <= 3:
            raise BadInput(f"char_ngram_max must be 1, 2 or 3 (got {self.char_ngram_max})")
        if self.head_chars < self.char_ngram_max:
            raise BadInput(f"head_chars must be at least {self.char_ngram_max}")
        if not len(docs):
            raise BadInput("no documents to fit the vectoriser on")
        ngram_max = self.char_ngram_max
        # Running (codes, document counts) of each block in feature order: words, character
        # 1..n-grams, head words, head character 1..n-grams; and every token's spelling.
        totals = [_Counts() for _ in range(2 * ngram_max + 2)]
        spellings = _Spellings()
        for start in range(0, len(docs), _FIT_CHUNK):
            batch = _Batch(docs[start : start + _FIT_CHUNK], self.head_chars)
            token_codes = batch.token_codes()
            spellings.add(token_codes, batch)
            usable = ~batch.whitespace_tokens()
            in_head = usable & batch.token_in_head
            totals[0].add(*_document_counts(batch.token_rows[usable], token_codes[usable]))
            for n in range(1, ngram_max + 1):
                codes = batch.char_ngrams(n)
                gapless = _has_no_gap(codes, n)
                totals[n].add(*_document_counts(batch.char_rows[gapless], codes[gapless]))
            totals[ngram_max + 1].add(
                *_document_counts(batch.token_rows[in_head], token_codes[in_head])
            )
            head_points = batch.head_points()
            head_rows = np.arange(batch.size)[:, None]
            for n in range(1, ngram_max + 1):
                codes = head_ngrams(head_points, n)
                rows = np.broadcast_to(head_rows, codes.shape).ravel()
                codes = codes.ravel()
                gapless = _has_no_gap(codes, n)
                totals[ngram_max + 1 + n].add(*_document_counts(rows[gapless], codes[gapless]))

        kept = [total.frequent(self.min_df) for total in totals]
        words, head_words = kept[0][0], kept[ngram_max + 1][0]
        self.word_table_ = CodeTable(words)
        self.head_word_table_ = CodeTable(head_words)
        self.words_ = spellings.of(words)
        self.head_words_ = spellings.of(head_words)
        self.char_tables_ = [_table(n, kept[n][0]) for n in range(1, ngram_max + 1)]
        self.head_char_tables_ = [
            _table(n, kept[ngram_max + 1 + n][0]) for n in range(1, ngram_max + 1)
        ]
        sizes = [len(codes) for codes, _ in kept]
        self.offsets_ = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        blocks = [0] + [1] * ngram_max + [2] + [2] * ngram_max
        self.block_of_feature_ = np.repeat(np.array(blocks, dtype=np.int8), sizes)
        self.n_features_ = int(self.offsets_[-1])
        dfs = np.concatenate([df for _, df in kept])
        self.idf_ = np.log((1 + len(docs)) / (1 + dfs)) + 1.0
        return self

    # -- transforming ----------------------------------------------------------------------

    def _counts(self, batch: _Batch) -> sp.csr_matrix:
        """Raw term counts of one batch (rows x features), canonical CSR."""
        width = max(self.n_features_, 1)
        offsets = iter(self.offsets_[:-1])
        keys = []

        def add(rows: np.ndarray, ids: np.ndarray) -> None:
            found = ids >= 0
            keys.append(rows[found] * width + (ids[found] + next(offsets)))

        token_codes = batch.token_codes()
        add(batch.token_rows, self.word_table_.lookup(token_codes))
        for n, table in enumerate(self.char_tables_, start=1):
            add(batch.char_rows, table.lookup(batch.char_ngrams(n)))
        in_head = batch.token_in_head
        add(batch.token_rows[in_head], self.head_word_table_.lookup(token_codes[in_head]))
        head_points = batch.head_points()
        for n, table in enumerate(self.head_char_tables_, start=1):
            codes = head_ngrams(head_points, n)
            rows = np.repeat(np.arange(batch.size), codes.shape[1])
            add(rows, table.lookup(codes.ravel()))
        # rows * width + column < 2**32 by the chunk size, so a 32-bit sort does it.
        ordered = np.sort(np.concatenate(keys).astype(np.uint32))
        edge = np.ones(len(ordered), dtype=bool)
        np.not_equal(ordered[1:], ordered[:-1], out=edge[1:])
        starts = np.flatnonzero(edge)
        counts = np.diff(np.append(starts, len(ordered))).astype(np.float64)
        unique = ordered[starts].astype(np.int64)
        indptr = np.zeros(batch.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(unique // width, minlength=batch.size), out=indptr[1:])
        return sp.csr_matrix(
            (counts, (unique % width).astype(np.int32), indptr),
            shape=(batch.size, self.n_features_),
        )

    def _chunk_size(self) -> int:
        return max(1, min(_MAX_CHUNK, (2**32 - 1) // max(self.n_features_, 1) - 1))

    def transform(self, docs: Sequence[Doc]) -> sp.csr_matrix:
        check_is_fitted(self, "idf_")
        step = self._chunk_size()
        parts = [
            self._tfidf(self._counts(_Batch(docs[i : i + step], self.head_chars)))
            for i in range(0, len(docs), step)
        ]
        if not parts:
            return sp.csr_matrix((0, self.n_features_))
        return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")

    def _tfidf(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        data = matrix.data
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf_[matrix.indices]
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        cell = rows * 3 + self.block_of_feature_[matrix.indices]
        norms = np.sqrt(np.bincount(cell, weights=data * data, minlength=matrix.shape[0] * 3))
        norms[norms == 0] = 1.0
        weights = np.array([self.word_weight, self.char_weight, self.head_weight])
        scale = np.repeat(weights[None, :], matrix.shape[0], axis=0).ravel() / norms
        data *= scale[cell]
        return matrix

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Readable names (``w:词``, ``c:字符``, ``hw:…``, ``hc:…``) for reading a model."""
        check_is_fitted(self, "idf_")
        names = [f"w:{word}" for word in self.words_]
        for table in self.char_tables_:
            names += [f"c:{_unpack(int(code))}" for code in table.codes]
        names += [f"hw:{word}" for word in self.head_words_]
        for table in self.head_char_tables_:
            names += [f"hc:{_unpack(int(code))}" for code in table.codes]
        return np.array(names, dtype=object)
