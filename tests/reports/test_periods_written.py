"""--week and --month as offices type them: full-width (a Chinese input method) and 年/月."""

from __future__ import annotations

import pytest

from reports.errors import BadPeriod
from reports.periods import parse_month, parse_week


@pytest.mark.parametrize(
    "text", ["2026-W47", "2026w47", "２０２６-Ｗ４７", "2026年第47周", "2026年47周", " 2026-W47 "]
)
def test_a_week_as_written(text: str) -> None:
    # full-width and 2026年第47周 were "not an ISO week" (full-width digits alone passed)
    assert parse_week(text).key == "2026-W47"


@pytest.mark.parametrize("text", ["2026-11", "２０２６-１１", "2026年11月", "2026/11", "2026.11"])
def test_a_month_as_written(text: str) -> None:
    assert parse_month(text).key == "2026-11"


@pytest.mark.parametrize("text", ["2026年第60周", "2026年13月", "2026-W", "47周", "2026年11月5日"])
def test_nonsense_is_still_refused(text: str) -> None:
    with pytest.raises(BadPeriod):
        (parse_week if "周" in text or "W" in text else parse_month)(text)
