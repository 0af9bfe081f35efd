"""Predictions: shape, order, top-3, abstaining."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.errors import BadInput
from classifier.predict import Predictor

TEXTS = [
    "城东中学周末作业太多了，双减了好像没减",
    "沿河西路一带从早上停水到现在，什么时候来水",
    "",
    "人民北路路口经常有车闯红灯，请交警管一管",
]


@pytest.fixture
def predictor(saved: Path) -> Predictor:
    return Predictor.load(saved)


def test_one_prediction_per_text_in_order(predictor: Predictor) -> None:
    predictions = predictor.predict(TEXTS)
    assert len(predictions) == len(TEXTS)
    assert [p.label for p in predictions[:2]] == ["jyj", "swj"]
    assert predictions[3].label == "jjdd"
    for prediction in predictions:
        assert prediction.label in predictor.labels
        assert len(prediction.top) == 3
        assert prediction.top[0][0] == prediction.label
        probabilities = [p for _, p in prediction.top]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0.0 <= sum(probabilities) <= 1.0 + 1e-9
        assert 0.0 <= prediction.confidence <= 1.0
        assert prediction.abstain == (
            prediction.confidence < predictor.threshold or prediction is predictions[2]
        )


def test_an_empty_text_abstains(predictor: Predictor) -> None:
    for text in ("", "  _x000D_ "):
        prediction = predictor.predict_one(text)
        assert prediction.abstain and prediction.confidence == 0.0


def test_a_batch_equals_texts_one_by_one(predictor: Predictor) -> None:
    batch = predictor.predict(TEXTS)
    for text, together in zip(TEXTS, batch, strict=True):
        alone = predictor.predict_one(text)
        assert (alone.label, alone.abstain) == (together.label, together.abstain)
        assert alone.confidence == pytest.approx(together.confidence, abs=1e-12)
        assert [label for label, _ in alone.top] == [label for label, _ in together.top]
        assert [p for _, p in alone.top] == pytest.approx([p for _, p in together.top], abs=1e-12)


def test_the_threshold_decides_abstaining(saved: Path) -> None:
    never = Predictor.load(saved, threshold=0.0).predict(TEXTS)
    assert [p.abstain for p in never] == [False, False, True, False]
    always = Predictor.load(saved, threshold=1.0).predict(TEXTS)
    assert all(p.abstain for p in always)
    with pytest.raises(BadInput):
        Predictor.load(saved, threshold=1.5)


def test_json_shape(predictor: Predictor) -> None:
    shaped = predictor.predict_one(TEXTS[0]).as_dict()
    assert list(shaped) == ["label", "confidence", "top", "abstain"]
    assert isinstance(shaped["top"][0], list) and len(shaped["top"][0]) == 2


def test_predict_wants_a_list(predictor: Predictor) -> None:
    with pytest.raises(BadInput):
        predictor.predict("一段文字")  # type: ignore[arg-type]
    assert predictor.predict([]) == []
