"""Routing decisions: after a 退回 the desk still gets three units to choose from."""

from __future__ import annotations

from dataclasses import dataclass

from classifier.predict import Prediction
from ledger.models import Message, SourceKind, Unit
from routing.router import UnitIndex, decide
from tests.helpers import local

SCORES = [("zjj", 0.40), ("cgj", 0.30), ("sthj", 0.15), ("swj", 0.10), ("jyj", 0.05)]


@dataclass
class RankedModel:
    """A stand-in for the classifier with a fixed ranking (routing is under test here)."""

    version: str = "test"
    threshold: float = 0.9
    asked_k: int = 0

    def predict(self, texts: list[str], *, top_k: int = 3) -> list[Prediction]:
        self.asked_k = top_k
        return [
            Prediction(label="zjj", confidence=0.4, top=tuple(SCORES[:top_k]), abstain=True)
            for _ in texts
        ]


def test_units_that_sent_it_back_make_room_for_others() -> None:
    units = [
        Unit(id=i, code=code, name=code, short_name=code)
        for i, (code, _) in enumerate(SCORES, start=1)
    ]
    message = Message(
        id=7,
        source_kind=SourceKind.ONLINE.value,
        channel="t",
        received_at=local(2026, 11, 16, 9),
        raw_text="x",
        text="某小区积水",
        content_hash="h",
    )
    model = RankedModel()
    first = decide([message], units=UnitIndex(units), rules=None, predictor=model, threshold=None)[
        0
    ]
    assert [s["unit"] for s in first.suggestions] == ["zjj", "cgj", "sthj"]
    again = decide(
        [message],
        units=UnitIndex(units),
        rules=None,
        predictor=model,
        threshold=1.01,
        excluded={7: [1, 2]},
    )[0]  # 住建局 and 城管局 sent it back
    assert model.asked_k == 5
    assert [s["unit"] for s in again.suggestions] == ["sthj", "swj", "jyj"]
    assert again.unit is None
