"""Training: what the run records, labels too rare to learn, the threshold."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from classifier.errors import BadInput
from classifier.metrics import coverage_at
from classifier.train import (
    MEMORY_THREADS,
    THREADED_ROWS_LIMIT,
    _threads,
    cross_validated_summary,
    subsample,
    train,
)


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


def test_up_to_the_cap_every_row_is_kept() -> None:
    keys, labels = ["k1", "k2", "k3"], ["a", "b", "a"]
    assert subsample(keys, labels, 3, seed=0) == ([0, 1, 2], None)


def test_above_the_cap_small_labels_are_kept_whole_and_large_ones_cut() -> None:
    labels = ["big"] * 60 + ["mid"] * 30 + ["small"] * 5
    keys = [f"text {i}" for i in range(len(labels))]
    rows, left_out = subsample(keys, labels, 40, seed=0)
    kept = Counter(labels[i] for i in rows)
    assert kept == {"small": 5, "big": 18, "mid": 17}  # 35 shared, the remainder to "big"
    assert rows == sorted(rows) and len(rows) == 40
    assert left_out == {"cap": 40, "offered_rows": 95, "left_out": {"big": 42, "mid": 13}}
    # The choice follows the texts (and the seed), not their order in the data.
    order = list(reversed(range(len(labels))))
    again, _ = subsample([keys[i] for i in order], [labels[i] for i in order], 40, seed=0)
    assert {keys[order[i]] for i in again} == {keys[i] for i in rows}
    other, _ = subsample(keys, labels, 40, seed=1)
    assert set(other) != set(rows)


def test_training_above_the_cap_learns_from_the_subsample(sample, segmenter) -> None:
    trained = train(sample.texts, sample.labels, segmenter=segmenter, max_rows=40)
    data = trained.manifest["data"]
    assert data["rows"] == 40 == len(trained.rows)
    assert data["label_counts"] == {"jjdd": 10, "jyj": 10, "rsj": 10, "swj": 10}
    assert data["subsampled"] == {
        "cap": 40,
        "offered_rows": 64,
        "left_out": {"jjdd": 6, "jyj": 6, "rsj": 6, "swj": 6},
    }
    with pytest.raises(BadInput, match="上限"):
        train(sample.texts, sample.labels, segmenter=segmenter, max_rows=5)


def test_large_training_sets_run_their_folds_on_fewer_threads() -> None:
    assert _threads(None, THREADED_ROWS_LIMIT) is None  # one per CPU
    assert _threads(None, THREADED_ROWS_LIMIT + 1) == MEMORY_THREADS
    assert _threads(8, THREADED_ROWS_LIMIT + 1) == MEMORY_THREADS


def test_cross_validated_figures_above_the_cap_are_those_of_the_subsample(
    sample, segmenter
) -> None:
    figures = cross_validated_summary(sample.texts, sample.labels, segmenter=segmenter, max_rows=40)
    assert figures["training_rows_used"] == 40
    assert figures["subsampled"]["left_out"] == {"jjdd": 6, "jyj": 6, "rsj": 6, "swj": 6}
    assert "subsampled" not in cross_validated_summary(
        sample.texts, sample.labels, segmenter=segmenter, max_rows=64
    )
