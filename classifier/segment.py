"""Word segmentation: jieba (or its Rust port) with the district's own user dictionary.

The user dictionary is built from plain inputs (the units file and a terms list), never
from the app, and its sha256 is pinned in every model manifest. A ``Segmenter`` pickles
as its engine name and word list only; the jieba instance is rebuilt on first use, so a
loaded model segments exactly as the trained one did.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from classifier.errors import BadInput
from classifier.normalise import normalise_text

logger = logging.getLogger(__name__)

_DIGITS = re.compile(r"[0-9]+")

ENGINES = ("rjieba", "jieba")
DEFAULT_ENGINE = "rjieba"


def engine_version(engine: str) -> str:
    """The installed version of a segmentation engine (``rjieba`` or ``jieba``)."""
    if engine not in ENGINES:
        raise BadInput(f"未知的分词器「{engine}」，可选 {', '.join(ENGINES)} (unknown segmenter)")
    return importlib.metadata.version(engine)


def _walk_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _walk_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_strings(value)


def unit_words(units_yaml: Path) -> list[str]:
    """Unit names, short names, aliases and the district's place names in ``units.yaml``."""
    try:
        document = yaml.safe_load(Path(units_yaml).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"{units_yaml}: 无法读取单位文件 (cannot read units file): {exc}") from exc
    words: list[str] = []
    district = document.get("district") or {}
    words += [str(district.get(key) or "") for key in ("name", "city")]
    words += list(_walk_strings(district.get("places") or {}))
    for unit in document.get("units") or []:
        words += [str(unit.get("name") or ""), str(unit.get("short") or "")]
        words += [str(alias) for alias in unit.get("aliases") or []]
    return words


def term_words(terms: Path) -> list[str]:
    """One term per line (jieba's ``word [freq] [tag]`` format is accepted); ``#`` comments."""
    try:
        lines = Path(terms).read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise BadInput(f"{terms}: 无法读取词表 (cannot read terms file): {exc}") from exc
    words = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            words.append(line.split()[0])
    return words


def build_user_dictionary(units_yaml: Path | None, terms: Path | None = None) -> list[str]:
    """The sorted, normalised, de-duplicated words of the user dictionary.

    ``terms`` may be ``None`` or a path that does not exist yet; both mean no policy terms.
    """
    words: list[str] = []
    if units_yaml is not None:
        words += unit_words(units_yaml)
    if terms is not None and Path(terms).exists():
        words += term_words(terms)
    normalised = (normalise_text(word).replace(" ", "") for word in words)
    return sorted({word for word in normalised if len(word) >= 2})


def dictionary_sha256(words: Iterable[str]) -> str:
    """The hash pinned in the manifest: of the sorted words, one per line, UTF-8."""
    return hashlib.sha256("\n".join(sorted(words)).encode("utf-8")).hexdigest()


class Segmenter:
    """Cuts normalised text into words with one engine and one user dictionary."""

    def __init__(self, engine: str = DEFAULT_ENGINE, words: Iterable[str] = ()) -> None:
        engine_version(engine)  # rejects an unknown engine
        self.engine = engine
        self.words = tuple(sorted(set(words)))
        self._cut = None
        self._lock = threading.Lock()

    @property
    def dictionary_sha256(self) -> str:
        return dictionary_sha256(self.words)

    def __getstate__(self) -> dict[str, Any]:
        return {"engine": self.engine, "words": self.words}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.engine = state["engine"]
        self.words = tuple(state["words"])
        self._cut = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Segmenter(engine={self.engine!r}, words={len(self.words)})"

    def _entries(self) -> list[str]:
        """The words, plus their digit-folded spelling (the pipeline folds digits to 0
        before segmenting, so 12345热线 must also be known as 0热线)."""
        return sorted({*self.words, *(_DIGITS.sub("0", word) for word in self.words)})

    def _build(self):
        if self.engine == "rjieba":
            import rjieba

            tokenizer = rjieba.Jieba()
            for word in self._entries():
                tokenizer.add_word(word, tokenizer.suggest_freq(word), None)
            return tokenizer.cut
        import jieba

        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        for word in self._entries():
            tokenizer.add_word(word, tokenizer.suggest_freq(word, tune=False))
        return tokenizer.lcut

    def _cutter(self):
        if self._cut is None:
            with self._lock:
                if self._cut is None:
                    self._cut = self._build()
        return self._cut

    def cut(self, text: str) -> list[str]:
        """The tokens of ``text``; together they spell it exactly (spaces included)."""
        return self._cutter()(text)

    def cut_many(self, texts: Iterable[str]) -> list[list[str]]:
        cut = self._cutter()
        return [cut(text) for text in texts]
