"""Predicting: what routing calls.

    predictor = Predictor.load(models_dir)          # the promoted version (or a version folder)
    for p in predictor.predict([text, ...]):        # one batch, vectorised
        p.label, p.confidence, p.top, p.abstain

``confidence`` is the calibrated probability that ``label`` is right; ``top`` holds the
best labels with their (stacked, calibrated) probabilities; ``abstain`` is true below the
threshold chosen on cross-validation for the target precision (and for an empty text).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from classifier.errors import BadInput
from classifier.registry import Registry, load_pipeline, resolve_folder

BATCH = 2048
TOP_K = 3


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    confidence: float
    top: tuple[tuple[str, float], ...]
    abstain: bool

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        """The JSON shape: ``{"label", "confidence", "top": [[label, p], …], "abstain"}``."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, digits),
            "top": [[label, round(p, digits)] for label, p in self.top],
            "abstain": self.abstain,
        }


class Predictor:
    """A loaded, verified model version."""

    def __init__(
        self, pipeline: Pipeline, manifest: dict[str, Any], *, threshold: float | None = None
    ) -> None:
        self.pipeline = pipeline
        self.manifest = manifest
        self.version: str = manifest["version"]
        self.threshold: float = float(manifest["threshold"] if threshold is None else threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise BadInput(f"置信度阈值须在 0 到 1 之间 (threshold {self.threshold})")
        self.model = pipeline.named_steps["model"]
        self.labels: list[str] = [str(label) for label in self.model.classes_]
        # Whether the app lets this model route on its own (it decides, from its policy);
        # an untrusted model only suggests.
        self.trusted: bool = True

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        dictionary_sha256: str | None = None,
        threshold: float | None = None,
    ) -> Predictor:
        """Load a version folder, or the promoted version of a registry folder.

        ``dictionary_sha256``: refuse the model unless it was trained with this user
        dictionary. ``threshold``: use this instead of the model's own.
        """
        pipeline, manifest = load_pipeline(
            resolve_folder(path), dictionary_sha256=dictionary_sha256
        )
        return cls(pipeline, manifest, threshold=threshold)

    def __repr__(self) -> str:
        return f"Predictor(version={self.version!r}, labels={len(self.labels)})"

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[bool]]:
        """Label probabilities (rows x ``labels``), confidences, and which texts were empty."""
        texts = [text or "" for text in texts]
        probas, confidences, empty = [], [], []
        for start in range(0, len(texts), BATCH):
            docs = self.pipeline[:2].transform(texts[start : start + BATCH])
            empty += [not doc[0] for doc in docs]
            X = self.pipeline.named_steps["vectorise"].transform(docs)
            proba, confidence = self.model.predict_with_confidence(X)
            probas.append(proba)
            confidences.append(confidence)
        if not probas:
            return np.zeros((0, len(self.labels))), np.zeros(0), []
        return np.vstack(probas), np.concatenate(confidences), empty

    def predict(self, texts: Sequence[str], *, top_k: int = TOP_K) -> list[Prediction]:
        """One ``Prediction`` per text, in order."""
        if isinstance(texts, str):
            raise BadInput("predict() takes a list of texts; use predict_one() for one text")
        proba, confidence, empty = self.probabilities(texts)
        k = min(top_k, len(self.labels))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        labels = self.labels
        results = []
        for row, ranked in enumerate(order.tolist()):
            top = tuple((labels[i], float(proba[row, i])) for i in ranked)
            sure = float(confidence[row])
            if not math.isfinite(sure) or empty[row]:
                sure = 0.0  # nothing to read: no confidence in whatever the model says
            results.append(
                Prediction(
                    label=top[0][0],
                    confidence=sure,
                    top=top,
                    abstain=empty[row] or sure < self.threshold,
                )
            )
        return results

    def predict_one(self, text: str) -> Prediction:
        return self.predict([text])[0]


def load_promoted(root: Path, *, dictionary_sha256: str | None = None) -> Predictor:
    """The promoted version of the registry at ``root`` as a ``Predictor``; raises
    ``NoPromotedModel`` when nothing is promoted (or ``root`` does not exist yet)."""
    return Predictor.load(Registry(root).current_folder(), dictionary_sha256=dictionary_sha256)
