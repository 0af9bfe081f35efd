"""Evaluating a trained version on labelled rows it has not seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from classifier.metrics import at_threshold, confusion, per_class, summary
from classifier.predict import Predictor


def evaluate(predictor: Predictor, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, top-3 accuracy, coverage at 95/97/99 % precision, per class,
    the confusion matrix, and what the model's own threshold gives on these rows."""
    proba, confidence, _ = predictor.probabilities(texts)
    index = {label: i for i, label in enumerate(predictor.labels)}
    truth = np.array([index.get(label, -1) for label in labels])
    predicted = [predictor.labels[i] for i in proba.argmax(axis=1)]
    correct = proba.argmax(axis=1) == truth
    return {
        "version": predictor.version,
        **summary(predictor.labels, labels, proba, confidence),
        "at_model_threshold": at_threshold(confidence, correct, predictor.threshold),
        "per_class": per_class(predictor.labels, labels, predicted),
        "confusion": confusion(predictor.labels, labels, predicted),
    }
