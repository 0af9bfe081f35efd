"""Display rounding is half up (四舍五入), on the value the formula means, not float noise."""

from __future__ import annotations

import pytest

from reports.rounding import half_up


@pytest.mark.parametrize(
    ("value", "places", "scale", "shown"),
    [
        (77.25, 1, 1, "77.3"),  # Python's round() gives 77.2
        (0.3 * 89.99999999999999 + 0.7 * 82.5, 1, 1, "84.8"),  # 84.74999999999999 is 84.75
        (0.8575, 1, 100, "85.8"),
        (2 / 3, 1, 100, "66.7"),
        (84.74, 1, 1, "84.7"),
        (-0.05, 1, 1, "-0.1"),
        (0, 0, 1, "0"),
    ],
)
def test_half_up(value: float, places: int, scale: int, shown: str) -> None:
    assert half_up(value, places, scale=scale) == shown
