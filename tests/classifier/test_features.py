"""The batch vectoriser computes what scikit-learn's TF-IDF computes."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from classifier.features import CodeTable, NgramVectorizer
from classifier.segment import Segmenter

TEXTS = [
    "东湖路的路灯坏了三天",
    "东湖路 路灯不亮, 请尽快维修",
    "望江社区停水, 什么时候来水",
    "望江社区 水压太低",
    "学校门口路灯不亮",
    "停水通知没有提前发",
    "",
]


def docs() -> list[tuple[str, list[str]]]:
    segmenter = Segmenter("rjieba", [])
    return [(text, segmenter.cut(text)) for text in TEXTS]


def _tokens(doc):
    return [token for token in doc[1] if not token.isspace()]


def _text(doc):
    return doc[0]


def _same(ours, names, reference, vocabulary, prefix: str) -> None:
    columns = [i for i, name in enumerate(names) if name.startswith(prefix)]
    order = [vocabulary[names[i][len(prefix) :]] for i in columns]
    assert len(columns) == len(vocabulary)
    np.testing.assert_allclose(
        ours[:, columns].toarray(), reference[:, order].toarray(), atol=1e-12
    )


def test_word_and_char_blocks_match_scikit_learn() -> None:
    data = docs()
    ours = NgramVectorizer(head_weight=0.0).fit(data)
    X = ours.transform(data)
    names = list(ours.get_feature_names_out())
    words = TfidfVectorizer(
        preprocessor=_tokens,
        tokenizer=lambda x: x,
        token_pattern=None,
        lowercase=False,
        sublinear_tf=True,
        min_df=2,
    ).fit(data)
    _same(X, names, words.transform(data), words.vocabulary_, "w:")
    chars = TfidfVectorizer(
        preprocessor=_text,
        analyzer="char",
        ngram_range=(1, 2),
        lowercase=False,
        sublinear_tf=True,
        min_df=2,
    ).fit(data)
    _same(X, names, chars.transform(data), chars.vocabulary_, "c:")


def test_head_block_sees_only_the_opening() -> None:
    data = docs()
    ours = NgramVectorizer(head_chars=4, min_df=1).fit(data)
    names = list(ours.get_feature_names_out())
    assert "hc:东湖" in names and "hc:望江" in names
    assert "hc:路灯" not in names and "c:路灯" in names  # 路灯 comes after char 4
    assert "hc:维修" not in names
    assert "hw:东湖路" in names


def test_unknown_texts_and_empty_batches() -> None:
    ours = NgramVectorizer().fit(docs())
    X = ours.transform([("完全陌生的句子", ["完全", "陌生", "的", "句子"]), ("", [])])
    assert X.shape == (2, ours.n_features_)
    assert ours.transform([]).shape == (0, ours.n_features_)


def test_code_table_finds_exactly_its_keys() -> None:
    rng = np.random.default_rng(0)
    keys = np.unique(rng.integers(0, 2**62, 5000))
    table = CodeTable(keys)
    queries = np.concatenate([keys[::-1], rng.integers(0, 2**62, 5000)])
    expected = {int(key): i for i, key in enumerate(keys)}
    found = table.lookup(queries)
    assert [int(i) for i in found] == [expected.get(int(q), -1) for q in queries]


def test_fitting_in_chunks_learns_what_one_batch_learns(monkeypatch) -> None:
    import pickle

    import classifier.features as features

    data = docs() * 2 + [("东湖路东湖路", ["东湖路", "东湖路"])]
    monkeypatch.setattr(features, "_FIT_CHUNK", 10_000)
    whole = NgramVectorizer(min_df=2).fit(data)
    monkeypatch.setattr(features, "_FIT_CHUNK", 3)
    chunked = NgramVectorizer(min_df=2).fit(data)
    assert pickle.dumps(chunked) == pickle.dumps(whole)
    assert list(chunked.get_feature_names_out()) == list(whole.get_feature_names_out())
    difference = chunked.transform(data) - whole.transform(data)
    assert difference.nnz == 0


def test_tokens_given_by_their_lengths_vectorise_as_the_tokens_do() -> None:
    from classifier.pipeline import SegmentStep

    data = docs()
    compact = SegmentStep(Segmenter("rjieba", []), fold_digits=False).transform(TEXTS)
    assert all(isinstance(tokens, np.ndarray) for _, tokens in compact)  # no string objects
    assert [list(tokens) for _, tokens in compact] == [[len(t) for t in d[1]] for d in data]
    by_strings, by_lengths = NgramVectorizer().fit(data), NgramVectorizer().fit(compact)
    assert list(by_lengths.words_) == list(by_strings.words_)
    assert (by_lengths.transform(compact) - by_strings.transform(data)).nnz == 0
