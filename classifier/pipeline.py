"""The one scikit-learn ``Pipeline``: normalise -> segment -> vectorise -> model.

Normalising and segmenting learn nothing, so training runs them once over all rows and
cross-validates only the steps that do learn (see ``classifier.train``); the pipeline
that is saved holds all four steps, and predicting is ``pipeline.predict_proba(texts)``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from classifier.ensemble import StackedLinearClassifier
from classifier.features import Doc, NgramVectorizer
from classifier.normalise import normalise_texts
from classifier.segment import DEFAULT_ENGINE, Segmenter

_DIGITS = re.compile(r"[0-9]+")

# The chosen pipeline (README.md, "The chosen pipeline", says how it was chosen).
DEFAULT_PARAMS: dict[str, Any] = {
    "vectorise__char_ngram_max": 2,
    "vectorise__head_chars": 50,
    "vectorise__min_df": 2,
    "vectorise__sublinear_tf": True,
    "vectorise__word_weight": 1.0,
    "vectorise__char_weight": 1.0,
    "vectorise__head_weight": 1.0,
    "model__svm_c": 1.0,
    "model__nb_c": 0.3,
    "model__nb_alpha": 1.0,
    "model__stack_c": 1.0,
}


class _Stateless(TransformerMixin, BaseEstimator):
    """A step that learns nothing: fitting is a no-op and it always counts as fitted."""

    def fit(self, X: Any, y: Any = None) -> _Stateless:
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class Normaliser(_Stateless):
    """``classifier.normalise.normalise_text`` over each text."""

    def transform(self, texts: Sequence[str]) -> list[str]:
        return normalise_texts(texts)


class SegmentStep(_Stateless):
    """Normalised texts -> ``(text, tokens)`` documents.

    Runs of digits become ``0`` first: numbers (dates, amounts, house numbers, the
    numbered place codes of exports) say little about which unit a message belongs to,
    and folding them keeps the vocabulary small.
    """

    def __init__(self, segmenter: Segmenter | None = None, fold_digits: bool = True) -> None:
        self.segmenter = segmenter
        self.fold_digits = fold_digits

    def transform(self, texts: Sequence[str]) -> list[Doc]:
        """One ``(text, token lengths)`` document per text: the vectoriser reads the tokens
        as spans of the text, so their lengths (4 bytes a token) are all that is kept."""
        segmenter = self.segmenter or Segmenter(DEFAULT_ENGINE)
        docs: list[Doc] = []
        for text in texts:
            if self.fold_digits:
                text = _DIGITS.sub("0", text)
            tokens = segmenter.cut(text)
            docs.append((text, np.fromiter(map(len, tokens), dtype=np.int32, count=len(tokens))))
        return docs


def build_pipeline(
    segmenter: Segmenter, *, seed: int = 0, params: dict[str, Any] | None = None
) -> Pipeline:
    """The unfitted pipeline with ``DEFAULT_PARAMS`` (overridden by ``params``)."""
    pipeline = Pipeline(
        [
            ("normalise", Normaliser()),
            ("segment", SegmentStep(segmenter)),
            ("vectorise", NgramVectorizer()),
            ("model", StackedLinearClassifier(random_state=seed)),
        ]
    )
    pipeline.set_params(**{**DEFAULT_PARAMS, **(params or {})})
    return pipeline


def prepare(pipeline: Pipeline, texts: Sequence[str]) -> list[Doc]:
    """Run the steps that learn nothing (normalise, segment) over ``texts``."""
    docs: list[Doc] = pipeline[:2].transform(texts)
    return docs
