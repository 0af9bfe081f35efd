"""The user dictionary and the segmenters."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from classifier.errors import BadInput
from classifier.segment import (
    Segmenter,
    build_user_dictionary,
    dictionary_sha256,
    term_words,
    unit_words,
)
from tests.classifier.conftest import DATA_DIR


def test_dictionary_holds_units_aliases_and_places() -> None:
    words = unit_words(DATA_DIR / "units.yaml")
    for word in ("滨河区住房和城乡建设局", "住建局", "区城管局", "望江社区", "滨江大道", "滨河区"):
        assert word in words


def test_missing_terms_file_is_no_terms(tmp_path: Path) -> None:
    without = build_user_dictionary(DATA_DIR / "units.yaml", tmp_path / "terms.txt")
    assert without == build_user_dictionary(DATA_DIR / "units.yaml", None)
    assert without == sorted(set(without))


def test_terms_in_jieba_format(tmp_path: Path) -> None:
    terms = tmp_path / "terms.txt"
    terms.write_text("# 政策用语\n加装电梯 3000 vn\n\n网格员\n", encoding="utf-8")
    assert term_words(terms) == ["加装电梯", "网格员"]
    words = build_user_dictionary(None, terms)
    assert words == ["加装电梯", "网格员"]
    assert dictionary_sha256(words) == dictionary_sha256(list(reversed(words)))


def test_unreadable_units_file_is_bad_input(tmp_path: Path) -> None:
    broken = tmp_path / "units.yaml"
    broken.write_text("units: [\n", encoding="utf-8")
    with pytest.raises(BadInput):
        build_user_dictionary(broken, None)


@pytest.mark.parametrize("engine", ["rjieba", "jieba"])
def test_unit_names_stay_whole_and_tokens_spell_the_text(engine: str) -> None:
    segmenter = Segmenter(engine, build_user_dictionary(DATA_DIR / "units.yaml", None))
    text = "滨河区住房和城乡建设局在望江社区滨江大道施工, 区城管局不管"
    tokens = segmenter.cut(text)
    assert "".join(tokens) == text
    for word in ("滨河区住房和城乡建设局", "望江社区", "滨江大道", "区城管局"):
        assert word in tokens


def test_segmenter_pickles_as_engine_and_words() -> None:
    segmenter = Segmenter("rjieba", ["望江社区"])
    segmenter.cut("预热")
    copy = pickle.loads(pickle.dumps(segmenter))
    assert (copy.engine, copy.words) == ("rjieba", ("望江社区",))
    assert copy.cut("望江社区停水") == segmenter.cut("望江社区停水")


def test_unknown_engine_is_bad_input() -> None:
    with pytest.raises(BadInput):
        Segmenter("thulac")


def test_dictionary_words_with_digits_match_digit_folded_text() -> None:
    segmenter = Segmenter("rjieba", ["12345热线"])
    assert "0热线" in segmenter.cut("打了0热线也没人管")
    assert segmenter.words == ("12345热线",)
