"""Training: what the run records, labels too rare to learn, the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.errors import BadInput
from classifier.metrics import coverage_at
from classifier.train import train


def test_a_label_with_one_row_is_left_out_and_listed(sample, segmenter) -> None:
    trained = train(
        [*sample.texts, "独一无二的一条留言"], [*sample.labels, "mzj"], segmenter=segmenter
    )
    assert trained.manifest["data"]["dropped_labels"] == {"mzj": 1}
    assert trained.manifest["labels"] == ["jjdd", "jyj", "rsj", "swj"]
    assert trained.manifest["data"]["rows"] == len(sample.texts)


def test_one_label_is_not_enough(segmenter) -> None:
    with pytest.raises(BadInput):
        train(["甲", "乙", "丙"], ["a", "a", "a"], segmenter=segmenter)
    # Too few rows per label: the message says what there is.
    with pytest.raises(BadInput, match="jyj 2 条、swj 1 条、zjj 1 条"):
        train(
            ["城东中学作业太多", "城东中学校车超载", "望江社区停水", "东湖新城违建"],
            ["jyj", "jyj", "swj", "zjj"],
            segmenter=segmenter,
        )
    with pytest.raises(BadInput):
        train(["甲", "乙"], ["a", "b"], segmenter=segmenter, target_precision=1.0)


def test_threads_do_not_change_the_model(sample, segmenter, trained) -> None:
    alone = train(sample.texts, sample.labels, segmenter=segmenter, n_jobs=1)
    weights = trained.pipeline.named_steps["model"].weights_
    np.testing.assert_array_equal(alone.pipeline.named_steps["model"].weights_, weights)
    assert alone.manifest["threshold"] == trained.manifest["threshold"]


def test_coverage_at_a_precision() -> None:
    confidence = np.array([0.99, 0.95, 0.9, 0.9, 0.8, 0.5])
    correct = np.array([True, True, True, False, True, False])
    assert coverage_at(confidence, correct, 1.0) == {
        "coverage": 2 / 6,
        "threshold": 0.95,
        "precision": 1.0,
    }
    # The tie at 0.9 is dispatched together: 3 of 4 right.
    assert coverage_at(confidence, correct, 0.75)["coverage"] == 5 / 6
    assert coverage_at(confidence, correct, 0.8)["threshold"] == 0.8
    assert coverage_at(np.array([0.9]), np.array([False]), 0.97)["threshold"] is None
