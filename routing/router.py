"""Choosing the unit: ordered rules first, then the classifier, else the triage queue."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger.models import Message, SourceKind, Unit
from routing.rules import RuleSet

logger = logging.getLogger(__name__)

TOP_K = 3


class Prediction(Protocol):
    label: str
    confidence: float
    top: list[tuple[str, float]]
    abstain: bool


class Predictor(Protocol):
    """What routing needs of a trained model (``classifier.predict.Predictor``)."""

    version: str
    threshold: float

    def predict(self, texts: list[str], *, top_k: int = TOP_K) -> list[Any]: ...


@dataclass
class Decision:
    unit: Unit | None  # None: the triage queue
    routed_by: str  # "rule:<name>" | "classifier" | "triage"
    confidence: float | None = None
    classifier_version: str | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)


class UnitIndex:
    """Unit lookup by code, name, short name or alias (labels may be any of them)."""

    def __init__(self, units: list[Unit]) -> None:
        self.units = units
        self._by_name: dict[str, Unit] = {}
        self._unknown: set[str] = set()
        for unit in units:
            for name in (unit.code, unit.name, unit.short_name, *unit.aliases):
                self._by_name.setdefault(name, unit)

    def get(self, label: str) -> Unit | None:
        return self._by_name.get(label)

    def unknown_label(self, label: str) -> None:
        """A model label that names no unit (one removed since training): said once per
        batch, not once per message."""
        if label not in self._unknown:
            self._unknown.add(label)
            logger.warning("classifier label %r is not a unit: ignored", label)


def model_text(message: Message) -> str:
    """What the classifier reads: the title and the text, as in training."""
    return f"{message.title}\n{message.text}" if message.title else message.text


def decide(
    messages: list[Message],
    *,
    units: UnitIndex,
    rules: RuleSet | None,
    predictor: Predictor | None,
    threshold: float | None,
    excluded: dict[int, list[int]] | None = None,
    predictions: dict[int, Any] | None = None,
) -> list[Decision]:
    """One decision per message. ``excluded`` maps message id -> unit ids not to suggest;
    ``predictions`` holds the classifier's answers already computed, by message id."""
    decisions: list[Decision | None] = [None] * len(messages)
    for index, message in enumerate(messages):
        if rules is None:
            break
        hit = rules.decide(model_text(message), SourceKind(message.source_kind))
        if hit is not None:
            unit = units.get(hit[0])
            if unit is not None and unit.active:
                decisions[index] = Decision(unit=unit, routed_by=f"rule:{hit[1]}")
    pending = [i for i, d in enumerate(decisions) if d is None]
    if pending and predictor is not None:
        given = predictions or {}
        missing = [i for i in pending if messages[i].id not in given]
        texts = [model_text(messages[i]) for i in missing]
        # Units excluded (they sent it back) leave room for as many more suggestions.
        extra = max((len(v) for v in (excluded or {}).values()), default=0)
        computed = (
            dict(zip(missing, predictor.predict(texts, top_k=TOP_K + extra), strict=True))
            if missing
            else {}
        )
        cut = predictor.threshold if threshold is None else threshold
        if not getattr(predictor, "trusted", True):
            cut = float("inf")  # too few labelled rows yet: the model suggests, a person decides
        for i in pending:
            prediction = given[messages[i].id] if messages[i].id in given else computed[i]
            skip = set((excluded or {}).get(messages[i].id or -1, []))
            decisions[i] = _from_prediction(prediction, units, cut, predictor.version, skip)
    return [d or Decision(unit=None, routed_by="triage") for d in decisions]


def _from_prediction(
    prediction: Any, units: UnitIndex, threshold: float, version: str, skip: set[int]
) -> Decision:
    suggestions = []
    for label, probability in prediction.top:
        unit = units.get(label)
        if unit is None:
            units.unknown_label(label)
            continue
        if unit.id in skip or not unit.active:
            continue
        suggestions.append(
            {
                "unit": unit.code,
                "unit_name": unit.short_name,
                "confidence": round(float(probability), 4),
            }
        )
        if len(suggestions) == TOP_K:
            break
    best = suggestions[0] if suggestions else None
    confident = (
        best is not None
        and not skip
        and best["unit"] == getattr(units.get(prediction.label), "code", None)
        and float(prediction.confidence) >= threshold
    )
    if confident:
        return Decision(
            unit=units.get(best["unit"]),
            routed_by="classifier",
            confidence=float(prediction.confidence),
            classifier_version=version,
            suggestions=suggestions,
        )
    return Decision(
        unit=None,
        routed_by="triage",
        confidence=float(prediction.confidence),
        classifier_version=version,
        suggestions=suggestions,
    )
