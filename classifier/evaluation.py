"""Evaluating a trained version on labelled rows it has not seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, recall_score

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


def holdout_scores(
    predictor: Predictor, texts: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Macro-F1, accuracy and each label's recall of ``predictor``'s top label on rows it
    was not trained on. Macro-F1 is taken over the labels of these rows only, so two models
    scored on the same rows are scored on the same labels (a label a model does not know
    counts as missed)."""
    if not len(texts):
        return {"rows": 0, "macro_f1": 0.0, "accuracy": 0.0, "recall": {}, "support": {}}
    predicted = [p.label for p in predictor.predict(list(texts))]
    names = sorted(set(labels))
    recalls = recall_score(list(labels), predicted, labels=names, average=None, zero_division=0)
    return {
        "rows": len(texts),
        "macro_f1": float(
            f1_score(list(labels), predicted, labels=names, average="macro", zero_division=0)
        ),
        "accuracy": float(np.mean([a == b for a, b in zip(labels, predicted, strict=True)])),
        "recall": {name: float(r) for name, r in zip(names, recalls, strict=True)},
        "support": {name: list(labels).count(name) for name in names},
    }
