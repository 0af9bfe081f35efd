"""Figures for a set of predictions: accuracy, macro-F1, top-k, coverage at a precision.

*Coverage at precision p* is the largest share of messages the model may dispatch on its
own (the most confident first) while at least p of those dispatched are right; the
*threshold* for p is the confidence of the last message so dispatched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

PRECISIONS = (0.95, 0.97, 0.99)


def coverage_at(confidence: np.ndarray, correct: np.ndarray, precision: float) -> dict[str, Any]:
    """Coverage, threshold and achieved precision when dispatching the most confident first.

    Ties in confidence are dispatched together, so the threshold is always one a model can
    apply. With nothing that reaches ``precision``, coverage is 0 and threshold is ``None``.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if not len(confidence):
        return {"coverage": 0.0, "threshold": None, "precision": None}
    order = np.argsort(-confidence, kind="stable")
    ranked = confidence[order]
    hits = np.cumsum(correct[order])
    taken = np.arange(1, len(ranked) + 1)
    # Only cut where the next confidence is strictly lower (ties go together).
    cut = np.append(ranked[1:] < ranked[:-1], True)
    ok = np.flatnonzero(cut & (hits >= precision * taken - 1e-12))
    if not len(ok):
        return {"coverage": 0.0, "threshold": None, "precision": None}
    last = int(ok.max())
    return {
        "coverage": float(taken[last] / len(ranked)),
        "threshold": float(ranked[last]),
        "precision": float(hits[last] / taken[last]),
    }


def top_k_accuracy(proba: np.ndarray, truth: np.ndarray, k: int) -> float:
    if not len(truth):
        return 0.0
    k = min(k, proba.shape[1])
    top = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == truth[:, None], axis=1)))


def summary(
    labels: Sequence[str],
    truth: Sequence[str],
    proba: np.ndarray,
    confidence: np.ndarray | None = None,
) -> dict[str, Any]:
    """The headline figures for predictions ``proba`` (rows x ``labels``) against ``truth``;
    coverage ranks by ``confidence`` (default: the top probability).

    Truth labels the model does not know count as errors (and are listed).
    """
    labels = list(labels)
    index = {label: i for i, label in enumerate(labels)}
    truth_index = np.array([index.get(label, -1) for label in truth], dtype=np.int64)
    predicted = proba.argmax(axis=1)
    correct = predicted == truth_index
    if confidence is None:
        confidence = proba.max(axis=1)
    predicted_labels = [labels[i] for i in predicted]
    # Macro-F1 over the labels that occur (in the truth or the predictions), as
    # scikit-learn does by default: a model label absent from a small file is not a zero.
    all_labels = sorted(set(truth) | set(predicted_labels))
    result: dict[str, Any] = {
        "rows": len(truth),
        "accuracy": float(np.mean(correct)) if len(truth) else 0.0,
        "macro_f1": float(
            f1_score(
                list(truth), predicted_labels, labels=all_labels, average="macro", zero_division=0
            )
        ),
        "top3_accuracy": top_k_accuracy(proba, truth_index, 3),
    }
    for precision in PRECISIONS:
        key = f"{round(precision * 100)}"
        found = coverage_at(confidence, correct, precision)
        result[f"coverage_at_{key}"] = found["coverage"]
        result[f"threshold_at_{key}"] = found["threshold"]
    unknown = sorted(set(truth) - set(labels))
    if unknown:
        result["unknown_labels"] = unknown
    return result


def per_class(
    labels: Sequence[str], truth: Sequence[str], predicted: Sequence[str]
) -> dict[str, dict[str, float]]:
    names = sorted(set(labels) | set(truth))
    precision, recall, f1, support = precision_recall_fscore_support(
        list(truth), list(predicted), labels=names, zero_division=0
    )
    return {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    }


def confusion(
    labels: Sequence[str], truth: Sequence[str], predicted: Sequence[str]
) -> dict[str, Any]:
    names = sorted(set(labels) | set(truth))
    matrix = confusion_matrix(list(truth), list(predicted), labels=names)
    return {"labels": names, "matrix": matrix.tolist(), "rows": "truth", "columns": "predicted"}


def at_threshold(confidence: np.ndarray, correct: np.ndarray, threshold: float) -> dict[str, Any]:
    """What dispatching every message at or above ``threshold`` gives."""
    dispatched = np.asarray(confidence) >= threshold
    count = int(dispatched.sum())
    return {
        "threshold": float(threshold),
        "coverage": float(count / len(dispatched)) if len(dispatched) else 0.0,
        "precision": float(np.asarray(correct)[dispatched].mean()) if count else None,
    }
